"""One home per idea: the package's modules import each other at the top, never inside a function.

An import inside a function hides a dependency (and, in this package, once hid a cycle between the
command-line trainer and the models). Lazy imports of optional or slow third-party libraries stay.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "musiclab"


def imports_inside_functions(path: Path) -> list:
    """(function, line, module) of every import of musiclab inside a function of ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.level > 0 or (inner.module or "").startswith("musiclab")):
                    found.append((node.name, inner.lineno, "." * inner.level + (inner.module or "")))
                elif isinstance(inner, ast.Import) and any(a.name.startswith("musiclab") for a in inner.names):
                    found.append((node.name, inner.lineno, inner.names[0].name))
    return found


def test_no_module_imports_another_inside_a_function():
    found = {str(p.relative_to(PACKAGE)): imports_inside_functions(p) for p in sorted(PACKAGE.rglob("*.py"))}
    assert not {k: v for k, v in found.items() if v}


def test_the_check_finds_an_import_inside_a_function(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("import os\n\ndef f():\n    from .train import fit\n    import musiclab.music\n    import json\n")
    assert imports_inside_functions(path) == [("f", 4, ".train"), ("f", 5, "musiclab.music")]


def test_course_machinery_lives_in_its_subpackage():
    assert {p.stem for p in (PACKAGE / "course").glob("*.py")} >= {"bench", "colab", "results", "recipes"}
    for entry in ("bench", "colab"):   # python -m musiclab.bench / .colab: thin entries
        assert len((PACKAGE / f"{entry}.py").read_text().splitlines()) <= 10
    assert not (PACKAGE / "results.py").exists() and not (PACKAGE / "recipes.py").exists()
