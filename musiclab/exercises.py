"""``python -m musiclab.exercises``: the command line of :mod:`musiclab.course.exercises` (exercises, graded)."""
import sys

from .course.exercises import main

if __name__ == "__main__":
    sys.exit(main())
