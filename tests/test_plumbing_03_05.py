"""The plot, table and metric helpers of notebooks 03-05 (musiclab/plots.py and metrics.py, their
``notebooks 03-05`` sections): each draws or computes what its docstring says."""
import math

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


def roll_of(frames, n_keys=88):
    """A binary roll whose frame t has the keys (column indices) frames[t] down."""
    roll = np.zeros((len(frames), n_keys), dtype=np.float32)
    for t, keys in enumerate(frames):
        roll[t, list(keys)] = 1
    return roll


# ---------------------------------------------------------------------------------------- tables
def test_print_table_aligns_formats_and_picks_columns(capsys):
    rows = {"LSTM": {"nll": 1.70612, "ppl": math.exp(1.70612), "note": "ours"},
            "4-gram Kneser-Ney": {"nll": 1.998, "ppl": math.exp(1.998), "note": "baseline"}}
    ml.print_table(rows, formats={"ppl": ".1f"}, label="model")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].split() == ["model", "nll", "ppl", "note"]  # a header, a line a row
    assert lines[1].index("1.706") + 5 == lines[2].index("1.998") + 5 == lines[0].index("nll") + 3  # numbers: right
    assert lines[1].index("ours") == lines[2].index("baseline") == lines[0].index("note")  # strings: left
    assert lines[1].split() == ["LSTM", "1.706", f"{math.exp(1.70612):.1f}", "ours"]  # ".3f" unless told
    assert lines[2].startswith("4-gram Kneser-Ney ")

    ml.print_table(rows, formats=".2f", columns={"ppl": "perplexity", "nll": "NLL"})  # pick, order, rename
    header, first, _ = capsys.readouterr().out.splitlines()
    assert header.split() == ["perplexity", "NLL"]
    assert first.split() == ["LSTM", f"{math.exp(1.70612):.2f}", "1.71"]


def test_print_table_refuses_an_empty_table():
    with pytest.raises(ValueError):
        ml.print_table({})


# ---------------------------------------------------------------------------------- notebook 03
def test_plot_influence_maps_draws_log10_of_each_map_on_one_scale():
    causal = np.tril(np.full((5, 5), 0.1))
    diagonal = np.eye(5)
    fig = ml.plot_influence_maps({"memory": causal, "no memory": diagonal})
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["memory", "no memory"]
    image = panels[0].images[0]
    assert np.allclose(image.get_array(), np.log10(causal + 1e-12))
    assert image.get_clim() == panels[1].images[0].get_clim() == (-6, 0)
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["1", "2", "3", "4", "5"]  # steps from 1
    assert len(fig.axes) == 3  # and one colour bar


def test_plot_gradient_reach_draws_each_bound_dashed_in_its_curve_colour():
    lags = np.arange(10)
    curves = {"rho=0.5": 0.5 ** lags, "rho=3": 1.2 ** lags, "LSTM": np.ones(10)}
    fig = ml.plot_gradient_reach(curves, bounds={"rho=3": 5.0 ** lags}, styles={"LSTM": dict(color="k", ls=":")},
                                 ylim=(1e-6, 1e8))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylim() == pytest.approx((1e-6, 1e8))
    lines = {line.get_label(): line for line in ax.lines}
    assert np.allclose(lines["rho=0.5"].get_ydata(), 0.5 ** lags)
    bound = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(ax.lines) == 4 and len(bound) == 1
    assert np.allclose(bound[0].get_ydata(), 5.0 ** lags) and bound[0].get_color() == lines["rho=3"].get_color()
    assert lines["LSTM"].get_color() == "k" and lines["LSTM"].get_linestyle() == ":"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["rho=0.5", "rho=3", "LSTM", "rho=3: bound"]  # each bound named, after the curves


def test_plot_next_note_training_shows_losses_baselines_and_clipping():
    histories = {"RNN": {"loss": [2.0, 1.0, 0.1], "grad_norm": [3.0, 0.5, 0.2]},
                 "MLP": {"loss": [2.0, 1.2, 0.6], "grad_norm": [2.0, 0.4, 0.1]}}
    fig = ml.plot_next_note_training(histories, {"unigram": 2.047, "bigram": 0.594}, clip=1.0)
    loss_ax, norm_ax = fig.axes
    labels = [line.get_label() for line in loss_ax.lines]
    assert labels == ["RNN", "MLP", "unigram 2.05", "bigram 0.59"]  # baselines named with their value
    assert np.allclose(loss_ax.lines[1].get_ydata(), [2.0, 1.2, 0.6]) and loss_ax.get_yscale() == "log"
    clip = [line for line in norm_ax.lines if line.get_label() == "clip threshold"][0]
    assert np.allclose(clip.get_ydata(), 1.0) and norm_ax.get_yscale() == "log"


def test_plot_hidden_states_draws_units_against_labelled_steps():
    states = np.tanh(np.random.default_rng(0).normal(size=(4, 6)))
    fig = ml.plot_hidden_states(states, ["C", "D", "E", "D"], title="h")
    ax = fig.axes[0]
    assert np.allclose(ax.images[0].get_array(), states.T)  # one row per unit, one column per step
    assert ax.images[0].get_clim() == (-1, 1)
    assert len(fig.axes) == 2  # and a colour bar
    assert [t.get_text() for t in ax.get_xticklabels()] == ["C", "D", "E", "D"]
    with pytest.raises(ValueError):
        ml.plot_hidden_states(states, ["C", "D"])


def test_plot_melodies_draws_the_reference_as_a_band_under_the_lines():
    scale = [60, 62, 64, 62, 60]
    fig = ml.plot_melodies(scale, {"RNN": scale, "MLP": [60, 62, 64, 62, 64]}, reference_label="the scale",
                           note_names={60: "C", 62: "D", 64: "E"})
    ax = fig.axes[0]
    band, rnn, mlp = ax.lines
    assert band.get_label() == "the scale" and band.get_linewidth() > 3 * rnn.get_linewidth()
    assert np.allclose(mlp.get_ydata(), [60, 62, 64, 62, 64])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C", "D", "E"]


# ---------------------------------------------------------------------------------- notebook 04
def test_plot_ngram_sweep_draws_perplexity_against_order_per_smoothing():
    vocab = ["<s>", "a", "b", "c"]
    train = [["a", "b", "c", "a", "b"], ["b", "c", "a"]]
    models = {f"{n}-gram {s}": ml.NGramLM(n, vocab, smoothing=s).fit(train) for s in ("add-k", "kneser-ney")
              for n in (2, 3)}
    val_ppl = {name: lm.perplexity([["a", "b", "c"]]) for name, lm in models.items()}
    fig = ml.plot_ngram_sweep(models, val_ppl)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    assert set(lines) == {"add-k (best k per order)", "Kneser-Ney"}
    assert list(lines["Kneser-Ney"].get_xdata()) == [2, 3]
    assert np.allclose(lines["Kneser-Ney"].get_ydata(), [val_ppl["2-gram kneser-ney"], val_ppl["3-gram kneser-ney"]])


def test_plot_losses_vs_baselines_adds_a_line_per_baseline():
    history = {"train": [3.0, 2.0, 1.5], "val": [2.5, 1.9, 1.8], "best_epoch": 3}
    fig = ml.plot_losses_vs_baselines(history, {"unigram (val)": 2.9, "4-gram (val)": 2.0}, ylabel="nats", top=2.7)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    assert np.allclose(lines["val"].get_ydata(), [2.5, 1.9, 1.8])
    assert np.allclose(lines["4-gram (val)"].get_ydata(), 2.0) and np.allclose(lines["unigram (val)"].get_ydata(), 2.9)
    assert ax.get_ylabel() == "nats" and ax.get_ylim()[1] == pytest.approx(2.7)


def test_exact_length_histogram_counts_note_values_and_the_rest():
    notes = np.array([[0, 0.5, 60, 0], [0.5, 1.0, 62, 0], [1.0, 2.0, 64, 0], [2.0, 2.7, 65, 0]], dtype=float)
    h = ml.exact_length_histogram([notes[:2], notes[2:]])
    assert len(h) == len(ml.LENGTH_BINS) + 1 == len(ml.LENGTH_BIN_LABELS)
    eighth, quarter = ml.LENGTH_BINS.index(0.5), ml.LENGTH_BINS.index(1.0)
    assert h[eighth] == 0.5 and h[quarter] == 0.25 and h[-1] == 0.25  # 0.7 of a quarter is no note value
    assert np.isnan(ml.exact_length_histogram([np.zeros((0, 4))])).all()


def test_tune_statistics_of_a_scale_tune():
    c_major = [60, 62, 64, 65, 67, 69, 71, 72]
    tune = np.array([[2 + i, 3 + i, p, 0] for i, p in enumerate(c_major)], dtype=float)  # starts at beat 2
    short = tune[:4].copy()
    stats = ml.tune_statistics([tune, short])
    assert stats["notes"] == 6 and np.allclose(stats["scale"], 1.0)  # every note in C major
    assert np.isclose(stats["lengths"][ml.LENGTH_BINS.index(1.0)], 1.0)  # all quarter notes
    assert np.isclose(stats["pitch_classes"].sum(), 1.0) and stats["pitch_classes"][1] == 0  # no C#
    assert stats["pitch_classes"][0] > stats["pitch_classes"][2]  # two C's in the long tune, one D


def test_validity_table_prints_each_rate_with_its_interval(capsys):
    good = ["M:2/4", "K:Gmaj", "G", "|", "G", "A", "B", "c", "|", "d", "2", "G", "2", "|]"]
    bad = ["K:Gmaj", "M:2/4", "G", "|", "A", "B", "c", "|", "G", "A", "B", "c", "|", "G", "2", "|]"]   # no header
    intervals = {"real": ml.validity_intervals([good] * 20), "model": ml.validity_intervals([good, bad] * 10),
                 "nothing": ml.validity_intervals([])}
    ml.validity_table(intervals)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["set", "tunes", "inner"] and "bars add up" in lines[0] and "all four" in lines[0]
    assert lines[1].split()[:4] == ["real", "20", "20", "100%"] and lines[1].count("[100, 100]") == 5
    m = intervals["model"]["bars"]
    assert f"{m.estimate:.0%} [{100 * m.low:.0f}, {100 * m.high:.0f}]" in lines[2]
    assert lines[2].split()[:4] == ["model", "20", "30", "50%"]           # half the tunes lack the header
    assert lines[3].split()[:3] == ["nothing", "0", "0"] and lines[3].split()[3:] == ["-"] * 5


def test_plot_tune_statistics_draws_three_panels():
    c = np.array([[i, i + 1, 60 + 2 * (i % 3), 0] for i in range(6)], dtype=float)
    stats = {"real (test)": ml.tune_statistics([c]), "model": ml.tune_statistics([c, c[:3]])}
    fig = ml.plot_tune_statistics(stats)
    pcs, lengths, scale = fig.axes
    assert len(pcs.patches) == 2 * 12 and len(lengths.patches) == 2 * len(ml.LENGTH_BIN_LABELS)
    assert [t.get_text() for t in scale.get_xticklabels()] == ["real", "model"]


# ---------------------------------------------------------------------------------- notebook 05
def test_last_bass_pitch_class_reads_the_bass_note_that_ends_last():
    notes = np.array([[0, 1, 48, 3], [1, 4, 55, 3], [3, 4, 72, 0], [2, 3, 50, 3]], dtype=float)
    assert ml.last_bass_pitch_class(notes) == 55 % 12  # G
    assert ml.last_bass_pitch_class(notes, voice=0) == 0  # the soprano's C
    with pytest.raises(ValueError):
        ml.last_bass_pitch_class(notes, voice=2)


def test_texture_metrics_tell_four_voices_from_more():
    triad_plus_bass = [36, 48, 52, 55]  # C E G and a low C: 4 keys, all in C major
    four = roll_of([triad_plus_bass] * 6)
    five = roll_of([triad_plus_bass] * 3 + [triad_plus_bass + [50]] * 3)  # a D added in half the frames
    t4, t5 = ml.texture_metrics(four[None]), ml.texture_metrics(five[None])
    assert t4["polyphony"] == 4 and t4["frames with 4 keys"] == 1 and t4["frames with > 4 keys"] == 0
    assert t5["polyphony"] == 4.5 and t5["frames with 4 keys"] == 0.5 and t5["frames with > 4 keys"] == 0.5
    assert set(ml.texture_metrics(four, voices=3)) >= {"frames with 3 keys", "frames with > 3 keys"}


def test_continuation_metrics_read_each_piece_on_its_own():
    major = roll_of([[60 - 21, 64 - 21, 67 - 21]] * 4)  # C E G (column 0 = MIDI 21): in C major
    minor = roll_of([[60 - 21, 63 - 21, 67 - 21]] * 4)  # C Eb G: in C minor
    both = np.stack([major, minor])
    per_piece = ml.continuation_metrics(both)
    assert np.allclose(per_piece["SC"], 1.0)          # each piece lies in one scale
    assert ml.scale_consistency(both) < 1.0           # pooled, E and Eb fall in no one scale
    assert np.allclose(per_piece["H (bits)"], math.log2(3))


def test_plot_roll_panels_can_add_one_colour_bar_for_probabilities():
    probs = np.random.default_rng(0).random((8, 88)) * 0.5
    plain = ml.plot_roll_panels({"notes": roll_of([[39, 43]] * 8), "p": probs})
    with_bar = ml.plot_roll_panels({"notes": roll_of([[39, 43]] * 8), "p": probs}, colorbar="P(key down)")
    assert len(with_bar.axes) == len(plain.axes) + 1
    assert with_bar.axes[-1].get_ylabel() == "P(key down)"
    plt.close("all")


def test_plot_key_statistics_shows_the_keys_in_use():
    bernoulli = np.zeros(88)
    bernoulli[[39, 43, 46]] = [0.5, 0.3, 0.005]  # the last is below min_p
    markov = (bernoulli / 2, np.minimum(1, bernoulli * 1.8))
    fig = ml.plot_key_statistics(bernoulli, markov)
    k, on, off = fig.axes[0].lines
    assert list(k.get_xdata()) == [60, 64] and np.allclose(on.get_ydata(), [0.9, 0.54])
    assert np.allclose(off.get_ydata(), [0.25, 0.15])


def test_continuation_faults_count_what_a_listener_hears():
    roll = np.zeros((6, 88), dtype=np.float32)
    for t, chord in enumerate([(48, 60, 64, 67), (48, 60, 64, 67), (62, 63, 67, 72), (64, 67, 72),
                               (43, 59, 62, 67), (48, 60, 63, 67)]):
        roll[t, [m - 21 for m in chord]] = 1
    f = ml.continuation_faults(roll, start=2)
    assert f["beats"] == 4 and f["beats without bass"] == 2 and f["beats with a semitone cluster"] == 1
    assert f["beats with fewer than 4 keys"] == 1 and f["ends on the tonic chord"]    # C-Eb-G over C: C minor
    assert not ml.continuation_faults(roll[:5], start=2)["ends on the tonic chord"]   # G-B-D-G: the dominant


def test_interval_relation_says_where_one_interval_lies():
    Interval = ml.Interval
    ref = Interval(0.5, 0.4, 0.6, 10)
    assert ml.interval_relation(Interval(0.8, 0.7, 0.9, 10), ref) == "lies above"
    assert ml.interval_relation(Interval(0.2, 0.1, 0.3, 10), ref) == "lies below"
    assert ml.interval_relation(Interval(0.6, 0.55, 0.9, 10), ref) == "overlaps"


# ------------------------------------------------------------------- issue 22: notebooks 03 and 04
def test_key_pitch_classes_follow_the_mode_and_the_leading_note():
    as_set = lambda key, **kw: set(np.flatnonzero(ml.key_pitch_classes(key, **kw)).tolist())
    assert as_set("C major") == {0, 2, 4, 5, 7, 9, 11}
    assert as_set("A minor") == {9, 11, 0, 2, 4, 5, 7}
    assert as_set("A minor", leading_note=True) == {9, 11, 0, 2, 4, 5, 7, 8}     # G# in A minor
    assert as_set("D mixolydian") == {2, 4, 6, 7, 9, 11, 0}                     # C natural
    assert as_set("E dorian") == {4, 6, 7, 9, 11, 1, 2}                         # C#
    assert as_set("Bb major") == as_set("B- major") == {10, 0, 2, 3, 5, 7, 9}
    assert as_set("D major", leading_note=True) == as_set("D major")            # only minor keys gain one
    with pytest.raises(ValueError):
        ml.key_pitch_classes("H major")


def test_out_of_key_share_reads_each_tune_against_its_own_key():
    notes = lambda pitches: np.array([[i, i + 1, p, 0] for i, p in enumerate(pitches)], dtype=np.float32)
    a_minor_with_g_sharp = notes([69, 71, 72, 68, 69])                            # A B C G# A
    assert ml.out_of_key_share(a_minor_with_g_sharp, "A minor") == 0.0
    assert ml.out_of_key_share(a_minor_with_g_sharp, "A minor", leading_note=False) == pytest.approx(1 / 5)
    assert ml.out_of_key_share(a_minor_with_g_sharp, "C major") == pytest.approx(1 / 5)   # G# is foreign to C major
    assert ml.out_of_key_share(notes([61, 63, 66]), "C major") == 1.0
    assert math.isnan(ml.out_of_key_share(np.zeros((0, 4), dtype=np.float32), "C major"))


def test_start_at_zero_moves_notes_and_pieces_to_their_first_note():
    notes = np.array([[3.0, 3.5, 67, 0], [4.0, 5.0, 69, 0]], dtype=np.float32)   # a pickup at the end of bar 1
    shifted = ml.start_at_zero(notes)
    assert shifted[:, 0].tolist() == [0.0, 1.0] and shifted[:, 1].tolist() == [0.5, 2.0]
    assert notes[0, 0] == 3.0                                                    # the input is not changed
    piece = ml.Piece(name="t", corpus="abc", key="G major", meter="4/4", notes=notes)
    moved = ml.start_at_zero(piece)
    assert moved.notes[0, 0] == 0.0 and piece.notes[0, 0] == 3.0 and moved.key == "G major"


def test_leading_silence_measures_the_wait_before_the_first_sound():
    sr = 1000
    y = np.zeros(3 * sr, dtype=np.float32)
    y[1500:] = np.sin(np.arange(1500) / 5)
    assert ml.leading_silence(y, sr=sr) == pytest.approx(1.5, abs=0.01)
    assert ml.leading_silence(np.zeros(sr), sr=sr) == 1.0                        # all silent: its whole length


def test_a_pickup_tune_renders_without_leading_silence_once_it_starts_at_zero():
    abc = "X:1\nT:pickup\nM:4/4\nL:1/8\nK:G\nD | G2 B2 d2 B2 | c4 A4 |]\n"
    piece = ml.parse_abc(abc)
    assert piece.notes[:, 0].min() > 0                                           # the pickup follows an empty bar
    assert ml.leading_silence(ml.to_audio(piece, bpm=120)) > 1.0
    assert ml.leading_silence(ml.to_audio(ml.start_at_zero(piece), bpm=120)) < 0.1


def test_plot_gradient_reach_can_put_its_legend_outside_the_axes():
    fig = ml.plot_gradient_reach({"a": np.logspace(0, -3, 10)}, legend_outside=True)
    legend = fig.axes[0].get_legend()
    fig.canvas.draw()
    box, axes_box = legend.get_window_extent(), fig.axes[0].get_window_extent()
    assert box.x0 >= axes_box.x1                                                 # right of the axes: covers no curve


def test_plot_losses_vs_baselines_keeps_lines_off_the_frame():
    history = {"train": [3.0, 2.0, 1.5], "val": [2.5, 1.8, 1.6], "best_epoch": 3}
    fig = ml.plot_losses_vs_baselines(history, {"unigram": 3.2})
    ax = fig.axes[0]
    assert ax.get_ylim()[1] > 3.2 and ax.get_xlim()[1] > 3


def test_print_tune_statistics_sets_each_model_against_the_real_tunes(capsys):
    def stats(notes, sixteenths):
        lengths = np.zeros(len(ml.LENGTH_BIN_LABELS))
        lengths[0], lengths[2] = sixteenths, 1 - sixteenths
        return {"notes": notes, "lengths": lengths, "pitch_classes": np.full(12, 1 / 12), "scale": np.array([1.0])}
    ml.print_tune_statistics({"real": stats(100, 0.1), "model": stats(150, 0.3)}, {"real": 30.0, "model": 45.0},
                             real="real", bpm=120)
    out = capsys.readouterr().out
    assert "model: 1.5x the real tunes' notes per tune, 1.5x their seconds at 120 BPM" in out
    assert "16ths 30% of its notes, more than the real tunes' 10%" in out
    assert "real:" not in out.replace("real tunes", "")          # no line for the real set against itself
