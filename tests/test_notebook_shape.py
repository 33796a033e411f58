"""The notebooks teach: one idea a cell, prose at least as long as the code, the package called one way.

d2l's chapters carry about 2.6 characters of prose per character of code; ours carry at least one.
A code cell holds one idea (at most 25 lines); plumbing lives in the package (``ml.plots``,
``ml.metrics``), so a notebook calls it as ``ml.X`` and never through a module alias.
"""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_CELL_LINES = 25
ALIASES = re.compile(r"^\s*(?:from\s+musiclab(?:\.\w+)*\s+import|import\s+musiclab\.)", re.M)


def cells(path, kind):
    return ["".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == kind]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 12


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_no_code_cell_is_longer_than_one_idea(path):
    long = {i: len(c.splitlines()) for i, c in enumerate(cells(path, "code")) if len(c.splitlines()) > MAX_CELL_LINES}
    assert not long, f"{path.name}: code cells (index among code cells: lines) longer than {MAX_CELL_LINES}: {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_prose_is_at_least_as_long_as_code(path):
    prose, code = (sum(len(c) for c in cells(path, kind)) for kind in ("markdown", "code"))
    assert prose >= code, f"{path.name}: {prose} characters of markdown for {code} of code ({prose / code:.2f}x)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_the_package_is_called_one_way(path):
    source = "\n".join(cells(path, "code"))
    assert not ALIASES.findall(source), f"{path.name} imports part of musiclab by name; call it as ml.X"
    assert "import musiclab as ml" in source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_prose_is_about_the_music_not_the_harness(path):
    prose = "\n".join(cells(path, "markdown"))
    assert "(asserted)" not in prose, f"{path.name}: the prose narrates the test harness"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_a_notebook_with_claims_gathers_them_before_its_summary(path):
    nb = json.loads(path.read_text(encoding="utf-8"))["cells"]
    source = ["".join(c["source"]) for c in nb]
    if not any(c["cell_type"] == "code" and ("ml.claim(" in s or "ml.record(" in s) for c, s in zip(nb, source)):
        return
    heading = [i for i, s in enumerate(source) if nb[i]["cell_type"] == "markdown" and "## What this run showed" in s]
    summary = [i for i, s in enumerate(source) if nb[i]["cell_type"] == "markdown" and s.lstrip().startswith("## Summary")]
    assert len(heading) == 1 and summary and heading[0] < summary[0], f"{path.name}: no 'What this run showed' before the summary"
    assert f'ml.compare("{path.name[:2]}")' in source[heading[0] + 1], f"{path.name}: the section prints ml.compare"
