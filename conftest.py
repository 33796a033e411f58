"""pytest runs the notebooks and the unit tests in quick mode (small data, few epochs), on a GPU too.

The notebook kernels inherit these variables. ``OMP_WAIT_POLICY=PASSIVE`` stops torch's CPU
threads from busy-waiting for each other, which makes small models many times slower on a
machine whose two cores are shared with other processes.
"""
import os

os.environ.setdefault("MUSICLAB_MODE", "quick")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
