"""Notebook 10's plumbing: sample statistics (metrics) and figures (plots) it calls as ml.X."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import musiclab as ml  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------------------ metrics
def test_distinct_ngrams_counts_repeats_within_and_across_tunes():
    tune = list("abcdabcd")                    # 4-grams abcd bcda cdab dabc abcd: 4 distinct of 5
    assert ml.distinct_ngrams([tune]) == pytest.approx(4 / 5)
    assert ml.distinct_ngrams([tune, tune]) == pytest.approx(4 / 10)   # a copied tune adds no new 4-gram
    assert ml.distinct_ngrams([list("abcdefg")]) == 1.0                 # nothing repeats
    assert ml.distinct_ngrams([list("abab")], n=2) == pytest.approx(2 / 3)
    assert ml.distinct_ngrams([list("abc"), []]) == 0.0                 # too short for a 4-gram
    # n-grams stop at the end of a tune: two tunes are not one stream
    assert ml.distinct_ngrams([list("ab"), list("cd")], n=3) == 0.0


def test_long_note_share_reads_the_duration_after_each_pitch():
    # A quarter (2 eighths), an eighth (no duration token), a dotted eighth (3/2), a sixteenth (/2),
    # a half note (4), a dotted quarter tied on (3 -): long are the 2, the 4 and the 3.
    tune = ["M:6/8", "K:Dmaj", "A", "2", "B", "|", "c", "3/2", "d", "/2", "e", "4", "f", "3", "-", "f", "|"]
    assert ml.long_note_share([tune]) == pytest.approx(3 / 7)
    assert ml.long_note_share([tune, tune[:4]]) == pytest.approx(4 / 8)      # pooled: one more note, a quarter
    assert math.isnan(ml.long_note_share([["M:2/4", "K:Gmaj", "|"]]))         # no note, no share


def test_long_note_gap_pools_notes_and_resamples_whole_tunes():
    song = ["M:3/4", "K:Gmaj", "G", "2", "A", "2", "B", "2", "|"]           # three quarters: all long
    reel = ["M:4/4", "K:Dmaj", "A", "B", "c", "d", "e", "f", "g", "a", "|"]    # eight eighths: none long
    mixed = ["M:4/4", "K:Dmaj", "A", "2", "B", "c", "|"]                       # one long note of three
    gap = ml.long_note_gap([song, mixed], [reel, mixed])
    assert gap.estimate == pytest.approx(ml.long_note_share([song, mixed]) - ml.long_note_share([reel, mixed]))
    assert gap.low <= gap.estimate <= gap.high and gap.n == 4
    fixed = ml.long_note_gap([song, song], [reel])                             # no spread to resample
    assert (fixed.estimate, fixed.low, fixed.high) == (1.0, 1.0, 1.0)
    same = ml.long_note_gap([song, reel, mixed] * 3, [song, reel, mixed] * 3)
    assert same.estimate == 0 and same.low < 0 < same.high                    # one set against itself
    with pytest.raises(ValueError, match="notes in both"):
        ml.long_note_gap([song], [["M:2/4", "K:Gmaj", "|"]])


def test_long_note_share_tells_german_songs_from_irish_tunes():
    irish = [p for p in ml.load_corpus("oneills")[:60]]
    essen = [p for p in ml.load_corpus("essen")[:60]]
    tokens = lambda pieces: [ml.tokenize_abc(p.abc) for p in pieces]
    assert ml.long_note_share(tokens(essen)) > ml.long_note_share(tokens(irish))


def test_describe_samples_on_the_training_tunes_themselves():
    pieces = ml.load_corpus("oneills")[:12]
    tunes = [ml.tokenize_abc(p.abc) for p in pieces]
    pitches = [ml.token_pitches(t) for t in tunes]
    report = ml.describe_samples(tunes, pitches)
    rates = ml.validity_rates(tunes)
    assert report["valid"] == rates["valid"] and report["bars"] == rates["bars"]
    assert report["distinct"] == ml.distinct_ngrams(tunes)
    # every tune is in the training set, so its longest shared run is the whole tune
    assert report["copy"] == float(np.median([len(p) for p in pitches]))
    # against other tunes the runs are shorter
    others = [ml.token_pitches(ml.tokenize_abc(p.abc)) for p in ml.load_corpus("oneills")[100:140]]
    assert ml.describe_samples(tunes, others)["copy"] < report["copy"]


def test_attention_head_stats_of_known_heads():
    T = 6
    local = torch.eye(T)                                         # every query reads itself
    previous = torch.zeros(T, T)
    previous[0, 0] = 1
    previous[torch.arange(1, T), torch.arange(T - 1)] = 1        # every query reads the token before
    uniform = torch.tril(torch.ones(T, T))
    uniform = uniform / uniform.sum(-1, keepdim=True)            # every earlier token alike
    maps = torch.stack([local, previous, uniform])[None]         # (1 layer, 3 heads, T, T)
    stats = ml.attention_head_stats(maps, marked=[0])
    assert stats["look_back"].shape == stats["share"].shape == (1, 3)
    assert stats["look_back"][0, 0] == 0
    assert stats["look_back"][0, 1] == pytest.approx((T - 1) / T)          # one back, except at the start
    assert stats["look_back"][0, 2] == pytest.approx(np.mean([i / 2 for i in range(T)]))
    assert stats["share"][0, 0] == pytest.approx(1 / T)                      # only query 0 reads key 0
    assert stats["share"][0, 1] == pytest.approx(2 / T)                      # queries 0 and 1 read it
    assert stats["share"][0, 2] == pytest.approx(np.mean([1 / (i + 1) for i in range(T)]))


def test_attention_head_stats_of_a_trained_shape():
    torch.manual_seed(0)
    model = ml.GPT(ml.GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=3, n_embd=12))
    maps = ml.attention_maps(model, torch.randint(0, 20, (1, 16)))[0]
    stats = ml.attention_head_stats(maps, marked=range(16))
    assert torch.allclose(stats["share"], torch.ones(2, 3))                  # all keys marked: all weight
    assert torch.all(stats["look_back"] >= 0) and torch.all(stats["look_back"] <= 15)


# ------------------------------------------------------------------------------------ plots
def test_plot_val_curves_draws_one_labelled_line_per_curve():
    fig = ml.plot_val_curves({"fine-tuned": ([0, 10, 20], [3.0, 2.5, 2.2]), "scratch": ([0, 10, 20], [4.0, 3.0, 2.7])},
                             title="t", xlabel="fine-tuning step")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["fine-tuned", "scratch"]
    assert list(ax.get_lines()[1].get_ydata()) == [4.0, 3.0, 2.7]
    assert ax.get_xlabel() == "fine-tuning step" and ax.get_title() == "t"


def test_plot_data_sweep_has_curves_and_best_losses():
    histories = {16_000: {"val_step": [50, 100], "val": [3.0, 2.6]},
                 4_000: {"val_step": [50, 100], "val": [3.1, 3.3]}}
    fig = ml.plot_data_sweep(histories, title="sweep")
    left, right = fig.axes
    assert sorted(line.get_label() for line in left.get_lines()) == ["16,000 tokens", "4,000 tokens"]
    (best,) = right.get_lines()
    assert list(best.get_xdata()) == [4_000, 16_000] and list(best.get_ydata()) == [3.1, 2.6]
    assert right.get_xscale() == "log"


def test_plot_scaling_fit_draws_points_curve_and_floor():
    N = np.array([1e3, 1e4, 1e5, 1e6])
    fit = {"E": 1.5, "A": 30.0, "alpha": 0.5}
    L = fit["E"] + fit["A"] * N ** -fit["alpha"]
    fig = ml.plot_scaling_fit(N, L, fit)
    ax = fig.axes[0]
    points, curve, floor = ax.get_lines()
    assert np.allclose(points.get_ydata(), L)
    x = np.asarray(curve.get_xdata())
    assert x.min() == pytest.approx(N.min() / 2) and x.max() == pytest.approx(N.max() * 4)
    assert np.allclose(curve.get_ydata(), 1.5 + 30 * x ** -0.5)
    assert np.allclose(floor.get_ydata(), 1.5)
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_plot_scaling_fit_minus_the_floor_is_a_straight_line():
    N = np.array([1e3, 1e4, 1e5, 1e6])
    fit = {"E": 1.5, "A": 30.0, "alpha": 0.5}
    L = np.array([2.5, 1.8, 1.5, 1.5])                 # the last two at the floor: not drawable on a log axis
    fig = ml.plot_scaling_fit(N, L, fit, subtract_floor=True, runs=(np.repeat(N, 2), np.repeat(L, 2) + 0.01))
    ax = fig.axes[0]
    runs, points, curve = ax.get_lines()
    assert np.allclose(points.get_ydata(), [1.0, 0.3]) and "2 at or below E" in points.get_label()
    assert len(runs.get_ydata()) == 8
    x = np.asarray(curve.get_xdata())
    slope = np.diff(np.log(curve.get_ydata())) / np.diff(np.log(x))
    assert np.allclose(slope, -0.5)                      # A N^-alpha: a line of slope -alpha
    assert ax.get_xscale() == ax.get_yscale() == "log" and "minus E" in ax.get_ylabel()


def test_plot_attention_heads_one_panel_per_head_with_marks():
    maps = torch.softmax(torch.randn(3, 8, 8), -1)
    fig = ml.plot_attention_heads(maps, marks=[2, 5], layer=1)
    assert [ax.get_title() for ax in fig.axes] == ["layer 1, head 0", "layer 1, head 1", "layer 1, head 2"]
    image = fig.axes[0].get_images()[0].get_array()
    assert np.allclose(image, maps[0].numpy() ** 0.5)               # the square root of the weights
    assert len(fig.axes[0].get_lines()) == 4                         # two marks, each a row and a column
    with pytest.raises(ValueError):
        ml.plot_attention_heads(torch.ones(8, 8))


def test_quiet_share_counts_near_silent_frames():
    sr = 1000
    tone = np.sin(2 * np.pi * 50 * np.arange(sr) / sr)            # one second of sound
    assert ml.quiet_share(tone, sr=sr) == 0.0
    clip = np.concatenate([tone, np.zeros(3 * sr)])                # then three seconds of silence
    assert ml.quiet_share(clip, sr=sr) == pytest.approx(0.75)
    hum = np.concatenate([tone, 0.001 * tone])                     # 60 dB down counts as quiet at 40 dB ...
    assert ml.quiet_share(hum, sr=sr) == pytest.approx(0.5)
    assert ml.quiet_share(hum, sr=sr, below_db=80) == 0.0          # ... but not at 80 dB
    assert ml.quiet_share(np.zeros(sr), sr=sr) == 1.0
    assert math.isnan(ml.quiet_share(np.zeros(10), sr=sr))          # shorter than one frame
