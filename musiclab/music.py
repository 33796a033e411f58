"""Music representations: notes <-> PrettyMIDI <-> piano roll, and transposition.

A piece's notes are a float32 array of shape (N, 4) with columns [start, end, pitch, voice];
times are in quarter notes, pitch is a MIDI number (60 = middle C), voice is 0..3 for the
soprano, alto, tenor and bass of a chorale and 0 for a melody. Used by every notebook
(introduced in 00_music_as_data).
"""
import copy
import math
import numbers
import os

import numpy as np
import pretty_midi

from .checks import check_counts

__all__ = [
    "notes_to_midi", "midi_to_notes", "load_midi", "piano_roll", "roll_to_notes",
    "roll_to_midi", "key_shift", "transpose", "bars", "start_at_zero", "check_notes", "check_midi_number", "is_monophonic",
    "LOWEST", "HIGHEST", "MAX_QUARTERS", "MAX_ROLL_CELLS",
]

LOWEST, HIGHEST = 21, 109  # the 88 piano keys: A0 (21) up to C8 (108), high end exclusive
MAX_QUARTERS = 4096  # longest piece accepted, in quarter notes (~41 min at 100 bpm); the longest
                     # corpus piece (Essen) has 696, so this only stops typos like a 1e9-beat note
MAX_ROLL_CELLS = 10**8  # largest piano roll piano_roll makes, frames x keys (400 MB of float32): the
                        # longest corpus piece at 4 steps a quarter and 88 keys needs 0.25 million
FRAME_TOL = 0.01     # piano_roll compares times with frame starts to within 1/100 of a frame
PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def check_notes(notes) -> np.ndarray:
    """Return ``notes`` as a float32 (N, 4) array, or raise ValueError saying what is wrong:
    a wrong shape, nan or infinite values, negative times, notes that end before they start,
    pitches outside MIDI 0..127, or a piece longer than MAX_QUARTERS quarter notes."""
    notes = np.asarray(notes, dtype=np.float32)
    if notes.ndim != 2 or notes.shape[1] != 4:
        raise ValueError(f"notes must have shape (N, 4) [start, end, pitch, voice], got {notes.shape}")
    if not np.all(np.isfinite(notes)):
        raise ValueError("notes contain nan or infinite values (times, pitches or voices)")
    if len(notes) == 0:
        return notes
    if notes[:, 0].min() < 0:
        raise ValueError(f"notes: times must be >= 0, got a note starting at {notes[:, 0].min():g}")
    if np.any(notes[:, 1] < notes[:, 0]):
        raise ValueError("notes: some notes end before they start")
    if notes[:, 2].min() < 0 or notes[:, 2].max() > 127:
        raise ValueError(f"notes: pitches must be MIDI numbers 0..127, got "
                         f"{notes[:, 2].min():g}..{notes[:, 2].max():g}")
    if notes[:, 1].max() > MAX_QUARTERS:
        raise ValueError(f"notes: the piece lasts {notes[:, 1].max():g} quarter notes, more than "
                         f"MAX_QUARTERS = {MAX_QUARTERS}")
    return notes


def check_midi_number(name: str, value) -> int:
    """``value`` as an int, or ValueError naming ``name`` unless it is a whole number in MIDI's
    0..127 (a pitch, a velocity or a General MIDI program)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 127 or value % 1:
        raise ValueError(f"{name} must be a MIDI number 0..127, got {value!r}")
    return int(value)


def is_monophonic(notes, tol: float = 1e-3) -> bool:
    """True if no two notes sound at once (each starts at or after every earlier one ends,
    to within ``tol`` quarter notes): one melody. Chords or several voices give False."""
    notes = check_notes(notes)
    notes = notes[np.argsort(notes[:, 0], kind="stable")]
    latest_end = np.maximum.accumulate(notes[:-1, 1])  # when the notes so far have all ended
    return bool(np.all(notes[1:, 0] >= latest_end - tol))


def notes_to_midi(notes, programs=0, bpm: float = 100.0) -> pretty_midi.PrettyMIDI:
    """Notes in quarter notes -> PrettyMIDI at ``bpm``, one instrument per voice.

    ``programs`` is a General MIDI program (0..127) for every voice or a list with one per voice.
    Bad notes raise ValueError (see ``check_notes``), as do a program outside 0..127 and a bpm
    that is not positive.
    Notebooks: 00, 01, 02, 03, 08.
    """
    notes = check_notes(notes)
    if not 0 < bpm < np.inf:
        raise ValueError(f"bpm must be a positive number, got {bpm!r}")
    seconds_per_quarter = 60.0 / bpm
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    voices = sorted({int(v) for v in notes[:, 3]}) or [0]
    for voice in voices:
        program = programs[voice % len(programs)] if isinstance(programs, (list, tuple)) else programs
        inst = pretty_midi.Instrument(program=check_midi_number("program", program), name=f"voice {voice}")
        for start, end, pitch, _ in notes[notes[:, 3] == voice]:
            inst.notes.append(pretty_midi.Note(velocity=90, pitch=int(pitch),
                                               start=float(start) * seconds_per_quarter,
                                               end=float(end) * seconds_per_quarter))
        pm.instruments.append(inst)
    return pm


def midi_to_notes(pm: pretty_midi.PrettyMIDI, bpm: float | None = None) -> np.ndarray:
    """PrettyMIDI -> notes (N, 4) in quarter notes; voice = instrument index (drums skipped).

    ``bpm`` defaults to the file's first tempo.
    Notebooks: 00.
    """
    if bpm is None:
        _, tempi = pm.get_tempo_changes()
        bpm = float(tempi[0]) if len(tempi) else 120.0
    quarters_per_second = bpm / 60.0
    rows = [(n.start * quarters_per_second, n.end * quarters_per_second, n.pitch, voice)
            for voice, inst in enumerate(i for i in pm.instruments if not i.is_drum)
            for n in inst.notes]
    notes = np.array(rows, dtype=np.float32).reshape(-1, 4)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


def load_midi(path) -> pretty_midi.PrettyMIDI:
    """Read a MIDI file; a missing or corrupt file raises ValueError naming it."""
    if not os.path.exists(path):
        raise ValueError(f"MIDI file not found: {path}")
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as err:  # mido raises many kinds of errors on bad bytes
        raise ValueError(f"{path} is not a readable MIDI file ({type(err).__name__}: {err})") from err


def frame_span(start: float, end: float, steps_per_quarter: int) -> tuple[int, int]:
    """Frames ``first .. stop-1`` whose start time ``t / steps_per_quarter`` lies in [start, end),
    comparing to within FRAME_TOL of a frame (float32 times). ``first == stop`` for a note too
    short to reach any frame start."""
    first = math.ceil(float(start) * steps_per_quarter - FRAME_TOL)
    stop = math.ceil(float(end) * steps_per_quarter - FRAME_TOL)
    return first, max(stop, first)


def piano_roll(notes, steps_per_quarter: int = 4, low: int = LOWEST, high: int = HIGHEST,
               monophonic: bool | None = None) -> np.ndarray:
    """Notes -> binary piano roll of shape (T, high - low), ``steps_per_quarter`` frames a beat.

    The rule (a sampled roll): frame t is on for a key when a note on that key sounds at the
    frame's start time, ``start <= t / steps_per_quarter < end`` (see ``frame_span``). Notes on
    the grid therefore cover frames start*spq .. end*spq - 1. A note that sounds at no frame
    start (shorter than a frame and off the grid: a 32nd at 16th-note frames, some triplet
    16ths, a grace note) gets the one frame it starts in, ``floor(start * spq)`` -- except with
    ``monophonic=True``, where it is dropped if that frame already holds a note (or an earlier
    short note), so a melody never turns into chords.
    ``monophonic=None`` (default) means ``is_monophonic(notes)``: True for one melody, False
    for chords or several voices (chorales keep every short note, as before).
    T = the last frame any note covers + 1 (ceil(last end * spq) when the piece ends on the grid).
    Valid pitches outside [low, high) are left out of the roll (they still count for T).
    ``steps_per_quarter`` is a positive integer, 0 <= low < high <= 128, and a roll of more than
    MAX_ROLL_CELLS cells (T x keys) raises ValueError before anything is allocated.
    Notebooks: 00, 01, 04, 05.
    """
    notes = check_notes(notes)
    check_counts(steps_per_quarter=steps_per_quarter)
    if not 0 <= low < high <= 128:
        raise ValueError(f"need MIDI keys 0 <= low < high <= 128, got low={low!r}, high={high!r}")
    if monophonic is None:
        monophonic = is_monophonic(notes)
    spans = []  # (first frame, stop frame, column, is it a short note?), in time order
    for start, end, pitch, _ in notes[np.argsort(notes[:, 0], kind="stable")]:
        first, stop = frame_span(start, end, steps_per_quarter)
        short = first == stop
        if short:  # it sounds at no frame start: it gets the frame it starts in
            first = math.floor(float(start) * steps_per_quarter + FRAME_TOL)
            stop = first + 1
        spans.append((first, stop, int(pitch) - low, short))
    frames = max((stop for _, stop, _, _ in spans), default=0)
    if frames * (high - low) > MAX_ROLL_CELLS:
        raise ValueError(f"piano_roll would need {frames:,} frames x {high - low} keys = {frames * (high - low):,} "
                         f"cells, more than MAX_ROLL_CELLS = {MAX_ROLL_CELLS:,} (lower steps_per_quarter)")
    roll = np.zeros((frames, high - low), dtype=np.float32)
    keep = [(first, stop, col, short) for first, stop, col, short in spans if 0 <= col < high - low]
    for first, stop, col, short in keep:
        if not short:
            roll[first:stop, col] = 1.0
    for first, _, col, short in keep:  # short notes last, so they can see what is taken
        if short and not (monophonic and roll[first].any()):
            roll[first, col] = 1.0
    return roll


def roll_to_notes(roll, steps_per_quarter: int = 4, low: int = LOWEST) -> np.ndarray:
    """Binary piano roll (T, P) -> notes (N, 4): each run of on-frames is one note (voice 0).
    ``steps_per_quarter`` is a positive integer.
    Notebooks: 00."""
    check_counts(steps_per_quarter=steps_per_quarter)
    roll = np.asarray(roll)
    if roll.ndim != 2:
        raise ValueError(f"a piano roll must be 2-D (time, pitch), got shape {roll.shape}")
    on = np.pad(roll > 0.5, ((1, 1), (0, 0))).astype(np.int8)
    change = np.diff(on, axis=0)
    rows = []
    for key in range(roll.shape[1]):
        starts = np.flatnonzero(change[:, key] == 1)
        ends = np.flatnonzero(change[:, key] == -1)
        rows += [(s / steps_per_quarter, e / steps_per_quarter, key + low, 0) for s, e in zip(starts, ends)]
    notes = np.array(rows, dtype=np.float32).reshape(-1, 4)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


def roll_to_midi(roll, steps_per_quarter: int = 4, low: int = LOWEST, program: int = 0,
                 bpm: float = 100.0) -> pretty_midi.PrettyMIDI:
    """Binary piano roll -> PrettyMIDI (one instrument) ready to render or save.
    Notebooks: 00."""
    return notes_to_midi(roll_to_notes(roll, steps_per_quarter, low), programs=program, bpm=bpm)


def key_shift(key: str, minor_to: str = "A") -> int:
    """Semitones (in -6..5, the smaller move; a tonic a tritone away goes down 6) that move ``key``
    ("G major", "F# minor", "B- minor") to C major,
    or to ``minor_to`` minor (A minor by default; "C" for the Boulanger-Lewandowski chorale protocol).
    Notebooks: 00.
    """
    parts = key.split()
    if len(parts) != 2 or parts[1] not in ("major", "minor") or parts[0][:1].upper() not in PITCH_CLASSES:
        raise ValueError(f"key must look like 'G major' or 'E minor', got {key!r}")
    tonic = PITCH_CLASSES[parts[0][0].upper()]
    tonic += parts[0][1:].count("#") - parts[0][1:].count("-") - parts[0][1:].count("b")
    target = 0 if parts[1] == "major" else PITCH_CLASSES[minor_to.upper()]
    return (target - tonic + 6) % 12 - 6


def transpose(notes, semitones: int) -> np.ndarray:
    """Shift every pitch by ``semitones`` (an integer); ValueError if a pitch would leave MIDI's 0..127.
    Notebooks: 00."""
    notes = check_notes(notes).copy()
    if isinstance(semitones, bool) or not isinstance(semitones, numbers.Integral):
        raise ValueError(f"semitones must be an integer, got {semitones!r}")
    notes[:, 2] += semitones
    if len(notes) and not 0 <= notes[:, 2].min() <= notes[:, 2].max() <= 127:
        raise ValueError(f"transpose by {semitones} semitones gives pitches {notes[:, 2].min():g}.."
                         f"{notes[:, 2].max():g}; pitches must stay in MIDI's 0..127")
    return notes


def start_at_zero(x):
    """Notes (N, 4) [start, end, pitch, voice], or a copy of a ``Piece`` (anything with ``.notes``),
    shifted in time so that the first note starts at 0. A corpus piece counts time from its first
    downbeat, so a pickup sits at the end of an empty first bar: rendered as it is, a tune would
    open with up to a bar of silence.
    Notebooks: 04."""
    if hasattr(x, "notes"):
        shifted = copy.copy(x)
        shifted.notes = start_at_zero(x.notes)
        return shifted
    notes = check_notes(x).copy()
    if len(notes):
        notes[:, :2] -= notes[:, 0].min()
    return notes


def bars(roll, steps_per_bar: int) -> np.ndarray:
    """Cut a piano roll (T, P) into whole bars: (n_bars, steps_per_bar, P); a partial last bar is dropped.
    ``steps_per_bar`` is a positive integer."""
    check_counts(steps_per_bar=steps_per_bar)
    roll = np.asarray(roll)
    n_bars = len(roll) // steps_per_bar
    return roll[: n_bars * steps_per_bar].reshape(n_bars, steps_per_bar, roll.shape[1])
