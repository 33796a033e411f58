"""A real browser check of notebook 00, as a learner sees it: JupyterLab serves the notebook, headless
Chromium runs it (Run > Run All Cells), and then

- every code cell ran, and no output shows a traceback;
- every ``<audio>`` player loads its sound: ``readyState >= 1`` (metadata) with ``duration > 0``,
  matching the length its title prints;
- the tune-and-instrument widget of section 10 works: picking another instrument and pressing
  play puts a new clip (a new ``src`` holding different sound) in the widget's output.

Needs Debian's ``chromium`` (/usr/bin/chromium) and the ``playwright`` Python package
(``pip install -e ".[browser]"``); it skips when either is missing. Playwright only drives the system
Chromium: never ``playwright install``.
"""
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/00_music_as_data.ipynb"
CHROMIUM = os.environ.get("MUSICLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAB_SETTINGS = {  # @jupyterlab plugin -> its settings for this run
    "docmanager-extension/plugin": '{"autosave": false}',  # the run's outputs must not land in the repo
    "apputils-extension/notification": '{"fetchNews": "false"}',
    "notebook-extension/tracker": '{"windowingMode": "none"}',  # every cell in the DOM, so every output is checked
}
PROMPTS = ".jp-Notebook .jp-CodeCell .jp-InputArea-prompt"  # "[3]:" ran, "[*]:" queued or running, "[ ]:" never ran
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'  # stderr text and error outputs
AUDIO = '.jp-OutputArea audio[src^="blob:"], .jp-OutputArea audio[src^="data:"]'
WIDGET_PLAYER = ".jp-OutputArea:has(.widget-dropdown select) .widget-output audio"  # section 10's widget
WIDGET_ROLL = '.jp-OutputArea:has(.widget-dropdown select) .widget-output img[src^="data:image/png"]'
RUN_TIMEOUT_S = 150  # notebook 00 in quick mode on a loaded 2-core machine
CLIP_TIMEOUT_S = 60  # one tune rendered after pressing play


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {server.returncode} (see its log)")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout} s")


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free localhost port with a random token, rooted at the repo."""
    port, token = free_port(), uuid.uuid4().hex
    settings = tmp_path / "lab-settings"
    for plugin, value in LAB_SETTINGS.items():
        (settings / "@jupyterlab" / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings").write_text(value)
    env = dict(os.environ, MUSICLAB_MODE="quick", JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    env.pop("MPLBACKEND", None)  # conftest's Agg would leave the kernel without the inline backend a learner has
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}",
         "--ServerApp.port_retries=0", f"--LabApp.user_settings_dir={settings}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", server)
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        print(f"JupyterLab log: {tmp_path / 'jupyterlab.log'}")


READ_RUN = """([prompts, stderr]) => ({
    prompts: [...document.querySelectorAll(prompts)].map(e => e.textContent.trim()),
    stderr: [...document.querySelectorAll(stderr)].map(e => e.textContent)})"""
READ_PLAYERS = """selector => [...document.querySelectorAll(selector)].map(a => ({
    src: a.src, readyState: a.readyState, duration: a.duration,
    title: a.closest('.widget-vbox')?.querySelector('.widget-html')?.textContent ?? ''}))"""


def run_all_cells(page, timeout_s: float) -> dict:
    """Run > Run All Cells, then wait until every code cell shows an execution count or a traceback
    appears (the run stops there). Returns the prompts and the stderr texts."""
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    page.wait_for_function(f"""args => {{ const s = ({READ_RUN})(args);
        return (s.prompts.length > 0 && s.prompts.every(p => /^\\[\\d+\\]/.test(p)))
            || s.stderr.some(t => t.includes('Traceback')); }}""", arg=[PROMPTS, STDERR],
        timeout=timeout_s * 1000, polling=500)
    return page.evaluate(READ_RUN, [PROMPTS, STDERR])


def tracebacks(page) -> list[str]:
    """The text of every output that shows a Python traceback."""
    return [t for t in page.evaluate(READ_RUN, [PROMPTS, STDERR])["stderr"] if "Traceback" in t]


def loaded_audio(page, selector: str, timeout_s: float = 30) -> list[dict]:
    """Wait until every <audio> matching ``selector`` has its metadata (readyState >= 1, HAVE_METADATA)
    and a positive duration; return src, readyState, duration and the player's printed title."""
    try:
        page.wait_for_function(f"""selector => {{ const players = ({READ_PLAYERS})(selector);
            return players.length > 0 && players.every(p => p.readyState >= 1 && p.duration > 0); }}""",
            arg=selector, timeout=timeout_s * 1000, polling=250)
    except Exception as error:  # playwright's TimeoutError: say which players never loaded
        players = page.evaluate(READ_PLAYERS, selector)
        silent = [p for p in players if not (p["readyState"] >= 1 and p["duration"] > 0)]
        raise AssertionError(f"{len(players)} players match {selector!r}; after {timeout_s} s "
                             f"these have no sound: {silent}") from error
    return page.evaluate(READ_PLAYERS, selector)


def printed_seconds(title: str) -> float:
    """The length ``musiclab.player`` prints in a player's title, e.g. "... (12.3 s)"."""
    match = re.search(r"\((\d+(?:\.\d+)?) s\)", title)
    assert match, f"no '(N s)' length in the player title {title!r}"
    return float(match.group(1))


def clip_digest(page, src: str) -> str:
    """SHA-256 of the sound bytes behind an <audio> src (a blob: or data: URL), read in the page."""
    data = page.evaluate("""async src => {
        const bytes = new Uint8Array(await (await fetch(src)).arrayBuffer());
        let s = ''; for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
        return btoa(s); }""", src)
    return hashlib.sha256(data.encode()).hexdigest()


@pytest.fixture
def sync_api():
    """Playwright's sync API, or a skip (before any server starts) without it or without Chromium."""
    api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    return api


def test_notebook_00_runs_plays_and_its_widget_works_in_chromium(sync_api, jupyterlab, tmp_path):
    base, token = jupyterlab
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=90_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=90_000)  # the kernel is ready
            started = time.monotonic()
            run = run_all_cells(page, RUN_TIMEOUT_S)
            print(f"Run All Cells: {len(run['prompts'])} code cells in {time.monotonic() - started:.1f} s")

            raised = tracebacks(page)
            assert not raised, f"a cell raised in the browser run:\n{raised[0][-3000:]}"
            not_run = [i for i, prompt in enumerate(run["prompts"]) if not re.match(r"\[\d+\]", prompt)]
            assert not not_run, f"code cells {not_run} did not run (prompts {run['prompts']})"

            players = loaded_audio(page, AUDIO)
            for player in players:  # the browser decoded as many seconds as the notebook rendered
                if player["title"]:
                    assert abs(player["duration"] - printed_seconds(player["title"])) < 0.1, player
            print(f"{len(players)} players loaded, {sum(p['duration'] for p in players):.1f} s of sound")

            # section 10: the cell after the widget played a tune; now a learner picks another instrument
            widget = page.locator(".jp-OutputArea-output", has=page.locator(".widget-dropdown select"))
            menu = widget.locator(".widget-dropdown", has=page.locator("label", has_text="instrument")).locator("select")
            played = menu.input_value()
            choice = "flute" if played != "flute" else "harp"
            [before] = loaded_audio(page, WIDGET_PLAYER)
            assert f"on {played}" in before["title"], before
            digest = clip_digest(page, before["src"])  # now: the widget frees this blob when its player goes
            menu.select_option(choice)
            widget.locator("button", has_text="play").click()
            try:
                page.wait_for_function("([selector, old]) => document.querySelector(selector)?.src.startsWith('blob:')"
                                       " && document.querySelector(selector).src !== old",
                                       arg=[WIDGET_PLAYER, before["src"]], timeout=CLIP_TIMEOUT_S * 1000)
            except Exception as error:  # playwright's TimeoutError
                raise AssertionError(f"no new clip {CLIP_TIMEOUT_S} s after choosing {choice} and pressing play "
                                     "(an exception before `with output:` shows only in JupyterLab's log console)") from error
            [after] = loaded_audio(page, WIDGET_PLAYER)
            assert f"on {choice}" in after["title"], after
            assert clip_digest(page, after["src"]) != digest, f"{played} and {choice} clips are the same sound"
            print(f"widget: {played} {before['duration']:.1f} s -> {choice} {after['duration']:.1f} s, a new clip")
            page.wait_for_function("selector => document.querySelector(selector)?.complete", arg=WIDGET_ROLL,
                                   polling=500, timeout=CLIP_TIMEOUT_S * 1000)  # and its piano roll below the player
            page.locator(WIDGET_ROLL).scroll_into_view_if_needed()
            page.evaluate("selector => document.querySelector(selector).decode()", WIDGET_ROLL)  # painted for the shot
            shot = tmp_path / "notebook00_widget.png"
            page.screenshot(path=str(shot))
            print(f"screenshot: {shot}")
            raised = tracebacks(page)  # an exception inside the widget's `with output:` shows there
            assert not raised, f"the widget's callback raised:\n{raised[0][-3000:]}"
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
