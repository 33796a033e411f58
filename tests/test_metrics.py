"""Metrics on hand-made piano rolls whose answers follow from the definitions."""
import math

import numpy as np
import pytest
import torch

from musiclab.metrics import (linear_r2, empty_bar_rate, empty_beat_rate, groove_consistency, note_runs, pitch_class_entropy,
                              pitch_class_histogram, polyphony, polyphony_rate, qualified_note_rate,
                              scale_consistency, tonal_centroid, tonal_distance, used_pitch_classes)

C4 = 60 - 21  # column of middle C in an 88-key roll


def melody(pitches, steps=4, keys=88, low=21):
    """A roll playing each MIDI pitch for ``steps`` frames, one after the other."""
    roll = np.zeros((len(pitches) * steps, keys), np.float32)
    for i, p in enumerate(pitches):
        roll[i * steps:(i + 1) * steps, p - low] = 1
    return roll


C_MAJOR = [60, 62, 64, 65, 67, 69, 71]
CHROMATIC = list(range(60, 72))


def test_c_major_scale():
    roll = melody(C_MAJOR)
    assert scale_consistency(roll) == pytest.approx(1.0)
    assert pitch_class_entropy(roll) == pytest.approx(math.log2(7))
    assert polyphony(roll) == 1.0
    assert polyphony_rate(roll) == 0.0
    np.testing.assert_allclose(pitch_class_histogram(roll)[[0, 2, 4, 5, 7, 9, 11]], 1 / 7)


def test_chromatic_scale():
    roll = melody(CHROMATIC)
    assert pitch_class_entropy(roll) == pytest.approx(math.log2(12))
    assert scale_consistency(roll) == pytest.approx(7 / 12)  # any diatonic scale holds 7 of the 12


def test_scale_consistency_counts_notes_not_frames():
    # seven one-step notes of C major and one 16-step C#: 7 of 8 notes are in C major, 7 of 23 frames
    roll = np.concatenate([melody(C_MAJOR, steps=1), melody([61], steps=16)])
    assert scale_consistency(roll) == pytest.approx(7 / 8)


def test_minor_melody_is_scale_consistent():
    a_natural_minor = [57, 59, 60, 62, 64, 65, 67]
    assert scale_consistency(melody(a_natural_minor)) == pytest.approx(1.0)
    d_minor = [62, 64, 65, 67, 69, 70, 72]
    assert scale_consistency(melody(d_minor)) == pytest.approx(1.0)
    assert scale_consistency(melody(d_minor + [71])) == pytest.approx(7 / 8)


def test_entropy_of_one_pitch_class_is_zero_across_octaves():
    roll = melody([48, 60, 72])
    assert pitch_class_entropy(roll) == pytest.approx(0.0)
    assert used_pitch_classes(roll, steps_per_bar=12) == 1.0


def test_histogram_by_notes_or_by_frames():
    roll = np.concatenate([melody([60], steps=12), melody([67], steps=4)])
    h_notes, h_frames = pitch_class_histogram(roll), pitch_class_histogram(roll, by="frames")
    assert h_notes[0] == pytest.approx(0.5) and h_notes[7] == pytest.approx(0.5)
    assert h_frames[0] == pytest.approx(0.75) and h_frames[7] == pytest.approx(0.25)
    assert pitch_class_entropy(roll) == pytest.approx(1.0)  # MusPy counts notes: two, equally often
    assert pitch_class_entropy(roll, by="frames") == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))
    with pytest.raises(ValueError, match="by must be"):
        pitch_class_histogram(roll, by="beats")


def test_cropped_roll_uses_low():
    roll = melody([60, 64, 67], keys=24, low=60)  # a two-octave roll starting at middle C
    h = pitch_class_histogram(roll, low=60)
    assert h[[0, 4, 7]] == pytest.approx([1 / 3] * 3)
    h_wrong = pitch_class_histogram(roll, low=21)  # column 0 read as A
    assert h_wrong[9] == pytest.approx(1 / 3)


def test_chord_polyphony():
    roll = np.zeros((16, 88), np.float32)
    roll[:, [C4, C4 + 4, C4 + 7]] = 1  # C major triad, one bar
    roll[12:, C4 + 4] = 0  # the E stops a beat early
    assert polyphony(roll) == pytest.approx((12 * 3 + 4 * 2) / 16)
    assert polyphony_rate(roll) == 1.0  # always at least 2 keys
    assert polyphony_rate(roll, threshold=3) == pytest.approx(12 / 16)
    assert used_pitch_classes(roll) == 3.0


def test_polyphony_ignores_silent_frames():
    roll = np.zeros((8, 88), np.float32)
    roll[:2, [C4, C4 + 7]] = 1
    assert polyphony(roll) == 2.0
    assert polyphony_rate(roll) == pytest.approx(2 / 8)


def test_empty_bar_rate_and_used_pitch_classes_per_bar():
    bars = np.zeros((4, 16, 88), np.float32)
    bars[0] = melody(C_MAJOR[:4])  # 4 classes
    bars[1, :, C4] = 1  # 1 class
    bars[2, 0, [C4, C4 + 12]] = 1  # two Cs: 1 class
    assert empty_bar_rate(bars) == pytest.approx(0.25)
    assert used_pitch_classes(bars) == pytest.approx((4 + 1 + 1 + 0) / 4)
    # the same music as one roll cut into bars of 16 steps gives the same numbers
    assert empty_bar_rate(bars.reshape(64, 88), steps_per_bar=16) == pytest.approx(0.25)


def test_qualified_note_rate():
    roll = melody([60, 62, 64, 65], steps=1)  # four 16ths
    roll = np.concatenate([roll, melody([67], steps=3), melody([69], steps=2)])
    assert qualified_note_rate(roll) == pytest.approx(1 / 6)  # only the 3-step G
    assert qualified_note_rate(roll, min_steps=2) == pytest.approx(2 / 6)
    assert qualified_note_rate(roll, min_steps=1) == 1.0


def test_sixteen_short_notes_are_not_qualified():
    # MuseGAN's code calls all of these qualified and counts 15 onsets (rate 16/15)
    roll = np.zeros((16, 84), np.float32)
    roll[np.arange(16), np.arange(16)] = 1
    assert qualified_note_rate(roll, min_steps=2) == 0.0
    assert len(note_runs(roll)[1]) == 16


def test_held_and_repeated_notes():
    roll = np.zeros((32, 88), np.float32)
    roll[14:18, C4] = 1  # one note over the bar line
    assert qualified_note_rate(roll) == 1.0  # one 4-step note in a continuous roll
    bars = roll.reshape(2, 16, 88)
    keys, lengths = note_runs(bars)
    assert sorted(lengths.tolist()) == [2, 2] and keys.tolist() == [C4, C4]
    assert qualified_note_rate(bars) == 0.0  # two 2-step halves when bars are read on their own
    roll[20:28, C4 + 2] = 1  # two repeated 4-step Ds merge into one 8-step note in a binary roll
    assert sorted(note_runs(roll)[1].tolist()) == [4, 8]


def test_probabilities_and_tensors():
    probs = np.full((16, 88), 0.4, np.float32)
    probs[:, C4] = 0.9
    assert polyphony(probs) == 1.0
    assert pitch_class_entropy(torch.from_numpy(probs)) == 0.0


def test_empty_input_gives_nan():
    silent = np.zeros((32, 88), np.float32)
    for value in [pitch_class_entropy(silent), scale_consistency(silent), polyphony(silent),
                  qualified_note_rate(silent), tonal_distance(silent, silent)]:
        assert math.isnan(value)
    assert np.isnan(pitch_class_histogram(silent)).all()
    assert empty_bar_rate(silent) == 1.0 and used_pitch_classes(silent) == 0.0
    no_bars = np.zeros((0, 16, 88), np.float32)
    assert math.isnan(empty_bar_rate(no_bars)) and math.isnan(used_pitch_classes(no_bars))
    assert math.isnan(polyphony_rate(np.zeros((0, 88))))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="piano roll"):
        polyphony(np.zeros(88))
    with pytest.raises(ValueError, match="nan"):
        scale_consistency(np.full((4, 88), np.nan))
    with pytest.raises(ValueError, match="12 entries"):
        tonal_centroid(np.ones(7))
    with pytest.raises(ValueError, match="same length"):
        tonal_distance(np.ones((16, 88)), np.ones((8, 88)))


def test_tonal_centroid_geometry():
    # one pitch class lies on all three circles: norm sqrt(1^2 + 1^2 + 0.5^2) = 1.5
    assert np.linalg.norm(tonal_centroid(np.eye(12)), axis=1) == pytest.approx([1.5] * 12)
    # C and F#: opposite on the circles of fifths and minor thirds, equal on the major-thirds circle
    c, f_sharp = melody([60], steps=4), melody([66], steps=4)
    assert tonal_distance(c, f_sharp) == pytest.approx(math.sqrt(2 ** 2 + 2 ** 2))
    assert tonal_distance(c, melody([72], steps=4)) == pytest.approx(0.0)  # octaves do not matter


def test_tonal_distance_of_chords():
    def chord(pitches):
        roll = np.zeros((16, 88), np.float32)
        roll[:, [p - 21 for p in pitches]] = 1
        return roll
    c, g, f_sharp = chord([60, 64, 67]), chord([55, 59, 62]), chord([54, 58, 61])
    assert tonal_distance(c, c) == pytest.approx(0.0)
    assert tonal_distance(c, g) == pytest.approx(tonal_distance(g, c))
    assert tonal_distance(c, g) < tonal_distance(c, f_sharp)  # a fifth apart is closer than a tritone
    # beats where one track is silent are skipped
    half = c.copy()
    half[8:] = 0
    assert tonal_distance(half, g) == pytest.approx(tonal_distance(c, g))


def test_groove_consistency():
    quarters, eighths = np.zeros((16, 88), np.float32), np.zeros((16, 88), np.float32)
    quarters[[0, 4, 8, 12], C4] = 1
    eighths[::2, C4] = 1
    assert groove_consistency(np.concatenate([quarters] * 3)) == 1.0
    assert groove_consistency(np.concatenate([quarters, eighths])) == pytest.approx(1 - 4 / 16)
    assert math.isnan(groove_consistency(quarters))
    with pytest.raises(ValueError, match="continuous roll"):
        groove_consistency(np.stack([quarters, eighths]))


def muspy_empty_beat_rate(notes, resolution):
    """MusPy's rule, written out for comparison: notes are (start, end) in time steps; beats
    start // resolution .. end // resolution (end included) are non-empty, out of
    (last end) // resolution + 1 beats."""
    n_beats = max(end for _, end in notes) // resolution + 1
    filled = {beat for start, end in notes for beat in range(start // resolution, end // resolution + 1)}
    return 1 - len(filled) / n_beats


def test_empty_beat_rate_and_muspys_note_end_rule():
    # one bar of quarter notes at 4 steps per beat with a rest on beat 3 (steps 8..11)
    notes = [(0, 4), (4, 8), (12, 16)]
    roll = np.zeros((16, 88), np.float32)
    for start, end in notes:
        roll[start:end, C4] = 1
    assert empty_beat_rate(roll, steps_per_beat=4) == pytest.approx(1 / 4)
    # MusPy: the note ending on beat 3 fills it, and a 5th beat is counted after the last note
    assert muspy_empty_beat_rate(notes, resolution=4) == 0.0
    # the two agree when no note ends on a beat and the piece ends inside a beat
    inside = [(0, 3), (4, 7), (12, 15)]
    assert muspy_empty_beat_rate(inside, resolution=4) == pytest.approx(1 / 4)
    assert math.isnan(empty_beat_rate(np.zeros((3, 88)), steps_per_beat=4))
    with pytest.raises(ValueError, match="steps_per_beat"):
        empty_beat_rate(roll, steps_per_beat=0)


def musegan_to_chroma(roll):
    """MuseGAN's ``to_chroma`` (src/musegan/metrics.py) written out in numpy for one track: pad the
    keys to a multiple of 12, reshape them to (12, octaves), sum the octaves."""
    keys = roll.shape[-1]
    remainder = keys % 12
    if remainder:
        roll = np.pad(roll, [(0, 0)] * (roll.ndim - 1) + [(0, 12 - remainder)])
    return roll.reshape(roll.shape[:-1] + (12, keys // 12 + int(remainder > 0))).sum(-1)


def test_every_c_is_one_pitch_class_unlike_musegans_to_chroma():
    # MuseGAN's 84 keys start at C1 (MIDI 24): C1, C2, C3 are keys 0, 12, 24
    roll = np.zeros((3, 84))
    roll[0, 0] = roll[1, 12] = roll[2, 24] = 1
    ours = pitch_class_histogram(roll, low=24, by="frames")
    assert ours[0] == 1.0                                              # all three in C
    theirs = musegan_to_chroma(roll).sum(axis=0)
    octaves = 84 // 12                                                  # row-major (12, 7): key k -> bin k // 7
    assert list(np.flatnonzero(theirs)) == sorted({k // octaves for k in (0, 12, 24)})
    assert np.count_nonzero(theirs) == 3


def test_polyphony_rate_at_three_keys_is_musegan_and_muspy_polyphonicity():
    def muspy_polyphony_rate(roll, threshold=2):      # MusPy: frames with more than threshold keys
        return np.count_nonzero(roll.sum(axis=1) > threshold) / len(roll)

    roll = (np.random.default_rng(0).random((200, 88)) < 0.03).astype(float)
    counts = roll.sum(axis=1)
    assert (counts == 2).any() and (counts > 2).any()                  # the two definitions differ here
    assert polyphony_rate(roll, threshold=3) == pytest.approx(muspy_polyphony_rate(roll))
    assert polyphony_rate(roll) > muspy_polyphony_rate(roll)


def test_voice_leading_metrics_on_a_hand_made_progression():
    import musiclab as ml
    roll = np.zeros((4, 88))
    roll[0, [20, 27]] = 1      # a fifth (7 semitones)
    roll[1, [22, 29]] = 1      # both voices up 2: parallel fifths
    roll[2, [21, 31]] = 1      # contrary motion to a major sixth: moves 1 and 2
    roll[3, [40, 43, 47]] = 1  # three voices after two: not a pair
    assert ml.voice_motion(roll) == np.mean([2, 2, 1, 2])
    assert ml.parallel_perfect_rate(roll) == 0.5
    stack = np.stack([roll[:2], roll[2:]])   # each piece read on its own: no pair across pieces
    assert ml.voice_motion(stack) == 2.0 and ml.parallel_perfect_rate(stack) == 1.0
    assert np.isnan(ml.voice_motion(np.zeros((3, 88))))


def test_linear_r2_finds_a_linear_target_and_not_noise():
    rng = np.random.default_rng(0)
    X_train, X_test = rng.normal(size=(200, 5)), rng.normal(size=(100, 5))
    w = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert linear_r2(X_train, X_train @ w + 4, X_test, X_test @ w + 4) > 0.999
    noise_train, noise_test = rng.normal(size=200), rng.normal(size=100)
    assert linear_r2(X_train, noise_train, X_test, noise_test) < 0.1


def test_voice_leading_metrics_give_one_value_per_continuation():
    from musiclab.metrics import voice_leading_metrics
    steady = np.zeros((4, 88))
    steady[:, [40, 44, 47, 52]] = 1                        # four voices held: no motion, no parallels
    moving = np.zeros((4, 88))
    for t in range(4):
        moving[t, [40 + 2 * t, 47 + 2 * t]] = 1            # two voices a fifth apart, moving up together
    moving[3, 60:65] = 1                                   # the last beat: a five-key cluster on top
    m = voice_leading_metrics(np.stack([steady, moving]))
    assert all(len(v) == 2 for v in m.values())
    assert m["4-key frames"].tolist() == [1.0, 0.0] and m["> 4 keys"].tolist() == [0.0, 0.25]
    assert m["voice motion"][0] == 0 and m["voice motion"][1] == pytest.approx(2.0)
    assert m["parallel 5ths/8ves"].tolist() == [0.0, 1.0]
    assert m["voice pairs"].tolist() == [3, 2]             # equal voice counts only: the cluster beat breaks a pair
