"""Audio: turn any musical object into a waveform, log-mel spectrograms and their inversion.

Used by 00_music_as_data (listening, spectrograms) and 02_dic_training (log-mel frames and
Griffin-Lim reconstructions; Griffin & Lim 1984).
"""
import numpy as np
import librosa

from .corpora import Piece, parse_abc
from .music import notes_to_midi, roll_to_midi
from .synth import render_midi

__all__ = ["SR", "logmel", "logmel_to_audio", "to_audio"]

SR = 22050  # samples per second used throughout the course


def logmel(y, sr: int = SR, n_mels: int = 64, n_fft: int = 1024, hop_length: int = 256) -> np.ndarray:
    """Log-mel spectrogram in dB (power, ref 1.0, floor -80 dB): shape (n_mels, frames).
    Notebooks: 00, 01, 02."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"logmel needs a non-empty mono waveform, got shape {y.shape}")
    power = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    return librosa.power_to_db(power, ref=1.0, amin=1e-8, top_db=None).clip(min=-80.0).astype(np.float32)


def logmel_to_audio(S_db, sr: int = SR, n_fft: int = 1024, hop_length: int = 256, n_iter: int = 32) -> np.ndarray:
    """Invert a log-mel spectrogram (dB) to audio: mel -> linear magnitude -> Griffin-Lim phase
    (Griffin & Lim 1984), started from seeded random phases so that a run repeats itself.
    Notebooks: 00, 02."""
    S_db = np.asarray(S_db, dtype=np.float32)
    if S_db.ndim != 2:
        raise ValueError(f"a log-mel spectrogram must be 2-D (mels, frames), got shape {S_db.shape}")
    power = librosa.db_to_power(S_db)
    magnitude = librosa.feature.inverse.mel_to_stft(power, sr=sr, n_fft=n_fft)
    y = librosa.griffinlim(magnitude, n_iter=n_iter, hop_length=hop_length, random_state=0)
    peak = np.abs(y).max()
    return (y * (0.9 / peak) if peak > 0.9 else y).astype(np.float32)


def to_audio(x, sr: int = SR, program: int = 0, steps_per_quarter: int = 4, low: int = 21,
             bpm: float = 100.0) -> np.ndarray:
    """A waveform for anything musical: a 1-D waveform (returned as is), a PrettyMIDI, a 2-D piano
    roll (time, pitch), a ``Piece`` or ABC tune text, rendered with the soundfont synth.
    Notes with nan, negative or infinite times, pitches outside 0..127 or more than
    ``MAX_QUARTERS`` quarter notes (``MAX_SECONDS`` for a PrettyMIDI) raise ValueError, as does ABC
    text longer than ``MAX_ABC_CHARS`` (refused before music21 parses it: ``parse_abc``).
    Notebooks: 01, 04, 05, 07, 08, 10, 11."""
    import pretty_midi

    if isinstance(x, str):
        x = parse_abc(x)
    if isinstance(x, Piece):
        x = notes_to_midi(x.notes, programs=program, bpm=bpm)
    if isinstance(x, pretty_midi.PrettyMIDI):
        return render_midi(x, sr=sr)
    x = np.asarray(x)
    if x.ndim == 1:
        return x.astype(np.float32)
    if x.ndim == 2:
        return render_midi(roll_to_midi(x, steps_per_quarter, low, program, bpm), sr=sr)
    raise ValueError(f"cannot make audio from an array of shape {x.shape}: "
                     "expected a waveform (1-D) or a piano roll (2-D)")
