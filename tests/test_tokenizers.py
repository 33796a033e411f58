"""The tokenizer study of notebook 11: round trips, tokens per note, bits per note, bad names."""
import math

import numpy as np
import pytest

from musiclab import tokenizers as tk
from musiclab.corpora import load_corpus


@pytest.fixture(scope="module")
def tunes():
    """A few real O'Neill's tunes on the grid (training side) and a few others (held out)."""
    pieces = [p for p in load_corpus("oneills", limit=60) if tk.on_grid(p.notes)]
    return [p.notes for p in pieces[:40]], [p.notes for p in pieces[40:46]]


# A hand-made piece: a pickup eighth, then a quarter, an eighth triplet and a half note (5 notes)
PIECE = np.array([[3.5, 4.0, 67, 0], [4.0, 5.0, 72, 0], [5.0, 5 + 1 / 3, 71, 0], [5 + 1 / 3, 5 + 2 / 3, 69, 0],
                  [6.0, 8.0, 67, 0]], dtype=np.float32)


@pytest.mark.parametrize("name", ["REMI", "TSD", "CPWord"])
def test_round_trip_gives_back_every_note(name, tunes):
    train, held_out = tunes
    tok = tk.make_tokenizer(name)
    assert tk.round_trip_failures(tok, train[:10] + held_out) == 0
    got = tok.decode(tok.encode(PIECE))
    np.testing.assert_allclose(got, PIECE[:, :3], atol=1e-6)


def test_bpe_learns_on_training_tunes_and_round_trips(tunes):
    train, held_out = tunes
    remi, bpe = tk.make_tokenizer("REMI"), tk.make_tokenizer("REMI+BPE500", train_notes=train)
    assert len(bpe) == 500 > len(remi)
    assert tk.round_trip_failures(bpe, held_out) == 0          # merges learned elsewhere still decode exactly
    n = sum(len(t) for t in held_out)
    assert tk.tokens_per_note([bpe.encode(t) for t in held_out], n) < tk.tokens_per_note(
        [remi.encode(t) for t in held_out], n)
    assert any("+" in bpe.vocab[i] for i in bpe.encode(held_out[0]))   # merged tokens are used


def test_flattened_cpword_writes_each_field_once():
    tok = tk.make_tokenizer("CPWord", time_signatures=False)
    names = tok.tokens(tok.encode(PIECE))
    assert "Ignore_None" not in names
    notes = [i for i, t in enumerate(names) if t == "Family_Note"]
    assert len(notes) == len(PIECE)
    assert all(names[i + 1].startswith("Pitch_") and names[i + 2].startswith("Duration_") for i in notes)
    # per note: Family + Pitch + Duration; per new onset: Family + Position; per bar: Family + Bar
    positions = sum(t.startswith("Position_") for t in names)
    bars = sum(t == "Bar_None" for t in names)
    assert len(names) == 3 * len(PIECE) + 2 * positions + 2 * bars


def test_tokens_per_note_on_a_hand_made_piece():
    remi, tsd = tk.make_tokenizer("REMI", time_signatures=False), tk.make_tokenizer("TSD", time_signatures=False)
    remi_names = remi.tokens(remi.encode(PIECE))
    # REMI: bars 0 and 1 (the pickup bar, then the tune's bar: times 0..4, 4..8), 5 onsets, 5 x (Pitch, Duration)
    assert remi_names.count("Bar_None") == 2
    assert sum(t.startswith("Position_") for t in remi_names) == 5
    assert tk.tokens_per_note([remi.encode(PIECE)], len(PIECE)) == (2 + 5 + 2 * 5) / 5
    # TSD: a TimeShift before each new onset (all 5 here, the first from time 0), then Pitch, Duration
    tsd_names = tsd.tokens(tsd.encode(PIECE))
    shifts = [t for t in tsd_names if t.startswith("TimeShift_")]
    assert len(shifts) == 5 and len(tsd_names) == 15
    assert tk.tokens_per_note([tsd.encode(PIECE)] * 2, 2 * len(PIECE)) == 3.0


def test_time_signatures_put_the_bars_where_the_meter_does():
    remi, flat = tk.make_tokenizer("REMI"), tk.make_tokenizer("REMI", time_signatures=False)
    jig = np.array([[2.5, 3.0, 67], [3.0, 4.5, 72], [4.5, 6.0, 71], [6.0, 9.0, 67]], dtype=np.float32)  # 6/8, a pickup
    names = remi.tokens(remi.encode(jig, "6/8"))
    assert names.count("Bar_None") == 3 and names.count("TimeSig_6/8") == 3     # bars at 0, 3 and 6 quarters
    assert flat.tokens(flat.encode(jig, "6/8")).count("Bar_None") == 2          # 4/4: bars at 0 and 4
    assert "Position_0" in names[names.index("Bar_None", 1):][:3]                 # the 6/8 bar line falls on a note
    np.testing.assert_allclose(remi.decode(remi.encode(jig, "6/8")), jig, atol=1e-6)
    tsd = tk.make_tokenizer("TSD")
    assert tsd.tokens(tsd.encode(jig, "9/8")).count("TimeSig_9/8") == 1          # TSD: the meter once
    pieces = [p for p in load_corpus("oneills", limit=30) if tk.on_grid(p.notes)]
    for name in ("REMI", "TSD", "CPWord"):
        assert tk.round_trip_failures(tk.make_tokenizer(name), [p.notes for p in pieces], [p.meter for p in pieces]) == 0


def test_intervals_and_ties_from_seeds_and_test_tunes():
    notes = np.array([10, 20, 30, 40])
    def row(name, bits):   # bits per note of each test tune, seeds x tunes
        bits = np.asarray(bits, dtype=float)
        tune_bits = bits * notes
        return dict(tokenizer=name, tune_bits=tune_bits, tune_notes=notes,
                    seed_bits=list(tune_bits.sum(axis=1) / notes.sum()), bits_per_note=float(tune_bits.sum() / 3 / notes.sum()))
    a = row("a", [[2, 2.1, 1.9, 2]] * 3)
    b = row("b", [[2.05, 2.0, 2.0, 1.95]] * 3)        # overlaps a
    c = row("c", [[4, 4.2, 3.9, 4.1], [4.1, 4.0, 4.0, 4.2], [3.9, 4.1, 4.0, 4.0]])
    iv = tk.study_intervals([a, b, c], n_boot=200)
    assert iv["a"].low <= a["bits_per_note"] <= iv["a"].high and iv["c"].low > iv["a"].high
    assert tk.rank_with_ties([c, b, a], iv) in ([["a", "b"], ["c"]], [["b", "a"], ["c"]])
    c_close = dict(c, seed_bits=[1.5, 4.0, 4.0])       # one seed of c better than a's: no longer separated
    assert len(tk.rank_with_ties([a, c_close], iv)) == 1


def test_agreed_order_keeps_only_pairs_every_arm_separates_the_same_way():
    notes = np.array([10, 20, 30, 40])
    def row(name, level, spread=0.05):   # every tune and seed near ``level`` bits per note
        bits = level + spread * np.array([[0, 1, -1, 0], [1, 0, 0, -1], [-1, 0, 1, 0]])
        tune_bits = bits * notes
        return dict(tokenizer=name, tune_bits=tune_bits, tune_notes=notes,
                    seed_bits=list(tune_bits.sum(axis=1) / notes.sum()), bits_per_note=float(tune_bits.sum() / 3 / notes.sum()))
    passes = [row("a", 2), row("b", 4), row("c", 6)]
    steps = [row("a", 2), row("b", 7), row("c", 6)]          # b and c swap places in the second arm
    arms = {"passes": (passes, tk.study_intervals(passes, n_boot=200)), "steps": (steps, tk.study_intervals(steps, n_boot=200))}
    assert sorted(tk.agreed_order(arms)) == [("a", "b"), ("a", "c")]
    tied = [row("a", 2), row("b", 2.01), row("c", 6)]          # a and b tie in one arm: that pair is left open
    arms["steps"] = (tied, tk.study_intervals(tied, n_boot=200))
    assert sorted(tk.agreed_order(arms)) == [("a", "c"), ("b", "c")]


def test_tokens_per_note_can_count_the_closing_boundaries():
    tunes = [[1, 2, 3], [4, 5]]
    assert tk.tokens_per_note(tunes, 4) == pytest.approx(5 / 4)
    assert tk.tokens_per_note(tunes, 4, boundaries=True) == pytest.approx(7 / 4)


def test_on_grid_spots_notes_the_tokens_cannot_write():
    assert tk.on_grid(PIECE)
    grace = PIECE.copy()
    grace[0, 1] = 3.5 + 1 / 36                           # a grace note of 1/36 quarter
    assert not tk.on_grid(grace)
    low = PIECE.copy()
    low[0, 2] = tk.PITCH_RANGE[0] - 1
    assert not tk.on_grid(low)


def test_bits_per_note_of_a_uniform_model_is_log2_vocab_per_token():
    import torch
    from musiclab.models.transformer import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=1, n_embd=8))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()                                        # every logit 0: the uniform distribution
    tunes = [[3, 4, 5], [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]]   # 13 tokens + 2 closing boundaries
    bits = tk.bits_per_note(model, tunes, bos=0, n_notes=5)
    assert bits == pytest.approx(15 * math.log2(16) / 5, rel=1e-5)


def test_unknown_names_and_missing_training_tunes_raise():
    with pytest.raises(ValueError, match="unknown tokenizer 'MIDILike'"):
        tk.make_tokenizer("MIDILike")
    with pytest.raises(ValueError, match="train_notes"):
        tk.make_tokenizer("REMI+BPE500")
    with pytest.raises(ValueError, match="larger than"):
        tk.make_tokenizer("REMI+BPE100", train_notes=[PIECE])


def test_study_names_start_with_folk_rnn_tokens():
    names = tk.study_names((400, 800))
    assert names == ["ABC", "REMI", "TSD", "CPWord", "REMI+BPE400", "REMI+BPE800"]


def test_study_rows_on_a_tiny_run():
    pieces = [p for p in load_corpus("oneills", limit=40) if tk.on_grid(p.notes)]
    tunes = {"train": pieces[:24], "val": pieces[24:27], "test": pieces[27:30]}
    remi = tk.make_tokenizer("REMI")
    rows = tk.tokenizer_study(tunes, names=["ABC", "REMI", "REMI+BPE500"], tokenizers={"REMI": remi},
                              steps=4, n_layer=1, n_embd=16, block_size=32, batch_size=2)
    by = {r["tokenizer"]: r for r in rows}
    assert list(by) == ["ABC", "REMI", "REMI+BPE500"]
    assert by["ABC"]["round_trip_failures"] is None and by["REMI"]["round_trip_failures"] == 0
    assert by["REMI"]["vocab"] == len(remi) and by["REMI+BPE500"]["vocab"] == 500
    assert all(r["steps"] == 4 and len(r["seed_bits"]) == 1 for r in rows)
    assert all(r["warmup"] == 1 for r in rows)              # the recipe's warmup share of 4 steps, at least 1
    assert by["REMI"]["unknown_test_tokens"] is None and 0 <= by["ABC"]["unknown_test_tokens"] <= by["ABC"]["test_tokens"]
    test = [p.notes for p in tunes["test"]]
    n = sum(len(t) for t in test)
    expected = math.log2(len(remi)) * tk.tokens_per_note([remi.encode(t, p.meter) for t, p in zip(test, tunes["test"])], n,
                                                         boundaries=True)
    assert by["REMI"]["uniform_bits_per_note"] == pytest.approx(expected)
    assert all(math.isfinite(r["bits_per_note"]) and r["bits_per_note"] > 0 for r in rows)


def test_study_by_epochs_gives_every_tokenization_the_same_passes():
    pieces = [p for p in load_corpus("oneills", limit=30) if tk.on_grid(p.notes)]
    tunes = {"train": pieces[:16], "val": pieces[16:18], "test": pieces[18:21]}
    rows = tk.tokenizer_study(tunes, names=["REMI", "TSD"], epochs=0.5, seeds=(0, 1), warmup_share=0.25,
                              n_layer=1, n_embd=16, block_size=32, batch_size=2)
    for r in rows:
        assert r["epochs"] == pytest.approx(0.5, abs=0.05) and r["tune_bits"].shape == (2, 3)
        assert r["bits_per_note"] == pytest.approx(np.mean(r["seed_bits"]))
        assert r["bits_per_note"] == pytest.approx(r["tune_bits"].sum(axis=1).mean() / r["tune_notes"].sum())
    by = {r["tokenizer"]: r for r in rows}
    assert by["REMI"]["steps"] != by["TSD"]["steps"]          # the longer tokenization trains for more steps
    assert all(r["warmup"] == max(1, round(r["steps"] * 0.25)) for r in rows)   # warmup scales with the run


def test_encode_names_the_first_note_it_cannot_write_exactly():
    tok = tk.make_tokenizer("TSD")
    assert tk.misfit(PIECE) is None and tok.encode(np.zeros((0, 3))) == []      # an empty tune: no tokens
    grace = PIECE.copy()
    grace[1, 1] = 4.0 + 1 / 36                           # was rounded to the grid before
    with pytest.raises(ValueError, match=r"TSD cannot encode the tune exactly: note 1 \(start 4, end 4.02778, pitch 72\) "
                                         r"starts or ends off the 1/24-quarter grid"):
        tok.encode(grace)
    high = PIECE.copy()
    high[4, 2] = tk.PITCH_RANGE[1]                       # was dropped before
    with pytest.raises(ValueError, match=r"note 4 .* pitch 94\) has a pitch that is not a whole number in 55\.\.93"):
        tok.encode(high)


def test_decoding_random_ids_gives_the_notes_they_spell():
    """In-range ids that are not a tune: REMI and TSD read them as miditok does (tokens out of
    their grammar are skipped), so some notes come back, all in range; flattened CPWord needs its
    compound tokens (a Family_ token, then each field at most once) and says where they break."""
    rng = np.random.default_rng(0)
    for name in ("REMI", "TSD"):
        tok = tk.make_tokenizer(name)
        decoded = [tok.decode(rng.integers(0, len(tok), 40)) for _ in range(10)]
        assert all(d.shape[1] == 3 for d in decoded) and sum(len(d) for d in decoded) > 0
        notes = np.concatenate(decoded)
        pitches = {float(t.split("_")[1]) for t in tok.vocab if t.startswith("Pitch_")}
        assert (notes[:, 1] > notes[:, 0]).all() and set(notes[:, 2]) <= pitches
    cp = tk.make_tokenizer("CPWord")
    family, pitch, duration = cp.index["Family_Note"], cp.index["Pitch_60"], cp.index["Duration_1.0.24"]
    assert cp.decode([family, cp.index["Position_0"], pitch, duration]).tolist() == [[0.0, 1.0, 60.0]]
    with pytest.raises(ValueError, match="Pitch_60 at position 2 is not"):
        cp.decode([family, pitch, pitch, duration])      # a field filled twice
