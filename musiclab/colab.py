"""``python -m musiclab.colab``: the command line of :mod:`musiclab.course.colab` (badges, install cells)."""
import sys

from .course.colab import main

if __name__ == "__main__":
    sys.exit(main())
