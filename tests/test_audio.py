import io
import wave

import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from musiclab.audio import SR, logmel, logmel_to_audio, to_audio
from musiclab.corpora import Piece
from musiclab.listen import normalize, player, player_table, stereo_to_mono, wav_bytes
from musiclab.music import LOWEST, MAX_QUARTERS, notes_to_midi, piano_roll
from musiclab.plots import plot_losses, plot_piano_roll, plot_spectrogram

SCALE = np.array([[i * 0.5, i * 0.5 + 0.5, p, 0] for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])],
                 dtype=np.float32)  # eight eighth notes = 4 quarters = 2 s at 120 bpm


def sine(freq, seconds=1.0, sr=SR):
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def test_logmel_puts_a_sine_in_the_right_band_and_griffin_lim_inverts_it():
    y = sine(1000.0)
    S = logmel(y, n_mels=64)
    assert S.shape[0] == 64 and S.dtype == np.float32
    import librosa
    centres = librosa.mel_frequencies(n_mels=64, fmax=SR / 2)
    assert abs(centres[S.mean(axis=1).argmax()] - 1000) < 100
    y_hat = logmel_to_audio(S, n_iter=16)
    assert abs(len(y_hat) - len(y)) < 1024
    S_hat = logmel(y_hat[: len(y)], n_mels=64)
    spectral_convergence = np.linalg.norm(librosa.db_to_power(S) - librosa.db_to_power(S_hat)) / np.linalg.norm(
        librosa.db_to_power(S))
    assert spectral_convergence < 0.3
    assert np.abs(y_hat).max() <= 0.9 + 1e-6


def test_to_audio_renders_midi_and_piano_rolls_with_the_expected_length():
    pm = notes_to_midi(SCALE, bpm=120)
    y = to_audio(pm)
    assert y.ndim == 1 and len(y) >= 2.0 * SR
    assert np.sqrt(np.mean(y[: 2 * SR] ** 2)) > 1e-3  # non-silent
    assert np.abs(y).max() < 1.0  # not clipped
    roll = piano_roll(SCALE, steps_per_quarter=4)
    y_roll = to_audio(roll, steps_per_quarter=4, bpm=120)
    assert abs(len(y_roll) - len(y)) < 0.05 * SR
    np.testing.assert_array_equal(to_audio(sine(440)), sine(440))


def test_to_audio_rejects_unknown_shapes():
    with pytest.raises(ValueError, match="shape"):
        to_audio(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="mono"):
        logmel(np.zeros((2, 100)))


def test_wav_bytes_is_a_valid_16_bit_wav():
    y = sine(440, seconds=0.5)
    with wave.open(io.BytesIO(wav_bytes(y)), "rb") as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()) == (1, 2, SR, len(y))
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    np.testing.assert_allclose(pcm / 32767, y, atol=1e-4)


def test_normalize_scales_the_peak_and_keeps_silence():
    assert np.abs(normalize(0.1 * sine(440))).max() == pytest.approx(0.9)
    np.testing.assert_array_equal(normalize(np.zeros(10)), np.zeros(10))


def test_players_hold_audio_widgets_with_wav_data():
    w = player(notes_to_midi(SCALE), title="scale")
    audio = [c for c in w.children if isinstance(c, widgets.Audio)]
    assert len(audio) == 1 and audio[0].value[:4] == b"RIFF" and len(audio[0].value) > 44 + SR
    assert "scale" in w.children[0].value
    table = player_table({"a": sine(440), "b": sine(660)})
    assert len(table.children) == 2
    with pytest.raises(ValueError):
        player_table({})


def test_plots_return_figures_with_the_data_drawn():
    roll = piano_roll(SCALE)
    fig = plot_piano_roll(roll, title="scale")
    ax = fig.axes[0]
    assert ax.get_title() == "scale" and len(ax.images) == 1
    assert ax.images[0].get_array().shape[1] == len(roll)  # time runs across
    fig = plot_spectrogram(logmel(sine(440)))
    assert len(fig.axes[0].images) == 1
    fig = plot_losses({"train": [3, 2, 1], "val": [3.5, 2.5, 2]})
    assert [line.get_label() for line in fig.axes[0].lines] == ["train", "val"]
    with pytest.raises(ValueError, match="2-D"):
        plot_piano_roll(np.zeros(10))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_nan_or_infinite_waveform_does_not_play(bad):
    y = sine(440, seconds=0.1)
    y[100] = bad
    for f in [wav_bytes, normalize, player, lambda y: player(y, loudness_normalize=False)]:
        with pytest.raises(ValueError, match="nan or infinite"):
            f(y)


def test_to_audio_refuses_bad_notes_before_rendering():
    piece = lambda notes: Piece("bad", "test", "C major", "4/4", np.array(notes, np.float32))
    with pytest.raises(ValueError, match="MAX_QUARTERS"):
        to_audio(piece([[0, 1e9, 60, 0]]))  # one 1e9-beat note: ~49 GiB of audio
    with pytest.raises(ValueError, match="MAX_QUARTERS"):
        to_audio(np.ones((4 * MAX_QUARTERS + 8, 88), np.float32), steps_per_quarter=4)  # a long roll
    with pytest.raises(ValueError, match="nan"):
        to_audio(piece([[np.nan, 1, 60, 0]]))
    with pytest.raises(ValueError, match="0..127"):
        to_audio(piece([[0, 1, 130, 0]]))


def test_a_stereo_waveform_plays_mixed_down_to_mono_and_rolls_stay_rolls():
    left, right = sine(440), sine(660, seconds=1.0) * 0.5
    mono = (left + right) / 2
    for stereo in [np.stack([left, right], axis=1), np.stack([left, right])]:   # (N, 2) and (2, N)
        np.testing.assert_allclose(stereo_to_mono(stereo), mono, atol=1e-7)
        w = player(stereo)
        assert w.children[0].value == f"<small>{len(left) / SR:.1f} s</small>"
        assert w.children[1].value == wav_bytes(normalize(stereo_to_mono(stereo)))
    roll = piano_roll(SCALE)
    assert stereo_to_mono(roll) is roll
    two_keys = np.zeros((8, 2), np.float32)
    two_keys[:4, 0] = 1                                     # a 2-key roll is never negative: still a roll
    assert stereo_to_mono(two_keys) is two_keys
    assert np.array_equal(to_audio(two_keys), to_audio(piano_roll([[0, 1, LOWEST, 0]])))


def test_griffin_lim_repeats_itself():
    """Its random starting phases are seeded: the same spectrogram gives the same audio, run after run."""
    S = logmel(sine(440.0), n_mels=64)
    assert np.array_equal(logmel_to_audio(S, n_iter=4), logmel_to_audio(S, n_iter=4))
