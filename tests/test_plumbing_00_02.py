"""The plumbing of notebooks 00-02, moved into the package: audio checks, reconstruction errors,
corpus statistics, bar statistics, code-space walks, and the figures and tables built on them."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import musiclab as ml  # noqa: E402


def piece(key, pitches, meter="4/4", voice=0, length=1.0):
    """A Piece whose notes are ``pitches`` one after another, ``length`` quarter notes each."""
    starts = np.arange(len(pitches)) * length
    notes = np.stack([starts, starts + length, pitches, np.full(len(pitches), voice)], axis=1).astype(np.float32)
    return ml.Piece(name="test", corpus="test", key=key, meter=meter, notes=notes)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ----------------------------------------------------------------------------- audio


@pytest.fixture(scope="module")
def scale_midi():
    return ml.notes_to_midi(piece("C major", [60, 62, 64, 65]).notes, programs=ml.GM_PROGRAMS["flute"], bpm=120)


def test_check_audio_passes_a_rendered_wave_and_reports_its_numbers(scale_midi):
    y = ml.render_midi(scale_midi)
    checks = ml.check_audio(y, scale_midi)
    assert checks["seconds"] == pytest.approx(scale_midi.get_end_time() + ml.RELEASE_TAIL, abs=0.01)
    assert checks["RMS"] == pytest.approx(np.sqrt(np.mean(y ** 2)), abs=1e-4)
    assert checks["peak"] == pytest.approx(np.abs(y).max(), abs=1e-3)


def test_check_audio_accepts_a_scaled_mix_and_rejects_silent_short_and_clipped_ones(scale_midi):
    y = ml.render_midi(scale_midi)
    assert ml.check_audio(0.5 * y, scale_midi)["peak"] == pytest.approx(0.5 * np.abs(y).max(), abs=1e-3)
    with pytest.raises(AssertionError, match="silent"):
        ml.check_audio(np.zeros_like(y), scale_midi)
    with pytest.raises(AssertionError, match="samples"):
        ml.check_audio(y[:-100], scale_midi)
    limit = 0.5 * np.abs(y).max()
    with pytest.raises(AssertionError, match="clipped"):
        ml.check_audio(np.clip(y, -limit, limit), scale_midi)


def test_spectral_convergence_sees_magnitude_not_phase():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(8192).astype(np.float32)
    assert ml.stft_spectral_convergence(x, x) == pytest.approx(0.0, abs=1e-6)
    assert ml.stft_spectral_convergence(x, -x) == pytest.approx(0.0, abs=1e-5)  # same |X|, other phase
    assert ml.stft_spectral_convergence(x, 2 * x) == pytest.approx(1.0, rel=1e-5)
    assert ml.stft_spectral_convergence(x, 2 * x, fit_gain=True) == pytest.approx(0.0, abs=1e-5)  # level only
    assert ml.stft_spectral_convergence(x, 2 * x[::-1], fit_gain=True) > 0.1  # a different spectrum still counts
    assert ml.stft_spectral_convergence(x, np.concatenate([x, np.zeros(4096, np.float32)])) < 1e-6  # frames both have


def test_waveform_error_sees_the_phase():
    rng = np.random.default_rng(1)
    x, other = rng.standard_normal((2, 100_000))
    assert ml.waveform_error(x, x) == 0.0
    assert ml.waveform_error(x, -x) == pytest.approx(2.0)
    assert ml.waveform_error(x, other) == pytest.approx(np.sqrt(2), rel=0.02)  # unrelated, same loudness


# ----------------------------------------------------------------------------- notes and corpora


def test_hidden_attacks_counts_what_the_piano_roll_merges():
    notes = np.array([[0, 1, 60, 0], [1, 2, 60, 0],   # a repeated C: one attack hidden
                      [0, 2, 64, 1], [0, 1, 64, 2],   # a unison on E: one hidden
                      [2, 3, 67, 0], [3, 4, 69, 0]],  # two different notes: none hidden
                     dtype=np.float32)
    assert ml.hidden_attacks(notes) == 2
    roll = ml.piano_roll(notes, steps_per_quarter=4)
    assert len(ml.roll_to_notes(roll, steps_per_quarter=4)) == len(notes) - ml.hidden_attacks(notes)


def test_hidden_attacks_explains_a_real_chorale():
    chorale = ml.load_corpus("chorales", limit=1)[0]
    back = ml.roll_to_notes(ml.piano_roll(chorale.notes, steps_per_quarter=4), steps_per_quarter=4)
    assert len(chorale.notes) - ml.hidden_attacks(chorale.notes, steps_per_quarter=4) == len(back)


def test_key_names():
    assert [ml.key_mode(k) for k in ["G major", "A dorian", "Bb minor"]] == ["major", "dorian", "minor"]
    assert [ml.tonic_class(k) for k in ["C major", "G major", "Bb minor", "F# dorian"]] == [0, 7, 10, 6]


def test_score_text_writes_notes_and_bar_lines():
    notes = piece("C major", [60, 62, 64, 65, 67], length=1.5).notes  # dotted quarters in 3/4
    assert ml.score_text(notes, 0, bar=3.0, n_bars=2) == "C4:1.5 D4:1.5 | E4:1.5 F4:1.5"
    assert ml.score_text(notes, 1, bar=3.0) == ""  # no such voice


def test_corpus_summary_and_table(capsys):
    pieces = [piece("G major", [67, 71, 74]), piece("A minor", [69, 72], meter="3/4"), piece("D dorian", [62])]
    s = ml.corpus_summary(pieces)
    assert (s["pieces"], s["notes"], s["median length"]) == (3, 6, 2.0)
    assert (s["major"], s["minor"], s["modal"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert s["metres"] == [("4/4", 2), ("3/4", 1)]
    table = ml.corpus_table({"mine": pieces})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("mine") and "4/4 (2), 3/4 (1)" in lines[1]
    assert table["mine"] == s


def test_transposed_pitch_classes_land_on_the_tonic_triad():
    g_major = piece("G major", [67, 71, 74, 67])  # G B D G -> C E G C
    e_minor = piece("E minor", [64, 67, 71])      # E G B -> A C E
    assert ml.transposed_pitch_classes([g_major]) == pytest.approx(np.eye(12)[[0, 4, 7, 0]].mean(axis=0))
    assert ml.transposed_pitch_classes([g_major, e_minor]).sum() == pytest.approx(1.0)
    assert set(np.flatnonzero(ml.transposed_pitch_classes([e_minor]))) == {9, 0, 4}


def test_corpus_figures_have_their_panels():
    pieces = [piece("G major", [67, 71, 74]), piece("A minor", [69, 72]), piece("D dorian", [62, 65])]
    fig = ml.plot_corpus_stats({"a": pieces, "b": pieces[:2]})
    assert len(fig.axes) == 4
    assert [t.get_text() for t in fig.axes[3].get_xticklabels()][:3] == ["C", "C#", "D"]
    shares = {"one": np.full(12, 1 / 12), "two": np.eye(12)[0]}
    fig = ml.plot_pitch_class_shares({"left": shares, "right": {"one": shares["one"]}})
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 24 and len(fig.axes[1].patches) == 12


def test_grouped_bar_ticks_sit_under_each_group_centre():
    pieces = ml.load_corpus("chorales", limit=4)
    shares = {"one": np.full(12, 1 / 12), "two": np.eye(12)[0]}
    for ax, groups in [(ml.plot_corpus_stats({"a": pieces, "b": pieces[:2], "c": pieces}).axes[3], 3),
                       *zip(ml.plot_pitch_class_shares({"left": shares, "right": {"one": shares["one"]}}).axes, (2, 1))]:
        centres = np.array([p.get_x() + p.get_width() / 2 for p in ax.patches]).reshape(groups, 12).mean(axis=0)
        np.testing.assert_allclose(ax.get_xticks(), centres)


# ----------------------------------------------------------------------------- bars


def bar(cells, steps=16, keys=12):
    """A bar with the given (step, key) cells on."""
    b = np.zeros((steps, keys), dtype=np.float32)
    for t, k in cells:
        b[t, k] = 1
    return b


MELODY = bar([(t, t % 8) for t in range(16)])                          # one key at a time
CHORDS = bar([(t, k) for t in range(16) for k in (0, 4, 7)])           # three voices
HYBRID = bar([(t, k) for t in range(16) for k in (0, 7)])              # two: neither
EMPTY = bar([])


def test_bar_set_stats_counts_empty_notes_polyphony_and_hybrids():
    s = ml.bar_set_stats(np.stack([MELODY, CHORDS, HYBRID, EMPTY]), low=60)
    assert s["empty bars"] == 0.25
    assert s["notes/bar"] == (16 + 3 + 2) / 4   # a held key is one note
    assert s["hybrid bars"] == pytest.approx(1 / 3)
    assert s["polyphony"] == pytest.approx(ml.polyphony(np.stack([MELODY, CHORDS, HYBRID, EMPTY])))
    assert s["in scale"] == pytest.approx(np.mean([ml.scale_consistency(b, low=60) for b in (MELODY, CHORDS, HYBRID)]))
    assert np.isnan(ml.bar_set_stats(EMPTY[None])["hybrid bars"])


def test_bar_stats_table_prints_one_row_per_set(capsys):
    table = ml.bar_stats_table({"melody": MELODY[None], "mixed": np.stack([CHORDS, HYBRID])}, low=60)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and "hybrid bars" in lines[0] and lines[2].startswith("mixed")
    assert table["mixed"] == ml.bar_set_stats(np.stack([CHORDS, HYBRID]), low=60)


def test_walk_summary():
    walk = np.stack([MELODY, MELODY, HYBRID, CHORDS])
    s = ml.walk_summary(walk)
    assert s["notes"] == [16, 16, 2, 3]
    assert s["changed"] == [0, int((MELODY != HYBRID).sum()), 16]
    assert s["distinct"] == 3


def test_shared_pitch_range_covers_every_roll():
    a, b = bar([(0, 3)]), bar([(5, 9)])
    assert ml.shared_pitch_range(a, b, low=60) == (60 + 3 - 2, 60 + 9 + 1 + 2)
    assert ml.shared_pitch_range(a, np.full_like(b, 0.4), low=60, pad=0) == (63, 64)  # 0.4 is not a note
    assert ml.shared_pitch_range(EMPTY, low=60) == (60, 72)


def test_plot_roll_panels_share_one_range_and_draw_bar_lines():
    fig = ml.plot_roll_panels({"a": np.concatenate([MELODY, MELODY]), "b": np.concatenate([EMPTY, CHORDS])},
                              low=60, bar_steps=16)
    assert len(fig.axes) == 2 and fig.axes[0].get_ylim() == fig.axes[1].get_ylim()
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]  # one bar line between two bars
    fig = ml.plot_roll_panels({"a": MELODY, "b": CHORDS, "c": HYBRID}, low=60, side_by_side=True, title="t")
    assert len(fig.axes) == 3 and fig.get_suptitle() == "t"


def test_plot_bar_sets_draws_n_bars_of_each_set():
    sets = {"real": np.stack([MELODY] * 10), "samples": np.stack([CHORDS, HYBRID, EMPTY])}
    fig = ml.plot_bar_sets(sets, n=8, low=60)
    assert [len(ax.lines) for ax in fig.axes] == [7, 2]
    assert [ax.get_title() for ax in fig.axes] == ["real", "samples"]


def test_plot_code_map_draws_one_group_per_name():
    xy = np.random.default_rng(0).standard_normal((30, 2))
    labels = np.arange(30) % 3
    fig = ml.plot_code_map(xy, labels, ["a", "b", "c"], title="codes")
    ax = fig.axes[0]
    assert [len(c.get_offsets()) for c in ax.collections] == [10, 10, 10]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]


# ----------------------------------------------------------------------------- walks in code space


@pytest.mark.parametrize("cls", [ml.DIC, ml.VAE])
def test_interpolate_codes_starts_and_ends_at_the_reconstructions(cls):
    torch.manual_seed(0)
    model = cls([16 * 12, 32, 4])
    x_a, x_b = MELODY, CHORDS
    walk = ml.interpolate_codes(model, x_a, x_b, np.linspace(0, 1, 5), threshold=0.5, shape=(16, 12))
    assert walk.shape == (5, 16, 12)
    ends = ml.decode_bars(ml.bar_probs(model, np.stack([x_a, x_b])), threshold=0.5)
    np.testing.assert_array_equal(walk[[0, -1]], ends.reshape(2, 16, 12))
    with torch.no_grad():
        z = model.encode(torch.from_numpy(x_a.reshape(1, -1)))[0] if cls is ml.VAE else model.encoder(torch.from_numpy(x_a.reshape(1, -1)))
        z_b = model.encode(torch.from_numpy(x_b.reshape(1, -1)))[0] if cls is ml.VAE else model.encoder(torch.from_numpy(x_b.reshape(1, -1)))
    middle = ml.decode_codes(model, (0.5 * z + 0.5 * z_b).numpy(), threshold=0.5, shape=(16, 12))
    np.testing.assert_array_equal(walk[2], middle[0])


def test_clip_report_checks_a_clip_and_says_the_gain_the_player_applies(scale_midi, capsys):
    sr = 8000
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr).astype(np.float32)
    line = ml.clip_report(tone, "tone", sr=sr)
    assert "1.0 s" in line and "gain x9.0" in line
    assert "played as is" in ml.clip_report(tone, "tone", sr=sr, peak=None)
    with pytest.raises(AssertionError, match="silent"):
        ml.clip_report(np.zeros(sr), "quiet", sr=sr)
    with pytest.raises(AssertionError, match="long"):
        ml.clip_report(tone[: sr // 10], "short", sr=sr)
    with pytest.raises(AssertionError, match="expected"):
        ml.clip_report(tone, "wrong length", sr=sr, expected_seconds=2.0)
    ml.player_table({"midi": scale_midi}, check=True)  # a rendered PrettyMIDI lasts end time + tail
    assert "midi:" in capsys.readouterr().out
