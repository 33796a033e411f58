"""Evaluating generated music with distributions, not means (notebook 08; also 04, 07, 10).

Four tools, each small enough to read (and a scaling-law fit):

1. **Intervals.** ``bootstrap_interval`` gives a metric with its n and a percentile-bootstrap
   interval (Efron & Tibshirani 1993). Ratings cluster by rater and bars by piece, so a
   ``clusters=`` argument resamples whole clusters (raters, pieces) instead of single values.
2. **Yang & Lerch (2020)**, "On the evaluation of generative models in music" (Neural Computing
   and Applications 32): compute a feature per sample (pitch-class histogram, note-length
   histogram, polyphony ...), then the *intra-set* distances (between samples of the real set)
   and the *inter-set* distances (real sample to generated sample). If the generated set is like
   the real one, a generated sample is as far from a real one as two real ones are from each other,
   so the two distance distributions coincide. Smooth each with a Gaussian kernel density estimate
   (KDE) and report their **overlapping area** OA = ∫ min(p, q) (1 = the same distribution, 0 =
   disjoint) and the **KL divergence** KL(intra ‖ inter) = ∫ p log(p / q).
3. **Copy detection** against exactly the training set: ``jaccard_nearest`` for binary bars (Jaccard
   distance 1 - |A∩B| / |A∪B| counts only the notes that sound; Hamming distance would call a
   sparse bar close to an empty one) and ``longest_common_run`` for tunes (the longest stretch of
   notes shared with any training tune).
4. ``content_id``: a short stable hash of a clip's content, so a listening-test pair names what
   was heard (a retrained model's clip gets a new id and never inherits old ratings).

And for notebook 10's sizes of model: ``fit_scaling_law`` fits L(N) = E + A / N^alpha to measured losses.

Differences from the reference code (mgeval, Yang & Lerch's ``utils.py``), which these functions do
not copy: its ``overlap_area`` integrates min(p, q) only between the smallest and the largest
observed distance, cutting off the tails of both KDEs; its ``kl_dist`` evaluates p on a grid over
the range of one sample and q on a *different* grid over the other's range, then compares them
point by point (``stats.entropy(pdf_A(grid_A), pdf_B(grid_B))``), which is not KL(p ‖ q) unless the
ranges agree. Here both densities live on one shared grid wide enough for their tails.
"""
from __future__ import annotations

import hashlib
import json
import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import torch

from .metrics import as_binary, distinct_ngrams, long_notes, note_runs, pitch_class_histogram, polyphony
from .rating import wilson_interval
from .validity import token_pitches, tune_validity, validity_rates

__all__ = ["describe_samples", 
    "Interval", "bootstrap_interval", "validity_intervals", "f1_difference_interval", "NOTE_LENGTHS", "note_length_histogram", "FEATURES", "set_features",
    "intra_set_distances", "inter_set_distances", "kde", "shared_grid", "overlap_area", "kl_divergence",
    "DistanceOverlap", "distance_overlap", "jaccard_nearest", "RunMatch", "longest_common_run", "content_id",
    "fit_scaling_law", "bootstrap_scaling_law", "heldout_seed_errors", "Proportion", "proportion_interval", "reference_sample", "kl_floor_share", "copy_summary", "nll_gap", "long_note_gap", "point_mass",
]


# ----------------------------------------------------------------------------- 1. bootstrap

class Interval(NamedTuple):
    """A statistic with its percentile-bootstrap interval and the number of values behind it."""
    estimate: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def _groups(clusters) -> list[np.ndarray]:
    """Indices of the values of each cluster label."""
    _, labels = np.unique(clusters, return_inverse=True)
    order = np.argsort(labels, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)


def bootstrap_interval(values, statistic=None, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                       clusters=None) -> Interval:
    """Percentile bootstrap of ``statistic`` (default: the mean) of a sample -> Interval.

    ``values``: a 1-D sample (nan entries, e.g. a metric of an empty bar, are dropped first and
    not counted in n) or an array whose first axis indexes the observations (then ``statistic``
    receives a resampled array, e.g. ``lambda v: np.mean(v[:, 0] > v[:, 1])``).
    ``clusters``: one label per value (rater, piece); each bootstrap sample then draws whole
    clusters with replacement, which keeps the dependence inside a cluster (Field & Welsh 2007).
    The estimate is the statistic of the full sample; low/high are the (1 - level)/2 and
    (1 + level)/2 quantiles of the ``n_boot`` bootstrap statistics.
    Notebooks: 04, 05, 07, 08, 10.
    """
    values = np.asarray(values, dtype=float)
    if clusters is not None and len(clusters) != len(values):
        raise ValueError(f"clusters has {len(clusters)} labels for {len(values)} values")
    if values.ndim == 1:
        keep = ~np.isnan(values)
        values = values[keep]
        clusters = None if clusters is None else np.asarray(clusters)[keep]
    n = len(values)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    stat = statistic or (lambda v: float(np.mean(v)))
    groups = None if clusters is None else _groups(clusters)
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        if groups is None:                          # n values drawn with replacement
            index = rng.integers(0, n, n)
        else:                                       # as many clusters drawn with replacement
            index = np.concatenate([groups[c] for c in rng.integers(0, len(groups), len(groups))])
        stats.append(stat(values[index]))
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(stat(values)), float(low), float(high), n)


class Proportion(NamedTuple):
    """A share k/n with its interval and the method that gave it ("Wilson" or "bootstrap")."""
    estimate: float
    low: float
    high: float
    n: int
    k: int
    method: str

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}] ({self.k}/{self.n}, {self.method})"


def proportion_interval(hits, clusters=None, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Proportion:
    """A share of hits (0/1 values; nan dropped, not counted in n) with its interval: Wilson's score
    interval on k of n (Wilson 1927; every value independent, and never a point, even at 0 or n of
    n), or, when ``clusters`` are given (pieces, raters), the wider of Wilson's and the percentile
    bootstrap that resamples whole clusters (``bootstrap_interval``): a bootstrap whose values all
    agree, or that draws from few clusters, can be a point or too narrow, and values of one cluster
    are not independent, so the wider interval is the honest one.
    Notebooks: 08."""
    hits = np.asarray(hits, dtype=float)
    keep = ~np.isnan(hits)
    clusters = None if clusters is None else np.asarray(clusters)[keep]
    hits = hits[keep]
    if not np.isin(hits, (0.0, 1.0)).all():
        raise ValueError("proportion_interval needs 0/1 values")
    k, n = int(hits.sum()), len(hits)
    if n == 0:
        return Proportion(float("nan"), 0.0, 1.0, 0, 0, "Wilson")
    w_low, w_high = wilson_interval(k, n, z=NormalDist().inv_cdf((1 + level) / 2))
    if clusters is None:
        return Proportion(k / n, w_low, w_high, n, k, "Wilson")
    boot = bootstrap_interval(hits, n_boot=n_boot, level=level, seed=seed, clusters=clusters)
    if boot.high - boot.low > w_high - w_low:
        return Proportion(k / n, boot.low, boot.high, n, k, "bootstrap")
    return Proportion(k / n, w_low, w_high, n, k, "Wilson")


def reference_sample(groups, n: int, seed: int = 0) -> np.ndarray:
    """Indices of a seeded random sample of ``n`` items (at most all of them), drawn group by group
    (``groups``: one label per item, e.g. each bar's corpus) in proportion to each group's size
    (largest remainders), at least one item per group when ``n`` allows, then shuffled. A real
    reference set for a model trained on several corpora: never the first rows of a stack sorted by
    corpus and piece, which hold one corpus, and a few pieces, only.
    Notebooks: 08."""
    groups = np.asarray(groups)
    labels, counts = np.unique(groups, return_counts=True)
    n = min(int(n), len(groups))
    quota = counts * n / max(counts.sum(), 1)
    take = np.floor(quota).astype(int)
    if n >= len(labels):
        take = np.maximum(take, 1)
    for g in np.argsort(take - quota):               # add to the largest remainders
        if take.sum() >= n:
            break
        take[g] += take[g] < counts[g]
    while take.sum() > n:                            # the minimum of one per group overshot
        take[np.argmax(take)] -= 1
    rng = np.random.default_rng(seed)
    index = [rng.choice(np.flatnonzero(groups == g), t, replace=False) for g, t in zip(labels, take)]
    return rng.permutation(np.concatenate(index + [np.zeros(0, int)]).astype(int))


def validity_intervals(token_lists, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                       proportions: bool = False) -> dict:
    """``validity_rates`` with their percentile-bootstrap intervals, resampling whole tunes:
    {"header", "bars", "chords", "tonic", "valid": Interval, "n_tunes", "n_bars": int}; each
    Interval's n is the number of tunes. The per-tune rates are means of one 0/1 value per tune;
    "bars" pools the inner bars of all tunes (bars that add up / inner bars), and the bars of one
    tune are not independent (a model that loses the beat loses it for many bars), so its
    bootstrap draws tunes, each with all its bars: a cluster bootstrap (Field & Welsh 2007).
    The estimates are exactly ``validity_rates``'. ``proportions=True``: the four per-tune rates
    get ``proportion_interval`` instead (Wilson's interval on k of n tunes; with a dozen tunes that
    all fail, the bootstrap is the point [0, 0]).
    Notebooks: 04, 08."""
    reports = [tune_validity(t) for t in token_lists]
    per_tune = {"header": [r.header for r in reports], "chords": [r.chords_balanced for r in reports],
                "tonic": [r.ends_on_tonic for r in reports], "valid": [r.valid for r in reports]}
    share = proportion_interval if proportions else bootstrap_interval
    out = {name: share(np.array(v, dtype=float), n_boot=n_boot, level=level, seed=seed) for name, v in per_tune.items()}
    bars = np.array([[r.bars_ok, r.bars] for r in reports], dtype=float).reshape(-1, 2)
    pooled = lambda v: float(v[:, 0].sum() / v[:, 1].sum()) if v[:, 1].sum() else float("nan")
    out["bars"] = (bootstrap_interval(bars, pooled, n_boot=n_boot, level=level, seed=seed) if bars[:, 1].sum()
                   else Interval(float("nan"), float("nan"), float("nan"), len(reports)))
    return out | {"n_tunes": len(reports), "n_bars": int(bars[:, 1].sum())}


def f1_difference_interval(roll, probs_a, threshold_a: float, probs_b, threshold_b: float, pieces,
                           n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """Frame F1 of model a minus frame F1 of model b on the same rolls (n, ...), each decoded at its
    own threshold, with a percentile-bootstrap interval that resamples whole pieces (``pieces``:
    one label per roll), so that bars of one piece count as one draw (``bootstrap_interval``).
    Notebooks: 02."""
    on = np.asarray(roll).reshape(len(roll), -1) > 0.5
    counts = []
    for probs, threshold in ((probs_a, threshold_a), (probs_b, threshold_b)):
        on_hat = np.asarray(probs).reshape(len(roll), -1) > threshold
        counts += [(on & on_hat).sum(1), on_hat.sum(1), on.sum(1)]   # TP, predicted on, truly on

    def f1(tp, predicted, true):
        return 2 * tp / max(predicted + true, 1)   # = 2PR / (P + R), pooled over the cells

    def difference(c):
        totals = c.sum(axis=0)
        return f1(*totals[:3]) - f1(*totals[3:])

    return bootstrap_interval(np.stack(counts, axis=1).astype(float), statistic=difference, n_boot=n_boot,
                              level=level, seed=seed, clusters=pieces)



def long_note_gap(tunes_a, tunes_b, n_boot: int = 1000, level: float = 0.95, seed: int = 0):
    """``long_note_share(tunes_a) - long_note_share(tunes_b)`` with a percentile bootstrap interval
    that resamples whole tunes, each set on its own (the notes of one tune are not independent):
    how far a style token moves the share of long notes (Efron & Tibshirani 1993). -> Interval.
    Notebooks: 10."""
    def counts(tunes):   # (long notes, notes) of each tune
        return np.array([(sum(f), len(f)) for f in map(long_notes, tunes)], dtype=float).reshape(-1, 2)

    a, b = counts(tunes_a), counts(tunes_b)
    if not a[:, 1].sum() or not b[:, 1].sum():
        raise ValueError("long_note_gap needs notes in both sets of tunes")
    share = lambda c: c[:, 0].sum() / c[:, 1].sum()
    rng = np.random.default_rng(seed)
    boot = [share(a[rng.integers(len(a), size=len(a))]) - share(b[rng.integers(len(b), size=len(b))])
            for _ in range(n_boot)]
    boot = [g for g in boot if np.isfinite(g)]
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Interval(share(a) - share(b), float(low), float(high), len(a) + len(b))


def nll_gap(nats_a, nats_b, steps=None, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """NLL per step of model a minus that of model b on the same pieces (nats per token or per
    frame; > 0: b is better), with a paired percentile-bootstrap interval over the pieces: each
    bootstrap sample draws whole pieces with replacement and recomputes
    (sum of a's nats - sum of b's nats) / (sum of steps), so the estimate is exactly the difference
    of the two pooled NLLs of a table, and a piece's steps, which are not independent, move together.
    ``nats_a``, ``nats_b``: one entry per piece, either the per-step NLLs of that piece (an array;
    summed) or its total; ``steps``: the steps of each piece (default: the lengths of ``nats_a``'s
    arrays, which ``nats_b``'s arrays must match). ``n`` of the Interval counts pieces.
    Notebooks: 08, 10, 11."""
    if len(nats_a) != len(nats_b):
        raise ValueError(f"{len(nats_a)} pieces for model a, {len(nats_b)} for model b")
    if steps is None:
        steps = [np.size(a) for a in nats_a]
        if any(np.ndim(a) == 0 for a in nats_a) or [np.size(b) for b in nats_b] != steps:
            raise ValueError("without steps=, nats_a and nats_b must be per-step arrays of equal lengths per piece")
    table = np.array([[np.sum(a), np.sum(b), n] for a, b, n in zip(nats_a, nats_b, steps)], dtype=float)
    if len(table) == 0 or table[:, 2].sum() <= 0:
        raise ValueError("nll_gap needs at least one piece with steps")
    return bootstrap_interval(table, lambda v: (v[:, 0].sum() - v[:, 1].sum()) / v[:, 2].sum(),
                              n_boot=n_boot, level=level, seed=seed)

# ----------------------------------------------------------------------------- 2. Yang & Lerch

_integrate = getattr(np, "trapezoid", None) or np.trapz     # the trapezoid rule (renamed in numpy 2)

# Yang & Lerch's 12 note-length classes, in quarter notes (their mgeval ``note_length_hist``)
NOTE_LENGTHS = {"whole": 4, "half": 2, "quarter": 1, "8th": 1 / 2, "16th": 1 / 4,
                "dotted half": 3, "dotted quarter": 3 / 2, "dotted 8th": 3 / 4, "dotted 16th": 3 / 8,
                "half triplet": 4 / 3, "quarter triplet": 2 / 3, "8th triplet": 1 / 3}


def note_length_histogram(x, steps_per_quarter: int = 4) -> np.ndarray:
    """Yang & Lerch's note-length histogram of a roll or bars: each note (a run of on-frames,
    ``metrics.note_runs``) goes to the closest of the 12 classes of ``NOTE_LENGTHS``; normalised
    to sum 1 (all nan without notes). At 4 steps per quarter no note is a true triplet: 1 step
    is a 16th, 3 steps a dotted 8th, and 5 steps (1.25 quarters) land in the half-triplet class,
    the closest one."""
    _, steps = note_runs(x)
    if len(steps) == 0:
        return np.full(len(NOTE_LENGTHS), np.nan)
    classes = np.array(list(NOTE_LENGTHS.values()))
    nearest = np.abs(steps[:, None] / steps_per_quarter - classes[None]).argmin(axis=1)
    return np.bincount(nearest, minlength=len(classes)) / len(steps)


# the three features notebook 08 compares; each maps one sample (a roll or a bar) to a vector
FEATURES = {
    "pitch-class histogram": lambda x, low=21: pitch_class_histogram(x, low=low, by="frames"),
    "note-length histogram": lambda x, low=21: note_length_histogram(x),
    "polyphony": lambda x, low=21: np.array([polyphony(x)]),
}


def set_features(samples, feature, **kwargs) -> np.ndarray:
    """(n, d) array of ``feature(sample, **kwargs)`` for each sample (a bar of a stack, a roll of a
    list); ``feature`` is a function or a name of ``FEATURES``.
    Notebooks: 08."""
    fn = FEATURES[feature] if isinstance(feature, str) else feature
    return np.stack([np.atleast_1d(np.asarray(fn(s, **kwargs), dtype=float)) for s in samples])


def _rows(features) -> np.ndarray:
    """Features as (n, d) float rows, without the rows that contain nan (an empty bar has no
    pitch-class histogram)."""
    f = np.asarray(features, dtype=float)
    f = f[:, None] if f.ndim == 1 else f.reshape(len(f), -1)
    return f[~np.isnan(f).any(axis=1)]


def _distances(a: np.ndarray, b: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Euclidean distance matrix (len(a), len(b)), a chunk of rows at a time."""
    return np.concatenate([np.sqrt(((a[i:i + chunk, None] - b[None]) ** 2).sum(-1))
                           for i in range(0, len(a), chunk)]) if len(a) else np.zeros((0, len(b)))


def intra_set_distances(features) -> np.ndarray:
    """Euclidean distances between every pair of samples of one set (i < j): n(n-1)/2 values.
    Yang & Lerch's leave-one-out intra-set distances hold each pair twice (same distribution)."""
    f = _rows(features)
    i, j = np.triu_indices(len(f), k=1)
    return _distances(f, f)[i, j]


def inter_set_distances(features_a, features_b) -> np.ndarray:
    """Euclidean distances from every sample of set a to every sample of set b: n_a * n_b values."""
    return _distances(_rows(features_a), _rows(features_b)).ravel()


def _scott(values: np.ndarray) -> float:
    """Scott's rule bandwidth for a 1-D Gaussian KDE: std * n^(-1/5)."""
    return float(np.std(values) * len(values) ** (-1 / 5)) if len(values) > 1 else 0.0


def shared_grid(*samples, size: int = 512, pad: float = 4.0) -> np.ndarray:
    """One grid for the KDEs of several 1-D samples: from the smallest value to the largest,
    widened by ``pad`` of the largest Scott bandwidth on each side so that both tails fit."""
    values = np.concatenate([np.asarray(s, dtype=float).ravel() for s in samples])
    if len(values) == 0:
        raise ValueError("shared_grid needs at least one value")
    lo, hi = values.min(), values.max()
    h = max([_scott(np.asarray(s, dtype=float).ravel()) for s in samples] + [1e-3 * max(hi - lo, 1.0)])
    return np.linspace(lo - pad * h, hi + pad * h, size)


def kde(values, grid, bandwidth: float | None = None, reach: float = 4.0) -> np.ndarray:
    """Gaussian kernel density estimate of a 1-D sample on an evenly spaced ``grid``, normalised to
    integrate to 1 there (trapezoid rule). Bandwidth: Scott's rule unless given, never below the
    grid step (identical values, e.g. the polyphony 1 of every melody, still give a density).

    Binned, as large distance sets need (250,000 inter-set distances are common): each value
    splits its weight between the two grid points around it, and the counts are convolved with
    the Gaussian kernel sampled on the grid out to ``reach`` bandwidths; this equals the sum of one
    Gaussian per value up to the grid step, in O(n + grid) instead of O(n x grid) time. Beyond
    ``reach`` bandwidths from every value the density is exactly 0: ``distance_overlap`` passes
    ``reach=40`` (where a Gaussian underflows anyway), so that its KL is infinite only where the
    densities truly do not meet, not where a kernel was cut off."""
    values = np.asarray(values, dtype=float).ravel()
    grid = np.asarray(grid, dtype=float)
    if len(values) == 0:
        raise ValueError("kde needs at least one value")
    step = grid[1] - grid[0]
    h = max(bandwidth if bandwidth is not None else _scott(values), step)
    pos = np.clip((values - grid[0]) / step, 0, len(grid) - 1)
    left = np.minimum(pos.astype(int), len(grid) - 2)
    right_share = pos - left
    counts = (np.bincount(left, 1 - right_share, len(grid)) + np.bincount(left + 1, right_share, len(grid)))
    half = min(int(np.ceil(reach * h / step)), 2 * len(grid))  # the kernel out to ``reach`` bandwidths
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * step / h) ** 2)
    density = np.convolve(counts, kernel)[half:half + len(grid)]
    return density / _integrate(density, grid)


def overlap_area(p, q, grid) -> float:
    """Overlapping area ∫ min(p, q) of two densities on one grid: 1 for equal densities, 0 for
    disjoint ones (for two unit Gaussians d apart it is 2 Φ(-d/2))."""
    return float(_integrate(np.minimum(p, q), grid))


def kl_divergence(p, q, grid, eps: float = np.finfo(float).tiny) -> float:
    """KL(p ‖ q) = ∫ p log(p / q) in nats, for densities on one grid. Where q vanishes but p does
    not KL is infinite; q is floored at ``eps`` (by default where a float underflows), so that
    far-apart KDEs give a large finite number."""
    p, q = np.asarray(p, dtype=float), np.maximum(np.asarray(q, dtype=float), eps)
    terms = np.where(p > 0, p * (np.log(np.maximum(p, eps)) - np.log(q)), 0.0)   # a difference: no overflow
    return max(float(_integrate(terms, grid)), 0.0)       # KL >= 0; rounding can give -1e-17


def kl_floor_share(p, q, grid, eps: float = np.finfo(float).tiny) -> float:
    """The share of p's mass where q is at ``kl_divergence``'s floor (q <= eps): where this is not 0,
    the KL(p ‖ q) of the two densities is infinite (q is 0 there: ``distance_overlap``'s KDEs reach
    40 bandwidths, where a Gaussian underflows), and the finite number ``kl_divergence`` returns is
    about -ln(eps) ≈ 708 times this share: the floor, not a measurement."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    total = _integrate(p, grid)
    return float(_integrate(np.where(q <= eps, p, 0.0), grid) / total) if total > 0 else 0.0



def point_mass(values) -> bool:
    """True when a set of distances (``DistanceOverlap.intra``) holds one value only, e.g. the
    polyphony of melodies (every bar 1 key: every distance 0). Its density is a point mass, which a
    KDE only smears over a grid step: KL against it is undefined, not a measurement."""
    values = np.asarray(values, dtype=float).ravel()
    return bool(len(values)) and bool(np.ptp(values) == 0)

class DistanceOverlap(NamedTuple):
    """Yang & Lerch's comparison of one feature: OA and KL of the intra-set distances of the real
    set against the real-to-generated distances, with the distances and densities for a figure."""
    oa: float
    kl: float
    intra: np.ndarray
    inter: np.ndarray
    grid: np.ndarray
    intra_density: np.ndarray
    inter_density: np.ndarray


def distance_overlap(real_features, generated_features, grid_size: int = 512) -> DistanceOverlap:
    """Overlapping area and KL(intra ‖ inter) of the KDEs of intra_set_distances(real) and
    inter_set_distances(real, generated), on a shared grid. Pass held-out real features as
    ``generated_features`` for the reference row: that is how close "as good as real" gets.
    Notebooks: 08."""
    intra = intra_set_distances(real_features)
    inter = inter_set_distances(real_features, generated_features)
    if len(intra) == 0 or len(inter) == 0:
        raise ValueError("need at least two real samples and one generated sample without nan features")
    grid = shared_grid(intra, inter, size=grid_size)
    p, q = kde(intra, grid, reach=40.0), kde(inter, grid, reach=40.0)   # to where a Gaussian underflows
    return DistanceOverlap(overlap_area(p, q, grid), kl_divergence(p, q, grid), intra, inter, grid, p, q)


# ----------------------------------------------------------------------------- 3. copy detection

def _flat(bars) -> torch.Tensor:
    """Bars (n, steps, keys) or rows (n, features) as float32 0/1 rows (on = value > 0.5)."""
    x = torch.from_numpy(as_binary(bars))
    return x.reshape(len(x), -1).float()


def jaccard_nearest(x_bars, corpus_bars, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """For each binary bar of ``x_bars``: the Jaccard distance 1 - |A∩B| / |A∪B| to its nearest
    bar in ``corpus_bars`` and that bar's index. 0 = an exact copy of a training bar.

    |A∩B| for all pairs is one matrix product of the flattened 0/1 bars; it runs over chunks of
    ``chunk`` x ``chunk`` pairs, so memory stays small for any corpus. An empty query bar has no
    nearest bar (distance nan, index -1); it is reported by the empty-bar rate instead.
    Notebooks: 02, 08.
    """
    x, c = _flat(x_bars), _flat(corpus_bars)
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"bars differ in shape: {tuple(np.shape(x_bars)[1:])} vs {tuple(np.shape(corpus_bars)[1:])}")
    if len(c) == 0:
        raise ValueError("the corpus has no bars")
    best = torch.full((len(x),), float("inf"))
    index = torch.full((len(x),), -1, dtype=torch.long)
    nx, nc = x.sum(1), c.sum(1)
    for i in range(0, len(x), chunk):
        for j in range(0, len(c), chunk):
            both = x[i:i + chunk] @ c[j:j + chunk].T                     # |A∩B|, exact in float32
            union = nx[i:i + chunk, None] + nc[None, j:j + chunk] - both
            dist = torch.where(union > 0, 1 - both / union.clamp(min=1), torch.ones_like(both))
            d, k = dist.min(dim=1)
            better = d < best[i:i + chunk]
            best[i:i + chunk] = torch.where(better, d, best[i:i + chunk])
            index[i:i + chunk] = torch.where(better, k + j, index[i:i + chunk])
    empty = nx == 0
    best[empty], index[empty] = float("nan"), -1
    return best.numpy().astype(float), index.numpy()


def copy_summary(distances, clusters=None, seed: int = 0) -> dict:
    """The distances of a set of bars to their nearest training bars (``jaccard_nearest``; nan for
    an empty bar, dropped) summed up: {"median": the median distance with its percentile-bootstrap
    ``Interval``, "exact": the share of exact copies (distance 0) as a ``Proportion``}, both
    resampling whole ``clusters`` (one label per bar: its piece) when given.
    Notebooks: 08."""
    d = np.asarray(distances, dtype=float)
    keep = ~np.isnan(d)
    groups = None if clusters is None else np.asarray(clusters)[keep]
    return {"median": bootstrap_interval(d[keep], lambda v: float(np.median(v)), seed=seed, clusters=groups),
            "exact": proportion_interval((d[keep] == 0).astype(float), clusters=groups, seed=seed)}


class RunMatch(NamedTuple):
    """The longest run shared with a corpus: its length (in notes), the corpus sequence it is
    in, and where it starts in the query and in that sequence (-1 when the length is 0)."""
    length: int
    index: int
    start: int
    corpus_start: int


_BASE = np.uint64(0x9E3779B97F4A7C15)          # odd, so it has an inverse modulo 2^64
_FILTER_BITS = 20                               # longest_common_run's filter: 2^20 bits


def _window_hashes(values: np.ndarray, width: int, powers: np.ndarray, inverse_powers: np.ndarray) -> np.ndarray:
    """Polynomial hash sum_j v[s+j] B^j (mod 2^64) of every window of ``width`` values, from one
    prefix sum: (S[s+width] - S[s]) * B^-s, with S[k] = sum_{i<k} v[i] B^i. uint64 wraps mod 2^64."""
    prefix = np.concatenate([[np.uint64(0)], np.cumsum(values * powers[:len(values)], dtype=np.uint64)])
    n = len(values) - width + 1
    return (prefix[width:width + n] - prefix[:n]) * inverse_powers[:n]


def longest_common_run(seq, corpus_seqs, transpose: bool = False) -> RunMatch:
    """The longest contiguous run of ``seq`` (e.g. the pitches of a generated tune,
    ``validity.token_pitches``) that also occurs in one of ``corpus_seqs`` (the training tunes).

    A run of length L shared implies one of length L - 1, so binary search on L; each step hashes
    every window of length L in the query and in the corpus (one prefix sum each, vectorised) and
    looks each corpus window's hash up among the query's (a filter on the hash's top 20 bits, then
    a binary search); a candidate is then compared value by value, so a hash collision cannot fake
    a match. ``transpose=True`` compares intervals instead
    of pitches (a copy moved to another key); the length is still counted in notes.
    Notebooks: 08.
    """
    def prepare(s):
        s = np.asarray(s, dtype=np.int64).ravel()
        return np.diff(s) if transpose else s

    query, tunes = prepare(seq), [prepare(s) for s in corpus_seqs]
    lengths = np.array([len(t) for t in tunes], dtype=np.int64)
    corpus = np.concatenate(tunes + [np.zeros(0, np.int64)]).astype(np.uint64) + np.uint64(1 << 20)
    owner = np.repeat(np.arange(len(tunes)), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    q = query.astype(np.uint64) + np.uint64(1 << 20)            # offset: intervals can be negative
    n = max(len(corpus), len(q)) + 1
    powers, inverse = (np.concatenate([[np.uint64(1)], np.cumprod(np.full(n - 1, b, dtype=np.uint64), dtype=np.uint64)])
                       for b in (_BASE, np.uint64(pow(int(_BASE), -1, 1 << 64))))    # B^k and B^-k mod 2^64

    def find(width: int):
        """(tune, query start, tune start) of a shared run of ``width`` values, or None."""
        if width == 0:
            return (0, 0, 0)
        if width > len(q) or width > (lengths.max() if len(lengths) else 0):
            return None
        hq = _window_hashes(q, width, powers, inverse)
        hc = _window_hashes(corpus, width, powers, inverse)
        inside = owner[:len(hc)] == owner[width - 1:width - 1 + len(hc)]   # the window stays in one tune
        top = np.uint64(64 - _FILTER_BITS)
        filter_ = np.zeros(1 << _FILTER_BITS, dtype=bool)
        filter_[hq >> top] = True           # a bit per value of a hash's top bits: a query window may have them
        maybe = np.flatnonzero(inside & filter_[hc >> top])
        known = np.sort(hq)                 # those few candidates looked up exactly, by binary search
        for pos in maybe[known[np.searchsorted(known, hc[maybe]).clip(max=len(known) - 1)] == hc[maybe]]:
            for s in np.flatnonzero(hq == hc[pos]):
                if np.array_equal(q[s:s + width], corpus[pos:pos + width]):
                    tune = int(owner[pos])
                    return (tune, int(s), int(pos - starts[tune]))
        return None

    lo, hi, found = 0, len(q), (0, 0, 0)
    while lo < hi:                                  # the largest width with a match
        mid = (lo + hi + 1) // 2
        match = find(mid)
        if match is None:
            hi = mid - 1
        else:
            lo, found = mid, match
    if lo > 0:
        return RunMatch(lo + 1 if transpose else lo, *found)
    if transpose and len(np.ravel(seq)) and any(len(np.ravel(s)) for s in corpus_seqs):
        return RunMatch(1, next(i for i, s in enumerate(corpus_seqs) if len(np.ravel(s))), 0, 0)  # one note
    return RunMatch(0, -1, -1, -1)


# ----------------------------------------------------------------------------- 4. content ids

def _canonical(obj) -> bytes:
    """Bytes that identify the content (and its type) of an array, tensor, bytes, text, number,
    or a list/tuple/dict of these."""
    if hasattr(obj, "detach"):                        # a torch tensor
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        head = f"ndarray:{obj.dtype.str}:{obj.shape}:".encode()
        return head + np.ascontiguousarray(obj).tobytes()
    if isinstance(obj, (bytes, bytearray)):
        return b"bytes:" + bytes(obj)
    if isinstance(obj, str):
        return b"str:" + obj.encode("utf-8")
    if isinstance(obj, (bool, int, float, np.integer, np.floating)) or obj is None:
        return b"json:" + json.dumps(obj.item() if hasattr(obj, "item") else obj).encode()
    if isinstance(obj, (list, tuple)):
        return b"seq:" + b"".join(hashlib.sha1(_canonical(x)).digest() for x in obj)
    if isinstance(obj, dict):
        items = sorted((str(k), hashlib.sha1(_canonical(v)).digest()) for k, v in obj.items())
        return b"dict:" + b"".join(k.encode() + b"=" + v for k, v in items)
    raise TypeError(f"content_id cannot hash a {type(obj).__name__}")


def content_id(obj, length: int = 12) -> str:
    """A short stable hash of the content of ``obj`` (a waveform, a piano roll, a token list, text):
    the first ``length`` hex digits of SHA-1 over its bytes, dtype and shape. The same content gives
    the same id in every process and on every machine (unlike ``hash()``); any changed sample,
    token or dtype gives another. Listening-test pairs carry it, so ratings follow the clip heard."""
    if not 4 <= length <= 40:
        raise ValueError(f"length must be between 4 and 40 hex digits, got {length}")
    return hashlib.sha1(_canonical(obj)).hexdigest()[:length]


# ----------------------------------------------------------------------------- 5. scaling laws

def _scaling_law(n, E, logA, alpha):
    return E + np.exp(logA - alpha * np.log(n))


def fit_scaling_law(n_params, losses, starts=(0.1, 0.3, 1.0)) -> dict:
    """Fit L(N) = E + A / N^alpha (Kaplan et al. 2020; Hoffmann et al. 2022's parametric form
    without the data term) by least squares (scipy's ``curve_fit``), with E between 0 and the
    smallest loss, from one start per alpha in ``starts`` (the best fit is kept). Returns {"E", "A",
    "alpha", "predicted", "residuals", "E_at_bound"} (residuals = measured - predicted loss, in
    nats; ``E_at_bound``: E ended within 1e-4 nats of 0 or of the smallest loss, so the points do
    not place the floor and alpha is not identified by them)."""
    from scipy.optimize import curve_fit

    N = np.asarray(n_params, dtype=float)
    L = np.asarray(losses, dtype=float)
    if len(np.unique(N)) < 4:
        raise ValueError(f"fitting 3 parameters needs at least 4 sizes, got {len(np.unique(N))}")
    best = None
    for alpha0 in starts:
        p0 = (0.9 * L.min(), math.log(max(L.max() - 0.9 * L.min(), 1e-3)) + alpha0 * math.log(N.min()), alpha0)
        try:
            params, _ = curve_fit(_scaling_law, N, L, p0=p0, bounds=([0.0, -50.0, 0.0], [L.min(), 50.0, 3.0]),
                                  maxfev=20000)
        except RuntimeError:        # no convergence from this start
            continue
        sse = float(np.sum((L - _scaling_law(N, *params)) ** 2))
        if best is None or sse < best[0]:
            best = (sse, params)
    if best is None:
        raise RuntimeError("the scaling-law fit did not converge from any start")
    E, logA, alpha = best[1]
    predicted = _scaling_law(N, E, logA, alpha)
    return {"E": float(E), "A": float(math.exp(logA)), "alpha": float(alpha), "predicted": predicted,
            "residuals": L - predicted, "E_at_bound": bool(E < 1e-4 or E > L.min() - 1e-4)}


def bootstrap_scaling_law(n_params, losses, n_boot: int = 200, level: float = 0.95, seed: int = 0) -> dict:
    """Fit L(N) = E + A / N^alpha to the mean loss of each size and bootstrap it by resampling the
    seeds *within* each size (several runs per N: ``n_params`` and ``losses`` hold one entry per
    trained model). Returns {"fit" (``fit_scaling_law`` of the means), "sizes", "means", "E", "A",
    "alpha" (each an ``Interval``: the estimate and the percentile interval of the ``n_boot``
    refits), "bound_share" (the share of refits whose E ended on a bound), "identified", "why"}.
    ``identified`` is False, with the reasons in ``why``, when E sits on a bound, when more than 10%
    of the refits put it on one, when alpha's interval spans more than a factor of 2, or when E's
    is wider than half the spread of the means: the points then do not pin the floor, and the
    exponent depends on where it is put. With 2 or 3 seeds a size the interval is, if anything,
    too narrow (a bootstrap of n values sees a (n - 1) / n share of their variance).
    Notebooks: 10."""
    N, L = np.asarray(n_params, dtype=float), np.asarray(losses, dtype=float)
    sizes = np.unique(N)
    groups = [np.flatnonzero(N == n) for n in sizes]
    if min(len(g) for g in groups) < 2:
        raise ValueError("bootstrapping over seeds needs at least 2 runs of every size")
    means = np.array([L[g].mean() for g in groups])
    fit = fit_scaling_law(sizes, means)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        resampled = np.array([rng.choice(L[g], len(g)).mean() for g in groups])
        f = fit_scaling_law(sizes, resampled, starts=(fit["alpha"], 0.3))
        draws.append((f["E"], f["A"], f["alpha"], f["E_at_bound"]))
    draws = np.array(draws)
    q = [(1 - level) / 2, (1 + level) / 2]
    iv = {k: Interval(fit[k], *map(float, np.quantile(draws[:, col], q)), len(L)) for col, k in enumerate(("E", "A", "alpha"))}
    bound_share = float(draws[:, 3].mean())
    why = [reason for reason, flagged in (
        ("E sits on a bound of the fit", fit["E_at_bound"]),
        (f"E lands on a bound in {bound_share:.0%} of the refits", bound_share > 0.1),
        ("alpha's interval spans more than a factor of 2", iv["alpha"].high > 2 * iv["alpha"].low),
        ("E's interval is wider than half the spread of the losses", iv["E"].high - iv["E"].low > 0.5 * np.ptp(means)),
    ) if flagged]
    return {"fit": fit, "sizes": sizes, "means": means, **iv, "bound_share": bound_share,
            "identified": not why, "why": "; ".join(why)}


def heldout_seed_errors(n_params, losses, seeds) -> dict:
    """A test of a scaling-law fit that can fail: leave out one seed at a time, fit on the other
    seeds' mean loss per size, and predict the left-out runs. Returns the root-mean-square error
    of three predictions: "power law" (``fit_scaling_law``), "straight line in log N" (L = a + b
    log N, two parameters, no floor) and "other seeds' mean" (each size's mean over the other
    seeds, no law at all: about the seed-to-seed noise). A power law worth its floor E predicts
    left-out seeds better than the straight line.
    Notebooks: 10."""
    N, L, seeds = np.asarray(n_params, dtype=float), np.asarray(losses, dtype=float), np.asarray(seeds)
    errors = {"power law": [], "straight line in log N": [], "other seeds' mean": []}
    for s in np.unique(seeds):
        train, test = seeds != s, seeds == s
        sizes = np.unique(N[train])
        means = np.array([L[train & (N == n)].mean() for n in sizes])
        fit = fit_scaling_law(sizes, means)
        line = np.polyfit(np.log(sizes), means, 1)
        predictions = {"power law": _scaling_law(N[test], fit["E"], math.log(fit["A"]), fit["alpha"]),
                       "straight line in log N": np.polyval(line, np.log(N[test])),
                       "other seeds' mean": means[np.searchsorted(sizes, N[test])]}
        for name, predicted in predictions.items():
            errors[name].extend(L[test] - predicted)
    return {name: float(np.sqrt(np.mean(np.square(e)))) for name, e in errors.items()}


def describe_samples(token_lists, train_pitches) -> dict:
    """What a set of sampled tunes (folk-rnn token lists) is like, beside real ones: "valid" and
    "bars" (``validity_rates``: valid tunes, inner bars that add up to the meter), "distinct"
    (:func:`distinct_ngrams`, 4-grams) and "copy", the median over the tunes of the longest run of
    notes shared with one of ``train_pitches`` (the training tunes' ``token_pitches``), in any
    key (``longest_common_run(transpose=True)``).
    Notebooks: 10."""
    rates = validity_rates(token_lists)
    runs = [longest_common_run(token_pitches(t), train_pitches, transpose=True).length for t in token_lists]
    return dict(valid=rates["valid"], bars=rates["bars"], distinct=distinct_ngrams(token_lists),
                copy=float(np.median(runs)))
