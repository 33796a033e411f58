"""One repository URL for every Colab badge and install cell, and Colab's GPU setting.

The URL is declared once, in ``pyproject.toml`` (``[project.urls] Repository``). Publishing the
course elsewhere means changing that line and running

    python -m musiclab.colab            # rewrite every notebook's badge and install cell

which also gives the training notebooks Colab's GPU accelerator metadata. ``tests/test_colab.py``
checks that the notebooks agree with pyproject.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAINING_NOTEBOOKS = ("02", "04", "05", "07", "08", "10", "11")  # the ones that train; a GPU helps
BADGE = re.compile(r"\[!\[Open [Ii]n Colab\]\([^)]*\)\]\([^)]*\)")
INSTALL_MARK = 'if importlib.util.find_spec("musiclab") is None:'


def repository_url(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The ``Repository`` entry of ``[project.urls]`` in pyproject.toml."""
    text = pyproject.read_text(encoding="utf-8")
    section = re.search(r"(?ms)^\[project\.urls\][^\n]*\n(.*?)(?=^\[|\Z)", text)
    entry = section and re.search(r'(?m)^Repository\s*=\s*"([^"]+)"', section[1])
    if not entry:
        raise ValueError(f"{pyproject} has no [project.urls] Repository entry")
    return entry[1].rstrip("/")


def github_path(url: str) -> str:
    """"https://github.com/owner/name" -> "owner/name" (Colab opens notebooks from GitHub)."""
    m = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(\.git)?", url)
    if m is None:
        raise ValueError(f"Colab opens notebooks from GitHub; {url!r} is not https://github.com/owner/name")
    return m[1]


def badge(url: str, notebook: str) -> str:
    """The "Open in Colab" badge (Markdown) for ``notebook`` in the repository at ``url``."""
    target = f"https://colab.research.google.com/github/{github_path(url)}/blob/main/notebooks/{notebook}"
    return f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({target})"


def install_cell(url: str, notebook: str) -> str:
    """The first code cell: on Colab (no musiclab yet) clone the course and install it editable,
    keeping Colab's own torch (musiclab asks for torch>=2.1, which Colab already has); elsewhere a
    kernel without musiclab stops with the README's install command. Then it prints the mode (quick
    or full), why, and how to change it (``musiclab.print_mode``)."""
    return (
        "import importlib.util, sys\n"
        f"{INSTALL_MARK}  # not installed in this kernel\n"
        '    if "google.colab" not in sys.modules:\n'
        '        raise ModuleNotFoundError(\'musiclab is not installed here: run  python -m pip install -e ".[dev]"  in the course folder (README)\')\n'
        f"    !git clone -q --depth 1 {url}.git /content/musiclab  # on Colab: fetch the course and install it\n"
        "    %pip install -q -e /content/musiclab\n"
        '    sys.path.insert(0, "/content/musiclab")  # the editable install is seen by new kernels; this one needs the path\n'
        "import musiclab as ml\n"
        f'ml.print_mode("{notebook[:2]}")  # quick or full size: which, why, and how to change it'
    )


def source(cell) -> str:
    return "".join(cell["source"])


def rewrite(path: Path, url: str) -> bool:
    """Put the badge and install cell for ``url`` into one notebook (and GPU metadata on training
    notebooks); returns True when the file changed. A notebook without them raises ValueError."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    cells = nb["cells"]
    title = next(c for c in cells if c["cell_type"] == "markdown")
    if not BADGE.search(source(title)):
        raise ValueError(f"{path.name}: its first markdown cell has no Open in Colab badge")
    title["source"] = BADGE.sub(lambda _: badge(url, path.name), source(title)).splitlines(keepends=True)
    install = [c for c in cells if c["cell_type"] == "code" and INSTALL_MARK in source(c)]
    if len(install) != 1:
        raise ValueError(f"{path.name}: expected one Colab install cell, found {len(install)}")
    install[0]["source"] = install_cell(url, path.name).splitlines(keepends=True)
    nb["metadata"].setdefault("colab", {"provenance": []})
    if path.name[:2] in TRAINING_NOTEBOOKS:
        nb["metadata"]["accelerator"] = "GPU"
        nb["metadata"]["colab"]["gpuType"] = "T4"
    new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv=None) -> int:
    """``python -m musiclab.colab``: rewrite every notebook for pyproject's repository URL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    args = parser.parse_args(argv)
    url = repository_url()
    for path in sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb")):
        print(f"{path.name}: {'rewritten' if rewrite(path, url) else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
