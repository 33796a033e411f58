"""musiclab: the helper package behind the deep-learning-for-music notebooks.

Small modules, each named for what it holds: ``config`` (device, seeds, quick or full mode),
``corpora`` (music21's bundled corpora, cached), ``abc`` (folk-rnn style tokens), ``music``
(notes, MIDI, piano rolls), ``synth`` (soundfont rendering), ``audio`` (log-mel, Griffin-Lim),
``listen`` (players), ``plots``, ``train`` (loop and checkpoints), ``metrics`` (music
statistics), ``ngram`` (baseline language models), ``rating`` (a blind listening test),
``data`` (bars, chorale beat rolls, token datasets), ``splits`` (leak-free splits by groups of
near-duplicates), ``models`` (every model the training notebooks train) and ``source``
(``show``: a model's code in a notebook).
``results`` keeps a notebook's headline numbers (``record``) and prints them beside the committed
full-mode run (``compare``); ``python -m musiclab.bench`` times the notebooks and training steps
and, with ``--full``, runs them at full size and records what they measure.
"""
from .config import by_mode, device, is_quick, mode, seed_everything, setup
from .music import *  # noqa: F401,F403
from .synth import *  # noqa: F401,F403
from .audio import *  # noqa: F401,F403
from .corpora import *  # noqa: F401,F403
from .abc import *  # noqa: F401,F403
from .listen import *  # noqa: F401,F403
from .plots import *  # noqa: F401,F403
from .train import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
from .ngram import *  # noqa: F401,F403
from .rating import *  # noqa: F401,F403
from .data import *  # noqa: F401,F403
from .splits import *  # noqa: F401,F403
from .baselines import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .course.recipes import *  # noqa: F401,F403
from .source import *  # noqa: F401,F403
from .reconstruction import *  # noqa: F401,F403
from .validity import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from .tokenizers import *  # noqa: F401,F403
from .course.results import claim, compare, print_mode, record  # noqa: F401

__version__ = "0.1.0"
