"""pytest runs the notebooks and the unit tests in quick mode (small data, few epochs)."""
import os

os.environ.setdefault("MUSICLAB_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
