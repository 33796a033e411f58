"""Bad input is answered: every probe of the public API gets a clear error that names the problem.

One table, one row a probe: what was tried, the call, the exception it must raise and words its
message must contain (the argument's name and, where there are any, the allowed values). The next
probe is one more row. Probes whose answer is a documented sensible result (not an error), and
probes that need processes or files set up (concurrent raters, corrupt caches, command lines),
have their own tests beside the function they probe.
"""
import re

import numpy as np
import pytest
import torch

import musiclab as ml

NOTE = [[60, 0.0, 1.0, 80]]                      # one middle C, a quarter long (pitch, start, end, velocity)

PROBES = [
    # (what was tried, call, exception, the word or tuple of words (regexes) its message must contain)
    # --- data: abc, music, corpora, listen, rating ---
    # (end of data probes)
    # --- models: transformer, pretrain, tokenizers, data, results ---
    # (end of model probes)
]


@pytest.mark.parametrize("call, error, words", [p[1:] for p in PROBES], ids=[p[0] for p in PROBES])
def test_bad_input_gets_a_clear_error(call, error, words):
    with pytest.raises(error) as raised:
        call()
    message = str(raised.value)
    for word in ([words] if isinstance(words, str) else words):
        assert re.search(word, message, re.IGNORECASE), f"{word!r} not in the message {message!r}"
