"""Baselines for piano-roll frames, from counts: the per-key Bernoulli and Markov models.

Notebook 05 derives them and 08 scores them beside the chorale LSTM on the same frames. A roll
is (T, 88) 0/1; every model predicts frames 1..T-1 of each roll from the frames before, and the
NLL of a frame is the Bernoulli log-loss summed over the keys (Boulanger-Lewandowski et al. 2012).
"""
import numpy as np
import torch

__all__ = ["frame_nll", "mean_frame_nll", "fit_bernoulli", "fit_markov", "bernoulli_predictor",
           "markov_predictor", "markov_continue", "roll_mode", "fit_markov_by_mode",
           "markov_continue_by_mode", "fit_frame_logistic", "logistic_predictor"]


def frame_nll(p, y) -> np.ndarray:
    """NLL in nats of each frame: Bernoulli log-loss summed over the keys. p, y: (frames, keys).
    Notebooks: 05, 08."""
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


def markov_continue(params, primes, n_frames: int, rng, voices: int | None = None) -> np.ndarray:
    """Continue each prime (B, P, keys) by ``n_frames`` frames of the Markov model: every key
    drawn on its own from its probability given the same key's last frame. With ``voices`` every
    frame gets exactly that many keys instead, drawn one after the other without replacement with
    weights their odds p / (1 - p) (p clamped to 1e-9..1 - 1e-9), which approximates independent
    keys conditioned on exactly that many on (conditional Poisson sampling; the decoding rule of
    ``continue_rolls(..., voices=)``).
    Notebooks: 05, 08."""
    after_off, after_on = params
    out = [np.asarray(primes)]
    for _ in range(n_frames):
        p = np.where(out[-1][:, -1:] > 0.5, after_on, after_off)
        if voices is None:
            out.append((rng.random(p.shape) < p).astype(np.float32))
            continue
        frame = np.zeros(p.shape, dtype=np.float32)
        for b in range(len(p)):
            q = np.clip(p[b, 0], 1e-9, 1 - 1e-9)
            w = q / (1 - q)
            frame[b, 0, rng.choice(len(w), size=voices, replace=False, p=w / w.sum())] = 1
        out.append(frame)
    return np.concatenate(out, axis=1)


def roll_mode(roll, low: int = 21) -> str:
    """"minor" if a roll in C sounds E-flat on more frames than E, else "major": the third of the
    key, read from the notes (a prime of a few beats is enough for most chorales).
    Notebooks: 05."""
    roll = np.asarray(roll)
    pcs = (np.arange(roll.shape[-1]) + low) % 12
    e_flat, e = roll[..., pcs == 3].sum(), roll[..., pcs == 4].sum()
    return "minor" if e_flat > e else "major"


def fit_markov_by_mode(rolls, alpha: float, low: int = 21) -> dict:
    """{"major": params, "minor": params}: one per-key Markov model (``fit_markov``) fitted on the
    rolls of each mode (``roll_mode``), so that a model can keep E apart from E-flat.
    Notebooks: 05."""
    modes = [roll_mode(r, low) for r in rolls]
    return {m: fit_markov([r for r, mode in zip(rolls, modes) if mode == m], alpha) for m in ("major", "minor")}


def markov_continue_by_mode(params_by_mode, primes, n_frames: int, rng, low: int = 21) -> np.ndarray:
    """``markov_continue`` with, for each prime, the Markov model of the prime's mode (``roll_mode``).
    Notebooks: 05."""
    primes = np.asarray(primes)
    out = np.empty((len(primes), primes.shape[1] + n_frames, primes.shape[2]), dtype=np.float32)
    for i, prime in enumerate(primes):
        out[i] = markov_continue(params_by_mode[roll_mode(prime, low)], prime[None], n_frames, rng)[0]
    return out


def fit_frame_logistic(rolls, steps: int = 300, lr: float = 0.05, seed: int = 0) -> tuple:
    """(W (keys, keys), b (keys,)): p_t = sigmoid(y_{t-1} W + b), one logistic regression per key on
    *all* keys of the previous frame, fitted by full-batch Adam on the summed Bernoulli log-loss of
    the (previous frame, frame) pairs. It sees what the per-key Markov model sees plus the other
    keys, and no more than one frame back (the RNN of Boulanger-Lewandowski et al. 2012 without
    its recurrence).
    Notebooks: 05."""
    prev = torch.as_tensor(np.concatenate([r[:-1] for r in rolls]), dtype=torch.float32)
    y = torch.as_tensor(np.concatenate([r[1:] for r in rolls]), dtype=torch.float32)
    torch.manual_seed(seed)
    layer = torch.nn.Linear(prev.shape[1], y.shape[1])
    optimizer = torch.optim.Adam(layer.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(layer(prev), y, reduction="none").sum(1).mean()
        loss.backward()
        optimizer.step()
    return layer.weight.detach().numpy().T.copy(), layer.bias.detach().numpy().copy()


def logistic_predictor(params):
    """The 88 -> 88 logistic model (``fit_frame_logistic``) as a ``predict(roll)`` for ``mean_frame_nll``.
    Notebooks: 05."""
    w, b = params
    return lambda r: 1 / (1 + np.exp(-(np.asarray(r[:-1], dtype=float) @ w + b)))
