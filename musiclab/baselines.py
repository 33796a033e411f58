"""Baselines for piano-roll frames, from counts: the per-key Bernoulli and Markov models.

Notebook 05 derives them and 08 scores them beside the chorale LSTM on the same frames. A roll
is (T, 88) 0/1; every model predicts frames 1..T-1 of each roll from the frames before, and the
NLL of a frame is the Bernoulli log-loss summed over the keys (Boulanger-Lewandowski et al. 2012).
"""
import numpy as np

__all__ = ["frame_nll", "mean_frame_nll", "fit_bernoulli", "fit_markov", "bernoulli_predictor",
           "markov_predictor", "markov_continue"]


def frame_nll(p, y) -> np.ndarray:
    """NLL in nats of each frame: Bernoulli log-loss summed over the keys. p, y: (frames, keys).
    Notebooks: 05."""
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=-1)


def mean_frame_nll(predict, rolls) -> tuple[float, int]:
    """Mean NLL per frame over frames 1..T-1 of every roll, and the number of frames;
    ``predict(roll)`` gives the (T-1, keys) probabilities of frames 1..T-1.
    Notebooks: 05, 08, 11."""
    nll = np.concatenate([frame_nll(predict(r), r[1:]) for r in rolls])
    return float(nll.mean()), len(nll)


def fit_bernoulli(rolls, alpha: float) -> np.ndarray:
    """pi_k = (c_k + alpha) / (F + 2 alpha) over the predicted frames 1..T-1.
    Notebooks: 05, 08, 11."""
    y = np.concatenate([r[1:] for r in rolls])
    return (y.sum(0) + alpha) / (len(y) + 2 * alpha)


def fit_markov(rolls, alpha: float) -> tuple:
    """(p_on_after_off, p_on_after_on), each (keys,): P(key down at t | same key up / down at t-1),
    counted on the (previous frame, frame) pairs and smoothed add-alpha.
    Notebooks: 05, 08, 11."""
    prev = np.concatenate([r[:-1] for r in rolls])
    y = np.concatenate([r[1:] for r in rolls])
    after_off = (((1 - prev) * y).sum(0) + alpha) / ((1 - prev).sum(0) + 2 * alpha)
    after_on = ((prev * y).sum(0) + alpha) / (prev.sum(0) + 2 * alpha)
    return after_off, after_on


def bernoulli_predictor(pi):
    """The per-key Bernoulli model as a ``predict(roll)`` for ``mean_frame_nll``.
    Notebooks: 05, 08, 11."""
    return lambda r: np.broadcast_to(pi, (len(r) - 1, len(pi)))


def markov_predictor(params):
    """The per-key Markov model as a ``predict(roll)`` for ``mean_frame_nll``.
    Notebooks: 05, 08, 11."""
    after_off, after_on = params
    return lambda r: np.where(r[:-1] > 0.5, after_on, after_off)


def markov_continue(params, primes, n_frames: int, rng) -> np.ndarray:
    """Continue each prime (B, P, keys) by ``n_frames`` frames of the Markov model: every key
    drawn on its own from its probability given the same key's last frame.
    Notebooks: 05, 08."""
    after_off, after_on = params
    out = [np.asarray(primes)]
    for _ in range(n_frames):
        p = np.where(out[-1][:, -1:] > 0.5, after_on, after_off)
        out.append((rng.random(p.shape) < p).astype(np.float32))
    return np.concatenate(out, axis=1)
