"""The wheel ships the corpus caches and the pretrained models: an installed (non-editable)
musiclab loads every corpus fast, and each pretrained model with its hash checked and its recorded
validation loss recomputed; the wheel stays under 25 MB.

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


def test_the_wheel_ships_both_pretrained_models_and_stays_under_25_mb(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("folk-pretrained", "chorale-pretrained"):
        assert {f"musiclab/corpus_data/{name}.pt", f"musiclab/corpus_data/{name}.json"} <= names
    print(f"wheel: {wheel.stat().st_size / 2**20:.1f} MB")
    assert wheel.stat().st_size < 25 * 2**20


LOAD_PRETRAINED = """
import json, time
import musiclab as ml
out = {}
for name in ml.PRETRAINED:
    t0 = time.perf_counter()
    model, provenance = ml.load_pretrained(name)
    loss = ml.heldout_loss(model, provenance, "val", quick=True)
    out[name] = (str(ml.pretrained_path(name)), loss, provenance["val_loss_quick"], time.perf_counter() - t0)
print(json.dumps(out))
"""


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


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A fresh venv with the wheel installed: (its python, its folder)."""
    target = tmp_path_factory.mktemp("installed") / "venv"
    python = venv_borrowing_this_environment(target)
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True)
    return python, target


def test_an_installed_wheel_loads_each_pretrained_model_and_recomputes_its_validation_loss(installed, tmp_path):
    python, target = installed
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    run = subprocess.run([python, "-c", LOAD_PRETRAINED], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    for name, (path, loss, recorded, seconds) in json.loads(run.stdout.strip().splitlines()[-1]).items():
        print(f"{name}: validation subset {loss:.4f} (recorded {recorded:.4f}) in {seconds:.1f} s from {path}")
        assert path.startswith(str(target)) and abs(loss - recorded) < 1e-3


def test_an_installed_wheel_loads_every_corpus_in_under_a_second_without_music21(installed, tmp_path):
    python, target = installed
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
