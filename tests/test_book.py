"""The course as a book (``python -m musiclab.book``), opened as a reader opens it: from disk, in
headless Chromium, with every request outside the book's folder refused. On every page:

- the page loads, no request leaves the folder, the console shows no error;
- every ``<audio>`` loads (``duration > 0``) and a muted ``play()`` advances ``currentTime``;
- every image has ``naturalWidth > 0``; the math is typeset (no raw ``$$``, no MathJax error);
- no output shows a traceback; every internal link resolves to a file of the book;
- the page is under 15 MB.

By default the test executes three short notebooks (00: audio, figures and widgets; 01 and 09: the
math) and builds a book of them. ``MUSICLAB_BOOK=build/book/html`` checks a book built already (CI
builds the whole course after the README's test command and checks it so). Screenshots of three
pages are saved in ``<book>/../screenshots`` for a person to look at.

Needs Debian's ``chromium`` and the ``playwright`` package, as tests/test_browser.py; skips without.
"""
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

from musiclab.course import book

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MUSICLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUICK_NOTEBOOKS = ["00", "01", "09"]
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\w+Error: .*\n.*-{5,}|-{10,}\s*\n\w+Error")


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    """The book's folder: MUSICLAB_BOOK, or a book of three notebooks executed and built here."""
    if os.environ.get("MUSICLAB_BOOK"):
        return Path(os.environ["MUSICLAB_BOOK"]).resolve()
    tmp = tmp_path_factory.mktemp("book")
    (tmp / "notebooks").mkdir()       # copies: nbval may run the same notebooks in the other process
    for number in QUICK_NOTEBOOKS:
        for path in (REPO / "notebooks").glob(f"{number}_*.ipynb"):
            shutil.copy(path, tmp / "notebooks" / path.name)
    book.execute(QUICK_NOTEBOOKS, tmp / "executed", folder=tmp / "notebooks")
    book.build(tmp / "executed", tmp / "html")
    return tmp / "html"


@pytest.fixture(scope="module")
def chromium():
    skip = pytest.fail if os.environ.get("MUSICLAB_REQUIRE_BROWSER") else pytest.skip   # CI sets it
    try:
        import playwright.sync_api as api
    except ImportError:
        skip("the playwright Python package is not installed")
    if not Path(CHROMIUM).exists():
        skip(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    with api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def inside(url: str, folder: Path) -> bool:
    """Whether ``url`` is a file of ``folder`` (or a data/blob URL, which holds its own bytes)."""
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about"):
        return True
    return parsed.scheme == "file" and Path(unquote(parsed.path)).resolve().is_relative_to(folder)


def internal_links(page, folder: Path) -> list:
    """The files the page's links point to inside the book that do not exist."""
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    missing = []
    for href in hrefs:
        parsed = urlparse(href)
        if parsed.scheme == "file" and not Path(unquote(parsed.path)).exists():
            missing.append(href)
    return missing


AUDIO_CHECK = """async () => {
  const results = [];
  for (const a of document.querySelectorAll('audio')) {
    if (a.readyState < 1) await new Promise(r => { a.addEventListener('loadedmetadata', r, {once: true});
                                                  a.addEventListener('error', r, {once: true});
                                                  setTimeout(r, 15000); a.load(); });
    const duration = a.duration;
    a.muted = true;
    let played = false;
    try { await a.play(); const t0 = a.currentTime;
          await new Promise(r => setTimeout(r, 400)); played = a.currentTime > t0; a.pause(); }
    catch (e) { played = 'play() failed: ' + e; }
    results.push({duration, played, error: a.error ? a.error.code : null});
  }
  return results;
}"""


def check_page(browser, path: Path, folder: Path, screenshot: Path | None = None) -> list:
    """Everything wrong with one page of the book, as sentences (empty: the page passes)."""
    problems, outside, console = [], [], []
    context = browser.new_context()
    page = context.new_page()

    def route(r):
        if inside(r.request.url, folder):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()
    page.route("**/*", route)
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(str(e)))
    page.goto(path.as_uri(), wait_until="load")
    page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
    page.wait_for_timeout(300)
    for i, a in enumerate(page.evaluate(AUDIO_CHECK)):
        if not (a["duration"] and a["duration"] > 0) or a["played"] is not True or a["error"]:
            problems.append(f"audio {i}: {a}")
    broken = page.eval_on_selector_all("img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0))"
                                              ".map(i => i.src.slice(0, 80))")
    problems += [f"image not shown: {src}" for src in broken]
    text = page.inner_text("article") if page.query_selector("article") else page.inner_text("body")
    raw = page.evaluate("() => [...document.querySelectorAll('.math.notranslate')].filter("
                        "m => !m.querySelector('mjx-container')).length")
    if raw or re.search(r"\$\$|\\\(|\\\[|\\begin\{", text):
        problems.append(f"raw LaTeX left untypeset ({raw} math elements)")
    if page.query_selector("mjx-merror, [data-mjx-error]"):
        problems.append("a MathJax error")
    if TRACEBACK.search(text) or page.query_selector(".output.traceback, .cell_output .traceback"):
        problems.append("an output shows a traceback")
    problems += [f"link to a missing file: {h}" for h in internal_links(page, folder)]
    if path.stat().st_size > book.MAX_PAGE_MB * 2**20:
        problems.append(f"{path.stat().st_size / 2**20:.1f} MB, over {book.MAX_PAGE_MB} MB")
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=False)
    problems += [f"request outside the book: {u}" for u in outside]      # read last: play() may add some
    problems += [f"console error: {m}" for m in console]
    context.close()
    return problems


def test_every_page_of_the_book_reads_plays_and_stays_in_its_folder(built_book, chromium):
    folder = built_book.resolve()
    pages = sorted(folder.glob("[0-9][0-9]_*.html"))
    assert pages and (folder / "index.html").exists() and (folder / "search.html").exists()
    shots = folder.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    chosen = {folder / "index.html", pages[0], pages[-1]}
    report, n_audio, n_math = {}, 0, 0
    for path in [folder / "index.html", folder / "search.html", *pages]:
        shot = shots / f"{path.stem}.png" if path in chosen else None
        problems = check_page(chromium, path, folder, shot)
        if problems:
            report[path.name] = problems[:8]
        text = path.read_text(encoding="utf-8")
        n_audio += text.count("<audio")
        n_math += text.count('class="math')
    assert not report, report
    assert n_audio > 0 and n_math > 0                 # the checks above had players and math to check
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(f"{p.stem}.png" for p in chosen)


def test_search_finds_pages_from_disk(built_book, chromium):
    """Sphinx's search page, opened from disk, finds the notebook pages that hold a word, quietly."""
    page, errors = chromium.new_page(), []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.route("**/*", lambda r: r.continue_() if inside(r.request.url, built_book.resolve())
               else (errors.append(f"request outside the book: {r.request.url}"), r.abort()))
    page.goto((built_book / "search.html").as_uri() + "?q=spectrogram")
    page.wait_for_function("() => document.querySelector('#search-results')?.innerText.includes('Search finished')")
    found = page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.href)")
    assert any("00_music_as_data.html" in href for href in found) and not errors, (found, errors)
    page.close()


def test_each_page_says_which_execution_it_shows_and_links_to_colab_and_the_notebook(built_book):
    for page in sorted(built_book.glob("[0-9][0-9]_*.html")):
        text = page.read_text(encoding="utf-8")
        assert 'class="admonition note"' in text and "This page shows one execution of the notebook in" in text, page.name
        note = text[text.index("This page shows one execution"):][:600]
        assert ":::" not in text and "unknown" not in note and re.search(r"commit <code[^>]*><span[^>]*>\w{7}", note), note
        assert "colab.research.google.com/github/" in text and f"/notebooks/{page.stem}.ipynb" in text, page.name
        assert f"_sources/{page.stem}.ipynb" in text, page.name          # the download button
        assert "colab-badge.svg" not in text, page.name                   # an image from the network


def test_widgets_become_static_players_controls_and_outputs():
    """``static_outputs`` on a saved state: a player keeps its <audio>, a menu shows its value, an
    Output widget what it showed, an Audio widget inside a box becomes an <audio> element."""
    import base64

    import numpy as np

    import musiclab as ml
    wav = ml.wav_bytes(0.1 * np.sin(np.linspace(0, 400, 22050)).astype("float32"))
    state = {"box": {"state": {"_model_name": "VBoxModel", "children": ["IPY_MODEL_menu", "IPY_MODEL_out", "IPY_MODEL_au"]}},
             "menu": {"state": {"_model_name": "DropdownModel", "description": "tune", "index": 1,
                                "_options_labels": ["a reel", "a jig"]}},
             "out": {"state": {"_model_name": "OutputModel",
                               "outputs": [{"output_type": "stream", "name": "stdout", "text": "played 4 bars\n"}]}},
             "au": {"state": {"_model_name": "AudioModel"}, "buffers": [{"path": ["value"], "encoding": "base64",
                                                                          "data": base64.b64encode(wav).decode()}]}}
    player = ml.player(np.zeros(2205, "float32") + 0.01, title="clip")
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {book.WIDGET_STATE: {"state": state}}
    nb.cells = [nbformat.v4.new_code_cell(outputs=[
        nbformat.v4.new_output("display_data", {book.WIDGET_VIEW: {"model_id": "box"}, "text/plain": "VBox()"}),
        nbformat.v4.new_output("display_data", player._repr_mimebundle_())])]
    assert book.static_outputs(nb) == 2 and "widgets" not in nb.metadata
    first, second = (o["data"] for o in nb.cells[0].outputs)
    assert set(first) == {"text/html"} and set(second) == {"text/html"}
    assert "tune <select disabled><option>a reel</option><option selected>a jig</option></select>" in first["text/html"]
    assert "played 4 bars" in first["text/html"] and first["text/html"].endswith(book.CONTROL_NOTE)
    assert first["text/html"].count('<audio controls preload="metadata" src="data:audio/mpeg;base64,') == 1
    assert second["text/html"] == player.static_html and "<b>clip</b>" in second["text/html"]


def test_the_landing_page_lists_the_course_from_the_readme():
    rows = book.course_table()
    assert [f for f, _ in rows] == sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert all(what for _, what in rows)


def test_a_book_replaces_only_a_book(tmp_path):
    """``build`` refuses to overwrite a folder that is not a musiclab book, and an empty executed folder
    leaves the book built before in place."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="holds no musiclab book"):
        book.build(tmp_path / "executed", tmp_path / "notes")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / book.MARK).write_text("a book")
    (tmp_path / "executed").mkdir()
    with pytest.raises(FileNotFoundError, match="no executed notebooks"):
        book.build(tmp_path / "executed", tmp_path / "old")
    assert (tmp_path / "notes" / "mine.txt").exists() and (tmp_path / "old" / book.MARK).exists()


def test_an_html_export_without_widget_state_plays_the_player(tmp_path):
    """``jupyter nbconvert --to html`` of a notebook saved without widget state (JupyterLab's default)
    shows the player's ``<audio>`` (``ml.player``'s text/html), not an empty widget."""
    import numpy as np
    from nbconvert import HTMLExporter

    import musiclab as ml
    clip = ml.player(0.1 * np.sin(np.linspace(0, 800, 22050)).astype("float32"), title="a <tune>")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[
        nbformat.v4.new_output("display_data", clip._repr_mimebundle_())])])
    page, _ = HTMLExporter().from_notebook_node(nb)
    assert len(re.findall(r'<audio [^>]*src="data:audio/mpeg;base64,', page)) == 1
    assert "<b>a &lt;tune&gt;</b>" in page
