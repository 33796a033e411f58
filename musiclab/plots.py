"""Pictures of music and training: piano rolls, spectrograms, loss curves.

Each function takes an optional matplotlib ``ax`` and returns the Figure. Used by every notebook.
"""
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_piano_roll", "plot_spectrogram", "plot_losses"]

NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def plot_piano_roll(roll, ax=None, steps_per_quarter: int = 4, low: int = 21, title: str = "",
                    crop: bool = True):
    """Draw a piano roll (time, pitch): time in beats across, pitch up, C's labelled.

    ``crop`` zooms onto the pitch range actually used. Float rolls (probabilities) are shown as grey levels.
    """
    roll = np.asarray(roll, dtype=np.float32)
    if roll.ndim != 2:
        raise ValueError(f"a piano roll must be 2-D (time, pitch), got shape {roll.shape}")
    fig, ax = _axes(ax, (10, 3))
    used = np.flatnonzero(roll.max(axis=0) > 0)
    lo, hi = (used.min(), used.max() + 1) if crop and len(used) else (0, roll.shape[1])
    lo, hi = max(lo - 2, 0), min(hi + 2, roll.shape[1])
    ax.imshow(roll[:, lo:hi].T, origin="lower", aspect="auto", cmap="gray_r", vmin=0, vmax=1,
              interpolation="nearest", extent=(0, len(roll) / steps_per_quarter, low + lo - 0.5, low + hi - 0.5))
    cs = [p for p in range(low + lo, low + hi) if p % 12 == 0]
    ax.set_yticks(cs, [f"C{p // 12 - 1}" for p in cs])
    ax.set_xlabel("beats (quarter notes)")
    ax.set_ylabel("pitch")
    ax.set_title(title)
    return fig


def plot_spectrogram(S_db, sr: int = 22050, hop_length: int = 256, ax=None, title: str = ""):
    """Draw a log-mel spectrogram (mels, frames) in dB against time in seconds."""
    S_db = np.asarray(S_db)
    fig, ax = _axes(ax, (10, 3))
    image = ax.imshow(S_db, origin="lower", aspect="auto", cmap="magma",
                      extent=(0, S_db.shape[1] * hop_length / sr, 0, S_db.shape[0]))
    fig.colorbar(image, ax=ax, label="dB")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    ax.set_title(title)
    return fig


def plot_losses(history: dict, ax=None, title: str = "loss", logy: bool = False):
    """Draw loss curves: ``history`` maps a name ("train", "val", ...) to a list of values per epoch/step."""
    fig, ax = _axes(ax, (6, 3.5))
    for name, values in history.items():
        if len(values):
            ax.plot(np.arange(1, len(values) + 1), values, label=name, marker="." if len(values) < 50 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.set_title(title)
    return fig
