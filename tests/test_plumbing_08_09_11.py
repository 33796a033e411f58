"""The plumbing of notebooks 08, 09 and 11, moved from their cells into plots.py and metrics.py."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import musiclab as ml  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def bar(keys_at_steps, steps=16, n_keys=24):
    """A (steps, n_keys) bar with key k on at each step of keys_at_steps[k]."""
    b = np.zeros((steps, n_keys), np.float32)
    for key, steps_on in keys_at_steps.items():
        b[list(steps_on), key] = 1
    return b


# ----------------------------------------------------------------------------- metrics


def test_per_bar_metrics_is_bar_metrics_of_each_bar_with_nan_for_an_empty_bar():
    bars = np.stack([bar({0: range(0, 8), 4: range(0, 8), 7: range(8, 16)}), bar({}), bar({2: range(16)})])
    values = ml.per_bar_metrics(bars, low=60)
    assert set(values) == set(ml.bar_metrics(bars[:1], low=60))
    for i, b in enumerate(bars):
        one = ml.bar_metrics(b[None], low=60)
        for metric, v in values.items():
            assert np.isnan(v[i]) if np.isnan(one[metric]) else v[i] == one[metric]
    assert values["EB"].tolist() == [0.0, 1.0, 0.0]
    assert np.isnan(values["H (bits)"][1]) and values["H (bits)"][2] == 0.0   # one pitch class: no uncertainty
    with pytest.raises(ValueError):
        ml.per_bar_metrics([])


def test_four_key_share_counts_frames_with_exactly_four_keys():
    roll = np.zeros((5, 88), np.float32)
    roll[0, [40, 44, 47, 52]] = 1     # four keys
    roll[1, [40, 44, 47]] = 1         # three
    roll[2, [40, 44, 47, 52, 55]] = 1  # five
    roll[3, [41, 45, 48, 53]] = 1     # four; frame 4 is silent
    assert ml.four_key_share(roll) == pytest.approx(2 / 4)
    assert ml.four_key_share(roll, among_sounding=False) == pytest.approx(2 / 5)
    assert ml.four_key_share(np.stack([roll, roll])) == pytest.approx(0.5)   # a stack pools its frames
    assert np.isnan(ml.four_key_share(np.zeros((3, 88))))


def test_continuation_metrics_gives_one_value_per_continuation():
    four = np.zeros((4, 88), np.float32)
    four[:, [39, 43, 46, 51]] = 1     # C major, four voices, every beat
    half = four.copy()
    half[2:, 51] = 0                  # three voices on the last two beats
    values = ml.continuation_metrics(np.stack([four, half]))
    assert list(values) == ["4 keys", "keys per frame", "H (bits)", "SC"]
    assert values["4 keys"].tolist() == [1.0, 0.5]
    assert values["keys per frame"].tolist() == [4.0, 3.5]
    assert values["SC"].tolist() == [1.0, 1.0]     # C E G C: all inside C major
    assert values["H (bits)"][0] == pytest.approx(ml.pitch_class_entropy(four))


def test_cellwise_and_random_bars_draw_what_they_say_in_a_fixed_order():
    train = np.zeros((10, 4, 3), np.float32)
    train[:, 0, 0] = 1            # one cell always on
    train[:5, 2, 1] = 1           # one cell on in half the bars
    cells = ml.cellwise_bars(train, 2000, np.random.default_rng(0))
    assert cells.shape == (2000, 4, 3) and cells.dtype == np.float32
    assert cells[:, 0, 0].all() and cells[:, 2, 1].mean() == pytest.approx(0.5, abs=0.05)
    assert cells.sum() == cells[:, 0, 0].sum() + cells[:, 2, 1].sum()   # every other cell is never on
    # the same draws as the expression notebook 08 had in its cells
    rng = np.random.default_rng(3)
    expected = (rng.random((7, 4, 3)) < train.mean(axis=0)).astype(np.float32)
    assert np.array_equal(ml.cellwise_bars(train, 7, np.random.default_rng(3)), expected)
    noise = ml.random_bars(train, 2000, np.random.default_rng(1))
    assert noise.shape == (2000, 4, 3) and noise.mean() == pytest.approx(train.mean(), abs=0.01)
    rng = np.random.default_rng(4)
    assert np.array_equal(ml.random_bars(train, 5, np.random.default_rng(4)),
                          (rng.random((5, 4, 3)) < train.mean()).astype(np.float32))


def test_tune_roll_moves_a_tune_to_c_and_to_time_zero():
    tokens = ml.tokenize_abc("M:4/4\nK:Gmaj\nz2 G2 A2 B2|c2 B2 A2 G2|")
    roll = ml.tune_roll(tokens, low=36, high=96, steps_per_quarter=4)
    assert roll.shape[1] == 60
    assert roll[0].any()                      # the rest before the first note is cut
    pitches = set(np.flatnonzero(roll.any(axis=0)) + 36)
    assert {p % 12 for p in pitches} <= {0, 2, 4, 5}   # G A B C moved to C D E F


def test_tune_roll_gives_none_for_a_tune_music21_cannot_read():
    assert ml.tune_roll([]) is None


def pieces_of_bars():
    """20 bars of 8 pieces (1 to 4 bars each); bar i has key i % 24 on at every step, so it names itself."""
    pieces = np.array([0, 0, 0, 1, 2, 2, 3, 3, 3, 3, 4, 5, 5, 6, 6, 6, 7, 7, 7, 7])
    bars = np.stack([bar({i % 24: range(16)}) for i in range(len(pieces))])
    return bars, pieces


def test_piece_clips_take_consecutive_bars_of_distinct_pieces_at_random():
    bars, pieces = pieces_of_bars()
    clips, used = ml.piece_clips(bars, pieces, n=5, seed=0, steps=32)
    assert len(clips) == 5 and all(c.shape == (32, 24) for c in clips)
    assert len({u[0] for u in used}) == 5 and all(len(u) == 1 for u in used)
    for clip, (piece,) in zip(clips, used):
        first, second = clip[:16].argmax(axis=1)[0], clip[16:].argmax(axis=1)[0]   # which bars (by their key)
        assert second == first + 1 and pieces[first] == pieces[second] == piece      # consecutive, in that piece
    assert 1 not in {u[0] for u in used} and 4 not in {u[0] for u in used}           # one-bar pieces are skipped
    other, _ = ml.piece_clips(bars, pieces, n=5, seed=1, steps=32)
    assert ml.piece_clips(bars, pieces, n=5, seed=0)[1] == used                        # seeded
    assert any(not np.array_equal(a, b) for a, b in zip(clips, other))                 # another seed, other clips
    with pytest.raises(ValueError, match="distinct pieces"):
        ml.piece_clips(bars, pieces, n=7)                                              # only 6 pieces have two bars


def test_glued_piece_clips_join_bars_of_two_different_pieces():
    bars, pieces = pieces_of_bars()
    clips, used = ml.piece_clips(bars, pieces, n=4, seed=2, steps=32, glued=True)
    flat = [p for u in used for p in u]
    assert len(flat) == 8 and len(set(flat)) == 8                                       # every piece once
    for clip, (a, b) in zip(clips, used):
        assert pieces[clip[:16].argmax(axis=1)[0]] == a and pieces[clip[16:].argmax(axis=1)[0]] == b
    with pytest.raises(ValueError):
        ml.piece_clips(bars, pieces, n=5, glued=True)                                  # 10 pieces needed, 8 exist


def test_clip_texture_counts_keys_per_sounding_step_and_short_notes():
    line = bar({0: range(0, 4), 2: range(4, 6), 4: range(6, 8)}, steps=8)             # one quarter, two eighths
    chords = bar({0: range(8), 4: range(8), 7: range(8), 9: range(4)}, steps=8)        # 3-4 keys, beat-long notes
    t = ml.clip_texture([line])
    assert t["keys per step"] == 1.0 and t["notes < beat"] == pytest.approx(2 / 3)
    t = ml.clip_texture([chords])
    assert t["keys per step"] == pytest.approx(3.5) and t["notes < beat"] == 0.0
    assert np.isnan(ml.clip_texture([np.zeros((8, 24))])["keys per step"])


def test_scale_fit_prefers_a_major_scale_to_a_chromatic_cluster():
    sr = 22050
    t = np.arange(int(0.5 * sr)) / sr
    tone = lambda midi: np.sin(2 * np.pi * 440 * 2 ** ((midi - 69) / 12) * t)
    c_major = np.concatenate([tone(p) for p in (60, 62, 64, 65, 67, 69, 71)])
    chromatic = np.concatenate([tone(p) for p in range(60, 72)])
    assert ml.scale_fit(chromatic, sr=sr) == pytest.approx(7 / 12, abs=0.05)   # any scale holds 7 of the 12
    assert ml.scale_fit(c_major, sr=sr) > ml.scale_fit(chromatic, sr=sr) + 0.1
    assert ml.scale_fit(np.zeros(sr), sr=sr) == 0.0


# ----------------------------------------------------------------------------- tables and figures


def test_interval_table_prints_each_row_and_returns_its_intervals(capsys):
    values = {"real": {"EB": np.array([0.0, 1.0, 0.0, 0.0]), "H": np.array([1.0, np.nan, 2.0, 3.0])},
              "model": {"EB": np.zeros(4), "H": np.ones(4)}}
    stats = ml.interval_table(values, title="bars")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "bars" and out[-1] == ""
    assert out[1].split() == ["set", "n", "EB", "H"]
    assert out[2].startswith("real") and out[2].split()[1] == "4"
    assert stats["real"]["EB"] == ml.proportion_interval(values["real"]["EB"])      # a 0/1 column: a share
    assert stats["real"]["H"] == ml.bootstrap_interval(values["real"]["H"])
    assert stats["real"]["H"].n == 3 and stats["real"]["H"].estimate == 2.0   # nan dropped
    assert f"{stats['real']['EB'].estimate:.2f} [{stats['real']['EB'].low:.2f}, {stats['real']['EB'].high:.2f}]" in out[2]
    assert "n=3" in out[2] and "n=" not in out[3]                             # a cell's own n where smaller
    assert "1.00 (all 4 equal)" in out[3]                                      # no point interval
    assert stats["model"]["EB"].high > 0.3                                     # 0 of 4: Wilson's, not [0, 0]
    assert out[4].startswith("EB:")


def test_interval_table_prints_more_digits_where_two_would_show_a_point(capsys):
    ml.interval_table({"model": {"SC": np.r_[np.ones(190), np.full(10, 0.99)]}})
    cell = capsys.readouterr().out.splitlines()[1]
    assert "[1.00, 1.00]" not in cell and "[0.999, 1.000]" in cell
    ml.interval_table({"model": {"SC": 1 + np.r_[0.0, 1e-15, -1e-15]}})   # equal up to rounding
    assert "1.00 (all 3 equal)" in capsys.readouterr().out


def test_interval_table_resamples_whole_clusters_of_a_row(capsys):
    rng = np.random.default_rng(0)
    piece_means = rng.normal(size=5)
    values = {"real": {"x": np.repeat(piece_means, 20) + rng.normal(scale=0.01, size=100)}}
    plain = ml.interval_table(values)["real"]["x"]
    clustered = ml.interval_table(values, clusters={"real": np.repeat(np.arange(5), 20)})["real"]["x"]
    assert clustered.estimate == plain.estimate
    assert clustered.high - clustered.low > 3 * (plain.high - plain.low)       # 5 pieces, not 100 bars
    assert "resampled by piece: real" in capsys.readouterr().out


def overlaps():
    rng = np.random.default_rng(0)
    real = rng.random((40, 12))
    return {"real": ml.distance_overlap(real[:20], real[20:]), "noise": ml.distance_overlap(real[:20], rng.random((20, 12)) * 3)}


def test_overlap_table_prints_oa_and_kl_per_feature(capsys):
    d = overlaps()
    ml.overlap_table([("real", "pitch", d["real"]), ("real", "length", d["noise"]), ("noise", "pitch", d["noise"])],
                     title="Irish")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Irish" and out[1].split() == ["set", "n", "pitch", "length"]
    assert f"{d['real'].oa:.3f} (KL {d['real'].kl:.3g})" in out[2] and f"{d['noise'].oa:.3f}" in out[2]
    assert out[3].startswith("noise")


def test_overlap_table_says_when_kl_is_infinite_and_how_many_samples_it_used(capsys):
    rng = np.random.default_rng(0)
    real = rng.random((30, 12))
    far = ml.distance_overlap(real[:20], 50 + rng.random((10, 12)))       # no inter-set distance near an intra one
    near = ml.distance_overlap(real[:20], real[:20])                      # every intra distance is an inter one
    share = ml.kl_floor_share(far.intra_density, far.inter_density, far.grid)
    assert share > 0.99 and far.kl > 600                                   # the floor's finite number
    assert ml.kl_floor_share(near.intra_density, near.inter_density, near.grid) == 0
    fewer = ml.distance_overlap(real[:20], np.vstack([real[20:25], np.full((5, 12), np.nan)]))
    ml.overlap_table([("far", "pitch", far), ("near", "pitch", near), ("near", "length", fewer)])
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["set", "n", "pitch", "length"]
    assert "KL inf, 100% apart" in out[1] and str(round(far.kl)) not in out[1]
    assert out[2].split()[1] == "20" and "n=5" in out[2]                   # the nan rows were not used
    assert out[3].startswith("KL inf:")


def test_plot_overlap_densities_draws_the_intra_set_density_and_one_curve_per_set():
    d = overlaps()
    ax = ml.plot_overlap_densities(list(d.items()), title="t", xlabel="x").axes[0]
    assert len(ax.lines) == 3
    assert np.array_equal(ax.lines[0].get_ydata(), d["real"].intra_density)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[1] == f"inter-set, real (OA {d['real'].oa:.2f})"


def test_plot_copied_run_aligns_both_sequences_at_the_shared_run():
    query = np.array([60, 62, 64, 65, 67, 69])
    source = np.array([50, 51, 64, 65, 67, 52])
    match = ml.longest_common_run(query, [source])
    ax = ml.plot_copied_run(query, source, match, labels=("sample", "tune")).axes[0]
    q, s = (line.get_xydata() for line in ax.lines[:2])
    shared_q = q[(q[:, 0] >= 0) & (q[:, 0] < match.length), 1]
    shared_s = s[(s[:, 0] >= 0) & (s[:, 0] < match.length), 1]
    assert match.length == 3 and np.array_equal(shared_q, shared_s)
    assert f"shared run: {match.length} notes" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_plot_accuracy_by_position_marks_parts_repeats_and_chance():
    acc = {"GPT": np.linspace(0, 1, 15), "LSTM": np.full(15, 0.1)}
    ax = ml.plot_accuracy_by_position(acc, np.arange(1, 16), parts={0: "A", 8: "B"}, shaded=[(4, 8)],
                                      chance=1 / 12, title="acc").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B"]
    assert len(ax.lines) == 3 and ax.lines[2].get_ydata()[0] == pytest.approx(1 / 12)
    assert len(ax.patches) == 1 and ax.get_title() == "acc"


def test_plot_loglog_uses_log_axes_and_the_given_ticks():
    x = [256, 512, 1024]
    ax = ml.plot_loglog(x, {"measured": np.array(x, float) ** 2}, {"L^2": np.array(x, float) ** 2}, xlabel="L").axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["256", "512", "1024"]
    assert len(ax.lines) == 2 and ax.get_xlabel() == "L"


def test_plot_bits_per_note_draws_one_bar_per_tokenizer():
    rows = [{"tokenizer": "ABC", "bits_per_note": 5.6, "tokens_per_note": 1.6},
            {"tokenizer": "REMI", "bits_per_note": 9.1, "tokens_per_note": 3.1}]
    ax = ml.plot_bits_per_note(rows, title="study").axes[0]
    assert [p.get_height() for p in ax.patches] == [5.6, 9.1]
    assert ax.patches[0].get_facecolor() != ax.patches[1].get_facecolor()   # folk-rnn's ABC stands out
    assert [t.get_text() for t in ax.texts] == ["1.60 tok/note", "3.10 tok/note"]


def test_plot_bits_per_note_draws_intervals_and_seeds():
    from musiclab.evaluation import Interval
    rows = [{"tokenizer": "ABC", "bits_per_note": 5.6, "tokens_per_note": 1.6, "seed_bits": [5.5, 5.6, 5.7]},
            {"tokenizer": "REMI", "bits_per_note": 9.1, "tokens_per_note": 3.1, "seed_bits": [9.0, 9.1, 9.2]}]
    intervals = {"ABC": Interval(5.6, 5.2, 6.0, 40), "REMI": Interval(9.1, 8.7, 9.6, 40)}
    ax = ml.plot_bits_per_note(rows, intervals=intervals).axes[0]
    dots = [line for line in ax.lines if line.get_marker() == "."]
    assert [list(d.get_ydata()) for d in dots] == [[5.5, 5.6, 5.7], [9.0, 9.1, 9.2]]
    assert [t.get_position()[1] for t in ax.texts] == [6.0, 9.6]          # labels above the interval


def test_rating_table_shows_the_rater_bootstrap_only_when_not_narrower_than_wilson(capsys):
    wide = dict(n=30, raters=10, fooled=9, rate=0.3, wilson_low=0.17, wilson_high=0.48, boot_low=0.1, boot_high=0.55)
    narrow = dict(n=6, raters=3, fooled=2, rate=1 / 3, wilson_low=0.10, wilson_high=0.70, boot_low=0.0, boot_high=0.5)
    one = dict(n=4, raters=1, fooled=1, rate=0.25, wilson_low=0.05, wilson_high=0.70, boot_low=np.nan, boot_high=np.nan)
    ml.rating_table({"gan": wide, "lstm": narrow, "gpt": one})
    out = capsys.readouterr().out.splitlines()
    assert "9/30 ratings (10 raters)" in out[0] and "Wilson [0.17, 0.48]" in out[0] and "rater bootstrap [0.10, 0.55]" in out[0]
    assert "Wilson [0.10, 0.70]" in out[1] and "[0.00, 0.50]" not in out[1] and "not shown" in out[1]
    assert "not shown" in out[2]


# ----------------------------------------------------------------------------- 08: listening-test clips, KL of a point mass


def test_tune_clips_cut_each_tune_at_a_bar_line_of_its_own_meter():
    reel = ml.tokenize_abc("M:4/4\nK:Cmaj\n" + "cdef gabc|" * 4)               # 16 steps a bar
    jig = ml.tokenize_abc("M:6/8\nK:Cmaj\n" + "cde fga|" * 4)                  # 12 steps a bar
    two = ml.tokenize_abc("M:2/4\nL:1/8\nK:Cmaj\n" + "cdef|" * 6)              # 8 steps a bar
    made = ml.tune_clips([reel, jig, two], min_steps=32, low=36, high=96, steps_per_quarter=4)
    assert made.index == [0, 1, 2] and made.bars == [2, 3, 4]
    assert [len(c) for c in made.clips] == [32, 36, 32] and made.short == []
    assert all(c.shape[1] == 60 and c[0].any() and c[-1].any() for c in made.clips)   # notes to the end


def test_tune_clips_pass_over_tunes_that_stop_early_or_cannot_be_read_and_stop_at_n():
    full = ml.tokenize_abc("M:4/4\nK:Cmaj\n" + "cdef gabc|" * 3)
    stub = ml.tokenize_abc("M:4/4\nK:Cmaj\ncdef|")                             # 4 of 32 steps sound
    made = ml.tune_clips([stub, [], full, full, full], n=2, min_sounding=0.8)
    assert made.index == [2, 3] and made.short == [0]                          # [] is unreadable: skipped, not short
    assert ml.tune_clips([stub], min_sounding=0.1).index == [0]                # a lower bar lets it through


def test_beat_clip_and_glued_clips_make_clips_the_way_their_docstrings_say():
    frames = np.zeros((10, 88), np.float32)
    frames[:, 60 - 21] = 1                                                     # middle C on every beat
    frames[3, 40 - 21] = 1                                                     # below the window: dropped
    clip = ml.beat_clip(frames, low=48, high=84, steps=32)
    assert clip.shape == (32, 36) and clip[:, 60 - 48].all() and clip.sum() == 32
    bars = np.stack([bar({i: range(16)}) for i in range(6)])
    glued = ml.glued_clips(bars, 3, steps=24)
    assert len(glued) == 3 and all(g.shape == (24, 24) for g in glued)
    assert glued[1][0].argmax() == 2 and glued[1][-1].argmax() == 3            # bars 2 and 3, cut to 24 steps
    with pytest.raises(ValueError):
        ml.glued_clips(bars, 4)


def test_overlap_table_says_kl_is_undefined_for_a_point_mass(capsys):
    same = np.ones((20, 1))                                                    # every real bar: one key
    d = ml.distance_overlap(same, same)
    assert ml.point_mass(d.intra) and not ml.point_mass([0.0, 1.0])
    ml.overlap_table([("real", "polyphony", d)])
    out = capsys.readouterr().out
    assert "KL undefined" in out.splitlines()[1] and "KL inf" not in out and "point mass" in out


def test_plot_overlap_densities_starts_its_axis_at_distance_zero():
    d = overlaps()
    ax = ml.plot_overlap_densities(list(d.items())).axes[0]
    assert ax.get_xlim()[0] == 0
