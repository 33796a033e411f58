"""A training notebook from data to trained model in one call, for notebook 08.

08 evaluates the models that 02, 04, 05 and 07 saved. When a checkpoint is missing (08 run on
its own) or was made in the other mode, it calls the run function here, which does what the
notebook does with the same package functions: the same corpora, leak-free split and seed,
the same recipe, the same baseline choice on validation. Each returns (model, meta) with the
checkpoint's meta keys, so 08 reads both the same way.
"""
from __future__ import annotations

import numpy as np

from ..baselines import bernoulli_predictor, fit_bernoulli, fit_markov, markov_predictor, mean_frame_nll
from ..config import by_mode, is_quick
from ..corpora import load_corpus
from ..data import bar_dataset, bar_quarters, chorale_beat_roll, token_data
from ..models.chorale_gpt import train_chorale_gpt
from ..models.dic import bar_probs, train_bar_dic
from ..models.gan import gan_recipe, train_bar_gan
from ..models.music_gpt import train_music_gpt
from ..models.rnn import train_chorale_lstm, train_tune_lstm
from ..ngram import ngram_sweep
from ..reconstruction import best_threshold
from ..splits import Split, near_duplicate_groups, split_pieces

__all__ = ["TUNE_QUICK_SIZES", "ngram_orders", "FRAME_ALPHAS", "GAN_STYLES", "gan_limits", "BAR_SETTINGS",
           "DIC_CORPORA", "ids_of", "tune_split", "folk_pretraining_split", "tune_lstm_run", "music_gpt_run", "chorale_lstm_run", "chorale_data", "chorale_gpt_run", "bar_gan_run", "bar_dic_run"]

GAN_STYLES = {"Bach chorale": ["chorales"], "Irish": ["oneills", "ryans"], "German folk": ["essen"]}  # 07
DIC_CORPORA = ["chorales", "oneills"]                                                                # 02
BAR_SETTINGS = dict(low=36, high=96, steps_per_quarter=4)   # 02's and 07's bars: MIDI 36..95, sixteenths

TUNE_QUICK_SIZES = {"val": 40, "test": 40}   # 04's tunes per side in quick mode: every training tune, 40 val, 40 test
FRAME_ALPHAS = (0.01, 0.1, 0.5, 1.0, 2.0)                  # 05's smoothing grid for the frame baselines


def ngram_orders() -> tuple[list, list]:
    """The n-gram orders notebook 04 sweeps: (add-k orders, Kneser-Ney orders).
    Notebooks: 04."""
    return [1, 2, 3, 4, 5], by_mode([2, 3, 4, 5, 6, 8, 10, 12], [2, 3, 4, 5, 6, 8])


def gan_limits() -> dict:
    """Pieces notebook 07 reads per corpus (None: all; quick mode reads the first ones)."""
    return {"chorales": None, "oneills": by_mode(None, 1000), "ryans": by_mode(None, 500), "essen": by_mode(None, 3000)}


def ids_of(pieces, split) -> dict:
    """{"train_ids": [...], "val_ids": [...], "test_ids": [...]}: the ``Piece.id`` of every side.
    Notebooks: 10."""
    return {f"{side}_ids": [pieces[i].id for i in split[side]] for side in ("train", "val", "test")}


def tune_split(seed: int = 0, sizes: dict | None = None):
    """04's tunes and split: (O'Neill's + Ryan's pieces, their leak-free split, in quick mode a
    subset: ``sizes`` tunes per side, ``TUNE_QUICK_SIZES`` unless given; a side not named stays
    whole). Notebooks 04, 10 and 11 (its tokenizer study) and the tune runs below read them so."""
    pieces = load_corpus("oneills") + load_corpus("ryans")
    split = split_pieces(pieces, fractions=(0.8, 0.1, 0.1), seed=seed)
    if is_quick():
        split = split.subsample(TUNE_QUICK_SIZES if sizes is None else sizes, seed=seed)
    return pieces, split


def folk_pretraining_split(seed: int = 0, essen_sizes: dict | None = None, irish_sizes: dict | None = None):
    """The tunes of notebook 10's pretraining and their leak-free sides: Essen grouped with *all*
    Irish tunes (O'Neill's + Ryan's) by ``near_duplicate_groups``, every Essen tune of an Irish
    tune's group dropped, then Essen split by its groups and the Irish tunes split exactly as 04
    splits them; each side is Essen's side plus the Irish side. ``essen_sizes``, ``irish_sizes``:
    quick-mode subsets (``Split.subsample``, same seed), so the Irish sides equal notebook 04's in
    either mode. Returns (pieces: the Essen tunes kept, then the Irish tunes; a ``Split`` whose
    groups are the joint near-duplicate groups). The ``folk-pretrained`` recipe reads it whole.
    Notebooks: 10."""
    irish = load_corpus("oneills") + load_corpus("ryans")
    essen = load_corpus("essen")
    groups = near_duplicate_groups(irish + essen)
    irish_groups = set(groups[:len(irish)].tolist())
    kept = np.array([i for i, g in enumerate(groups[len(irish):]) if g not in irish_groups], dtype=int)
    essen_kept = [essen[i] for i in kept]
    essen_split = split_pieces(essen_kept, fractions=(0.8, 0.1, 0.1), seed=seed)
    irish_split = split_pieces(irish, fractions=(0.8, 0.1, 0.1), seed=seed)
    essen_split = essen_split.subsample(essen_sizes, seed=seed) if essen_sizes else essen_split
    irish_split = irish_split.subsample(irish_sizes, seed=seed) if irish_sizes else irish_split
    sides = {side: np.concatenate([essen_split[side], len(essen_kept) + irish_split[side]])
             for side in ("train", "val", "test")}
    labels = np.concatenate([groups[len(irish):][kept], groups[:len(irish)]])
    return essen_kept + irish, Split(indices=sides, groups=labels)


def _tune_data(seed: int):
    """04's tunes (``tune_split``) and their tokens."""
    pieces, split = tune_split(seed)
    return pieces, split, token_data(pieces, split, min_count=2)


def tune_lstm_run(device="cpu", seed: int = 0):
    """Notebook 04 in one call: O'Neill's + Ryan's, leak-free split (a subset in quick mode),
    tokens, the LSTM recipe and the best n-gram on validation. Returns (model, meta).
    Notebooks: 08, 10."""
    pieces, split, data = _tune_data(seed)
    model, history = train_tune_lstm(data, device=device, seed=seed)
    models, val_ppl = ngram_sweep(data.train, data.val, data.vocab, *ngram_orders())
    best = min(val_ppl, key=val_ppl.get)
    lm = models[best]
    meta = dict(quick=is_quick(), split_seed=seed, **ids_of(pieces, split), vocab=data.vocab, min_count=2,
                best_epoch=history["best_epoch"],
                best_ngram=dict(name=best, order=lm.order, smoothing=lm.smoothing, k=lm.k))
    return model, meta


def music_gpt_run(device="cpu", seed: int = 0):
    """Notebook 10's music GPT on 04's tunes and split, in one call. Returns (model, meta).
    Notebooks: 08."""
    pieces, split, data = _tune_data(seed)
    model, _ = train_music_gpt(data, device=device, seed=seed)
    return model, dict(quick=is_quick(), split_seed=seed, **ids_of(pieces, split), vocab=data.vocab, min_count=2)


def chorale_data(seed: int = 0):
    """05's chorales: (pieces, split, {"train"|"val"|"test": beat rolls in C}), split by melody
    (title and soprano). Notebooks 05 and 11 and the chorale runs below read them this way.
    Notebooks: 11."""
    pieces = load_corpus("chorales")
    rolls = [chorale_beat_roll(p) for p in pieces]
    split = split_pieces(pieces, fractions=(0.8, 0.1, 0.1), seed=seed, same_title=True)
    return pieces, split, {side: [rolls[i] for i in split[side]] for side in ("train", "val", "test")}


def chorale_lstm_run(device="cpu", seed: int = 0):
    """Notebook 05 in one call: the chorales as beat rolls in C, split by melody (title and
    soprano), the LSTM recipe and the frame baselines' smoothing chosen on validation.
    Notebooks: 08, 11."""
    pieces, split, data = chorale_data(seed)
    model, history = train_chorale_lstm(data["train"], data["val"], device=device, seed=seed)
    val_nll = lambda predictor, fit, a: mean_frame_nll(predictor(fit(data["train"], a)), data["val"])[0]
    markov_alpha = min(FRAME_ALPHAS, key=lambda a: val_nll(markov_predictor, fit_markov, a))
    bernoulli_alpha = min(FRAME_ALPHAS, key=lambda a: val_nll(bernoulli_predictor, fit_bernoulli, a))
    meta = dict(quick=is_quick(), split_seed=seed, same_title=True, **ids_of(pieces, split),
                best_epoch=history["best_epoch"], baseline=dict(name="per-key Markov", alpha=markov_alpha),
                bernoulli_alpha=bernoulli_alpha)
    return model, meta


def chorale_gpt_run(device="cpu", seed: int = 0):
    """Notebook 11's joint chorale model in one call: 05's chorales and split, the ChoraleGPT
    recipe. Returns (model, meta).
    Notebooks: 08."""
    pieces, split, data = chorale_data(seed)
    model, history = train_chorale_gpt(data["train"], data["val"], device=device, seed=seed)
    return model, dict(quick=is_quick(), split_seed=seed, same_title=True, **ids_of(pieces, split),
                       best_val=min(history["val"]))


def _split_4_4(pieces, seed: int, same_title: bool):
    """The 4/4 and 2/2 pieces and their leak-free split (02 and 07 split each corpus or style)."""
    pieces = [p for p in pieces if bar_quarters(p.meter) == 4]
    return pieces, split_pieces(pieces, fractions=(0.8, 0.1, 0.1), seed=seed, same_title=same_title)


def bar_gan_run(device="cpu", seed: int = 0):
    """Notebook 07 in one call: the three styles' 4/4 bars, split by tune within each style, and
    the GAN recipe on the training bars. Returns (G, meta).
    Notebooks: 08."""
    limits, sides = gan_limits(), ("train", "val", "test")
    taken = {side: [] for side in sides}
    for style, corpora in GAN_STYLES.items():
        pieces, split = _split_4_4([p for c in corpora for p in load_corpus(c, limit=limits[c])], seed,
                                   same_title=corpora == ["chorales"])
        for side in sides:
            taken[side] += [(style, p) for p in split.take(pieces, side)]
    names = list(GAN_STYLES)
    bars = [bar_dataset([p for s, p in taken["train"] if s == style], **BAR_SETTINGS)[0] for style in names]
    styles = np.concatenate([np.full(len(b), i) for i, b in enumerate(bars)])
    G, _, _ = train_bar_gan(np.concatenate(bars), styles, device, seed=seed, **gan_recipe())
    meta = dict(quick=is_quick(), styles=GAN_STYLES, limits=limits, split_seed=seed,
                **{f"{side}_ids": [p.id for _, p in taken[side]] for side in sides},
                bar=dict(BAR_SETTINGS, quarters=4.0, drop_empty=True), decode=dict(rule="threshold", threshold=0.5),
                melody_styles=["Irish", "German folk"])   # 07 decodes these one key per step
    return G, meta


def bar_dic_run(device="cpu", seed: int = 0):
    """Notebook 02 part B in one call: chorale and O'Neill bars in 4/4, split by tune within each
    corpus, the bar DIC recipe, and the decoding threshold chosen on the training bars.
    Notebooks: 08."""
    sides = ("train", "val", "test")
    taken = {side: [] for side in sides}
    for name in DIC_CORPORA:
        pieces, split = _split_4_4(load_corpus(name), seed, same_title=name == "chorales")
        for side in sides:
            taken[side] += split.take(pieces, side)
    X = {side: bar_dataset(taken[side], **BAR_SETTINGS)[0] for side in ("train", "val")}
    rows = {side: x.reshape(len(x), -1) for side, x in X.items()}
    model, history = train_bar_dic(rows["train"], rows["val"], device, seed=seed)
    meta = dict(quick=is_quick(), split_seed=seed, **{f"{side}_ids": [p.id for p in taken[side]] for side in sides},
                corpora=DIC_CORPORA, quarters=4.0, **BAR_SETTINGS, best_epoch=history["best_epoch"],
                threshold=best_threshold(rows["train"], bar_probs(model, rows["train"])))
    return model, meta
