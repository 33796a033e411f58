"""``python -m musiclab.bench``: the command line of :mod:`musiclab.course.bench` (timings, full-mode runs)."""
import sys

from .course.bench import main

if __name__ == "__main__":
    sys.exit(main())
