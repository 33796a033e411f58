"""Pictures of music and training: piano rolls, spectrograms, loss curves.

Each function takes an optional matplotlib ``ax`` and returns the Figure. Used by every notebook.
"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

__all__ = ["plot_piano_roll", "plot_spectrogram", "moving_average", "plot_losses", "plot_gpt_history"]

NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def plot_piano_roll(roll, ax=None, steps_per_quarter: int = 4, low: int = 21, title: str = "",
                    crop: bool = True, pitch_range=None):
    """Draw a piano roll (time, pitch): time in beats across, pitch up, C's labelled.

    ``crop`` zooms onto the pitch range actually used; ``pitch_range=(lo, hi)`` shows exactly
    MIDI lo..hi-1 instead (the same range for panels you compare, with their C's labelled).
    Float rolls (probabilities) are shown as grey levels.
    """
    roll = np.asarray(roll, dtype=np.float32)
    if roll.ndim != 2:
        raise ValueError(f"a piano roll must be 2-D (time, pitch), got shape {roll.shape}")
    fig, ax = _axes(ax, (10, 3))
    used = np.flatnonzero(roll.max(axis=0) > 0)
    lo, hi = (used.min(), used.max() + 1) if crop and len(used) else (0, roll.shape[1])
    lo, hi = max(lo - 2, 0), min(hi + 2, roll.shape[1])
    if pitch_range is not None:
        lo, hi = max(int(pitch_range[0]) - low, 0), min(int(pitch_range[1]) - low, roll.shape[1])
        if hi <= lo:
            raise ValueError(f"pitch_range {pitch_range} lies outside the roll's MIDI {low}..{low + roll.shape[1] - 1}")
    ax.imshow(roll[:, lo:hi].T, origin="lower", aspect="auto", cmap="gray_r", vmin=0, vmax=1,
              interpolation="nearest", extent=(0, len(roll) / steps_per_quarter, low + lo - 0.5, low + hi - 0.5))
    cs = [p for p in range(low + lo, low + hi) if p % 12 == 0]
    ax.set_yticks(cs, [f"C{p // 12 - 1}" for p in cs])
    ax.set_xlabel("beats (quarter notes)")
    ax.set_ylabel("pitch")
    ax.set_title(title)
    return fig


def plot_spectrogram(S_db, sr: int = 22050, hop_length: int = 256, ax=None, title: str = "",
                     hz: bool = False, vmin=None, vmax=None):
    """Draw a log-mel spectrogram (mels, frames) in dB against time in seconds.

    ``hz=True`` labels the mel axis with the centre frequencies of the bands in Hz (librosa's
    mel bands from 0 to sr/2); ``vmin``/``vmax`` fix the colour scale in dB, so that panels you
    compare share one."""
    S_db = np.asarray(S_db)
    fig, ax = _axes(ax, (10, 3))
    image = ax.imshow(S_db, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                      extent=(0, S_db.shape[1] * hop_length / sr, 0, S_db.shape[0]))
    fig.colorbar(image, ax=ax, label="dB")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    if hz:
        import librosa
        centres = librosa.mel_frequencies(S_db.shape[0] + 2, fmin=0.0, fmax=sr / 2)[1:-1]
        ticks = [f for f in (250, 500, 1000, 2000, 4000, 8000) if centres[0] <= f <= centres[-1]]
        ax.set_yticks(np.interp(ticks, centres, np.arange(S_db.shape[0]) + 0.5),
                      [f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
        ax.set_ylabel("frequency (Hz)")
    ax.set_title(title)
    return fig


def moving_average(values, width: int) -> np.ndarray:
    """The mean of every ``width`` consecutive values (``len(values) - width + 1`` of them): a
    noisy per-step loss made readable. Notebooks: 07, 10."""
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be an integer >= 1, got {width!r}")
    return np.convolve(np.asarray(values, dtype=float), np.ones(width) / width, mode="valid")


def plot_losses(history: dict, ax=None, title: str = "loss", logy: bool = False, smooth: int = 1):
    """Draw loss curves: ``history`` maps a name ("train", "val", ...) to a list of values per
    epoch/step (integer ticks); ``ml.fit``'s "best_epoch" is drawn as a dotted line. With
    ``smooth`` > 1 each curve is its :func:`moving_average` over that many steps, drawn at the
    step that ends each window. Notebooks: 02, 04, 05, 07."""
    fig, ax = _axes(ax, (6, 3.5))
    for name, values in history.items():
        if np.ndim(values) == 1 and len(values):  # skip scalars such as ml.fit's "best_epoch"
            values = moving_average(values, smooth) if smooth > 1 else values
            ax.plot(np.arange(smooth, smooth + len(values)), values, label=name,
                    marker="." if len(values) < 50 else None)
    if history.get("best_epoch") is not None:
        ax.axvline(history["best_epoch"], color="0.5", ls=":", label=f"best epoch ({history['best_epoch']})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch" if smooth == 1 else f"training step (moving average of {smooth})")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.set_title(title)
    return fig


def plot_gpt_history(history: dict, ax=None, title: str = "", smooth: int = 20):
    """Draw a ``train_gpt`` history: the training loss of each step as its :func:`moving_average`
    over ``smooth`` steps, the validation loss where it was measured (``val_step``).
    Notebooks: 10, 11."""
    fig, ax = _axes(ax, (7, 3.5))
    smooth = max(1, min(smooth, len(history["train"])))
    ax.plot(np.asarray(history["step"])[smooth - 1:], moving_average(history["train"], smooth),
            label=f"training (mean of {smooth} steps)")
    if history["val"]:
        ax.plot(history["val_step"], history["val"], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("NLL per token (nats)")
    ax.legend()
    ax.set_title(title)
    return fig


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
