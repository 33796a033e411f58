"""Every function and class a notebook calls names those notebooks in its docstring, in one form.

The line is ``Notebooks: 04, 08.``: the notebooks whose code calls ``ml.<name>``, computed here
from the notebooks themselves, so a docstring cannot drift from the course (libfmp's docstrings
name their notebook the same way). A name no notebook calls carries no such line.
"""
import inspect
import json
import re
from pathlib import Path

import musiclab as ml

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LINE = re.compile(r"^\s*Notebooks:\s*(.*)$", re.M)


def notebook_code() -> dict:
    return {p.name[:2]: "\n".join("".join(c["source"]) for c in json.loads(p.read_text(encoding="utf-8"))["cells"]
                                  if c["cell_type"] == "code") for p in NOTEBOOKS}


def package_objects() -> dict:
    """The functions and classes ``import musiclab as ml`` exposes that musiclab defines."""
    return {name: obj for name, obj in vars(ml).items()
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", "").startswith("musiclab")}


def callers(name: str, code: dict) -> list:
    return [nb for nb, source in code.items() if re.search(rf"\bml\.{name}\b", source)]


def expected_line(name: str, code: dict) -> str | None:
    nbs = callers(name, code)
    return f"Notebooks: {', '.join(nbs)}." if nbs else None


def test_each_docstring_names_the_notebooks_that_call_it():
    code = notebook_code()
    wrong = {}
    for name, obj in package_objects().items():
        doc = inspect.getdoc(obj) or ""
        lines = [f"Notebooks: {m}" for m in LINE.findall(doc)]
        want = expected_line(name, code)
        if lines != ([want] if want else []):
            wrong[name] = (lines, want)
    assert not wrong, f"{len(wrong)} docstrings name the wrong notebooks (found, expected): {wrong}"


def test_the_check_sees_the_course():
    code = notebook_code()
    assert len(code) >= 12 and callers("show", code) and "show" in package_objects()
