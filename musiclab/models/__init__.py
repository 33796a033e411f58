"""Every model a training notebook trains, one family per file (one source of truth).

Notebooks show a model's source with ``musiclab.show(Model)`` and then explain it; lesson
notebooks (01, 03, 06, 09) write their math by hand instead.
"""
from .transformer import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .dic import *  # noqa: F401,F403
from .gan import *  # noqa: F401,F403
from .chorale_gpt import *  # noqa: F401,F403  (last: it uses pretrain, which imports .transformer)
