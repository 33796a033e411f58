"""Checks of what a public function is given: one home for the argument checks the package shares.

``check_counts`` (counts and sizes: integers >= 1, or >= 0), ``check_positive`` (rates: finite numbers
> 0) and ``MAX_PARAMS`` (the largest model the package builds) answer bad input with a ValueError
that names the argument and what it allows (tests/test_probes.py). Used by the training loops
(``train``), the models, the corpora, the piano-roll helpers (``music``) and the command lines.
"""
import math
import numbers

__all__ = ["MAX_PARAMS", "check_counts", "check_positive"]

MAX_PARAMS = 10**9   # the largest model load_model builds (and GPTConfig allows): 4 GB of float32 weights


def check_counts(minimum: int = 1, **counts) -> None:
    """Raise ValueError naming the first of ``counts`` (name=value) that is not an integer >= ``minimum``;
    None passes (a default). ``GPT.generate``, ``train_gpt``, ``sample_gpt`` and the command line use it."""
    for name, value in counts.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum):
            raise ValueError(f"{name} must be {'a positive integer' if minimum == 1 else f'an integer >= {minimum}'}, "
                             f"got {value!r}")


def check_positive(name: str, value) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is a finite number > 0 (a learning rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
