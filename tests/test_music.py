import math
from fractions import Fraction

import numpy as np
import pretty_midi
import pytest

from musiclab.corpora import load_corpus
from musiclab.music import (HIGHEST, LOWEST, MAX_QUARTERS, MAX_ROLL_CELLS, bars, check_notes, is_monophonic,
                            key_shift, load_midi, midi_to_notes, notes_to_midi, piano_roll, roll_to_midi,
                            roll_to_notes, transpose)
from musiclab.course.recipes import BAR_SETTINGS

NOTES = np.array([[0, 1, 60, 0], [1, 2.5, 64, 0], [2.5, 4, 67, 0], [0, 4, 48, 1]], dtype=np.float32)


def test_piano_roll_marks_the_right_frames():
    roll = piano_roll(NOTES, steps_per_quarter=4)
    assert roll.shape == (16, 88)
    assert roll[:4, 60 - 21].all() and not roll[4:, 60 - 21].any()
    assert roll[4:10, 64 - 21].all() and roll[:, 64 - 21].sum() == 6
    assert roll[:, 48 - 21].sum() == 16


def test_piano_roll_to_midi_to_piano_roll_round_trip():
    rng = np.random.default_rng(0)
    roll = (rng.random((64, 88)) < 0.05).astype(np.float32)
    pm = roll_to_midi(roll, steps_per_quarter=4, bpm=90)
    back = piano_roll(midi_to_notes(pm, bpm=90), steps_per_quarter=4)
    back = np.pad(back, ((0, len(roll) - len(back)), (0, 0)))  # trailing silent frames have no notes
    np.testing.assert_array_equal(back, roll)


def test_notes_midi_round_trip_keeps_voices_and_times():
    pm = notes_to_midi(NOTES, programs=[0, 52], bpm=120)
    assert [inst.program for inst in pm.instruments] == [0, 52]
    assert pm.get_end_time() == pytest.approx(2.0)  # 4 quarters at 120 bpm
    back = midi_to_notes(pm, bpm=120)
    order = np.lexsort((NOTES[:, 2], NOTES[:, 0]))
    np.testing.assert_allclose(back, NOTES[order], atol=1e-3)


def test_roll_to_notes_merges_held_frames():
    roll = np.zeros((8, 88), np.float32)
    roll[2:6, 10] = 1
    notes = roll_to_notes(roll, steps_per_quarter=2)
    np.testing.assert_allclose(notes, [[1.0, 3.0, 31, 0]])


@pytest.mark.parametrize("key, shift", [("C major", 0), ("G major", 5), ("F major", -5), ("E minor", 5),
                                        ("A minor", 0), ("B- major", 2), ("F# minor", 3), ("c# minor", -4),
                                        ("F# major", -6), ("Gb major", -6), ("D# minor", -6)])
def test_key_shift_moves_tonic_to_c_or_a(key, shift):
    assert key_shift(key) == shift


@pytest.mark.parametrize("mode, target", [("major", 0), ("minor", 9)])
def test_key_shift_lands_every_tonic_on_c_or_a_within_minus_6_to_5(mode, target):
    for name, pitch_class in [("C", 0), ("C#", 1), ("Db", 1), ("D", 2), ("E-", 3), ("E", 4), ("F", 5), ("F#", 6),
                              ("G", 7), ("A-", 8), ("A", 9), ("Bb", 10), ("B", 11)]:
        shift = key_shift(f"{name} {mode}")
        assert -6 <= shift <= 5 and (pitch_class + shift) % 12 == target, name


def test_key_shift_to_c_minor():
    assert key_shift("G minor", minor_to="C") == 5
    assert key_shift("E- major", minor_to="C") == -3


def test_transpose_and_bars():
    np.testing.assert_array_equal(transpose(NOTES, 5)[:, 2], NOTES[:, 2] + 5)
    roll = piano_roll(NOTES, steps_per_quarter=4)
    cut = bars(roll, 16)
    assert cut.shape == (1, 16, 88)
    assert bars(roll, 5).shape == (3, 5, 88)


def sampled_roll(rows, steps_per_quarter, n_keys=88, low=21):
    """The documented rule in exact arithmetic (rows of Fractions), polyphonic: frame t is on while
    start <= t/spq < end; a note that holds no frame start gets frame floor(start * spq)."""
    n_steps = max(max(math.ceil(e * steps_per_quarter), math.floor(s * steps_per_quarter) + 1)
                  for s, e, _ in rows)
    roll = np.zeros((n_steps, n_keys), np.float32)
    for s, e, p in rows:
        frames = [t for t in range(n_steps) if s <= Fraction(t, steps_per_quarter) < e]
        roll[frames or [math.floor(s * steps_per_quarter)], p - low] = 1
    return roll


@pytest.mark.parametrize("steps_per_quarter", [1, 3, 4, 12])
def test_piano_roll_follows_its_rule_off_the_grid_too(steps_per_quarter):
    rng = np.random.default_rng(steps_per_quarter)
    rows = []
    for _ in range(60):  # notes on a grid of 48ths (32nds, triplets, ...), float32 in the array
        start = Fraction(int(rng.integers(0, 48 * 16)), 48)
        rows.append((start, start + Fraction(int(rng.integers(1, 48)), 48), int(rng.integers(40, 90))))
    notes = np.array([[float(s), float(e), p, 0] for s, e, p in rows], np.float32)
    np.testing.assert_array_equal(piano_roll(notes, steps_per_quarter, monophonic=False),
                                  sampled_roll(rows, steps_per_quarter))


def test_piano_roll_is_float_safe_on_the_grid():
    # triplet eighths whose times are sums of 1/3 in float32 (0.99999994, 2.0000002, ...)
    starts = np.cumsum(np.full(48, 1 / 3, np.float32), dtype=np.float32) - np.float32(1 / 3)
    pitches = np.where(np.arange(48) % 2, 62, 60)
    notes = np.stack([starts, starts + np.float32(1 / 3), pitches, np.zeros(48)], 1)
    roll = piano_roll(notes, steps_per_quarter=3)
    assert roll.shape == (48, 88) and (roll.sum(1) == 1).all()
    assert roll[np.arange(48), pitches - 21].all()  # triplet k fills exactly frame k


def test_short_notes_in_a_melody_never_make_chords():
    # C (0 - 0.9), a grace-like D (0.9 - 1), E (1 - 2); after a rest, two 32nds F and G that fall
    # between the frame starts 2.5 and 2.75 (frame 10); then A (3 - 4)
    melody = np.array([[0, 0.9, 60, 0], [0.9, 1, 62, 0], [1, 2, 64, 0],
                       [2.5625, 2.625, 65, 0], [2.625, 2.6875, 67, 0], [3, 4, 69, 0]], np.float32)
    assert is_monophonic(melody)
    poly = piano_roll(melody, 4, monophonic=False)
    assert poly[3, [60 - 21, 62 - 21]].all()  # every note kept: D shares frame 3 with C
    assert poly[10, [65 - 21, 67 - 21]].all()  # ... and F with G: chords that were never written
    mono = piano_roll(melody, 4)  # auto: a melody
    np.testing.assert_array_equal(mono, piano_roll(melody, 4, monophonic=True))
    assert mono.sum(1).max() == 1
    assert not mono[:, 62 - 21].any()  # D is dropped: C holds its frame
    assert mono[10, 65 - 21] and not mono[:, 67 - 21].any()  # F takes the free frame, G is dropped
    assert mono[:, 64 - 21].sum() == 4 and mono[:, 69 - 21].sum() == 4  # notes on the grid: unchanged


def test_is_monophonic():
    assert is_monophonic(NOTES[:3]) and is_monophonic(np.zeros((0, 4)))
    assert not is_monophonic(NOTES)  # the held bass note under the melody
    long_then_two = np.array([[0, 4, 48, 0], [0, 1, 60, 1], [2, 3, 62, 1]], np.float32)
    assert not is_monophonic(long_then_two)  # the third overlaps the first, not the second


def test_oneills_tunes_stay_melodies_at_16th_note_frames():
    tunes = load_corpus("oneills")
    melodies = [t for t in tunes if is_monophonic(t.notes)]
    chords = [t for t in tunes if not is_monophonic(t.notes)]
    worst = max(int(piano_roll(t.notes, 4).sum(1).max()) for t in melodies)
    print(f"\nO'Neill's: {len(melodies)} melodies (at most {worst} key per frame at 4 steps per "
          f"quarter), {len(chords)} tunes with written chords")
    assert worst == 1
    for t in chords:  # their chords are written ones: some notes start together
        starts = t.notes[:, 0]
        assert len(np.unique(starts)) < len(starts), t.name


def test_chorales_stay_polyphonic_and_keep_every_note():
    for piece in load_corpus("chorales"):
        roll = piano_roll(piece.notes, 4)
        assert not is_monophonic(piece.notes) and roll.sum(1).max() >= 3, piece.name
        for start, end, pitch, _ in piece.notes:  # each note has a frame inside its span
            a, b = math.floor(start * 4 + 0.01), math.ceil(end * 4 - 0.01)
            assert roll[a:max(b, a + 1), int(pitch) - 21].any(), (piece.name, start, pitch)


def test_max_quarters_leaves_room_for_every_corpus_piece():
    longest = max(float(p.notes[:, 1].max()) for name in ["chorales", "oneills", "ryans", "essen"]
                  for p in load_corpus(name) if len(p.notes))
    print(f"\nlongest corpus piece: {longest:g} quarter notes; MAX_QUARTERS = {MAX_QUARTERS}")
    assert longest * 4 < MAX_QUARTERS


@pytest.mark.parametrize("row, message", [
    ([float("nan"), 1, 60, 0], "nan or infinite"), ([0, float("inf"), 60, 0], "nan or infinite"),
    ([0, 1, float("nan"), 0], "nan or infinite"), ([-1, 1, 60, 0], ">= 0"),
    ([0, 1, 128, 0], "0..127"), ([0, 1, -1, 0], "0..127"),
    ([0, 1e9, 60, 0], f"1e\\+09 quarter notes, more than MAX_QUARTERS = {MAX_QUARTERS}"),
])
def test_bad_notes_raise_before_anything_is_allocated(row, message):
    notes = np.array([[0, 1, 60, 0], row], np.float32)
    for f in [check_notes, piano_roll, notes_to_midi, lambda n: transpose(n, 2)]:
        with pytest.raises(ValueError, match=message):
            f(notes)


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        piano_roll(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="end before"):
        piano_roll([[2, 1, 60, 0]])
    for steps in [0, -4, float("nan")]:
        with pytest.raises(ValueError, match="steps_per_quarter"):
            piano_roll(NOTES, steps_per_quarter=steps)
    for bpm in [0, -100]:
        with pytest.raises(ValueError, match="bpm"):
            notes_to_midi(NOTES, bpm=bpm)
    with pytest.raises(ValueError, match="2-D"):
        roll_to_notes(np.zeros(5))
    with pytest.raises(ValueError, match="key must look like"):
        key_shift("H dorian")
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd this is not midi")
    with pytest.raises(ValueError, match="broken.mid"):
        load_midi(bad)
    with pytest.raises(ValueError, match="not found"):
        load_midi(tmp_path / "missing.mid")


def test_load_midi_reads_a_written_file(tmp_path):
    path = tmp_path / "ok.mid"
    notes_to_midi(NOTES).write(str(path))
    pm = load_midi(path)
    assert isinstance(pm, pretty_midi.PrettyMIDI)
    assert sum(len(i.notes) for i in pm.instruments) == len(NOTES)


def test_transpose_may_reach_but_not_leave_midis_range():
    top, bottom = int(NOTES[:, 2].max()), int(NOTES[:, 2].min())
    assert transpose(NOTES, 127 - top)[:, 2].max() == 127 and transpose(NOTES, -bottom)[:, 2].min() == 0
    for semitones in [128 - top, -bottom - 1]:
        with pytest.raises(ValueError, match=f"by {semitones} semitones.*0..127"):
            transpose(NOTES, semitones)
    assert len(transpose(np.zeros((0, 4)), 1000)) == 0          # no notes: nothing leaves the range


def test_piano_roll_refuses_a_roll_above_max_roll_cells_before_allocating():
    keys = HIGHEST - LOWEST
    # every piece check_notes accepts fits at the course's resolution
    assert math.ceil(MAX_QUARTERS * BAR_SETTINGS["steps_per_quarter"]) * keys <= MAX_ROLL_CELLS
    spq = MAX_ROLL_CELLS // keys + 1                            # one quarter note is already too long
    with pytest.raises(ValueError, match=f"{spq:,} frames x {keys} keys = {spq * keys:,} cells.*MAX_ROLL_CELLS"):
        piano_roll([[0, 1, 60, 0]], steps_per_quarter=spq)
    assert piano_roll([[0, 1, 60, 0]], steps_per_quarter=spq, low=60, high=61).shape == (spq, 1)  # fits: one key


def test_steps_and_programs_must_be_whole_numbers_in_range():
    for f in [lambda s: piano_roll(NOTES, steps_per_quarter=s), lambda s: roll_to_notes(np.ones((4, 3)), s),
              lambda s: roll_to_midi(np.ones((4, 3)), s)]:
        for steps in [0, -1, 2.5, float("inf"), "4", True]:
            with pytest.raises(ValueError, match="steps_per_quarter must be a positive integer"):
                f(steps)
    assert np.array_equal(roll_to_notes(np.ones((4, 1)), np.int64(2)), [[0, 2, LOWEST, 0]])
    with pytest.raises(ValueError, match="steps_per_bar must be a positive integer"):
        bars(np.ones((8, 3)), 0)
    for program in [-1, 128, 500, 1.5]:
        with pytest.raises(ValueError, match=f"program must be a MIDI number 0..127, got {program}"):
            notes_to_midi(NOTES, programs=[0, program])
    assert [i.program for i in notes_to_midi(NOTES, programs=[127, 0]).instruments] == [127, 0]
