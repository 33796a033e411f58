"""A training notebook from data to trained model in one call, for notebook 08.

08 evaluates the models that 02, 04, 05 and 07 saved. When a checkpoint is missing (08 run on
its own) or was made in the other mode, it calls the run function here, which does what the
notebook does with the same package functions: the same corpora, leak-free split and seed,
the same recipe, the same baseline choice on validation. Each returns (model, meta) with the
checkpoint's meta keys, so 08 reads both the same way.
"""
from __future__ import annotations

from .baselines import bernoulli_predictor, fit_bernoulli, fit_markov, markov_predictor, mean_frame_nll
from .config import by_mode, is_quick
from .corpora import load_corpus
from .data import chorale_beat_roll, token_data
from .models.rnn import train_chorale_lstm, train_tune_lstm
from .ngram import ngram_sweep
from .splits import split_pieces

__all__ = ["TUNE_QUICK_SIZES", "ngram_orders", "FRAME_ALPHAS", "ids_of", "tune_lstm_run", "chorale_lstm_run"]

TUNE_QUICK_SIZES = {"train": 400, "val": 40, "test": 40}   # 04's tunes per side in quick mode
FRAME_ALPHAS = (0.01, 0.1, 0.5, 1.0, 2.0)                  # 05's smoothing grid for the frame baselines


def ngram_orders() -> tuple[list, list]:
    """The n-gram orders notebook 04 sweeps: (add-k orders, Kneser-Ney orders)."""
    return by_mode([1, 2, 3, 4, 5], [1, 2, 3, 4]), by_mode([2, 3, 4, 5, 6, 8, 10, 12], [2, 3, 4, 5])


def ids_of(pieces, split) -> dict:
    """{"train_ids": [...], "val_ids": [...], "test_ids": [...]}: the ``Piece.id`` of every side."""
    return {f"{side}_ids": [pieces[i].id for i in split[side]] for side in ("train", "val", "test")}


def tune_lstm_run(device="cpu", seed: int = 0):
    """Notebook 04 in one call: O'Neill's + Ryan's, leak-free split (a subset in quick mode),
    tokens, the LSTM recipe and the best n-gram on validation. Returns (model, meta)."""
    pieces = load_corpus("oneills") + load_corpus("ryans")
    split = split_pieces(pieces, fractions=(0.8, 0.1, 0.1), seed=seed)
    if is_quick():
        split = split.subsample(TUNE_QUICK_SIZES, seed=seed)
    data = token_data(pieces, split, min_count=2)
    model, history = train_tune_lstm(data, device=device, seed=seed)
    models, val_ppl = ngram_sweep(data.train, data.val, data.vocab, *ngram_orders())
    best = min(val_ppl, key=val_ppl.get)
    lm = models[best]
    meta = dict(quick=is_quick(), split_seed=seed, **ids_of(pieces, split), vocab=data.vocab, min_count=2,
                best_epoch=history["best_epoch"],
                best_ngram=dict(name=best, order=lm.order, smoothing=lm.smoothing, k=lm.k))
    return model, meta


def chorale_lstm_run(device="cpu", seed: int = 0):
    """Notebook 05 in one call: the chorales as beat rolls in C, split by melody (title and
    soprano), the LSTM recipe and the frame baselines' smoothing chosen on validation."""
    pieces = load_corpus("chorales")
    rolls = [chorale_beat_roll(p) for p in pieces]
    split = split_pieces(pieces, fractions=(0.8, 0.1, 0.1), seed=seed, same_title=True)
    data = {side: [rolls[i] for i in split[side]] for side in ("train", "val", "test")}
    model, history = train_chorale_lstm(data["train"], data["val"], device=device, seed=seed)
    val_nll = lambda predictor, fit, a: mean_frame_nll(predictor(fit(data["train"], a)), data["val"])[0]
    markov_alpha = min(FRAME_ALPHAS, key=lambda a: val_nll(markov_predictor, fit_markov, a))
    bernoulli_alpha = min(FRAME_ALPHAS, key=lambda a: val_nll(bernoulli_predictor, fit_bernoulli, a))
    meta = dict(quick=is_quick(), split_seed=seed, same_title=True, **ids_of(pieces, split),
                best_epoch=history["best_epoch"], baseline=dict(name="per-key Markov", alpha=markov_alpha),
                bernoulli_alpha=bernoulli_alpha)
    return model, meta
