"""The wheel ships the corpus caches: an installed (non-editable) musiclab loads every corpus fast.

Builds the wheel from this checkout, installs it (``--no-deps``) into a fresh virtual environment
that borrows the dependencies of the environment running the tests, whichever it is (a venv, conda
or the system interpreter): a ``.pth`` file appends this interpreter's site-packages to the new
one's path, after its own, so the installed wheel is found first. Then it loads each corpus there,
in a process whose home has no user cache, checking that music21 is never imported.
"""
import json
import os
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LOAD_ALL = """
import json, sys, time
import musiclab as ml
from musiclab import corpora
times = {}
for name in corpora.CORPORA:
    t0 = time.perf_counter()
    pieces = ml.load_corpus(name)
    times[name] = (time.perf_counter() - t0, len(pieces), str(corpora.cache_path(name)))
print(json.dumps({"file": ml.__file__, "times": times, "music21": "music21" in sys.modules}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out)], check=True, capture_output=True)
    return next(out.glob("musiclab-*.whl"))


def test_the_wheel_contains_every_corpus_cache(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for cache in (ROOT / "data").glob("*.npz"):
        assert f"musiclab/corpus_data/{cache.name}" in names


def venv_borrowing_this_environment(target: Path) -> str:
    """A new virtual environment at ``target`` whose path ends with this interpreter's site-packages
    (``--system-site-packages`` would borrow the base interpreter's, which lacks a venv's packages)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    python = str(target / "bin" / "python")
    own = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True).stdout.strip()
    borrowed = dict.fromkeys(site.getsitepackages() + [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    Path(own, "borrowed_site_packages.pth").write_text("".join(f"{p}\n" for p in borrowed if Path(p).is_dir()))
    return python


def test_an_installed_wheel_loads_every_corpus_in_under_a_second_without_music21(wheel, tmp_path):
    target = tmp_path / "venv"
    python = venv_borrowing_this_environment(target)
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    run = subprocess.run([python, "-c", LOAD_ALL], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["file"].startswith(str(target))        # the installed copy, not this checkout
    assert not result["music21"]                          # nothing was parsed
    for name, (seconds, n_pieces, path) in result["times"].items():
        print(f"{name}: {n_pieces} pieces in {seconds:.3f} s from {path}")
        assert path.startswith(str(target)) and n_pieces > 0
        assert seconds < 1.0
