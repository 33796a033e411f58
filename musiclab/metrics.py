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
import numpy as np

__all__ = [
    "as_binary", "as_bars", "note_runs", "empty_bar_rate", "empty_beat_rate", "used_pitch_classes",
    "qualified_note_rate",
    "pitch_class_histogram", "pitch_class_entropy", "scale_consistency", "polyphony", "polyphony_rate",
    "groove_consistency", "tonal_centroid", "tonal_distance", "MAJOR_SCALE", "MINOR_SCALE",
    "bar_metrics", "voice_pairs", "voice_motion", "parallel_perfect_rate",
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
    of steps of every run of consecutive on-frames (each bar read on its own)."""
    x = as_binary(x)
    x = x[None] if x.ndim == 2 else x
    padded = np.pad(x, ((0, 0), (1, 1), (0, 0))).astype(np.int8)
    change = np.diff(padded, axis=1)  # +1 at an onset, -1 just after an offset
    # transpose to (bar, key, time) so that onsets and offsets of one key come out in time order
    bar_on, key_on, t_on = np.nonzero(change.transpose(0, 2, 1) == 1)
    _, _, t_off = np.nonzero(change.transpose(0, 2, 1) == -1)
    return key_on, t_off - t_on


def empty_bar_rate(x, steps_per_bar: int = 16) -> float:
    """MuseGAN's EB: fraction of bars with no note at all (nan without bars)."""
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
    (empty bars count as 0, as in the paper; nan without bars)."""
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
    (0 for one pitch class, log2(12) ~ 3.585 for all twelve equally often; nan without notes)."""
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
    """
    p = pitch_class_histogram(x, low, by="notes")
    if np.isnan(p).any():
        return float("nan")
    scales = [np.roll(scale, root) for scale in (MAJOR_SCALE, MINOR_SCALE) for root in range(12)]
    return float(max(p[scale].sum() for scale in scales))


def polyphony(x) -> float:
    """MusPy's polyphony: mean number of keys on, over the frames where at least one key is on
    (1 for a melody; nan when every frame is silent)."""
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
    hold; a model that puts down unrelated chords leaps. Notebook 11."""
    moves = [np.abs(b - a) for a, b in voice_pairs(x)]
    return float(np.concatenate(moves).mean()) if moves else float("nan")


def parallel_perfect_rate(x) -> float:
    """The share of ``voice_pairs`` with parallel fifths or octaves: two voices a perfect fifth or
    octave (or unison) apart, modulo the octave, that both move in the same direction and stay that
    interval apart, which four-part writing avoids (nan without pairs). Notebook 11."""
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
    the bars that hold a note (one bar is what a bar model makes; nan when none does); polyphony."""
    b = as_bars(bars)
    sounding = [x for x in b if x.any()]
    per_bar = lambda f: float(np.mean([f(x, low=low) for x in sounding])) if sounding else float("nan")
    return {"EB": empty_bar_rate(b), "UPC": used_pitch_classes(b, low=low), "QN": qualified_note_rate(b),
            "H (bits)": per_bar(pitch_class_entropy), "SC": per_bar(scale_consistency), "polyphony": polyphony(b)}


# ----------------------------------------------------------------------------- notebooks 00-02
__all__ += []


# ----------------------------------------------------------------------------- notebooks 03-05
__all__ += []


# ----------------------------------------------------------------------------- notebooks 06-08
__all__ += []


# ----------------------------------------------------------------------------- notebooks 09 and 11
__all__ += []


# ----------------------------------------------------------------------------- notebooks 10
__all__ += []
