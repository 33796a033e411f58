import numpy as np
import pretty_midi
import pytest

from musiclab.music import (bars, key_shift, load_midi, midi_to_notes, notes_to_midi, piano_roll,
                            roll_to_midi, roll_to_notes, transpose)

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
                                        ("A minor", 0), ("B- major", 2), ("F# minor", 3), ("c# minor", -4)])
def test_key_shift_moves_tonic_to_c_or_a(key, shift):
    assert key_shift(key) == shift


def test_key_shift_to_c_minor():
    assert key_shift("G minor", minor_to="C") == 5
    assert key_shift("E- major", minor_to="C") == -3


def test_transpose_and_bars():
    np.testing.assert_array_equal(transpose(NOTES, 5)[:, 2], NOTES[:, 2] + 5)
    roll = piano_roll(NOTES, steps_per_quarter=4)
    cut = bars(roll, 16)
    assert cut.shape == (1, 16, 88)
    assert bars(roll, 5).shape == (3, 5, 88)


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        piano_roll(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="end before"):
        piano_roll([[2, 1, 60, 0]])
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
