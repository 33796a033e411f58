"""``python -m musiclab.book``: the command line of :mod:`musiclab.course.book` (the course as a static book)."""
import sys

from .course.book import main

if __name__ == "__main__":
    sys.exit(main())
