"""Music representations: notes <-> PrettyMIDI <-> piano roll, and transposition.

A piece's notes are a float32 array of shape (N, 4) with columns [start, end, pitch, voice];
times are in quarter notes, pitch is a MIDI number (60 = middle C), voice is 0..3 for the
soprano, alto, tenor and bass of a chorale and 0 for a melody. Used by every notebook
(introduced in 00_music_as_data).
"""
import os

import numpy as np
import pretty_midi

__all__ = [
    "notes_to_midi", "midi_to_notes", "load_midi", "piano_roll", "roll_to_notes",
    "roll_to_midi", "key_shift", "transpose", "bars", "LOWEST", "HIGHEST",
]

LOWEST, HIGHEST = 21, 109  # the 88 piano keys: A0 (21) up to C8 (108), high end exclusive
PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def check_notes(notes) -> np.ndarray:
    """Return ``notes`` as a float32 (N, 4) array, or raise ValueError saying what is wrong."""
    notes = np.asarray(notes, dtype=np.float32)
    if notes.ndim != 2 or notes.shape[1] != 4:
        raise ValueError(f"notes must have shape (N, 4) [start, end, pitch, voice], got {notes.shape}")
    if len(notes) and np.any(notes[:, 1] < notes[:, 0]):
        raise ValueError("notes: some notes end before they start")
    return notes


def notes_to_midi(notes, programs=0, bpm: float = 100.0) -> pretty_midi.PrettyMIDI:
    """Notes in quarter notes -> PrettyMIDI at ``bpm``, one instrument per voice.

    ``programs`` is a General MIDI program for every voice or a list with one per voice.
    """
    notes = check_notes(notes)
    seconds_per_quarter = 60.0 / bpm
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    voices = sorted({int(v) for v in notes[:, 3]}) or [0]
    for voice in voices:
        program = programs[voice % len(programs)] if isinstance(programs, (list, tuple)) else programs
        inst = pretty_midi.Instrument(program=int(program), name=f"voice {voice}")
        for start, end, pitch, _ in notes[notes[:, 3] == voice]:
            inst.notes.append(pretty_midi.Note(velocity=90, pitch=int(pitch),
                                               start=float(start) * seconds_per_quarter,
                                               end=float(end) * seconds_per_quarter))
        pm.instruments.append(inst)
    return pm


def midi_to_notes(pm: pretty_midi.PrettyMIDI, bpm: float | None = None) -> np.ndarray:
    """PrettyMIDI -> notes (N, 4) in quarter notes; voice = instrument index (drums skipped).

    ``bpm`` defaults to the file's first tempo.
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


def piano_roll(notes, steps_per_quarter: int = 4, low: int = LOWEST, high: int = HIGHEST) -> np.ndarray:
    """Notes -> binary piano roll of shape (T, high - low), ``steps_per_quarter`` frames a beat.

    A frame is on for a key while a note on that key sounds during the frame's start
    (notes shorter than a frame still get one frame). Pitches outside [low, high) are dropped.
    """
    notes = check_notes(notes)
    n_steps = int(np.ceil(notes[:, 1].max() * steps_per_quarter)) if len(notes) else 0
    roll = np.zeros((n_steps, high - low), dtype=np.float32)
    for start, end, pitch, _ in notes:
        if low <= pitch < high:
            a = int(round(start * steps_per_quarter))
            b = max(int(round(end * steps_per_quarter)), a + 1)
            roll[a:b, int(pitch) - low] = 1.0
    return roll


def roll_to_notes(roll, steps_per_quarter: int = 4, low: int = LOWEST) -> np.ndarray:
    """Binary piano roll (T, P) -> notes (N, 4): each run of on-frames is one note (voice 0)."""
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
    """Binary piano roll -> PrettyMIDI (one instrument) ready to render or save."""
    return notes_to_midi(roll_to_notes(roll, steps_per_quarter, low), programs=program, bpm=bpm)


def key_shift(key: str, minor_to: str = "A") -> int:
    """Semitones (in -5..6) that move ``key`` ("G major", "F# minor", "B- minor") to C major,
    or to ``minor_to`` minor (A minor by default; "C" for the Boulanger-Lewandowski chorale protocol).
    """
    parts = key.split()
    if len(parts) != 2 or parts[1] not in ("major", "minor") or parts[0][:1].upper() not in PITCH_CLASSES:
        raise ValueError(f"key must look like 'G major' or 'E minor', got {key!r}")
    tonic = PITCH_CLASSES[parts[0][0].upper()]
    tonic += parts[0][1:].count("#") - parts[0][1:].count("-") - parts[0][1:].count("b")
    target = 0 if parts[1] == "major" else PITCH_CLASSES[minor_to.upper()]
    return (target - tonic + 6) % 12 - 6


def transpose(notes, semitones: int) -> np.ndarray:
    """Shift every pitch by ``semitones``."""
    notes = check_notes(notes).copy()
    notes[:, 2] += semitones
    return notes


def bars(roll, steps_per_bar: int) -> np.ndarray:
    """Cut a piano roll (T, P) into whole bars: (n_bars, steps_per_bar, P); a partial last bar is dropped."""
    roll = np.asarray(roll)
    n_bars = len(roll) // steps_per_bar
    return roll[: n_bars * steps_per_bar].reshape(n_bars, steps_per_bar, roll.shape[1])
