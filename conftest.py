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


def notebook_of(item):
    """The notebook an nbval item (a cell) belongs to, or None for a unit test."""
    path = Path(str(item.fspath))
    return path.stem if path.suffix == ".ipynb" else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Order and group the notebooks for pytest-xdist, which runs the tests in two processes
    (``-n auto --maxprocesses=2 --dist loadgroup`` in pyproject.toml): each notebook's cells stay
    together, in order, in one process. Notebook 08 compares the models that 02, 04, 05, 07, 10
    and 11 train, reading their checkpoints: those notebooks and then 08 run in one process, in
    that order, as for a learner who has done them (run alone, 08 trains the models itself with
    the same recipes). The other process takes the unit tests and the other notebooks."""
    items.sort(key=lambda item: notebook_of(item) == "08_evaluation")   # stable: otherwise pytest's order
    for item in items:
        name = notebook_of(item)
        if name is not None:
            item.add_marker(pytest.mark.xdist_group("checkpoints" if name in CHECKPOINT_CHAIN else name))
