"""Listening widgets: a player for anything musical and a side-by-side player table.

Plain ipywidgets (``widgets.Audio`` holding WAV bytes), so they work in JupyterLab, Jupyter
Notebook and Colab without custom JavaScript. Each player also carries a static form, an HTML5
``<audio>`` element holding the clip as MP3 (``audio_html``), which a page without a kernel shows
instead: the course's book (``python -m musiclab.book``), and ``jupyter nbconvert --to html`` of a
notebook saved without widget state (JupyterLab's default; with the state saved, nbconvert prefers
the widget, which needs JavaScript from the network). Used by every notebook that makes sound.
"""
import base64
import html
import io
import wave

import ipywidgets as widgets
import numpy as np
import pretty_midi

import soundfile

from .audio import SR, to_audio
from .synth import RELEASE_TAIL

__all__ = ["check_waveform", "stereo_to_mono", "wav_bytes", "mp3_bytes", "player_label", "audio_html", "normalize", "clip_report",
           "player", "player_table", "leading_silence", "Player", "PlayerRow"]


def check_waveform(y) -> np.ndarray:
    """A waveform as float32, or ValueError if it holds nan or inf samples
    (a diverged model's output must not play as noise or silence)."""
    y = np.asarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise ValueError(f"the waveform has {bad} nan or infinite samples out of {y.size}")
    return y


def stereo_to_mono(x):
    """A stereo waveform mixed down to mono (the mean of its channels); anything else unchanged.

    Stereo means a 2-D array of shape (N, 2) or (2, N) with a negative sample: a piano roll is
    never negative (0/1 or probabilities). Stereo silence therefore plays as a (silent) roll.
    """
    if getattr(x, "ndim", None) != 2 or 2 not in x.shape or not (np.asarray(x) < 0).any():
        return x
    y = np.asarray(x, dtype=np.float32)
    return y.mean(axis=1 if y.shape[1] == 2 else 0)


def wav_bytes(y, sr: int = SR) -> bytes:
    """A mono float waveform in [-1, 1] as 16-bit PCM WAV file bytes (clipping at +-1)."""
    y = check_waveform(y)
    if y.ndim != 1:
        raise ValueError(f"wav_bytes needs a mono waveform (1-D), got shape {y.shape}")
    pcm = (np.clip(y, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sr)
        f.writeframes(pcm.tobytes())
    return buffer.getvalue()


def mp3_bytes(y, sr: int = SR) -> bytes:
    """A mono float waveform in [-1, 1] as MP3 file bytes (libsndfile's MPEG layer III through
    ``soundfile``): about a tenth of the WAV, and every browser plays it."""
    y = check_waveform(y)
    if y.ndim != 1:
        raise ValueError(f"mp3_bytes needs a mono waveform (1-D), got shape {y.shape}")
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(y, -1.0, 1.0), sr, format="MP3", subtype="MPEG_LAYER_III")
    return buffer.getvalue()


def player_label(title: str, seconds: float) -> str:
    """A player's title (escaped) and length, as HTML: the widget's and the static form's."""
    return f"<b>{html.escape(title)}</b> <small>({seconds:.1f} s)</small>" if title else f"<small>{seconds:.1f} s</small>"


def audio_html(y, title: str = "", sr: int = SR) -> str:
    """The static form of a player: its title and length, and an HTML5 ``<audio>`` element with the
    clip embedded as MP3 (a data URL), which plays without a kernel, JavaScript or network."""
    label = player_label(title, len(check_waveform(y)) / sr)
    src = "data:audio/mpeg;base64," + base64.b64encode(mp3_bytes(y, sr)).decode("ascii")
    return f'<div class="musiclab-player">{label}<br><audio controls preload="metadata" src="{src}"></audio></div>'



class Player(widgets.VBox):
    """A player widget (its title, then ``widgets.Audio``) that also gives its static form
    (``audio_html``) as ``text/html``: a live kernel's front end shows the widget, a page without
    one (the book, an HTML export without widget state) the ``<audio>`` element."""

    def __init__(self, children, static_html: str):
        super().__init__(children)
        self.static_html = static_html

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        return {**bundle, "text/html": self.static_html}


class PlayerRow(widgets.HBox):
    """Players side by side (``player_table``), with their static forms side by side as ``text/html``."""

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        cells = "".join(f'<div style="margin-right:1em">{p.static_html}</div>' for p in self.children)
        return {**bundle, "text/html": f'<div style="display:flex;flex-wrap:wrap">{cells}</div>'}


def normalize(y, peak: float = 0.9) -> np.ndarray:
    """Scale a waveform so its loudest sample is ``peak`` (silence stays silent).
    Notebooks: 02."""
    y = check_waveform(y)
    top = np.abs(y).max() if len(y) else 0.0
    return y * (peak / top) if top > 0 else y


def leading_silence(y, sr: int = SR, threshold: float = 0.01) -> float:
    """Seconds before a waveform first reaches ``threshold`` times its peak (all of it when silent):
    the wait a listener has before the first note sounds.
    Notebooks: 04."""
    y = np.abs(check_waveform(stereo_to_mono(y)))
    top = y.max() if len(y) else 0.0
    if top == 0:
        return len(y) / sr
    return float(np.argmax(y >= threshold * top)) / sr


def clip_report(y, title: str = "", sr: int = SR, expected_seconds=None, peak: float = 0.9) -> str:
    """Check a clip by proxy before it plays and say how it will play: not silent (RMS above
    1e-3), between 0.5 s and 10 minutes long, and, when ``expected_seconds`` is given (a MIDI end
    time plus ``RELEASE_TAIL``), that length to within 10 ms. AssertionError naming the clip
    otherwise. Returns one line: length, RMS, peak, and the gain the player applies to bring the
    peak to ``peak`` (None: played as is; every player is loudness-normalised, so loudness differences are not heard)."""
    y = check_waveform(stereo_to_mono(y))
    seconds = len(y) / sr
    rms = float(np.sqrt(np.mean(y ** 2))) if len(y) else 0.0
    top = float(np.abs(y).max()) if len(y) else 0.0
    if not rms > 1e-3:
        raise AssertionError(f"{title or 'clip'}: silent (RMS {rms:.2g})")
    if not 0.5 <= seconds <= 600:
        raise AssertionError(f"{title or 'clip'}: {seconds:.2f} s long")
    if expected_seconds is not None and abs(seconds - expected_seconds) > 0.01:
        raise AssertionError(f"{title or 'clip'}: {seconds:.2f} s, expected {expected_seconds:.2f} s")
    played = f"played at peak {peak} (gain x{peak / top:.1f})" if peak else "played as is"
    return f"{title or 'clip'}: {seconds:.1f} s, RMS {rms:.3f}, peak {top:.2f}, {played}"


def player(x, title: str = "", sr: int = SR, loudness_normalize: bool = True, check: bool = False,
           **render_options) -> Player:
    """A titled audio player for a waveform, PrettyMIDI, piano roll, ``Piece`` or ABC text.

    ``render_options`` (program, steps_per_quarter, low, bpm) go to ``musiclab.to_audio``; the
    sound is scaled to a 0.9 peak unless ``loudness_normalize=False`` (soundfont pianos are quiet).
    A stereo waveform, (N, 2) or (2, N), is mixed down to mono (``stereo_to_mono``); a waveform
    with nan or inf samples raises ValueError. ``check=True`` first runs ``clip_report`` on the
    rendered clip (before normalising; a PrettyMIDI must last its end time plus ``RELEASE_TAIL``)
    and prints its line. A ``Player``: a widget in a live kernel, an ``<audio>`` element in the book.
    Notebooks: 00, 01, 02, 04, 07, 10.
    """
    y = to_audio(stereo_to_mono(x), sr=sr, **render_options)
    if check:
        expected = x.get_end_time() + RELEASE_TAIL if isinstance(x, pretty_midi.PrettyMIDI) else None
        print(clip_report(y, title, sr=sr, expected_seconds=expected, peak=0.9 if loudness_normalize else None))
    if loudness_normalize:
        y = normalize(y)
    seconds = len(y) / sr
    label = widgets.HTML(player_label(title, seconds))
    audio = widgets.Audio(value=wav_bytes(y, sr), format="wav", autoplay=False, loop=False)
    return Player([label, audio], audio_html(y, title, sr))


def player_table(items: dict, sr: int = SR, loudness_normalize: bool = True, check: bool = False,
                 **render_options) -> PlayerRow:
    """Players side by side, e.g. ``{"original": roll, "reconstruction": roll_hat, "sample": s}``;
    ``check=True`` checks each clip first and prints its line (``player``, ``clip_report``).
    Notebooks: 00, 01, 02, 03, 04, 05, 07, 08, 10, 11."""
    if not items:
        raise ValueError("player_table needs at least one item")
    return PlayerRow([player(x, title=name, sr=sr, loudness_normalize=loudness_normalize, check=check,
                                **render_options)
                         for name, x in items.items()])
