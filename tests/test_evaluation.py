"""Bootstrap intervals, Yang & Lerch overlap, copy detection and content ids, against cases whose
answers follow from the definitions (analytic densities, brute force, hand-made bars)."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from musiclab.validity import validity_rates
from musiclab.evaluation import (NOTE_LENGTHS, bootstrap_interval, validity_intervals, content_id, distance_overlap, inter_set_distances,
                                 intra_set_distances, jaccard_nearest, kde, kl_divergence, longest_common_run,
                                 note_length_histogram, overlap_area, set_features, shared_grid)


integrate = getattr(np, "trapezoid", None) or np.trapz     # numpy 2 renamed trapz


def normal_pdf(x, mean=0.0, sd=1.0):
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def normal_cdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


# ----------------------------------------------------------------------------- bootstrap

def test_bootstrap_of_the_mean_matches_the_normal_interval():
    x = np.random.default_rng(1).normal(5.0, 2.0, 400)
    est, low, high, n = bootstrap_interval(x, n_boot=2000)
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x))          # the textbook interval for the mean
    assert n == 400 and est == pytest.approx(x.mean())
    assert low < est < high
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert (low + high) / 2 == pytest.approx(est, abs=0.1 * half)


def test_bootstrap_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    hits = [lo <= 0.3 <= hi for lo, hi in
            (bootstrap_interval(rng.binomial(1, 0.3, 200), n_boot=400, seed=k)[1:3] for k in range(200))]
    assert 0.88 <= np.mean(hits) <= 0.99


def test_bootstrap_details():
    x = np.arange(10.0)
    assert bootstrap_interval(x, seed=3) == bootstrap_interval(x, seed=3)               # seeded
    assert bootstrap_interval(np.r_[x, np.nan]).n == 10                                 # nan dropped
    skewed = np.r_[x[:-1], 100.0]
    assert bootstrap_interval(skewed, statistic=np.median).estimate == 4.5                # any statistic
    wide, narrow = bootstrap_interval(x, level=0.99), bootstrap_interval(x, level=0.5)
    assert wide.low <= narrow.low <= narrow.high <= wide.high
    assert np.isnan(bootstrap_interval([]).estimate) and bootstrap_interval([]).n == 0
    one = bootstrap_interval([0.7])
    assert one.low == one.high == one.estimate == 0.7                                   # n=1: no spread at all
    pairs = np.stack([x, x[::-1]], axis=1)                                              # 2-D: rows are observations
    assert bootstrap_interval(pairs, statistic=lambda v: np.mean(v[:, 0] > v[:, 1])).estimate == 0.5


def test_clustered_bootstrap_is_as_wide_as_the_clusters_say():
    # 8 raters, each with a strong bias, 50 ratings each with little noise: the information is in
    # the 8 raters, not in the 400 ratings
    rng = np.random.default_rng(4)
    bias = rng.normal(0, 1, 8)
    raters = np.repeat(np.arange(8), 50)
    ratings = bias[raters] + rng.normal(0, 0.1, len(raters))
    naive = bootstrap_interval(ratings)
    clustered = bootstrap_interval(ratings, clusters=raters)
    of_means = bootstrap_interval([ratings[raters == r].mean() for r in range(8)])
    assert clustered.n == naive.n == 400 and clustered.estimate == naive.estimate
    assert clustered.high - clustered.low > 4 * (naive.high - naive.low)
    assert clustered.high - clustered.low == pytest.approx(of_means.high - of_means.low, rel=0.25)
    with pytest.raises(ValueError, match="labels"):
        bootstrap_interval(ratings, clusters=raters[:-1])


def test_validity_intervals_give_the_rates_and_resample_whole_tunes():
    good = ["M:2/4", "K:Gmaj", "G", "|", "G", "A", "B", "c", "|", "d", "2", "G", "2", "|]"]     # 1 inner bar, ok
    bad = ["M:2/4", "K:Gmaj", "G", "|"] + ["A", "B", "c", "|"] * 12 + ["G", "2", "|]"]        # 12 inner bars of 3/8
    tunes = [good] * 30 + [bad] * 10 + [good[2:]] * 5             # 5 without a header (nor meter: bars not counted)
    rates, intervals = validity_rates(tunes), validity_intervals(tunes, n_boot=400)
    for key in ("header", "bars", "chords", "tonic", "valid"):
        assert intervals[key].estimate == pytest.approx(rates[key])
        assert intervals[key].low <= intervals[key].estimate <= intervals[key].high
        assert intervals[key].n == 45
    assert intervals["n_tunes"] == 45 and intervals["n_bars"] == rates["n_bars"] == 30 + 120
    # bars of one tune go together: the pooled rate's interval is as wide as the tunes make it,
    # wider than one that treats the 150 bars as independent
    ok = np.repeat([1.0, 0.0], [30, 120])
    per_bar = bootstrap_interval(ok, n_boot=400)
    assert per_bar.estimate == intervals["bars"].estimate == 0.2
    assert intervals["bars"].high - intervals["bars"].low > 1.5 * (per_bar.high - per_bar.low)
    assert intervals["header"].high < 1.0 and intervals["chords"].low == 1.0          # 5 of 45 lack one; none open
    empty = validity_intervals([])
    assert empty["n_tunes"] == 0 and np.isnan(empty["bars"].estimate) and np.isnan(empty["valid"].estimate)


# ----------------------------------------------------------------------------- overlap area and KL

def test_overlap_area_of_two_gaussians_is_twice_the_tail():
    grid = np.linspace(-12, 15, 6001)
    for d in (0.0, 0.5, 2.0, 4.0):
        p, q = normal_pdf(grid), normal_pdf(grid, mean=d)
        assert overlap_area(p, q, grid) == pytest.approx(2 * normal_cdf(-d / 2), abs=1e-6)
        assert kl_divergence(p, q, grid) == pytest.approx(d ** 2 / 2, abs=1e-6)           # KL of unit Gaussians


def test_kl_of_gaussians_with_different_spread():
    grid = np.linspace(-20, 20, 8001)
    p, q = normal_pdf(grid, 0, 1), normal_pdf(grid, 1, 2)
    expected = math.log(2 / 1) + (1 + 1 ** 2) / (2 * 2 ** 2) - 0.5
    assert kl_divergence(p, q, grid) == pytest.approx(expected, abs=1e-6)
    assert kl_divergence(p, p, grid) == pytest.approx(0, abs=1e-12)


def test_overlap_area_of_two_uniform_densities():
    grid = np.linspace(-1, 4, 50001)
    p = ((grid >= 0) & (grid <= 2)) / 2.0          # U(0, 2)
    q = ((grid >= 1) & (grid <= 3)) / 2.0          # U(1, 3): they share [1, 2], density 1/2 there
    assert overlap_area(p, q, grid) == pytest.approx(0.5, abs=1e-3)


def test_kde_of_samples_recovers_the_analytic_overlap():
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 4000), rng.normal(1, 1, 4000)
    grid = shared_grid(a, b)
    pa, pb = kde(a, grid), kde(b, grid)
    assert integrate(pa, grid) == pytest.approx(1.0)
    assert np.abs(pa - normal_pdf(grid)).max() < 0.03
    assert overlap_area(pa, pb, grid) == pytest.approx(2 * normal_cdf(-0.5), abs=0.03)
    # the binned estimate equals one Gaussian per value, summed (up to the grid step)
    sample = rng.gamma(2.0, 1.0, 300)
    grid = shared_grid(sample)
    h = sample.std() * len(sample) ** (-1 / 5)
    direct = normal_pdf(grid[:, None], sample[None], h).mean(axis=1)
    assert np.abs(kde(sample, grid) - direct).max() < 1e-3 * direct.max()
    # identical values still give a density (bandwidth floored at the grid step)
    same = np.ones(50)
    grid = shared_grid(same)
    assert overlap_area(kde(same, grid), kde(same, grid), grid) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- Yang & Lerch

def test_set_distances_against_brute_force():
    rng = np.random.default_rng(6)
    a, b = rng.random((7, 3)), rng.random((4, 3))
    intra = sorted(np.linalg.norm(a[i] - a[j]) for i in range(7) for j in range(i + 1, 7))
    inter = sorted(np.linalg.norm(x - y) for x in a for y in b)
    np.testing.assert_allclose(np.sort(intra_set_distances(a)), intra)
    np.testing.assert_allclose(np.sort(inter_set_distances(a, b)), inter)
    with_nan = np.vstack([a, np.full(3, np.nan)])                      # an empty bar's histogram
    np.testing.assert_allclose(np.sort(intra_set_distances(with_nan)), intra)


def melody_bars(rng, n, scale, lengths):
    """n one-bar melodies (16 steps, 88 keys) with pitches from ``scale`` and note lengths from ``lengths``."""
    bars = np.zeros((n, 16, 88), np.float32)
    for b in range(n):
        t = 0
        while t < 16:
            step = min(int(rng.choice(lengths)), 16 - t)
            bars[b, t:t + step, 60 + int(rng.choice(scale)) - 21] = 1
            t += step
    return bars


def test_real_overlaps_held_out_real_more_than_random():
    rng = np.random.default_rng(7)
    c_major = [0, 2, 4, 5, 7, 9, 11]
    real = melody_bars(rng, 120, c_major, [2, 2, 4, 4, 8])
    held_out = melody_bars(rng, 120, c_major, [2, 2, 4, 4, 8])
    noise = (rng.random((120, 16, 88)) < 0.03).astype(np.float32)       # a random piano roll
    for feature in ("pitch-class histogram", "note-length histogram", "polyphony"):
        f_real, f_held, f_noise = (set_features(x, feature) for x in (real, held_out, noise))
        good, bad = distance_overlap(f_real, f_held), distance_overlap(f_real, f_noise)
        assert good.oa > bad.oa + 0.2, (feature, good.oa, bad.oa)
        assert good.kl < bad.kl, feature
        assert len(good.intra) == 120 * 119 // 2 and len(good.inter) == 120 * 120
        assert integrate(good.intra_density, good.grid) == pytest.approx(1.0)


def test_note_length_histogram_classes():
    bar = np.zeros((16, 88))
    bar[0:4, 40] = 1      # a quarter (4 steps of a 16th)
    bar[4:10, 42] = 1     # a dotted quarter
    bar[10:12, 43] = 1    # an 8th
    bar[12:13, 44] = 1    # a 16th
    bar[13:16, 45] = 1    # a dotted 8th
    hist = note_length_histogram(bar)
    names = list(NOTE_LENGTHS)
    for name in ("quarter", "dotted quarter", "8th", "16th", "dotted 8th"):
        assert hist[names.index(name)] == pytest.approx(1 / 5), name
    assert hist.sum() == pytest.approx(1.0)
    assert np.isnan(note_length_histogram(np.zeros((16, 88)))).all()


# ----------------------------------------------------------------------------- copy detection

def jaccard(a, b):
    a, b = a.astype(bool).ravel(), b.astype(bool).ravel()
    union = (a | b).sum()
    return 1 - (a & b).sum() / union if union else 0.0


def test_jaccard_nearest_matches_brute_force_for_any_chunk():
    rng = np.random.default_rng(8)
    corpus = (rng.random((37, 8, 12)) < 0.2).astype(np.float32)
    queries = (rng.random((11, 8, 12)) < 0.2).astype(np.float32)
    queries[3] = corpus[29]                                                  # an exact copy
    brute = np.array([[jaccard(q, c) for c in corpus] for q in queries])
    for chunk in (3, 16, 2048):
        dist, index = jaccard_nearest(queries, corpus, chunk=chunk)
        np.testing.assert_allclose(dist, brute.min(axis=1), atol=1e-6)
        np.testing.assert_allclose(brute[np.arange(11), index], brute.min(axis=1), atol=1e-6)
    assert dist[3] == 0 and index[3] == 29
    dist, index = jaccard_nearest(torch.from_numpy(queries), torch.from_numpy(corpus))   # tensors too
    assert dist[3] == 0


def test_jaccard_does_not_call_a_sparse_bar_a_copy_of_an_empty_one():
    query = np.zeros((1, 16, 12))
    query[0, [0, 4, 8, 12], 0] = 1                             # four notes
    empty = np.zeros((16, 12))
    fuller = query[0].copy()
    fuller[[1, 5, 9, 13, 14], 2] = 1                           # the same four notes plus five more
    corpus = np.stack([empty, fuller])
    hamming = [(query[0] != c).sum() for c in corpus]
    assert np.argmin(hamming) == 0                             # Hamming: the empty bar is nearest (4 < 5)
    dist, index = jaccard_nearest(query, corpus)
    assert index[0] == 1 and dist[0] == pytest.approx(1 - 4 / 9)
    dist, index = jaccard_nearest(np.zeros((1, 16, 12)), corpus)
    assert np.isnan(dist[0]) and index[0] == -1                # an empty query has no nearest bar


def brute_longest_run(seq, corpus):
    best = 0
    for tune in corpus:
        for i in range(len(seq)):
            for j in range(len(tune)):
                k = 0
                while i + k < len(seq) and j + k < len(tune) and seq[i + k] == tune[j + k]:
                    k += 1
                best = max(best, k)
    return best


def test_longest_common_run_matches_brute_force():
    rng = np.random.default_rng(9)
    for trial in range(20):
        corpus = [list(rng.integers(0, 3, rng.integers(0, 25))) for _ in range(6)]
        seq = list(rng.integers(0, 3, 18))
        match = longest_common_run(seq, corpus)
        assert match.length == brute_longest_run(seq, corpus)
        if match.length:
            run = seq[match.start:match.start + match.length]
            assert corpus[match.index][match.corpus_start:match.corpus_start + match.length] == run


def test_longest_common_run_finds_a_copied_phrase_and_not_across_tunes():
    rng = np.random.default_rng(10)
    corpus = [rng.integers(60, 72, 150) for _ in range(300)]
    seq = np.concatenate([[100, 101], corpus[123][40:73], [102]])
    match = longest_common_run(seq, corpus)
    assert (match.length, match.index, match.start, match.corpus_start) == (33, 123, 2, 40)
    # a run that exists only across the boundary of two corpus tunes does not count
    assert longest_common_run([1, 2, 3, 4], [[9, 1, 2], [3, 4, 9]]).length == 2
    assert longest_common_run([1, 2], [[3, 4]]) == (0, -1, -1, -1)


def test_longest_common_run_in_another_key():
    tune = [62, 64, 66, 67, 69, 71, 73, 74]                    # D major scale
    copy = [p + 1 for p in tune[1:6]]                          # five notes of it, a semitone higher
    assert longest_common_run(copy, [tune]).length == 1        # only the G (67) is in the tune
    match = longest_common_run(copy, [tune], transpose=True)
    assert (match.length, match.corpus_start) == (5, 1)


# ----------------------------------------------------------------------------- content ids

def test_content_id_follows_the_content():
    wave = np.sin(np.linspace(0, 100, 22050)).astype(np.float32)
    assert content_id(wave) == content_id(wave.copy()) == content_id(torch.from_numpy(wave))
    changed = wave.copy()
    changed[1000] += 1e-6
    assert content_id(changed) != content_id(wave)
    assert content_id(wave.astype(np.float64)) != content_id(wave)                 # dtype counts
    assert content_id(wave.reshape(2, -1)) != content_id(wave)                      # shape counts
    assert content_id(wave[::2]) == content_id(np.ascontiguousarray(wave[::2]))     # a view is its values
    tokens = ["M:6/8", "K:Gmaj", "G", "A", "B"]
    assert content_id(tokens) == content_id(tuple(tokens)) != content_id(tokens[:-1])
    assert content_id(["ab", "c"]) != content_id(["a", "bc"])                       # no join ambiguity
    assert len(content_id(wave)) == 12 and len(content_id(wave, length=8)) == 8
    with pytest.raises(TypeError):
        content_id(object())


def test_content_id_is_the_same_in_another_process():
    code = "import numpy as np; from musiclab.evaluation import content_id; " \
           "print(content_id(np.arange(1000, dtype=np.int16)), content_id(['M:6/8', 'G', 2, 0.5]))"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == [content_id(np.arange(1000, dtype=np.int16)), content_id(["M:6/8", "G", 2, 0.5])]


def test_f1_difference_interval_matches_frame_f1_and_resamples_whole_pieces():
    import musiclab as ml
    rng = np.random.default_rng(0)
    roll = (rng.random((120, 32)) < 0.2).astype(float)
    good = roll * 0.8 + rng.random(roll.shape) * 0.3          # mostly right
    noisy = rng.random(roll.shape)                             # guessing
    pieces = np.arange(120) // 10
    gap = ml.f1_difference_interval(roll, good, 0.5, noisy, 0.5, pieces)
    exact = ml.frame_f1(roll, good, 0.5)[2] - ml.frame_f1(roll, noisy, 0.5)[2]
    assert gap.estimate == pytest.approx(exact) and gap.low < gap.estimate < gap.high and gap.low > 0
    same = ml.f1_difference_interval(roll, good, 0.5, good, 0.5, pieces)
    assert same.estimate == 0 and same.low == 0 and same.high == 0
    # one piece holding every bar: resampling pieces cannot vary anything
    one = ml.f1_difference_interval(roll, good, 0.5, noisy, 0.5, np.zeros(120))
    assert one.low == pytest.approx(one.high)


# ----------------------------------------------------------------------------- notebook 08's reference samples and shares

def test_reference_sample_draws_every_group_in_proportion_at_random():
    import musiclab as ml
    groups = np.array(["chorales"] * 300 + ["oneills"] * 900 + ["ryans"] * 5)   # sorted, as a stack by corpus is
    index = ml.reference_sample(groups, 120, seed=0)
    assert len(index) == len(set(index)) == 120
    counts = {g: int(np.sum(groups[index] == g)) for g in np.unique(groups)}
    assert counts["ryans"] >= 1 and abs(counts["chorales"] - 30) <= 1 and abs(counts["oneills"] - 90) <= 1
    assert not np.array_equal(np.sort(index), np.arange(120))                    # not the first rows
    assert np.array_equal(index, ml.reference_sample(groups, 120, seed=0))       # seeded
    assert set(ml.reference_sample(groups, 120, seed=1)) != set(index)
    assert sorted(ml.reference_sample(groups, 5000, seed=0)) == list(range(len(groups)))   # at most all of them


def test_proportion_interval_is_never_a_point_and_widens_for_clusters():
    import musiclab as ml
    none = ml.proportion_interval(np.zeros(200))
    assert (none.k, none.n, none.estimate, none.low, none.method) == (0, 200, 0.0, 0.0, "Wilson")
    assert none.high > 0.01                                    # 0 of 200 is not "certainly never"
    assert ml.proportion_interval(np.r_[np.ones(50), np.nan]).n == 50
    hits = np.repeat([1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0], 25)   # 8 pieces, each all hits or all misses
    plain, by_piece = ml.proportion_interval(hits), ml.proportion_interval(hits, clusters=np.repeat(np.arange(8), 25))
    assert plain.estimate == by_piece.estimate == 0.5
    assert by_piece.method == "bootstrap" and by_piece.high - by_piece.low > 2 * (plain.high - plain.low)
    with pytest.raises(ValueError):
        ml.proportion_interval([0.5, 1.0])


def test_copy_summary_gives_the_median_and_the_exact_copies_with_intervals():
    import musiclab as ml
    d = np.r_[np.zeros(30), np.full(70, 0.5), np.nan]
    c = ml.copy_summary(d)
    assert c["median"].estimate == 0.5 and c["median"].n == 100
    assert (c["exact"].k, c["exact"].n, c["exact"].estimate) == (30, 100, 0.3) and c["exact"].low < 0.3 < c["exact"].high
    pieces = np.r_[np.repeat(np.arange(10), 10), 99]
    assert ml.copy_summary(d, clusters=pieces)["exact"].high - ml.copy_summary(d, clusters=pieces)["exact"].low > \
        c["exact"].high - c["exact"].low                       # copies sit in 3 of 10 pieces: a wider interval


def test_validity_intervals_can_give_shares_that_are_never_points():
    bad = ["M:4/4", "K:C", "A", "|", "B", "|"]
    plain, shares = validity_intervals([bad] * 12), validity_intervals([bad] * 12, proportions=True)
    assert plain["valid"].high == 0.0                          # the bootstrap of 0 of 12 is the point [0, 0]
    assert shares["valid"].estimate == 0.0 and shares["valid"].high > 0.15 and shares["valid"].n == 12
    assert np.allclose(shares["bars"][:3], plain["bars"][:3], equal_nan=True)   # the pooled bar rate: as before


def test_nll_gap_is_the_difference_of_pooled_nlls_and_resamples_whole_pieces():
    from musiclab.evaluation import nll_gap
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 60, size=30)
    a = [rng.exponential(2.0, n) for n in lengths]                    # model a: about 2 nats per step
    b = [x - 0.3 + rng.normal(0, 0.2, len(x)) for x in a]            # model b: 0.3 nats better, step by step
    gap = nll_gap(a, b)
    pooled = np.concatenate(a).mean() - np.concatenate(b).mean()
    assert gap.estimate == pytest.approx(pooled) and gap.n == 30
    assert 0 < gap.low < gap.estimate < gap.high                      # paired: the shared noise cancels
    totals = nll_gap([x.sum() for x in a], [x.sum() for x in b], steps=lengths)
    assert totals == gap                                              # totals with steps= give the same answer
    assert nll_gap(a, a).low == nll_gap(a, a).high == 0
    unpaired_noise = [rng.exponential(2.0, n) for n in lengths]       # no better on average: the interval holds 0
    tie = nll_gap(a, unpaired_noise)
    assert tie.low < 0 < tie.high
    with pytest.raises(ValueError):
        nll_gap(a, b[:-1])
    with pytest.raises(ValueError):
        nll_gap([x.sum() for x in a], b)                              # totals need steps=
