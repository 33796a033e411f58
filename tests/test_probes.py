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

PROBES = [
    # (what was tried, call, exception, the word or tuple of words (regexes) its message must contain)
    # --- data: abc, music, corpora, listen, rating ---
    ("parse_abc of 1 MB of ABC", lambda: ml.parse_abc("X:1\nK:C\n" + "CDEF|" * 200_000), ValueError, "MAX_ABC_CHARS"),
    ("to_audio of 1 MB of ABC", lambda: ml.to_audio("X:1\nK:C\n" + "CDEF|" * 200_000), ValueError, "MAX_ABC_CHARS"),
    ("tokenize_abc of 1 MB of ABC", lambda: ml.tokenize_abc("X:1\nK:C\n" + "CDEF|" * 200_000), ValueError,
     "MAX_ABC_CHARS"),
    ("tokenize_abc with key K:Zmaj", lambda: ml.tokenize_abc("X:1\nK:Zmaj\nCDEF|"), ValueError, ("K:", "Zmaj")),
    ("inline key [K:Zmaj]", lambda: ml.tokenize_abc("X:1\nK:C\nCD [K:Zmaj] EF|"), ValueError, ("K:", "Zmaj")),
    ("parse_abc with key K:Zmaj", lambda: ml.parse_abc("X:1\nK:Zmaj\nCDEF|"), ValueError, ("K:", "Zmaj")),
    ("decode_tokens of id -1", lambda: ml.decode_tokens([-1], ["<s>", "|", "C"]), ValueError, ("id -1", "0..2")),
    ("decode_tokens of id len(vocab)", lambda: ml.decode_tokens([3], ["<s>", "|", "C"]), ValueError, ("id 3", "0..2")),
    ("detokenize_abc of ids", lambda: ml.detokenize_abc([1, 2]), TypeError, ("strings", "decode_tokens")),
    ("detokenize_abc of one string", lambda: ml.detokenize_abc("M:4/4 K:Cmaj C"), TypeError, "list of tokens"),
    ("transpose up 100 semitones", lambda: ml.transpose([[0, 1, 60, 0]], 100), ValueError, ("100 semitones", "0..127")),
    ("transpose by half a semitone", lambda: ml.transpose([[0, 1, 60, 0]], 0.5), ValueError, ("semitones", "integer")),
    ("roll_to_notes with 0 steps a quarter", lambda: ml.roll_to_notes(np.ones((4, 88)), steps_per_quarter=0),
     ValueError, ("steps_per_quarter", "positive integer")),
    ("piano_roll with 10**7 steps a quarter", lambda: ml.piano_roll([[0, 1, 60, 0]], steps_per_quarter=10**7),
     ValueError, ("frames x 88 keys", "MAX_ROLL_CELLS")),
    ("piano_roll with 2.5 steps a quarter", lambda: ml.piano_roll([[0, 1, 60, 0]], steps_per_quarter=2.5),
     ValueError, ("steps_per_quarter", "positive integer")),
    ("piano_roll with low above high", lambda: ml.piano_roll([[0, 1, 60, 0]], low=90, high=30), ValueError,
     ("low", "high")),
    ("bars of 0 steps", lambda: ml.bars(np.ones((4, 88)), 0), ValueError, ("steps_per_bar", "positive integer")),
    ("load_corpus with limit -1", lambda: ml.load_corpus("oneills", limit=-1), ValueError,
     ("limit", "positive integer")),
    ("load_corpus with limit 0", lambda: ml.load_corpus("oneills", limit=0), ValueError, ("limit", "positive integer")),
    ("notes_to_midi with GM program 500", lambda: ml.notes_to_midi([[0, 1, 60, 0]], programs=500), ValueError,
     ("program", "0..127", "500")),
    ("to_audio of a piece with GM program 500",
     lambda: ml.to_audio(ml.Piece("p", "test", "C major", "4/4", np.array([[0, 1, 60, 0]], np.float32)), program=500),
     ValueError, ("program", "0..127", "500")),
    # (end of data probes)
    # --- models: transformer, pretrain, tokenizers, data, results ---
    ("GPT.generate, temperature inf", lambda: ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8).generate(
        torch.zeros(1, 1, dtype=torch.long), 2, temperature=float("inf")), ValueError, ("temperature", "finite", ">= 0")),
    ("GPT.generate, temperature nan", lambda: ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8).generate(
        torch.zeros(1, 1, dtype=torch.long), 2, temperature=float("nan")), ValueError, ("temperature", "finite")),
    ("GPT.generate, max_new_tokens 2.5", lambda: ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8).generate(
        torch.zeros(1, 1, dtype=torch.long), 2.5), ValueError, ("max_new_tokens", "integer >= 0")),
    ("sample_next, top_k 0", lambda: ml.sample_next(torch.zeros(1, 8), top_k=0), ValueError, ("top_k", "positive")),
    ("sample_next, top_p nan", lambda: ml.sample_next(torch.zeros(1, 8), top_p=float("nan")), ValueError, ("top_p", r"\(0, 1\]")),
    ("sample_gpt, temperature inf", lambda: ml.sample_gpt(ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8),
        ["<s>", "<unk>", *"abcdef"], temperature=float("inf")), ValueError, ("temperature", "finite")),
    ("sample_gpt, top_p 0", lambda: ml.sample_gpt(ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8),
        ["<s>", "<unk>", *"abcdef"], top_p=0), ValueError, ("top_p", r"\(0, 1\]")),
    ("sample_gpt, n 0", lambda: ml.sample_gpt(ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8),
        ["<s>", "<unk>", *"abcdef"], n=0), ValueError, ("n must", "positive integer")),
    ("sample_gpt, max_len 0", lambda: ml.sample_gpt(ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8),
        ["<s>", "<unk>", *"abcdef"], max_len=0), ValueError, ("max_len", "positive integer")),
    ("sample_gpt, a prefix token not in the vocabulary", lambda: ml.sample_gpt(ml.GPT(vocab_size=8, block_size=8, n_layer=1,
        n_head=1, n_embd=8), ["<s>", "<unk>", *"abcdef"], ["<irish>"]), ValueError, ("<irish>", "vocabulary")),
    ("continue_chorales, n_frames -1", lambda: ml.continue_chorales(ml.ChoraleGPT(vocab_size=ml.CHORALE_VOCAB, block_size=8,
        n_layer=1, n_head=1, n_embd=8), np.zeros((1, 2, 88)), -1), ValueError, ("n_frames", ">= 0")),
    ("continue_chorales, temperature inf", lambda: ml.continue_chorales(ml.ChoraleGPT(vocab_size=ml.CHORALE_VOCAB,
        block_size=8, n_layer=1, n_head=1, n_embd=8), np.zeros((1, 2, 88)), 1, temperature=float("inf")),
     ValueError, ("temperature", "finite")),
    ("GPTConfig, vocab_size 10**10 (a huge model)", lambda: ml.GPTConfig(vocab_size=10**10, block_size=8, n_layer=1, n_head=1,
        n_embd=8), ValueError, ("vocab_size=10000000000", "MAX_PARAMS")),
    ("GPTConfig, vocab_size 1e10 (a float)", lambda: ml.GPTConfig(vocab_size=1e10, block_size=8, n_layer=1, n_head=1, n_embd=8),
     ValueError, ("vocab_size", "positive integer")),
    ("GPTConfig, n_layer True", lambda: ml.GPTConfig(vocab_size=8, block_size=8, n_layer=True, n_head=1, n_embd=8),
     ValueError, ("n_layer", "positive integer")),
    ("GPTConfig, dropout '0.1'", lambda: ml.GPTConfig(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8, dropout="0.1"),
     ValueError, ("dropout", r"\[0, 1\)")),
    ("GPTConfig, bias 'yes'", lambda: ml.GPTConfig(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8, bias="yes"),
     ValueError, ("bias", "True or False")),
    ("train_gpt, steps -5", lambda: ml.train_gpt(ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8),
        torch.arange(40) % 8, steps=-5, batch_size=2, lr=1e-3), ValueError, ("steps", "positive integer")),
    ("train_gpt, batch_size 0", lambda: ml.train_gpt(ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8),
        torch.arange(40) % 8, steps=2, batch_size=0, lr=1e-3), ValueError, ("batch_size", "positive integer")),
    ("train_gpt, lr nan", lambda: ml.train_gpt(ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8),
        torch.arange(40) % 8, steps=2, batch_size=2, lr=float("nan")), ValueError, ("lr", "positive finite")),
    ("train_gpt, block_size past the model's", lambda: ml.train_gpt(ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1,
        n_embd=8), torch.arange(40) % 8, steps=2, batch_size=2, lr=1e-3, block_size=9), ValueError, ("block_size=9", "block_size=8")),
    ("REMI encode, a note off the grid", lambda: __import__("musiclab.tokenizers").tokenizers.make_tokenizer("REMI").encode(
        [[0.0, 1.0, 60], [1.01, 2.0, 62]]), ValueError, ("note 1", "start 1.01", "grid")),
    ("REMI encode, a pitch outside the range", lambda: __import__("musiclab.tokenizers").tokenizers.make_tokenizer("REMI").encode(
        [[0.0, 1.0, 30]]), ValueError, ("note 0", "pitch 30", "55..93")),
    ("REMI encode, a note longer than any Duration token", lambda: __import__("musiclab.tokenizers").tokenizers.make_tokenizer(
        "REMI").encode([[0.0, 1.0, 60], [1.0, 10.0, 62]]), ValueError, ("note 1", "end 10", "Duration")),
    ("REMI encode, notes of one column", lambda: __import__("musiclab.tokenizers").tokenizers.make_tokenizer("REMI").encode(
        [60, 62]), ValueError, ("notes", r"\(N, >=3\)")),
    ("REMI decode, an id past the vocabulary", lambda: __import__("musiclab.tokenizers").tokenizers.make_tokenizer("REMI").decode(
        [3, 10**6]), ValueError, ("token ids", r"0\.\.\d+")),
    ("CPWord decode, a negative id", lambda: __import__("musiclab.tokenizers").tokenizers.make_tokenizer("CPWord").decode([-1]),
     ValueError, ("token ids", r"0\.\.\d+")),
    ("CPWord decode, ids that start no compound token", lambda: __import__("musiclab.tokenizers").tokenizers.make_tokenizer(
        "CPWord").decode([5, 6, 7]), ValueError, ("CPWord", "Family_", "position 0")),
    ("chorale_beat_roll, a piece without notes", lambda: ml.chorale_beat_roll(ml.Piece(name="empty", corpus="chorales",
        key="C major", meter="4/4", notes=np.zeros((0, 4), dtype=np.float32))), ValueError, ("'empty'", "no notes")),
    # (end of model probes)
]


@pytest.mark.parametrize("call, error, words", [p[1:] for p in PROBES], ids=[p[0] for p in PROBES])
def test_bad_input_gets_a_clear_error(call, error, words):
    with pytest.raises(error) as raised:
        call()
    message = str(raised.value)
    for word in ([words] if isinstance(words, str) else words):
        assert re.search(word, message, re.IGNORECASE), f"{word!r} not in the message {message!r}"
