"""musiclab: the helper package behind the deep-learning-for-music notebooks.

Small modules, each named for what it holds: ``config`` (device, seeds, quick or full mode,
``setup``), ``corpora`` (music21's bundled corpora, cached), ``abc`` (folk-rnn style tokens),
``music`` (notes, MIDI, piano rolls), ``synth`` (soundfont rendering), ``audio`` (log-mel,
Griffin-Lim), ``listen`` (players), ``plots`` (figures and tables), ``train`` (both training
loops, one update step, checkpoints), ``metrics`` (music statistics), ``ngram`` (baseline
language models), ``rating`` (a blind listening test), ``data`` (bars, chorale beat rolls, token
datasets), ``splits`` (leak-free splits by groups of near-duplicates), ``tokenizers`` (miditok's
tokenizations), ``evaluation`` (intervals, distributions, copies, the scaling-law fit),
``models`` (every model the training notebooks train) and ``source`` (``show``: a model's code
in a notebook). ``course/`` holds the course machinery: ``results`` (``claim``, ``record`` and
``compare``: a notebook's headline numbers beside the committed full-mode run), ``recipes`` (a
training notebook in one call), ``pretrained`` (the two models that ship trained, with their
provenance), ``bench`` (``python -m musiclab.bench``: timings and full-mode
runs) and ``colab``. ``pretrain`` is the command line that pretrains a GPT.
"""
from .config import by_mode, device, is_quick, mode, progress_bar, seed_everything, setup
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
from .course.pretrained import *  # noqa: F401,F403
from .source import *  # noqa: F401,F403
from .reconstruction import *  # noqa: F401,F403
from .validity import *  # noqa: F401,F403
from .sampling import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from .tokenizers import *  # noqa: F401,F403
from .course.results import claim, compare, full_results, print_mode, record  # noqa: F401

__version__ = "0.1.0"
