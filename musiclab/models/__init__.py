"""Every model a training notebook trains, one family per file (one source of truth).

Notebooks show a model's source with ``musiclab.show(Model)`` and then explain it; lesson
notebooks (01, 03, 06, 09) write their math by hand instead.

``__all__`` is the union of the families' ``__all__``, so ``import musiclab as ml`` gives every
model name (``ml.GPT``, ``ml.train_bar_gan``) but not the family modules themselves; a notebook
that wants a module imports it by name (``from musiclab.models import transformer``).
"""
from .transformer import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .dic import *  # noqa: F401,F403
from .gan import *  # noqa: F401,F403
from .music_gpt import *  # noqa: F401,F403
from .chorale_gpt import *  # noqa: F401,F403  (after music_gpt: it uses its token_nll, tune_stream)
from . import chorale_gpt, dic, gan, music_gpt, rnn, transformer  # the modules themselves, for __all__

__all__ = (transformer.__all__ + rnn.__all__ + dic.__all__ + gan.__all__ + music_gpt.__all__
           + chorale_gpt.__all__)
