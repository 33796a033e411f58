"""pytest runs the notebooks and the unit tests in quick mode (small data, few epochs), on a GPU too.

The notebook kernels inherit these variables. ``OMP_WAIT_POLICY=PASSIVE`` stops torch's CPU
threads from busy-waiting for each other, which makes small models many times slower on a
machine whose two cores are shared with other processes.
"""
import os
from pathlib import Path

import pytest

os.environ.setdefault("MUSICLAB_MODE", "quick")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# The notebooks that write the checkpoints 08 reads, in the order they are taught, then 08 itself.
CHECKPOINT_CHAIN = ["02_dic_training", "04_rnn_melody", "05_rnn_chorales", "07_gan_music",
                    "10_music_transformer", "11_tokens_and_polyphony", "08_evaluation"]


def pytest_collection_modifyitems(items):
    """Notebook 08 compares the models that 02, 04, 05, 07, 10 and 11 train, reading their
    checkpoints: its cells come last, as for a learner who has done those notebooks (run alone,
    08 trains the models itself with the same recipes). The sort is stable: otherwise pytest's order."""
    items.sort(key=lambda item: Path(str(item.fspath)).name == "08_evaluation.ipynb")


# Test modules whose tests share one costly fixture (a book built, exercises assigned): kept in one process.
SHARED_FIXTURE_MODULES = {"tests/test_book.py", "tests/test_exercises.py"}

# Master exercise notebooks are graded by tests/test_exercises.py (otter-grader), not run by nbval.
collect_ignore_glob = ["notebooks/exercises/*"]


def notebook_scope(nodeid: str) -> str:
    """What pytest-xdist keeps in one process, in order: a notebook's cells (one kernel runs them
    all), the whole chain of notebooks above, and the tests of a module in SHARED_FIXTURE_MODULES;
    any other unit test alone can go anywhere."""
    path = nodeid.split("::", 1)[0]
    if path in SHARED_FIXTURE_MODULES:
        return path
    if not path.endswith(".ipynb"):
        return nodeid
    return "checkpoints" if Path(path).stem in CHECKPOINT_CHAIN else path


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist runs the tests in two processes (``-n auto --maxprocesses=2`` in
    pyproject.toml), sharing them out by ``notebook_scope``: one process takes the chain of
    notebooks, the other the unit tests and the other notebooks (biggest scopes first)."""
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return notebook_scope(nodeid)
    return NotebookScheduling(config, log)
