"""Every notebook of the course is on the map: notebook 00's course map and the README's table."""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def course_map() -> str:
    cells = nbformat.read(ROOT / "notebooks" / "00_music_as_data.ipynb", as_version=4).cells
    return next(c.source for c in cells if c.cell_type == "markdown" and "## The course map" in c.source)


def test_the_course_has_notebooks():
    assert len(NOTEBOOKS) >= 12


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_is_on_the_course_map_in_00(path):
    assert re.search(rf"^\| (\*\*)?{path.name[:2]} ", course_map(), re.MULTILINE), f"{path.name[:2]} missing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_is_in_the_readme(path):
    assert f"| `{path.name}` |" in (ROOT / "README.md").read_text(encoding="utf-8")
