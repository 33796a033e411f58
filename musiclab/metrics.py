"""Objective music metrics on binary piano rolls (MuseGAN, Dong et al. 2018; MusPy, Dong et al. 2020).

Every function takes a piano roll of shape (time, keys) or a stack of bars (n_bars, steps, keys);
values above 0.5 count as "on" (so a generator's probabilities can be passed directly). Column
``i`` is MIDI pitch ``low + i`` (``low=21``: the 88 piano keys; pass ``low`` for a cropped roll).
Used by notebooks 04, 05, 07 (GAN bars against real bars) and 08 (every model).

What is a note? In a binary roll a note is a run of consecutive on-frames on one key, so two
repeated notes of the same pitch merge into one long note (a roll has no onset channel). In a
stack of bars every bar is read on its own: a note held over a bar line counts once in each bar.

Empty input (no bars, no frames or no notes) gives ``nan`` instead of a ZeroDivisionError: an
average over nothing is undefined. ``np.nanmean`` then skips it when you average over pieces.

Known bugs in the reference code that these functions do *not* copy (read before comparing
numbers with papers):

- MuseGAN's TensorFlow ``empty_bar_rate`` (src/musegan/metrics.py) averages ``reduce_any(x > 0.5)``,
  the fraction of *non-empty* bars.
- MuseGAN's ``n_pitches_used`` / ``n_pitch_classes_used`` sum the number of active keys over the
  time steps (note-frames), not the number of distinct pitch classes the paper defines.
- MuseGAN's ``qualified_note_rate`` pairs the k-th onset with the k-th offset in time-major order
  over a flattened (time x pitch) axis, so with chords the pairs belong to different notes and the
  "lengths" are in flattened units; ``np.count_nonzero`` of onset *positions* also misses an onset
  at position 0. The paper's definition (a note of at least 3 steps, a 32nd note at MuseGAN's 24
  steps per beat) is what ``qualified_note_rate`` computes, with ``min_steps`` as a parameter.
- MuseGAN's ``to_chroma`` (src/musegan/metrics.py; the same reshape in v1/musegan/eval/metrics.py
  and musegan/utils/metrics.py) reshapes the key axis to (12, octaves) and sums over the octaves,
  so each of its 12 "pitch classes" holds neighbouring keys (7 of its 84 keys per bin): the C's at
  keys 0, 12 and 24 land in bins 0, 1 and 3. Grouping by pitch class needs (octaves, 12), summed over
  the first axis, and even that only works for a roll that starts at a C. Their in-scale rate, used
  pitch classes and harmonicity are computed on this chroma. Here a column's pitch class comes
  from its MIDI number, ``(low + i) % 12`` (``class_matrix``), whatever key the roll starts at.
- Early MusPy ``polyphony`` returned an array and switched on all 128 keys for every note.
- Early MusPy versions divide by zero on empty music (``in_scale_rate``, ``pitch_entropy``).
- MusPy's ``empty_beat_rate`` (and ``empty_measure_rate``) marks beats ``start // resolution``
  through ``end // resolution`` *inclusive* as non-empty, so a note that ends exactly on a beat
  also fills the next beat, and it counts ``length // resolution + 1`` beats (one more than a
  piece that ends on a beat has). Here ``empty_beat_rate`` counts a beat as non-empty only if a
  frame inside it is on, over the whole beats of the roll: a bar of four quarter notes with a rest
  on beat 3 has 1 empty beat of 4 here, 0 of 5 in MusPy (tests/test_metrics.py shows it).
- MuseGAN's ``harmonicity`` divides a beat's chroma by its sum, so one silent beat makes the mean nan;
  ``tonal_distance`` skips beats where either track is silent.

A different question, not a bug: MusPy's ``polyphony_rate`` counts frames with *more than*
``threshold=2`` keys, which is MuseGAN's polyphonicity as its TensorFlow ``polyphonic_rate``
computes it (time steps where "the number of pitches being played is larger than ``threshold``",
default 2); MusPy cites MuseGAN for it. MuseGAN's own v1 code and its numpy ``get_polyphonic_ratio`` count ``>= threshold``
instead. Here ``polyphony_rate`` counts frames with *at least* ``threshold`` keys: ``threshold=2``
asks "two notes at once?", and ``threshold=3`` gives MuseGAN's and MusPy's number.
"""
from collections import Counter
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import torch

from .abc import detokenize_abc
from .corpora import parse_abc
from .data import to_c
from .models.music_gpt import token_type
from .music import LOWEST, key_shift, piano_roll, transpose
from .synth import RELEASE_TAIL, render_midi

__all__ = [
    "as_binary", "as_bars", "note_runs", "empty_bar_rate", "empty_beat_rate", "used_pitch_classes",
    "qualified_note_rate", "pitch_class_histogram", "pitch_class_entropy", "scale_consistency",
    "polyphony", "polyphony_rate", "groove_consistency", "tonal_centroid", "tonal_distance",
    "MAJOR_SCALE", "MINOR_SCALE", "bar_metrics", "voice_pairs", "voice_motion",
    "parallel_perfect_rate", "check_audio", "linear_r2", "hidden_attacks", "stft_spectral_convergence",
    "waveform_error", "key_mode", "tonic_class", "corpus_summary", "transposed_pitch_classes",
    "bar_set_stats", "walk_summary", "LENGTH_BINS", "LENGTH_BIN_LABELS", "exact_length_histogram",
    "tune_statistics", "piece_clips", "clip_texture", "last_bass_pitch_class", "texture_metrics", "continuation_faults", "interval_relation", "closer_than_baselines", "nearest_style",
    "confusion_shares", "per_bar_metrics", "four_key_share", "continuation_metrics", "voice_leading_metrics",
    "cellwise_bars", "random_bars", "tune_roll", "TuneClips", "tune_clips", "beat_clip", "glued_clips", "scale_fit", "distinct_ngrams",
    "long_note_share", "long_notes", "attention_head_stats", "quiet_share", "key_pitch_classes", "out_of_key_share",
]

MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=bool)  # C D E F G A B
MINOR_SCALE = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], dtype=bool)  # C D Eb F G Ab Bb (natural minor)


def as_binary(x) -> np.ndarray:
    """A roll (T, P) or bars (n, S, P) as a boolean array (on = value > 0.5); ValueError otherwise."""
    x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
    if x.ndim not in (2, 3):
        raise ValueError(f"expected a piano roll (time, keys) or bars (n_bars, steps, keys), got shape {x.shape}")
    if x.dtype != bool and not np.all(np.isfinite(x)):
        raise ValueError("the piano roll contains nan or inf values")
    return x > 0.5


def as_bars(x, steps_per_bar: int = 16) -> np.ndarray:
    """Bars (n, S, P) as they are, or a roll (T, P) cut into whole bars (a partial last bar is dropped)."""
    x = as_binary(x)
    if x.ndim == 3:
        return x
    if steps_per_bar < 1:
        raise ValueError(f"steps_per_bar must be a positive integer, got {steps_per_bar}")
    n_bars = len(x) // steps_per_bar
    return x[: n_bars * steps_per_bar].reshape(n_bars, steps_per_bar, x.shape[1])


def frames(x) -> np.ndarray:
    """All frames of a roll or of a stack of bars as one (frames, P) boolean array."""
    x = as_binary(x)
    return x.reshape(-1, x.shape[-1])


def pitch_classes(n_keys: int, low: int = 21) -> np.ndarray:
    """The pitch class (0 = C ... 11 = B) of each column of a roll whose first column is MIDI ``low``."""
    return (low + np.arange(n_keys)) % 12


def class_matrix(n_keys: int, low: int = 21) -> np.ndarray:
    """(n_keys, 12) one-hot matrix: ``roll @ class_matrix`` sums the keys of each pitch class."""
    return (pitch_classes(n_keys, low)[:, None] == np.arange(12)).astype(float)


def note_runs(x):
    """Notes of a roll (T, P) or bars (n, S, P) as ``(keys, lengths)``: the column and the number
    of steps of every run of consecutive on-frames (each bar read on its own).
    Notebooks: 02."""
    x = as_binary(x)
    x = x[None] if x.ndim == 2 else x
    padded = np.pad(x, ((0, 0), (1, 1), (0, 0))).astype(np.int8)
    change = np.diff(padded, axis=1)  # +1 at an onset, -1 just after an offset
    # transpose to (bar, key, time) so that onsets and offsets of one key come out in time order
    bar_on, key_on, t_on = np.nonzero(change.transpose(0, 2, 1) == 1)
    _, _, t_off = np.nonzero(change.transpose(0, 2, 1) == -1)
    return key_on, t_off - t_on


def empty_bar_rate(x, steps_per_bar: int = 16) -> float:
    """MuseGAN's EB: fraction of bars with no note at all (nan without bars).
    Notebooks: 07, 08."""
    b = as_bars(x, steps_per_bar)
    if len(b) == 0:
        return float("nan")
    return float(np.mean(~b.any(axis=(1, 2))))


def empty_beat_rate(x, steps_per_beat: int = 4) -> float:
    """MusPy's empty-beat rate, without its inclusive note ends (see above): the fraction of whole
    beats (``steps_per_beat`` frames each) in which no key is on (nan without a whole beat)."""
    f = frames(x)
    if steps_per_beat < 1:
        raise ValueError(f"steps_per_beat must be a positive integer, got {steps_per_beat}")
    n_beats = len(f) // steps_per_beat
    if n_beats == 0:
        return float("nan")
    beats = f[: n_beats * steps_per_beat].reshape(n_beats, steps_per_beat, -1)
    return float(np.mean(~beats.any(axis=(1, 2))))


def used_pitch_classes(x, low: int = 21, steps_per_bar: int = 16) -> float:
    """MuseGAN's UPC: number of distinct pitch classes (0..12) in a bar, averaged over bars
    (empty bars count as 0, as in the paper; nan without bars).
    Notebooks: 07."""
    b = as_bars(x, steps_per_bar)
    if len(b) == 0:
        return float("nan")
    keys_used = b.any(axis=1)  # (n_bars, P)
    classes_used = keys_used @ class_matrix(b.shape[2], low) > 0  # (n_bars, 12)
    return float(classes_used.sum(axis=1).mean())


def qualified_note_rate(x, min_steps: int = 3) -> float:
    """MuseGAN's QN: fraction of notes lasting at least ``min_steps`` steps (nan without notes).

    MuseGAN uses 24 steps per beat, so its 3 steps are a 32nd note (QN measures fragmentation).
    At 16th-note steps every note is at least a 16th, and ``min_steps=3`` asks instead
    "how many notes last a dotted eighth or longer?" -- say which one you report.
    Notebooks: 07.
    """
    _, lengths = note_runs(x)
    if len(lengths) == 0:
        return float("nan")
    return float(np.mean(lengths >= min_steps))


def pitch_class_histogram(x, low: int = 21, by: str = "notes") -> np.ndarray:
    """Normalised histogram over the 12 pitch classes (C first), counting notes (``by="notes"``,
    as MusPy does) or on-frames (``by="frames"``, weighting each note by its length).
    All nan when there is no note."""
    x = as_binary(x)
    if by == "notes":
        keys, _ = note_runs(x)
        counts = np.bincount(pitch_classes(x.shape[-1], low)[keys], minlength=12).astype(float)
    elif by == "frames":
        counts = frames(x).sum(axis=0) @ class_matrix(x.shape[-1], low)
    else:
        raise ValueError(f"by must be 'notes' or 'frames', got {by!r}")
    total = counts.sum()
    return counts / total if total > 0 else np.full(12, np.nan)


def pitch_class_entropy(x, low: int = 21, by: str = "notes") -> float:
    """MusPy's pitch-class entropy in bits: H = -sum_i p_i log2 p_i over the pitch-class histogram
    (0 for one pitch class, log2(12) ~ 3.585 for all twelve equally often; nan without notes).
    Notebooks: 07."""
    p = pitch_class_histogram(x, low, by)
    if np.isnan(p).any():
        return float("nan")
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def scale_consistency(x, low: int = 21) -> float:
    """MusPy's scale consistency: the largest fraction of notes (not frames) that lie in one of
    the 24 major and natural-minor scales (nan without notes).

    A natural minor scale has the pitch classes of its relative major (A minor = C major),
    so the maximum over 24 scales equals the maximum over the 12 major ones.
    Notebooks: 05, 07.
    """
    p = pitch_class_histogram(x, low, by="notes")
    if np.isnan(p).any():
        return float("nan")
    scales = [np.roll(scale, root) for scale in (MAJOR_SCALE, MINOR_SCALE) for root in range(12)]
    return float(max(p[scale].sum() for scale in scales))


def polyphony(x) -> float:
    """MusPy's polyphony: mean number of keys on, over the frames where at least one key is on
    (1 for a melody; nan when every frame is silent).
    Notebooks: 02, 07."""
    on_per_frame = frames(x).sum(axis=1)
    sounding = on_per_frame[on_per_frame > 0]
    return float(sounding.mean()) if len(sounding) else float("nan")


def polyphony_rate(x, threshold: int = 2) -> float:
    """Fraction of frames with at least ``threshold`` keys on (nan without frames). MuseGAN's
    polyphonicity and MusPy's ``polyphony_rate`` count frames with more than two keys: that is
    ``threshold=3`` here (see the module docstring)."""
    on_per_frame = frames(x).sum(axis=1)
    return float(np.mean(on_per_frame >= threshold)) if len(on_per_frame) else float("nan")


def voice_pairs(x):
    """Consecutive frames of each piece (a roll, or each roll of a stack read on its own) that hold
    the same number (>= 1) of keys, as pairs of (voices,) key-index arrays sorted bass to soprano:
    with the voice count unchanged, the i-th lowest key of one frame leads to the i-th of the next."""
    x = as_binary(x)
    for roll in (x if x.ndim == 3 else x[None]):
        for a, b in zip(roll[:-1], roll[1:]):
            ka, kb = np.flatnonzero(a), np.flatnonzero(b)
            if len(ka) and len(ka) == len(kb):
                yield ka, kb


def voice_motion(x) -> float:
    """Voice leading: the mean absolute move, in semitones, of a voice from one frame to the next
    (``voice_pairs``; nan without such pairs). Bach's voices move mostly by step (1-2 semitones) or
    hold; a model that puts down unrelated chords leaps."""
    moves = [np.abs(b - a) for a, b in voice_pairs(x)]
    return float(np.concatenate(moves).mean()) if moves else float("nan")


def parallel_perfect_rate(x) -> float:
    """The share of ``voice_pairs`` with parallel fifths or octaves: two voices a perfect fifth or
    octave (or unison) apart, modulo the octave, that both move in the same direction and stay that
    interval apart, which four-part writing avoids (nan without pairs)."""
    found = []
    for a, b in voice_pairs(x):
        ia, ib = (a[None, :] - a[:, None]) % 12, (b[None, :] - b[:, None]) % 12
        move = np.sign(b - a)
        upper = np.triu(np.ones((len(a), len(a)), bool), 1)
        same = (move[:, None] == move[None, :]) & (move[:, None] != 0)
        found.append(bool((upper & same & (ia == ib) & np.isin(ia, (0, 7))).any()))
    return float(np.mean(found)) if found else float("nan")


def groove_consistency(x, steps_per_bar: int = 16) -> float:
    """MusPy's groove consistency of a continuous roll: 1 - mean Hamming distance between the onset
    patterns of neighbouring bars, divided by ``steps_per_bar`` (1 = the same rhythm in every bar;
    nan with fewer than two bars). Pass a roll (T, P) of one piece, not a stack of unrelated bars."""
    x = as_binary(x)
    if x.ndim != 2:
        raise ValueError("groove_consistency needs one continuous roll (time, keys), not bars")
    onsets = np.diff(np.pad(x, ((1, 0), (0, 0))).astype(np.int8), axis=0) == 1
    b = as_bars(onsets.any(axis=1, keepdims=True), steps_per_bar)[:, :, 0]  # (n_bars, steps)
    if len(b) < 2:
        return float("nan")
    return float(1 - np.mean(b[1:] != b[:-1]))


def tonal_matrix(r1: float = 1.0, r2: float = 1.0, r3: float = 0.5) -> np.ndarray:
    """Harte et al. (2006): the 6 x 12 matrix mapping a chroma vector onto three circles
    (fifths, minor thirds, major thirds), with the paper's radii."""
    angle = np.arange(12) * np.pi
    return np.stack([r1 * np.sin(angle * 7 / 6), r1 * np.cos(angle * 7 / 6),
                     r2 * np.sin(angle * 3 / 2), r2 * np.cos(angle * 3 / 2),
                     r3 * np.sin(angle * 2 / 3), r3 * np.cos(angle * 2 / 3)])


def tonal_centroid(chroma) -> np.ndarray:
    """Harte's 6-D tonal centroid of chroma vectors (..., 12): Phi c / ||c||_1 (nan for silence)."""
    chroma = np.asarray(chroma, dtype=float)
    if chroma.shape[-1] != 12:
        raise ValueError(f"chroma vectors must have 12 entries (C..B), got shape {chroma.shape}")
    total = chroma.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (chroma / total) @ tonal_matrix().T


def beat_chroma(x, low: int = 21, steps_per_beat: int = 4) -> np.ndarray:
    """Chroma (beats, 12) of a roll or bars: active keys of each pitch class summed over a beat."""
    f = frames(x).astype(float)
    n_beats = len(f) // steps_per_beat
    per_key = f[: n_beats * steps_per_beat].reshape(n_beats, steps_per_beat, -1).sum(axis=1)
    return per_key @ class_matrix(f.shape[1], low)


def tonal_distance(x, y, low: int = 21, steps_per_beat: int = 4) -> float:
    """MuseGAN's tonal distance between two tracks of the same length (e.g. melody and
    accompaniment): Euclidean distance of their beat-wise tonal centroids, averaged over the
    beats where both tracks sound (nan if there is none). Small = harmonically close."""
    cx, cy = beat_chroma(x, low, steps_per_beat), beat_chroma(y, low, steps_per_beat)
    if cx.shape != cy.shape:
        raise ValueError(f"the two tracks must have the same length, got {cx.shape[0]} and {cy.shape[0]} beats")
    both = (cx.sum(axis=1) > 0) & (cy.sum(axis=1) > 0)
    if not both.any():
        return float("nan")
    return float(np.linalg.norm(tonal_centroid(cx[both]) - tonal_centroid(cy[both]), axis=1).mean())


def bar_metrics(bars, low: int = 21) -> dict:
    """The bar metrics of notebooks 07 and 08 for a stack of bars (n, S, P): EB, UPC, QN over
    the stack; pitch-class entropy "H (bits)" and scale consistency "SC" per bar, averaged over
    the bars that hold a note (one bar is what a bar model makes; nan when none does); polyphony.
    Notebooks: 07."""
    b = as_bars(bars)
    sounding = [x for x in b if x.any()]
    per_bar = lambda f: float(np.mean([f(x, low=low) for x in sounding])) if sounding else float("nan")
    return {"EB": empty_bar_rate(b), "UPC": used_pitch_classes(b, low=low), "QN": qualified_note_rate(b),
            "H (bits)": per_bar(pitch_class_entropy), "SC": per_bar(scale_consistency), "polyphony": polyphony(b)}


# ----------------------------------------------------------------------------- notebooks 00-02
def linear_r2(train_features, train_target, test_features, test_target) -> float:
    """R^2 on the test rows of a least-squares linear regression (with intercept) of ``target`` on
    ``features``, fitted on the training rows: 1 - residual / total sum of squares. 1 means the
    target is a linear function of the features; 0 means no better than the training mean.
    Notebooks: 02."""
    def design(X):
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        return np.hstack([X, np.ones((len(X), 1))])
    w, *_ = np.linalg.lstsq(design(train_features), np.asarray(train_target, dtype=np.float64), rcond=None)
    y = np.asarray(test_target, dtype=np.float64)
    residual = y - design(test_features) @ w
    return float(1 - (residual ** 2).sum() / ((y - y.mean()) ** 2).sum())


def check_audio(y, pm, sr: int = 22050) -> dict:
    """Check audio ``y`` rendered from the PrettyMIDI ``pm`` by proxy, since ears are good judges but
    bad tests: not silent (RMS above 1e-3), as long as the MIDI predicts (its end time plus
    ``RELEASE_TAIL``), and not clipped: ``y`` must be the raw mix (``render_midi(pm,
    rescale=False)``) times one factor, because clipping would flatten the peaks. Raises
    AssertionError naming the failed check; returns {"seconds", "RMS", "peak", "raw mix peak"}.
    Notebooks: 00."""
    y = np.asarray(y)
    raw = render_midi(pm, sr=sr, rescale=False)  # the mix before any rescaling
    rms, peak, raw_peak = float(np.sqrt(np.mean(y ** 2))), float(np.abs(y).max()), float(np.abs(raw).max())
    expected = int(round((pm.get_end_time() + RELEASE_TAIL) * sr))
    if not rms > 1e-3:
        raise AssertionError(f"silent audio (RMS {rms:.2g})")
    if len(y) != expected:
        raise AssertionError(f"{len(y)} samples, expected {expected}")
    if not np.allclose(y, raw * (peak / raw_peak), atol=1e-5):
        raise AssertionError("the audio was clipped, not scaled")
    return {"seconds": round(len(y) / sr, 2), "RMS": round(rms, 4), "peak": round(peak, 3),
            "raw mix peak": round(raw_peak, 3)}


def hidden_attacks(notes, steps_per_quarter: int = 4) -> int:
    """How many notes ``[start, end, pitch, voice]`` a piano roll cannot show as new attacks: at the
    note's start step its key is already down, held over from the step before by another note (a
    repeated note) or started at the same step by an earlier row (a unison of two voices). The
    roll merges each such note into the other one.
    Notebooks: 00."""
    notes = np.asarray(notes)
    steps = np.round(notes[:, :2] * steps_per_quarter).astype(int)
    rows = np.arange(len(notes))
    hidden = 0
    for i, (a, _) in enumerate(steps):
        same_key = (notes[:, 2] == notes[i, 2]) & (rows != i)
        covers = same_key & (steps[:, 0] <= a - 1) & (steps[:, 1] >= a)  # sounding into step a
        covers |= same_key & (steps[:, 0] == a) & (rows < i)  # starts with it, listed before it
        hidden += bool(covers.any())
    return hidden


def stft_spectral_convergence(x, x_hat, n_fft: int = 1024, hop_length: int = 256, fit_gain: bool = False) -> float:
    """Spectral convergence ``|| |X| - |X_hat| ||_F / || |X| ||_F`` of two waveforms on their STFT
    magnitudes, over the frames both have: 0 is perfect, and the phase does not count.
    ``fit_gain=True`` first scales ``|X_hat|`` by the least-squares gain
    ``<|X|, |X_hat|> / || |X_hat| ||^2``, so that a mere difference in level does not count.
    Notebooks: 00."""
    import librosa
    A = np.abs(librosa.stft(np.asarray(x), n_fft=n_fft, hop_length=hop_length))
    B = np.abs(librosa.stft(np.asarray(x_hat), n_fft=n_fft, hop_length=hop_length))
    T = min(A.shape[1], B.shape[1])
    A, B = A[:, :T], B[:, :T]
    if fit_gain and np.any(B):
        B = B * (np.sum(A * B) / np.sum(B * B))
    return float(np.linalg.norm(A - B) / np.linalg.norm(A))


def waveform_error(x, x_hat) -> float:
    """``||x - x_hat|| / ||x||`` over the samples both waveforms have: 0 for the same wave, about
    1.4 for an unrelated wave of the same loudness, 2 for ``-x``.
    Notebooks: 00."""
    x, x_hat = np.asarray(x), np.asarray(x_hat)
    T = min(len(x), len(x_hat))
    return float(np.linalg.norm(x[:T] - x_hat[:T]) / np.linalg.norm(x[:T]))


def key_mode(key: str) -> str:
    """The mode word of a key name: "G major" -> "major", "A dorian" -> "dorian".
    Notebooks: 00."""
    return key.split()[1]


def tonic_class(key: str) -> int:
    """The pitch class (0 = C ... 11 = B) of a key's tonic: "G major" -> 7, "Bb minor" -> 10
    (for ``plot_corpus_stats``).
    Notebooks: 04."""
    import pretty_midi
    return pretty_midi.note_name_to_number(key.split()[0] + "4") % 12


def corpus_summary(pieces) -> dict:
    """Size, length and keys of a list of Pieces: "pieces", "notes", "median length" (quarter
    notes), the shares of "major", "minor" and "modal" (any other mode) keys, and "metres" (the
    three most common, with their counts): one line of ``corpus_table``."""
    modes = Counter(key_mode(p.key) for p in pieces)
    summary = {"pieces": len(pieces), "notes": sum(len(p.notes) for p in pieces),
               "median length": float(np.median([p.notes[:, 1].max() for p in pieces]))}
    summary.update({m: modes[m] / len(pieces) for m in ("major", "minor")})
    summary["modal"] = (len(pieces) - modes["major"] - modes["minor"]) / len(pieces)
    summary["metres"] = Counter(p.meter for p in pieces).most_common(3)
    return summary


def transposed_pitch_classes(pieces) -> np.ndarray:
    """The share of notes on each pitch class (C = 0 ... B = 11) once every piece is transposed to
    C major or A minor (``key_shift``): the key profile of a corpus.
    Notebooks: 00."""
    pcs = np.concatenate([transpose(p.notes, key_shift(p.key))[:, 2] for p in pieces]).astype(int) % 12
    return np.bincount(pcs, minlength=12) / len(pcs)


def bar_set_stats(bars, low: int = 21, steps_per_bar: int = 16) -> dict:
    """Music metrics of a set of bars (n, S, P): "empty bars" (EB), "notes/bar", "polyphony",
    "pitch classes" (UPC), "in scale" (scale consistency over the non-empty bars) and "hybrid
    bars", the share of non-empty bars whose own polyphony lies strictly between 1 (a melody) and
    3 (a chorale texture): neither; "hybrid, tolerant" counts only those between 1.25 and 2.75, so
    a melody with one stray cell under it is not a hybrid there.
    Notebooks: 02."""
    b = as_bars(bars, steps_per_bar)
    nonempty = [x for x in b if x.any()]
    polyphony_per_bar = np.array([polyphony(x) for x in nonempty])
    return {"empty bars": empty_bar_rate(b, steps_per_bar),
            "notes/bar": len(note_runs(b)[0]) / len(b),
            "polyphony": polyphony(b),
            "pitch classes": used_pitch_classes(b, low=low, steps_per_bar=steps_per_bar),
            "in scale": float(np.mean([scale_consistency(x, low=low) for x in nonempty])) if nonempty else np.nan,
            "hybrid bars": float(np.mean((polyphony_per_bar > 1) & (polyphony_per_bar < 3))) if nonempty else np.nan,
            "hybrid, tolerant": float(np.mean((polyphony_per_bar >= 1.25) & (polyphony_per_bar <= 2.75))) if nonempty else np.nan}


def walk_summary(bars) -> dict:
    """How gradual a walk of bars (steps, S, P) is: "notes" per step, cells "changed" from each step
    to the next, and how many "distinct" bars it passes.
    Notebooks: 02."""
    b = as_binary(bars)
    return {"notes": [len(note_runs(x)[0]) for x in b],
            "changed": [int((b[k] != b[k + 1]).sum()) for k in range(len(b) - 1)],
            "distinct": len({x.tobytes() for x in b})}


# ----------------------------------------------------------------------------- notebooks 03-05

LENGTH_BINS = (0.25, 1 / 3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # in quarter notes: 16th ... dotted half
LENGTH_BIN_LABELS = ("16th", "triplet\n8th", "8th", "dotted\n8th", "quarter", "dotted\nquarter", "half",
                      "dotted\nhalf", "other")


def exact_length_histogram(note_arrays, lengths=LENGTH_BINS) -> np.ndarray:
    """Share of the notes of all ``note_arrays`` ((N, 4) [start, end, pitch, voice], in quarter
    notes) whose duration is each of ``lengths`` (to 1e-3), and last the share of any other
    length: len(lengths) + 1 numbers that sum to 1 (nan without a note); ``tune_statistics``' lengths.
    Notebooks: 04."""
    durations = np.concatenate([np.asarray(n)[:, 1] - np.asarray(n)[:, 0] for n in note_arrays] or [np.zeros(0)])
    if len(durations) == 0:
        return np.full(len(lengths) + 1, np.nan)
    which = [next((i for i, L in enumerate(lengths) if abs(d - L) < 1e-3), len(lengths)) for d in durations]
    return np.bincount(which, minlength=len(lengths) + 1) / len(durations)


def tune_statistics(note_arrays) -> dict:
    """Statistics of a set of tunes given as note arrays (N, 4): "pitch_classes", the mean
    pitch-class histogram over the tunes; "lengths", ``exact_length_histogram``; "scale", the scale
    consistency of each tune (an array); "notes", the mean number of notes per tune. Each tune is
    read as a 16th-note piano roll from its first note.
    Notebooks: 04."""
    rolls = [piano_roll(n - [n[:, 0].min(), n[:, 0].min(), 0, 0]) for n in map(np.asarray, note_arrays)]
    return dict(pitch_classes=np.nanmean([pitch_class_histogram(r) for r in rolls], axis=0),
                lengths=exact_length_histogram(note_arrays),
                scale=np.array([scale_consistency(r) for r in rolls]),
                notes=np.mean([len(n) for n in note_arrays]))


_MODE_ROTATION = {"major": 0, "ionian": 0, "dorian": 1, "phrygian": 2, "lydian": 3, "mixolydian": 4,
                  "minor": 5, "aeolian": 5, "locrian": 6}   # which degree of the major scale each mode starts on
_LETTER_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def key_pitch_classes(key: str, leading_note: bool = False) -> np.ndarray:
    """The pitch classes of ``key`` ("G major", "A dorian", "Bb minor", "F# minor"; "B-" as music21
    writes flats) as 12 booleans (0 = C): the seven notes of its mode; with ``leading_note=True`` a
    minor key also gets its raised seventh (G# in A minor), which tunes in minor keys use as often as
    the natural one. ValueError for a key it cannot read."""
    parts = key.split()
    if len(parts) != 2 or parts[0][:1].upper() not in _LETTER_CLASS or parts[1].lower() not in _MODE_ROTATION:
        raise ValueError(f"key must look like 'G major' or 'A dorian', got {key!r}")
    name, mode = parts[0], parts[1].lower()
    tonic = _LETTER_CLASS[name[0].upper()] + name[1:].count("#") - name[1:].count("b") - name[1:].count("-")
    steps = np.flatnonzero(MAJOR_SCALE)
    degree = _MODE_ROTATION[mode]
    scale = np.zeros(12, dtype=bool)
    scale[(tonic + np.roll(steps, -degree) - steps[degree]) % 12] = True
    if leading_note and mode in ("minor", "aeolian"):
        scale[(tonic + 11) % 12] = True
    return scale


def out_of_key_share(notes, key: str, leading_note: bool = True) -> float:
    """Share of the notes (N, 4) [start, end, pitch, voice] whose pitch class is outside ``key``
    (``key_pitch_classes``; by default a minor key's raised seventh counts as in key); nan
    without a note. Unlike a pitch-class histogram pooled over tunes, it reads each tune
    against its own key.
    Notebooks: 04."""
    pitches = np.asarray(notes)[:, 2].astype(int) if len(notes) else np.zeros(0, dtype=int)
    if len(pitches) == 0:
        return float("nan")
    return float(np.mean(~key_pitch_classes(key, leading_note)[pitches % 12]))


def last_bass_pitch_class(notes, voice: int = 3) -> int:
    """Pitch class (0 = C) of the note of ``voice`` (3: the bass of a four-part chorale) that ends
    last in ``notes`` [start, end, pitch, voice].
    Notebooks: 05."""
    notes = np.asarray(notes)
    bass = notes[notes[:, 3] == voice]
    if len(bass) == 0:
        raise ValueError(f"no note in voice {voice}")
    return int(bass[np.argmax(bass[:, 1]), 2]) % 12


def texture_metrics(x, voices: int = 4) -> dict:
    """How a roll or a stack of rolls (e.g. chorale continuations, (n, T, keys)) sounds as a
    texture, over all its frames: the mean number of keys down in sounding frames ("polyphony"),
    the share of frames with exactly ``voices`` keys and with more. Pitch-class statistics
    (scale consistency, entropy) are read per piece instead: :func:`continuation_metrics` (one
    histogram pooled over pieces in C major and C minor would mix E and E flat).
    Notebooks: 05."""
    return {"polyphony": polyphony(x),
            f"frames with {voices} keys": polyphony_rate(x, threshold=voices) - polyphony_rate(x, threshold=voices + 1),
            f"frames with > {voices} keys": polyphony_rate(x, threshold=voices + 1)}


def continuation_faults(roll, start: int, low: int = 21) -> dict:
    """What a listener hears in a chorale roll in C (one frame per beat) from frame ``start`` on,
    counted: beats with no key below middle C ("beats without bass"), beats with two keys a
    semitone apart ("beats with a semitone cluster"), beats with fewer than four keys, and whether
    the last beat is a C-major or C-minor triad with C lowest ("ends on the tonic chord").
    Notebooks: 05."""
    x = np.asarray(roll)[start:] > 0.5
    pitches = np.arange(x.shape[1]) + low
    last = pitches[x[-1]] if len(x) else np.array([], dtype=int)
    classes = set(int(p) % 12 for p in last)
    tonic = len(last) > 0 and last.min() % 12 == 0 and {0, 7} <= classes and len(classes & {3, 4}) == 1
    return {"beats": len(x), "beats without bass": int((~x[:, pitches < 60].any(1)).sum()),
            "beats with a semitone cluster": int((x[:, 1:] & x[:, :-1]).any(1).sum()),
            "beats with fewer than 4 keys": int((x.sum(1) < 4).sum()), "ends on the tonic chord": bool(tonic)}


def interval_relation(interval, reference) -> str:
    """"lies above", "lies below" or "overlaps": where a bootstrap ``Interval`` lies relative to
    another (``ml.bootstrap_interval``), e.g. a sampler's scale consistency against Bach's.
    Notebooks: 05."""
    if interval.low > reference.high:
        return "lies above"
    return "lies below" if interval.high < reference.low else "overlaps"


# ----------------------------------------------------------------------------- notebooks 06-08
def closer_than_baselines(model: dict, real: dict, baselines, metrics=None) -> list:
    """The metrics (keys of ``real``, or those in ``metrics``) on which ``model``'s value lies
    closer to ``real``'s than every baseline's does: ``model``, ``real`` and each baseline map a
    metric name to a value (one style's ``bar_metrics``). A tie with a baseline does not count as
    closer (so a metric on which real data and every baseline agree, like the empty-bar rate of
    bars built without empty ones, can never count: leave it out with ``metrics``).
    Notebooks: 07."""
    gap = lambda values, m: abs(values[m] - real[m])
    return [m for m in real if (metrics is None or m in metrics)
            and gap(model, m) < min(gap(b, m) for b in baselines)]


def nearest_style(values: dict, references: dict, metrics=None, tie: float = 0.05) -> dict:
    """For each metric, the references whose value lies nearest ``values``': {metric: [names]}.
    ``values`` maps a metric to a value (e.g. the GAN's ``bar_metrics`` for one asked style),
    ``references`` maps a name to such a dict (e.g. the real test bars of every style). Names whose
    distance lies within ``tie`` x (the references' spread on that metric) of the smallest tie
    and are all listed, nearest first (two real styles with the same polyphony cannot tell a
    model's polyphony apart). ``metrics``: which (default: those of ``values``); a metric that is
    nan anywhere is left out. A metric-wise look at what MuseGAN-style tables compare with real
    data (Dong et al. 2018): which real music a model's numbers resemble, not only how far.
    Notebooks: 07."""
    out = {}
    for m in (values if metrics is None else metrics):
        ref = {name: float(r[m]) for name, r in references.items()}
        if not np.isfinite(values[m]) or not all(np.isfinite(list(ref.values()))):
            continue
        gaps = {name: abs(v - float(values[m])) for name, v in ref.items()}
        slack = tie * (max(ref.values()) - min(ref.values()))
        out[m] = sorted((n for n, g in gaps.items() if g <= min(gaps.values()) + slack), key=gaps.get)
    return out


def confusion_shares(predicted, n_labels: int) -> np.ndarray:
    """A confusion matrix as shares: ``predicted`` holds, for each true class, the labels a
    classifier gave its items; row i is the share of class i's items given each of the
    ``n_labels`` labels (each row sums to 1; nan for a class without items).
    Notebooks: 07."""
    rows = []
    for labels in predicted:
        labels = np.asarray(labels, dtype=int).ravel()
        if labels.size and (labels.min() < 0 or labels.max() >= n_labels):
            raise ValueError(f"labels must lie in 0..{n_labels - 1}, got {labels.min()}..{labels.max()}")
        rows.append(np.bincount(labels, minlength=n_labels) / labels.size if labels.size else np.full(n_labels, np.nan))
    return np.array(rows)


# ----------------------------------------------------------------------------- notebooks 08, 09 and 11
def per_bar_metrics(bars, low: int = 21) -> dict:
    """:func:`bar_metrics` of each bar on its own: {metric: one value per bar} (nan where a bar has
    no notes, e.g. its entropy), ready for a bootstrap interval per metric.
    Notebooks: 08."""
    values = [bar_metrics(np.asarray(b)[None], low=low) for b in bars]
    if not values:
        raise ValueError("per_bar_metrics needs at least one bar")
    return {m: np.array([v[m] for v in values], dtype=float) for m in values[0]}


def four_key_share(x, among_sounding: bool = True) -> float:
    """The share of frames with exactly four keys down (a four-part chorale's frame), among the
    frames where something sounds (``among_sounding=False``: among all frames).
    Notebooks: 07."""
    keys = as_binary(x).sum(axis=-1)
    if among_sounding:
        keys = keys[keys > 0]
    return float(np.mean(keys == 4)) if keys.size else float("nan")


def continuation_metrics(continuations, low: int = 21) -> dict:
    """Chorale continuations (n, frames, keys), one frame per beat: {metric: one value per
    continuation}: the share of its frames with exactly four keys ("4 keys", silent frames
    counted), the mean number of keys per frame, MusPy's pitch-class entropy ("H (bits)") and
    scale consistency ("SC").
    Notebooks: 05, 08."""
    return {"4 keys": np.array([four_key_share(c, among_sounding=False) for c in continuations]),
            "keys per frame": np.array([np.asarray(c).sum(-1).mean() for c in continuations]),
            "H (bits)": np.array([pitch_class_entropy(c, low=low) for c in continuations]),
            "SC": np.array([scale_consistency(c, low=low) for c in continuations])}


def voice_leading_metrics(continuations, low: int = 21) -> dict:
    """Chorale continuations (n, frames, keys), one frame per beat: {metric: one value per
    continuation}, so that each gets an interval over the chorales: the share of its sounding frames
    with exactly four keys ("4-key frames") and with more than four ("> 4 keys"), its scale
    consistency (each continuation in its own key, not a major and a minor chorale pooled),
    ``voice_motion`` and ``parallel_perfect_rate`` (nan without ``voice_pairs``) and the number of
    ``voice_pairs`` these two read ("voice pairs": consecutive frames with equal voice counts).
    Notebooks: 11."""
    def sounding(c):
        keys = as_binary(c).sum(-1)
        return keys[keys > 0]
    return {"4-key frames": np.array([four_key_share(c) for c in continuations]),
            "> 4 keys": np.array([np.mean(sounding(c) > 4) if sounding(c).size else np.nan for c in continuations]),
            "scale consistency": np.array([scale_consistency(c, low=low) for c in continuations]),
            "voice motion": np.array([voice_motion(c) for c in continuations]),
            "parallel 5ths/8ves": np.array([parallel_perfect_rate(c) for c in continuations]),
            "voice pairs": np.array([sum(1 for _ in voice_pairs(c)) for c in continuations], dtype=float)}


def cellwise_bars(train, n: int, rng) -> np.ndarray:
    """The cell-wise baseline (07's): ``n`` bars in which every cell is on with its frequency in
    the ``train`` bars, each cell drawn on its own: it knows where notes go, not how they go
    together. Draws ``rng.random((n, *cells))``.
    Notebooks: 08."""
    train = np.asarray(train)
    return (rng.random((n, *train.shape[1:])) < train.mean(axis=0)).astype(np.float32)


def random_bars(like, n: int, rng) -> np.ndarray:
    """``n`` bars (or rolls) of the shape of ``like``'s items with every cell on with ``like``'s
    overall density of notes: the floor any model must clear. Draws ``rng.random((n, *cells))``.
    Notebooks: 08."""
    like = np.asarray(like)
    return (rng.random((n, *like.shape[1:])) < like.mean()).astype(np.float32)


def tune_roll(tokens, low: int = 36, high: int = 96, steps_per_quarter: int = 4):
    """A generated ABC tune (folk-rnn tokens) moved to C (or A minor), its first note at time 0,
    as a piano roll of MIDI ``low``..``high - 1`` (a bar model's keys); None when music21 cannot
    read the tune."""
    try:
        notes = to_c(parse_abc(detokenize_abc(tokens)))
    except ValueError:
        return None
    notes[:, :2] -= notes[:, 0].min()
    return piano_roll(notes, steps_per_quarter=steps_per_quarter, low=low, high=high)



class TuneClips(NamedTuple):
    """``tune_clips``'s answer: the clips, the index of each clip's tune, the bars each clip holds,
    and the indices of playable tunes skipped because their clip went quiet too early."""
    clips: list
    index: list
    bars: list
    short: list


def tune_clips(token_lists, n: int | None = None, min_steps: int = 32, min_sounding: float = 0.8,
               low: int = 36, high: int = 96, steps_per_quarter: int = 4) -> TuneClips:
    """Listening-test clips from ABC tunes (folk-rnn tokens), tune by tune in order: each tune
    ``tune_roll`` can play (moved to C, its first note at time 0) is cut to the fewest whole bars of
    its own meter (its first ``M:`` token; 4/4 when free) lasting at least ``min_steps`` steps, bars
    counted from its first note: at 4 steps per quarter and 32 steps, two bars of 4/4 or 2/2, three
    of 6/8 or 3/4, four of 2/4. A clip that sounds (to the end of its last note) for less than
    ``min_sounding`` of its length (a tune that stops early) is skipped and its index listed in
    ``short``, so that a listener cannot pick the real clip by its length; unreadable or silent
    tunes are skipped. Stops after ``n`` clips (all when None). Returns a ``TuneClips``.
    Notebooks: 08."""
    out = TuneClips([], [], [], [])
    for i, tokens in enumerate(token_lists):
        if n is not None and len(out.clips) >= n:
            break
        roll = tune_roll(tokens, low=low, high=high, steps_per_quarter=steps_per_quarter)
        if roll is None or not roll.any():
            continue
        meter = tokens[0][2:] if tokens and tokens[0].startswith("M:") and tokens[0] != "M:none" else "4/4"
        bar_steps = max(1, int(Fraction(meter) * 4 * steps_per_quarter))
        bars = max(1, -(-min_steps // bar_steps))
        length = bars * bar_steps
        clip = np.zeros((length, roll.shape[1]), dtype=np.float32)
        clip[:min(length, len(roll))] = roll[:length]
        if (np.flatnonzero(clip.any(axis=1)).max() + 1) / length < min_sounding:
            out.short.append(i)
            continue
        out.clips.append(clip)
        out.index.append(i)
        out.bars.append(bars)
    return out


def beat_clip(frames, low: int, high: int, steps: int = 32, steps_per_beat: int = 4) -> np.ndarray:
    """A listening-test clip from chorale beat frames (beats, 88 keys from MIDI 21): the keys
    ``low``..``high - 1`` (a bar model's keys), each beat repeated ``steps_per_beat`` times (every
    note at least a beat long), cut to ``steps``. Generated and real continuations go through it alike.
    Notebooks: 08."""
    frames = np.asarray(frames, dtype=np.float32)[:, low - LOWEST:high - LOWEST]
    return np.repeat(frames, steps_per_beat, axis=0)[:steps]


def glued_clips(bars, n: int, steps: int = 32) -> list:
    """``n`` clips of a bar model: bars 2i and 2i + 1 of ``bars`` (drawn independently) glued
    together, cut to ``steps``; ``piece_clips(glued=True)`` makes the real clips the same way.
    Notebooks: 08."""
    bars = np.asarray(bars, dtype=np.float32)
    if len(bars) < 2 * n:
        raise ValueError(f"{n} glued clips need {2 * n} bars, got {len(bars)}")
    return [np.concatenate(bars[2 * i:2 * i + 2])[:steps] for i in range(n)]

def piece_clips(bars, pieces, n: int, seed: int = 0, steps: int = 32, glued: bool = False) -> tuple[list, list]:
    """``n`` real clips of two bars, each cut to ``steps`` frames, from pieces drawn at random
    (seeded), no piece used twice: ``bars`` is a stack (e.g. ``bar_dataset``'s) and ``pieces`` the
    piece of each bar. By default a clip is two consecutive bars of one piece, from a random place
    in it (pieces with one bar are skipped); ``glued=True``: two bars of two different pieces, each
    a random bar of its piece, made as a bar model's clip of two independently drawn bars is made.
    Returns (clips, the pieces of each clip as a tuple); fewer pieces than needed raise ValueError.
    Notebooks: 08."""
    bars, pieces = np.asarray(bars), np.asarray(pieces)
    rng = np.random.default_rng(seed)
    rows = {p: np.flatnonzero(pieces == p) for p in np.unique(pieces)}
    usable = [p for p, r in rows.items() if glued or len(r) > 1]
    need = 2 * n if glued else n
    if len(usable) < need:
        raise ValueError(f"{need} distinct pieces needed, {len(usable)} available")
    chosen = [usable[i].item() for i in rng.permutation(len(usable))[:need]]   # plain ints or strings
    clips, used = [], []
    for c in range(n):
        if glued:
            group = tuple(chosen[2 * c:2 * c + 2])
            index = [rng.choice(rows[p]) for p in group]
        else:
            group = (chosen[c],)
            start = rng.integers(0, len(rows[chosen[c]]) - 1)
            index = rows[chosen[c]][start:start + 2]
        clips.append(np.concatenate([bars[i] for i in index]).astype(np.float32)[:steps])
        used.append(group)
    return clips, used


def clip_texture(clips, steps_per_beat: int = 4) -> dict:
    """What a set of clips (rolls (T, keys)) sounds like as texture and rhythm, pooled over the
    clips: "keys per step", the mean number of keys down where something sounds (1 = one line,
    about 4 = a four-part chorale), and "notes < beat", the share of notes shorter than a beat
    (a clip built from beat frames has none). A listener can hear both, whoever wrote the clip.
    Notebooks: 08."""
    clips = [as_binary(c) for c in clips]
    keys = np.concatenate([c.sum(axis=-1) for c in clips]) if clips else np.zeros(0)
    lengths = np.concatenate([note_runs(c)[1] for c in clips]) if clips else np.zeros(0)
    return {"keys per step": float(keys[keys > 0].mean()) if (keys > 0).any() else float("nan"),
            "notes < beat": float(np.mean(lengths < steps_per_beat)) if len(lengths) else float("nan")}


def scale_fit(y, sr: int = 22050) -> float:
    """How well a clip's sound fits one major scale: the share of its chroma energy (librosa's
    chroma_stft, averaged over time) inside the best of the 12 major scales; 0 for silence. The
    rule of 08's simulated listeners.
    Notebooks: 08."""
    import librosa
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, tuning=0.0).mean(axis=1)
    if chroma.sum() <= 0:
        return 0.0
    return float(max(chroma[np.roll(MAJOR_SCALE, r)].sum() for r in range(12)) / chroma.sum())


# ----------------------------------------------------------------------------- notebooks 10
def distinct_ngrams(token_lists, n: int = 4) -> float:
    """Diversity of a set of token lists (tunes): the share of distinct n-grams among all the
    n-grams of all the lists (n-grams do not cross from one list to the next). Repetitive samples
    score low; 0 when there is no n-gram at all."""
    grams = [tuple(t[i:i + n]) for t in token_lists for i in range(len(t) - n + 1)]
    return len(set(grams)) / max(1, len(grams))


def long_note_share(token_lists) -> float:
    """The share of notes written a quarter note or longer in folk-rnn tokens: a pitch token whose
    next token is a duration ("2", "3/2", "/2") of at least 2 units of L:1/8 (a pitch without a
    duration token lasts one eighth). nan when there is no note. Irish dance tunes run in eighths, German songs in quarters and halves.
    Notebooks: 10."""
    long = [flag for t in token_lists for flag in long_notes(t)]
    return float(np.mean(long)) if long else float("nan")


def long_notes(tokens) -> list:
    """One flag per note (pitch token) of one tune: True when it is written a quarter note or longer
    (what ``long_note_share`` counts)."""
    tokens = list(tokens)
    return [token_type(b) == "duration" and Fraction("1" + b if b.startswith("/") else b) >= 2
            for a, b in zip(tokens, tokens[1:] + [""]) if token_type(a) == "pitch"]


def attention_head_stats(maps, marked) -> dict:
    """Where attention heads look, from attention weights ``maps`` (..., T, T) whose rows
    (queries) sum to 1: "share", the mean over queries of the weight on the ``marked`` key
    positions (e.g. bar lines), and "look_back", the mean over queries of the expected distance
    back to the key read (0: a head that reads its own position). Both have shape ``maps.shape[:-2]``
    (e.g. layers x heads).
    Notebooks: 10."""
    maps = torch.as_tensor(maps)
    T = maps.shape[-1]
    distance = torch.arange(T)[:, None] - torch.arange(T)[None, :]
    return {"share": maps[..., list(marked)].sum(-1).mean(-1),
            "look_back": (maps * distance.clamp(min=0)).sum(-1).mean(-1)}


def quiet_share(y, sr: int = 22050, frame_seconds: float = 0.05, below_db: float = 40.0) -> float:
    """The share of a waveform's frames (``frame_seconds`` long, a partial last frame dropped) whose
    RMS lies more than ``below_db`` dB under the loudest frame's: how much of a clip a listener
    hears as near silence. 1.0 for an all-zero clip, nan for a clip shorter than one frame.
    Notebooks: 10."""
    y = np.asarray(y, dtype=float).reshape(-1)
    n = max(1, int(round(frame_seconds * sr)))
    if len(y) < n:
        return float("nan")
    rms = np.sqrt((y[: len(y) // n * n].reshape(-1, n) ** 2).mean(axis=1))
    if rms.max() <= 0:
        return 1.0
    return float(np.mean(rms < rms.max() * 10 ** (-below_db / 20)))
