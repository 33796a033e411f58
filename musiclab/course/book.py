"""The course as a static book (issue 25): every notebook with its outputs, readable, seen and heard
in a browser without running anything, offline.

Two steps, so a teacher can rebuild the site from executed notebooks in seconds:

1. ``execute``: run each notebook once, top to bottom, in quick mode (nbclient, in the notebooks'
   folder so that checkpoints/ is shared) and keep the executed copy with when, where and at which
   commit it ran (``metadata["musiclab"]``).
2. ``build``: Sphinx + myst-nb + sphinx-book-theme turn the executed copies into HTML, with a
   landing page (the README's course table), navigation, search, and on each page links to download
   the notebook and to open it in Colab. Nothing is executed again. Widgets become their static
   form (``static_outputs``: a player is an ``<audio>`` element, a control its current value, an
   output area what it showed), and MathJax is served from the book's own folder (MathJax 3.2
   as the PyPI package ``sphinx-mathjax-offline`` ships it; SVG output, which needs no web fonts),
   so no page asks the network for anything.

``python -m musiclab.book`` does both (``execute`` only for notebooks not executed yet); see
``--help``. tests/test_book.py opens every page in headless Chromium.
"""
import argparse
import base64
import datetime
import html
import io
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..files import atomic_write
from ..listen import audio_html
from .bench import execute_notebook, find_notebooks, git_commit
from .colab import repository_url
from .results import fmt, full_results, kernel_info, provenance

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build" / "book"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
BADGE = re.compile(r"\[!\[Open in Colab\]\([^)]*\)\]\(([^)]*)\)")
MAX_PAGE_MB = 15

__all__ = ["execute", "static_outputs", "control_html", "widget_html", "banner", "course_table", "write_sources", "build",
           "page_report", "main"]


# ----------------------------------------------------------------------------- 1. execute

def execute(names=None, out=BUILD / "executed", folder=NOTEBOOKS, timeout: int = 900, mode: str = "quick") -> list:
    """Execute the notebooks ``names`` picks ("04", "04_rnn_melody"; all when None) in ``mode`` with
    nbclient, in ``folder``, and write each executed copy to ``out`` (atomically), with
    ``metadata["musiclab"]``: date, mode, commit, seconds, and the device and hardware of this
    machine (as this process sees them; the kernel runs on the same one). A cell that fails stops
    the whole run with nbclient's error (the book never shows a traceback); the notebooks executed
    before it are kept. Returns the paths."""
    import nbformat

    out = Path(out)
    written = []
    for path in find_notebooks(folder, names):
        print(f"executing {path.name} ({mode} mode) ...", flush=True)
        nb, seconds = execute_notebook(path, timeout, {"MUSICLAB_MODE": mode, "OMP_WAIT_POLICY": "PASSIVE"},
                                       unset=("MPLBACKEND",))    # Agg would leave the figures out of the outputs
        info = kernel_info()
        nb.metadata["musiclab"] = {
            "executed": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": mode, "device": info["device"], "hardware": info["hardware"], "torch": info["torch"],
            "commit": git_commit(path), "seconds": round(seconds, 1)}
        atomic_write(out / path.name, nbformat.writes(nb))
        print(f"  {seconds:.0f} s -> {out / path.name}", flush=True)
        written.append(out / path.name)
    return written


# ----------------------------------------------------------------------------- widgets, static

def _wav_to_mp3_html(wav: bytes) -> str:
    """An ``<audio>`` element for WAV bytes (a ``widgets.Audio`` value in a saved widget state)."""
    import soundfile

    y, sr = soundfile.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    return audio_html(y.mean(axis=1), sr=sr)


def _output_html(output: dict, state: dict) -> str:
    """One saved output (of a cell or of an Output widget) as HTML."""
    if output.get("output_type") == "stream":
        return f"<pre>{html.escape(''.join(output.get('text', '')))}</pre>"
    if output.get("output_type") == "error":
        return f"<pre>{html.escape(output.get('ename', ''))}: {html.escape(output.get('evalue', ''))}</pre>"
    data = output.get("data", {})
    if "text/html" in data:
        return "".join(data["text/html"])
    if WIDGET_VIEW in data:
        return widget_html(data[WIDGET_VIEW]["model_id"], state, top=False)
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            return f'<img src="data:{mime};base64,{"".join(data[mime]).strip()}">'
    if "image/svg+xml" in data:
        return "".join(data["image/svg+xml"])
    if "text/plain" in data:
        return f"<pre>{html.escape(''.join(data['text/plain']))}</pre>"
    return ""


CONTROL_NOTE = '<p><small><em>(The controls above work when the notebook runs in a kernel.)</em></small></p>'


def control_html(s: dict, name: str) -> str:
    """A control of a saved widget state as a disabled HTML form element showing its current value:
    a menu (its options, the chosen one selected), a slider, a checkbox, a button, a text field."""
    label = html.escape(str(s.get("description") or ""))
    value = s.get("value")
    if "_options_labels" in s:
        chosen = s.get("index")
        chosen = set(chosen) if isinstance(chosen, list) else {chosen}
        options = "".join(f"<option{' selected' if i in chosen else ''}>{html.escape(str(o))}</option>"
                          for i, o in enumerate(s["_options_labels"]))
        none = "" if chosen - {None} else "<option selected>(none chosen)</option>"
        field = f"<select disabled>{none}{options}</select>"
    elif "Slider" in name:
        field = (f'<input type="range" disabled min="{s.get("min", 0)}" max="{s.get("max", 100)}" '
                 f'step="{s.get("step", 1)}" value="{value}"> <code>{html.escape(str(value))}</code>')
    elif name == "CheckboxModel":
        field = f'<input type="checkbox" disabled{" checked" if value else ""}>'
    elif name == "ButtonModel":
        return f"<button disabled>{label}</button>"
    else:
        field = f'<input disabled value="{html.escape(str(value if value is not None else ""))}">'
    return f'<label class="musiclab-control">{label} {field}</label>'


def widget_html(model_id: str, state: dict, top: bool = True) -> str:
    """The static form of widget ``model_id`` from a notebook's saved widget ``state``: boxes hold
    their children's forms, an Output widget what it showed last, an Audio widget an ``<audio>``
    element, HTML and Label widgets their text, a progress bar a ``<progress>`` element, a control
    (menu, slider, button, checkbox) a disabled form element with its last value; under a widget
    with controls, a line saying that they work when the notebook runs."""
    entry = state.get(model_id)
    if entry is None:
        return "<p><em>(a widget whose state was not saved: run the notebook to see it)</em></p>"
    s, name = entry.get("state", {}), entry.get("state", {}).get("_model_name", "")
    children = [c.removeprefix("IPY_MODEL_") for c in s.get("children", [])]
    if children:
        layout = ("flex-wrap:wrap;align-items:center" if name in ("HBoxModel", "GridBoxModel")
                  else "flex-direction:column")                  # a column's children take its width
        inner = "".join(f'<div style="min-width:0">{widget_html(c, state, top=False)}</div>' for c in children)
        form = f'<div style="display:flex;gap:0.5em;{layout}">{inner}</div>'
    elif name == "OutputModel":
        form = "".join(_output_html(o, state) for o in s.get("outputs", []))
    elif name == "AudioModel":
        buffers = {tuple(b["path"]): b["data"] for b in entry.get("buffers", [])}
        form = _wav_to_mp3_html(base64.b64decode(buffers[("value",)])) if ("value",) in buffers else ""
    elif name in ("HTMLModel", "HTMLMathModel"):
        form = str(s.get("value", ""))
    elif name == "LabelModel":
        form = html.escape(str(s.get("value", "")))
    elif name in ("FloatProgressModel", "IntProgressModel"):
        form = f'<progress value="{s.get("value", 0)}" max="{s.get("max", 100)}"></progress>'
    elif name == "LayoutModel" or name.endswith("StyleModel"):
        form = ""
    else:
        form = control_html(s, name)
    if top and 'class="musiclab-control"' in form or top and "<button disabled>" in form:
        form += CONTROL_NOTE
    return form


def static_outputs(nb) -> int:
    """Replace, in place, every widget output of ``nb`` by its static form: the ``text/html`` the
    output carries (``ml.player``'s ``<audio>``), else ``widget_html`` of the saved widget state;
    then drop the widget state. Returns how many outputs changed."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    changed = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            if "text/html" not in data:
                data["text/html"] = widget_html(data[WIDGET_VIEW]["model_id"], state)
            del data[WIDGET_VIEW]
            data.pop("text/plain", None)
            changed += 1
    nb.metadata.pop("widgets", None)
    return changed


# ----------------------------------------------------------------------------- 2. build

def banner(meta: dict, full: dict | None, compares: bool = False) -> str:
    """The note at the top of each page: which execution the page shows (mode, date, device,
    commit, wall time), and the full-mode run of the notebook, if one is recorded, with its numbers
    (``compares``: the notebook's "What this run showed" table, ``ml.compare``, also sets them
    beside this run's)."""
    device = meta.get("device")
    ran = (f"This page shows one execution of the notebook in **{meta.get('mode', 'an unknown')} mode**, on "
           f"{meta.get('executed', 'an unknown date')}, on {device.upper() if device else 'an unknown device'} "
           f"({meta.get('hardware', 'unknown hardware')}), torch {meta.get('torch', 'unknown')}, commit "
           f"`{meta.get('commit', 'unknown')}`, in {meta.get('seconds', 0):.0f} s. Numbers, figures and sounds are "
           f"that run's; run the notebook to make your own.")
    if not full:
        return f":::{{note}}\n{ran}\n\nNo full-mode run of this notebook is recorded yet.\n:::\n"
    other = f"A full-mode run of this notebook is recorded in `data/full_results.json`: {provenance(full)}."
    metrics = full.get("metrics") or {}
    if metrics:
        other += " Its numbers:\n\n| metric | full-mode run |\n|---|---:|\n" + "".join(
            f"| {name} | {fmt(value)} |\n" for name, value in metrics.items())
        if compares:
            other += "\nThe notebook's \"What this run showed\" table sets them beside this run's.\n"
    else:
        other += " That run recorded no numbers of its own."
    return f":::{{note}}\n{ran}\n\n{other}\n:::\n"


def course_table(readme=ROOT / "README.md") -> list:
    """[(notebook file, what you learn)] from the README's table "The course" (the one list of
    the notebooks, also on the book's landing page)."""
    text = Path(readme).read_text(encoding="utf-8")
    return re.findall(r"^\| `(\d\d_\w+\.ipynb)` \| (.*?) \|$", text, re.MULTILINE)


CONF = '''# Written by musiclab.book: the Sphinx configuration of the course's book.
project = "musiclab"
author = "musiclab"
copyright = "musiclab authors"
extensions = ["myst_nb"]
exclude_patterns = ["_build"]
nb_execution_mode = "off"                  # the notebooks were executed once, by `musiclab.book execute`
nb_ipywidgets_js = {{}}                      # widgets are static here (musiclab.book.static_outputs)
nb_mime_priority_overrides = [("html", "{widget}", None)]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
html_theme = "sphinx_book_theme"
html_title = "musiclab: deep learning for music creation"
html_static_path = ["_static"]
html_context = {{"default_mode": "light"}}  # the theme's default ("") logs a console error
html_show_search_summary = False           # summaries fetch() each page, which file:// refuses
html_theme_options = {{
    "repository_url": "{repo}", "repository_branch": "main", "path_to_docs": "notebooks",
    "use_download_button": True, "use_repository_button": False,
    "launch_buttons": {{"colab_url": "https://colab.research.google.com"}},
}}
mathjax_path = "mathjax/tex-svg.js"       # MathJax 3, SVG output: no web fonts to fetch from file://
'''


def write_sources(executed, src, repo: str) -> list:
    """The Sphinx source folder ``src``: conf.py, the landing page and, for each executed notebook
    in ``executed``, a copy with the banner under its title, the Colab badge (an image from the
    network) as a plain link, and widgets in their static form. Returns the notebook names."""
    import importlib.metadata

    import nbformat

    src = Path(src)
    (src / "_static").mkdir(parents=True)
    mathjax = importlib.metadata.distribution("sphinx-mathjax-offline").locate_file("sphinx-mathjax-offline/static/mathjax")
    shutil.copytree(mathjax, src / "_static" / "mathjax")
    (src / "conf.py").write_text(CONF.format(widget=WIDGET_VIEW, repo=repo), encoding="utf-8")
    names, runs = [], {}
    for path in sorted(Path(executed).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        static_outputs(nb)
        title = nb.cells[0]
        heading, _, rest = BADGE.sub(r"[Open this notebook in Colab](\1)", title.source).partition("\n")
        compares = any("ml.compare(" in c.source for c in nb.cells if c.cell_type == "code")
        run = nb.metadata.get("musiclab", {})
        title.source = f"{heading}\n\n{banner(run, full_results(path.stem), compares)}\n{rest}"
        nbformat.write(nb, src / path.name)
        names.append(path.stem)
        runs[path.stem] = f"{run.get('executed', '?')}, `{run.get('commit', '?')}`"
    if not names:
        raise FileNotFoundError(f"no executed notebooks (NN_name.ipynb) in {executed}: run `python -m musiclab.book execute` first")
    rows = {f: what for f, what in course_table()}
    lines = ["# musiclab: deep learning for music creation", "",
             "A course in notebooks: the math of each model family derived and checked in code, models trained "
             "on real music, and what they make, heard and seen. Each page below is one notebook with the outputs "
             "of one execution (the note at its top says which). Download a notebook, or open it in Colab, "
             "from the buttons at the top of its page to run it yourself.", "",
             "## The course map", "", "| notebook | what you learn | executed (UTC), commit |", "|---|---|---|"]
    lines += [f"| [{n}]({n}.ipynb) | {rows.get(n + '.ipynb', '')} | {runs[n]} |" for n in names]
    lines += ["", "```{toctree}", ":hidden:", ":maxdepth: 1", "", *names, "```", ""]
    (src / "index.md").write_text("\n".join(lines), encoding="utf-8")
    return names


MARK = "musiclab-book.txt"   # in every built book: only a folder holding it is ever replaced


def build(executed=BUILD / "executed", out=BUILD / "html", repo: str | None = None, quiet: bool = True) -> Path:
    """Build the book from the executed notebooks in ``executed`` into ``out`` (Sphinx, html builder,
    in this process, from a temporary source folder); returns ``out / "index.html"``. Nothing is
    executed. The book is built beside ``out`` and moved there only once it is complete, replacing a
    book built before (a folder holding ``MARK``); any other non-empty ``out``: ValueError.
    The download button of each page gives the executed notebook itself (as it ran, widgets live)."""
    from sphinx.cmd.build import build_main

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MARK).exists():
        raise ValueError(f"{out} is not empty and holds no musiclab book: choose another --out")
    new = out.with_name(out.name + ".building")
    shutil.rmtree(new, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="musiclab-book-") as src:
        names = write_sources(executed, src, repo or repository_url())
        args = ["-b", "html", "-E", "-W", "--keep-going", src, str(new)] + (["-q"] if quiet else [])
        if build_main(args) != 0:
            raise RuntimeError("sphinx-build failed (run `python -m musiclab.book build` with --verbose to see why)")
    for name in names:
        shutil.copy(Path(executed) / f"{name}.ipynb", new / "_sources" / f"{name}.ipynb")
    (new / MARK).write_text("Built by python -m musiclab.book; `build` replaces this folder.\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    new.rename(out)
    return out / "index.html"


def page_report(out=BUILD / "html") -> list:
    """[(page, MB, audio elements, figures)] of every notebook page of a built book."""
    rows = []
    for page in sorted(Path(out).glob("[0-9][0-9]_*.html")):
        text = page.read_text(encoding="utf-8")
        rows.append((page.name, page.stat().st_size / 2**20, text.count("<audio"), text.count("<img")))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m musiclab.book", description=__doc__.split("\n\n")[0])
    parser.add_argument("step", nargs="?", default="all", choices=["all", "execute", "build"],
                        help="execute the notebooks, build the book, or both (default; executes only the "
                             "notebooks without an executed copy)")
    parser.add_argument("--notebooks", nargs="*", help="which notebooks to execute (e.g. 00 04); default all")
    parser.add_argument("--executed", default=str(BUILD / "executed"), help="folder of the executed notebooks")
    parser.add_argument("--out", default=str(BUILD / "html"), help="folder of the built book")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell when executing")
    parser.add_argument("--verbose", action="store_true", help="show Sphinx's output")
    args = parser.parse_args(argv)
    executed = Path(args.executed)
    if args.step in ("all", "execute"):
        names = args.notebooks
        if args.step == "all" and not names:
            names = [p.stem for p in find_notebooks(NOTEBOOKS) if not (executed / p.name).exists()]
        start = time.perf_counter()
        if names is None or names:
            execute(names, executed, timeout=args.timeout)
        print(f"executed in {time.perf_counter() - start:.0f} s", flush=True)
    if args.step in ("all", "build"):
        start = time.perf_counter()
        index = build(executed, args.out, quiet=not args.verbose)
        print(f"built in {time.perf_counter() - start:.0f} s: open {index}")
        for name, mb, audio, figures in page_report(args.out):
            flag = "  OVER THE LIMIT" if mb > MAX_PAGE_MB else ""
            print(f"  {name}: {mb:.1f} MB, {audio} audio, {figures} images{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
