"""Tests for musiclab.data: the builders shared by the training notebooks and 08."""
import numpy as np
import pytest
import torch

import musiclab as ml
from musiclab.corpora import Piece
from musiclab.data import (PAD_TARGET, UNK, bar_dataset, bar_quarters, chorale_beat_roll, key_family,
                           piece_bars, to_c, token_data, tune_batches)


def melody(rows, key="G major", meter="4/4"):
    """A Piece from (start, end, pitch) rows."""
    notes = np.array([[s, e, p, 0] for s, e, p in rows], dtype=np.float32)
    return Piece(name="test", corpus="test", key=key, meter=meter, notes=notes)


def test_pieces_by_id_finds_the_pieces_a_checkpoint_names():
    tunes = ml.load_corpus("ryans")
    found = ml.pieces_by_id([tunes[7].id, "chorales:2", tunes[0].id])
    assert [p.name for p in found] == [tunes[7].name, ml.load_corpus("chorales")[2].name, tunes[0].name]
    with pytest.raises(ValueError, match="no piece"):
        ml.pieces_by_id(["ryans:99999"])
    with pytest.raises(ValueError, match="unknown corpus"):
        ml.pieces_by_id(["nowhere:1"])


def test_checkpoint_split_gives_back_the_sides_a_checkpoint_names():
    tunes = ml.load_corpus("oneills")
    meta = {"train_ids": [tunes[3].id, tunes[9].id], "val_ids": [], "test_ids": [tunes[5].id]}
    pieces, split = ml.checkpoint_split(meta)
    assert [pieces[i].id for i in split["train"]] == meta["train_ids"]
    assert [pieces[i].id for i in split["test"]] == meta["test_ids"] and len(split["val"]) == 0


def test_modes_go_with_the_key_of_their_third():
    assert key_family("A dorian") == "A minor" and key_family("G mixolydian") == "G major"
    with pytest.raises(ValueError, match="mode"):
        key_family("G blues")
    dorian = melody([(0, 1, 69)], key="A dorian")
    assert to_c(dorian)[0, 2] == 69                    # A dorian -> A minor: no shift
    assert to_c(dorian, minor_to="C")[0, 2] % 12 == 0  # -> C minor: A becomes C


def test_bar_quarters():
    assert bar_quarters("4/4") == 4 and bar_quarters("2/2") == 4 and bar_quarters("6/8") == 3
    assert bar_quarters("none") is None


def test_piece_bars_drops_the_pickup_bar_and_the_partial_last_bar():
    # C major, 4/4: a one-beat pickup (G at beat 3), two full bars of quarter notes, a half bar
    rows = [(3, 4, 67)] + [(4 + i, 5 + i, 60 + i) for i in range(8)] + [(12, 14, 72)]
    b = piece_bars(melody(rows, key="C major"), steps_per_quarter=4, low=36, high=96)
    assert b.shape == (2, 16, 60)
    assert b[0, 0, 60 - 36] == 1 and b[1, 12, 67 - 36] == 1   # first and last note of the full bars
    no_pickup = piece_bars(melody([(r[0] - 3, r[1] - 3, r[2]) for r in rows], key="C major"))
    assert no_pickup[0, 0, 67 - 36] == 1                        # starts on the downbeat: bar 0 kept


def test_piece_bars_transposes_to_c_and_refuses_free_meter():
    b = piece_bars(melody([(0, 4, 67)], key="G major"))          # G major -> C major: up a fourth
    assert np.flatnonzero(b[0, 0]) == [72 - 36]                  # G4 becomes C5
    with pytest.raises(ValueError, match="meter"):
        piece_bars(melody([(0, 4, 67)], meter="none"))


def test_bar_dataset_keeps_pieces_with_four_quarter_bars_and_their_index():
    pieces = [melody([(0, 8, 60)]), melody([(0, 6, 60)], meter="3/4"), melody([(0, 4, 62)], meter="2/2")]
    bars, owner = bar_dataset(pieces)
    assert bars.shape == (3, 16, 60) and list(owner) == [0, 0, 2]


def test_chorale_beat_roll_samples_each_beat_in_c():
    # G major, a pickup beat at 3: soprano D5 held two beats, then E5 and a passing eighth F#5
    rows = [(3, 5, 74, 0), (5, 5.5, 76, 0), (5.5, 6, 78, 0), (3, 6, 55, 3)]
    chorale = Piece(name="c", corpus="chorales", key="G major", meter="4/4",
                    notes=np.array(rows, dtype=np.float32))
    roll = chorale_beat_roll(chorale)
    assert roll.shape == (3, 88)                        # from the first sounding beat: beats 3, 4, 5
    on = [sorted(np.flatnonzero(frame) + ml.LOWEST) for frame in roll]
    assert on == [[60, 79], [60, 79], [60, 81]]         # up a fourth: G3 -> C4, D5 -> G5, E5 -> A5; F#5 unseen
    real = chorale_beat_roll(ml.load_corpus("chorales", limit=3)[2])
    assert real.shape[1] == 88 and 3 <= real.sum(1).max() <= 4
    empty = Piece(name="silence", corpus="chorales", key="C major", meter="4/4", notes=np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="'silence' has no notes"):
        chorale_beat_roll(empty)


def test_token_data_maps_rare_tokens_to_unk_from_training_counts():
    tunes = ml.load_corpus("oneills", limit=40)
    split = {"train": np.arange(30), "val": np.arange(30, 35), "test": np.arange(35, 40)}
    data = token_data(tunes, split, min_count=2)
    train_tokens = [tok for t in data.train for tok in t]
    assert all(train_tokens.count(tok) >= 2 for tok in set(train_tokens) - {UNK})
    assert set(tok for t in data.test for tok in t) <= set(data.vocab)
    again = token_data(tunes, split, vocab=data.vocab)
    assert again.test == data.test
    assert [len(i) for i in data.ids("val")] == [len(t) for t in data.val]


def test_tune_batches_shift_targets_and_pad():
    batches = tune_batches([[5, 6, 7], [8]], batch_size=2, bos=0)
    (x, y), = batches
    short, long_ = (0, 1) if x[0, 1] == 8 else (1, 0)
    assert x[long_].tolist() == [0, 5, 6, 7] and y[long_].tolist() == [5, 6, 7, 0]
    assert x[short, :2].tolist() == [0, 8] and y[short].tolist() == [8, 0, PAD_TARGET, PAD_TARGET]
    shuffled = tune_batches([[1]] * 10, batch_size=3, bos=0, rng=np.random.default_rng(0))
    assert sum(len(b[0]) for b in shuffled) == 10 and all(b[0].dtype == torch.long for b in shuffled)


def test_decode_bars_melody_keeps_at_most_the_most_probable_key_of_each_step():
    probs = np.array([[[0.6, 0.7, 0.1],       # two keys above 0.5: only the most probable sounds
                       [0.2, 0.4, 0.3],       # the best key is below 0.5: a rest
                       [0.0, 0.0, 0.9]]], dtype=np.float32)
    assert ml.decode_bars(probs).tolist() == [[[1, 1, 0], [0, 0, 0], [0, 0, 1]]]            # chords kept
    assert ml.decode_bars(probs, melody=True).tolist() == [[[0, 1, 0], [0, 0, 0], [0, 0, 1]]]
    assert ml.decode_bars(probs, melody=True, threshold=0.3).tolist() == [[[0, 1, 0], [0, 1, 0], [0, 0, 1]]]
    sure = np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]], dtype=np.float32)   # drawn: p = 1 always on
    drawn = ml.decode_bars(sure, rule="sample", melody=True, seed=3)
    assert drawn[0].tolist() == [0, 1, 0] and drawn[1].sum() == 1
    many = np.random.default_rng(0).random((200, 16, 12)).astype(np.float32)   # property: never two keys in a step
    for rule in ("threshold", "sample"):
        bars = ml.decode_bars(many, rule=rule, threshold=0.3, melody=True, seed=1)
        assert bars.sum(-1).max() == 1 and set(np.unique(bars)) == {0.0, 1.0}
        assert np.all(bars <= ml.decode_bars(many, rule=rule, threshold=0.3, seed=1) + (rule == "sample"))
    top = many.argmax(-1)                    # the key that sounds is the step's most probable one
    on = ml.decode_bars(many, threshold=0.3, melody=True)
    assert np.all(on.argmax(-1)[on.any(-1)] == top[on.any(-1)])
    assert np.array_equal(on.any(-1), many.max(-1) > 0.3)
    assert ml.decode_bars(np.zeros((0, 16, 12)), melody=True).shape == (0, 16, 12)


def test_decode_bars_is_the_one_rule():
    from musiclab.models import dic, gan
    assert ml.decode_bars is ml.data.decode_bars is gan.decode_bars is dic.decode_bars   # one home: musiclab.data
    probs = np.array([[0.2, 0.5, 0.51, 0.9]], dtype=np.float32)
    assert ml.decode_bars(probs).tolist() == [[0.0, 0.0, 1.0, 1.0]]              # strictly above 0.5
    assert ml.decode_bars(probs, threshold=0.3).tolist() == [[0.0, 1.0, 1.0, 1.0]]
    assert ml.decode_bars(torch.tensor(probs)).tolist() == [[0.0, 0.0, 1.0, 1.0]]
    many = np.full((20000,), 0.3, dtype=np.float32)
    sampled = ml.decode_bars(many, rule="sample", seed=1)
    assert set(np.unique(sampled)) == {0.0, 1.0} and abs(sampled.mean() - 0.3) < 0.02
    assert np.array_equal(sampled, ml.decode_bars(many, rule="sample", seed=1))   # seeded
    assert ml.decode_bars(np.array([0.0, 1.0]), rule="sample").tolist() == [0.0, 1.0]
    with pytest.raises(ValueError):
        ml.decode_bars(np.array([1.5]))
    with pytest.raises(ValueError):
        ml.decode_bars(probs, rule="argmax")
