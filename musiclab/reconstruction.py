"""How close is a reconstruction? Spectrogram and piano-roll measures of notebook 02.

* ``mel_spectral_convergence``: spectral convergence ``||Y - Y_hat||_F / ||Y||_F`` on the
  *linear mel magnitudes* ``Y = 10^(S/20)`` of log-mel spectrograms ``S`` in dB (not on
  STFT magnitudes: a mel spectrogram has no phase and only a few bands).
* ``log_spectral_distance``: the RMS difference in dB across the bands of a frame, averaged over
  frames (every band counts, quiet ones too).
* ``frame_f1``: precision, recall and F1 of the on-cells of a piano roll, pooled over every time
  step and key (the frame-level measure of music transcription).
* ``best_threshold``: the decoding threshold with the best frame F1 on *training* data, so that
  every model is decoded by one rule calibrated without looking at held-out music.
(The frame-F1 difference of two models with an interval over pieces is
``evaluation.f1_difference_interval``.)

Spectrograms are arrays with frames in rows, (frames, bands), in dB; rolls are any arrays of
0/1 (or probabilities) of matching shape. Used by notebook 02 (and its models in
``musiclab.models.dic``).
"""
import numpy as np

__all__ = ["mel_spectral_convergence", "log_spectral_distance", "frame_f1", "best_threshold"]


def mel_spectral_convergence(S_db, S_hat_db) -> float:
    """``||Y - Y_hat||_F / ||Y||_F`` on linear mel magnitudes ``Y = 10^(S_dB / 20)``, pooled over
    all frames: 0 is perfect, 1 is as far off as silence; loud bands dominate.
    Notebooks: 02."""
    S_db, S_hat_db = np.asarray(S_db, dtype=np.float64), np.asarray(S_hat_db, dtype=np.float64)
    if S_db.shape != S_hat_db.shape:
        raise ValueError(f"shapes differ: {S_db.shape} vs {S_hat_db.shape}")
    Y, Y_hat = 10.0 ** (S_db / 20), 10.0 ** (S_hat_db / 20)
    return float(np.linalg.norm(Y - Y_hat) / np.linalg.norm(Y))


def log_spectral_distance(S_db, S_hat_db, match_gain: bool = False) -> float:
    """Mean over frames (rows) of the RMS difference in dB across bands (columns).
    ``match_gain``: first add to ``S_hat_db`` the one dB offset (a gain) that minimises the
    squared difference over all cells, their mean difference, so that a reconstruction that is
    only louder or quieter everywhere scores 0.
    Notebooks: 02."""
    S_db, S_hat_db = np.asarray(S_db, dtype=np.float64), np.asarray(S_hat_db, dtype=np.float64)
    if S_db.shape != S_hat_db.shape:
        raise ValueError(f"shapes differ: {S_db.shape} vs {S_hat_db.shape}")
    diff = (S_db - S_hat_db).reshape(-1, S_db.shape[-1])
    if match_gain:
        diff = diff - diff.mean()
    return float(np.sqrt((diff ** 2).mean(axis=1)).mean())


def frame_f1(roll, roll_hat, threshold: float = 0.5) -> tuple:
    """(precision, recall, F1) of the cells that are on (> 0.5 in ``roll``, > ``threshold`` in
    ``roll_hat``), pooled over all cells; cells off in both do not count. F1 is 0 with no hit.
    Notebooks: 02."""
    on, on_hat = np.asarray(roll) > 0.5, np.asarray(roll_hat) > threshold
    if on.shape != on_hat.shape:
        raise ValueError(f"shapes differ: {on.shape} vs {on_hat.shape}")
    tp = int(np.sum(on & on_hat))
    precision = tp / max(int(on_hat.sum()), 1)
    recall = tp / max(int(on.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if tp > 0 else 0.0
    return float(precision), float(recall), float(f1)


def best_threshold(roll, probs, grid=np.round(np.linspace(0.05, 0.95, 19), 2)) -> float:
    """The threshold of ``grid`` with the highest frame F1 of ``probs`` against ``roll``: call it
    on *training* bars and their reconstructions, then decode everything with it.
    Notebooks: 02."""
    scores = [frame_f1(roll, probs, t)[2] for t in grid]
    return float(grid[int(np.argmax(scores))])

