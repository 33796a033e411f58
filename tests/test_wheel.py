"""The wheel ships the corpus caches: an installed (non-editable) musiclab loads every corpus fast.

Builds the wheel from this checkout, installs it into a fresh virtual environment (which borrows
this environment's dependencies: ``--system-site-packages``, ``--no-deps``) and loads each corpus
there, in a process whose home has no user cache, checking that music21 is never imported.
"""
import json
import os
import subprocess
import sys
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


def test_an_installed_wheel_loads_every_corpus_in_under_a_second_without_music21(wheel, tmp_path):
    target = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(target)], check=True)
    python = str(target / "bin" / "python")
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
