"""A real browser check: JupyterLab serves notebook 00, headless Chromium runs it (Run > Run All
Cells) and an ``<audio>`` player with sound data appears in an output area.

Needs Debian's ``chromium`` (/usr/bin/chromium) and the ``playwright`` Python package; it skips
when either is missing. Playwright only drives the system Chromium: never ``playwright install``.
"""
import os
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
AUDIO = '.jp-OutputArea audio[src^="blob:"], .jp-OutputArea audio[src^="data:"]'
RUN_TIMEOUT_S = 150  # notebook 00 in quick mode on a loaded 2-core machine


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
    settings = tmp_path / "lab-settings"  # never autosave: the run's outputs must not land in the repo
    for plugin, value in [("docmanager-extension/plugin", '{"autosave": false}'),
                          ("apputils-extension/notification", '{"fetchNews": "false"}')]:
        (settings / "@jupyterlab" / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings").write_text(value)
    env = dict(os.environ, MUSICLAB_QUICK="1", JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
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


def test_notebook_00_plays_audio_in_chromium(jupyterlab, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    base, token = jupyterlab
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=90_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=90_000)  # the kernel is ready
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            audio = page.wait_for_selector(AUDIO, state="attached", timeout=RUN_TIMEOUT_S * 1000)
            src = audio.get_attribute("src")
            audio.scroll_into_view_if_needed()
            shot = tmp_path / "notebook00_audio.png"
            page.screenshot(path=str(shot))
            print(f"screenshot: {shot}")
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] >> text=Traceback")
            assert errors.count() == 0, "a cell raised an exception in the browser run"
        finally:
            browser.close()
    assert src.startswith(("blob:", "data:")) and len(src) > len("blob:")
    assert shot.stat().st_size > 10_000
