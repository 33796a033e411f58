"""Show the source of a package function or class in a notebook, syntax-highlighted.

The training notebooks (02, 04, 05, 07, 10) train models that live in ``musiclab.models``: they
show the code with ``ml.show(ml.TuneLSTM)`` and then explain it, so the learner still reads it.
"""
import inspect

__all__ = ["show"]


def show(obj):
    """Display the source code of ``obj`` (a class, function or method) in a notebook; outside
    a notebook, return it as text.
    Notebooks: 00, 02, 04, 05, 07, 08, 09, 10, 11."""
    try:
        code = inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise ValueError(f"no source code for {obj!r}: {err}") from err
    try:
        from IPython import get_ipython
        from IPython.display import Code
    except ImportError:
        return code
    if get_ipython() is None:
        return code
    return Code(code, language="python")
