"""The plots, tables and metrics that notebooks 06 and 07 call instead of drawing by hand."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import musiclab as ml  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def solid_lines(ax):
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 2]


def test_plot_lines_draws_each_curve_at_its_x_and_each_level_flat():
    fig = ml.plot_lines({"D loss": [3.0, 2.0, 1.5, 1.4], "G loss": (np.array([10, 20, 30]), torch.tensor([0.1, 0.5, 0.7]))},
                        levels={"log 4": math.log(4), "log 2": math.log(2)}, title="losses")
    ax = fig.axes[0]
    d, g = solid_lines(ax)
    assert list(d.get_xdata()) == [0, 1, 2, 3] and list(d.get_ydata()) == [3.0, 2.0, 1.5, 1.4]
    assert list(g.get_xdata()) == [10, 20, 30] and np.allclose(g.get_ydata(), [0.1, 0.5, 0.7])
    flat = [line for line in ax.get_lines() if line not in (d, g)]
    assert sorted(line.get_ydata()[0] for line in flat) == sorted([math.log(4), math.log(2)])
    assert all(line.get_ydata()[0] == line.get_ydata()[-1] for line in flat)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["D loss", "G loss", "log 4", "log 2"]
    assert ax.get_title() == "losses" and ax.get_xlabel() == "step"


def test_plot_lines_log_axes_and_an_axis_passed_in():
    fig, axes = plt.subplots(1, 2)
    x = np.logspace(-6, 0, 20)
    ml.plot_lines({"saturating": (x, x), "non-saturating": (x, 1 - x + 1e-9)}, ax=axes[1], log=True)
    assert axes[1].get_xscale() == "log" and axes[1].get_yscale() == "log"
    assert not axes[0].get_lines() and len(axes[1].get_lines()) == 2


def test_plot_discriminator_shades_the_densities_and_draws_both_discriminators():
    x = np.linspace(-5, 5, 201)
    p, q = np.exp(-0.5 * (x - 1) ** 2) / math.sqrt(2 * math.pi), np.exp(-0.5 * (x + 1) ** 2) / math.sqrt(2 * math.pi)
    D_star = p / (p + q)
    ax = ml.plot_discriminator(x, p, q, D_star).axes[0]
    assert len(ax.collections) == 2 and len(ax.get_lines()) == 1                 # two shaded densities, D*
    assert np.allclose(ax.get_lines()[0].get_ydata(), D_star)
    ax = ml.plot_discriminator(x, p, q, D_star, D_trained=torch.tensor(0.9 * D_star)).axes[0]
    assert np.allclose(ax.get_lines()[1].get_ydata(), 0.9 * D_star) and ax.get_xlim() == (-7, 7)


def test_plot_value_by_shift_marks_floor_ceiling_and_flat_bands():
    shifts = np.linspace(-12, 12, 25)
    V = -math.log(4) + 2 * math.log(2) * (1 - np.exp(-shifts ** 2 / 20))
    ax = ml.plot_value_by_shift(shifts, V, V.copy(), flat_from=9).axes[0]
    curves = solid_lines(ax)
    assert len(curves) == 2 and np.allclose(curves[0].get_ydata(), curves[1].get_ydata())
    levels = sorted(line.get_ydata()[0] for line in ax.get_lines() if line not in curves)
    assert np.allclose(levels, [-math.log(4), 0.0])
    assert len(ax.patches) == 2 and "grey: flat" in ax.get_title()
    assert not ml.plot_value_by_shift(shifts, V, V).axes[0].patches


def test_plot_discriminator_runs_puts_losses_per_step_and_statistics_where_measured():
    run = {"loss": [1.0, 0.9, 0.8, 0.7], "stats at step": [0, 2, 4], "D(real)": [0.5, 0.7, 0.9],
           "D(fake)": [0.5, 0.3, 0.1], "accuracy": [0.5, 0.8, 0.95]}
    wrong = {**run, "D(real)": [0.5, 0.3, 0.1]}
    fig = ml.plot_discriminator_runs({"correct": run, "wrong": wrong})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "D(real)", "D(fake)", "accuracy"]
    loss, _ = fig.axes[0].get_lines()
    assert list(loss.get_xdata()) == [1, 2, 3, 4]
    right, wrong_line = fig.axes[1].get_lines()
    assert list(right.get_xdata()) == [0, 2, 4] and list(wrong_line.get_ydata()) == [0.5, 0.3, 0.1]


def test_plot_histogram_snapshots_one_density_scale_per_step():
    rng = np.random.default_rng(0)
    snaps = {0: rng.normal(0, 0.01, 1000), 600: rng.normal(0, 1, 1000)}
    bins, grid = np.linspace(-6, 6, 121), np.linspace(-6, 6, 601)
    density = np.exp(-grid ** 2 / 2) / math.sqrt(2 * math.pi)
    fig = ml.plot_histogram_snapshots(snaps, bins, grid, density, titles={600: "step 600: JSD 0.01"})
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 600: JSD 0.01"]
    for ax, samples in zip(fig.axes, snaps.values()):
        heights = np.array([p.get_height() for p in ax.patches])
        assert np.isclose((heights * 0.1).sum(), 1.0)        # a density histogram: area 1 (all samples in range)
        assert ax.get_ylim() == (0, 0.8) and np.allclose(ax.get_lines()[0].get_ydata(), density)


def test_plot_ring_snapshots_draws_n_points_and_the_modes_on_given_axes():
    angles = 2 * np.pi * np.arange(8) / 8
    centers = torch.tensor(np.stack([2 * np.cos(angles), 2 * np.sin(angles)], 1))
    snaps = {0: torch.zeros(50, 2), 10: torch.randn(3000, 2)}
    fig, axes = plt.subplots(2, 2)
    ml.plot_ring_snapshots(snaps, centers, {10: "NS GAN step 10"}, axes=axes[1], n=1000)
    assert all(not ax.collections for ax in axes[0])
    points, modes = axes[1, 1].collections
    assert len(points.get_offsets()) == 1000 and np.allclose(modes.get_offsets(), centers.numpy())
    assert len(axes[1, 0].collections[0].get_offsets()) == 50
    assert [ax.get_title() for ax in axes[1]] == ["step 0", "NS GAN step 10"]


def test_plot_shares_puts_each_label_side_by_side_at_its_height():
    shares = {"real": np.full(8, 0.124), "GAN": np.array([0.3, 0.2, 0, 0, 0, 0, 0.1, 0.05])}
    ax = ml.plot_shares(shares, threshold=0.02).axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert np.allclose(heights, np.concatenate(list(shares.values())))
    x_real, x_gan = ax.patches[0].get_x(), ax.patches[8].get_x()
    assert x_real < x_gan < ax.patches[1].get_x()
    assert ax.get_lines()[0].get_ydata()[0] == 0.02


def test_plot_bar_snapshots_grid_images_and_c_labels():
    rng = np.random.default_rng(1)
    snaps = {0: rng.random((3, 2, 16, 60)), 500: rng.random((3, 2, 16, 60))}
    fig = ml.plot_bar_snapshots(snaps, ["Bach chorale", "Irish", "German folk"], low=36)
    axes = np.array(fig.axes).reshape(2, 6)
    assert np.allclose(axes[1, 3].images[0].get_array(), snaps[500][1, 1].T)      # style 1, noise 1
    assert axes[0, 2].get_title() == "Irish z0" and axes[1, 0].get_ylabel() == "step 500"
    assert [t.get_text() for t in axes[0, 0].get_yticklabels()] == ["C2", "C3", "C4", "C5", "C6"]
    assert axes[0, 0].images[0].get_clim() == (0, 1)


def test_value_table_formats_rows_and_label_columns():
    table = ml.value_table({("Irish", "GAN"): {"EB": 0.02, "QN": 0.4616}, ("Irish", "real"): {"EB": 0.0, "QN": 0.3}},
                           index=("style", "source"))
    lines = table.splitlines()
    assert lines[0] == "| style | source | EB | QN |" and lines[1] == "|---|---|---|---|"
    assert lines[2] == "| Irish | GAN | 0.020 | 0.462 |" and len(lines) == 4
    assert ml.value_table({"GAN": {"a": 1.0}}, index=("bars",), digits=2).splitlines()[2] == "| GAN | 1.00 |"
    with pytest.raises(ValueError):
        ml.value_table({("Irish",): {"EB": 0.0}}, index=("style", "source"))
    with pytest.raises(ValueError):
        ml.value_table({})


def test_plot_metric_path_one_panel_per_metric_with_references():
    curves = [{"polyphony": 4 - 3 * a, "QN": 0.5} for a in np.linspace(0, 1, 5)]
    fig = ml.plot_metric_path(np.linspace(0, 1, 5), curves, {"real a": {"polyphony": 3.9, "QN": 0.6},
                                                             "real b": {"polyphony": 1.0, "QN": 0.3}}, ["polyphony", "QN"])
    assert [ax.get_title() for ax in fig.axes] == ["polyphony", "QN"]
    path, a, b = fig.axes[0].get_lines()
    assert np.allclose(path.get_ydata(), [4, 3.25, 2.5, 1.75, 1]) and a.get_ydata()[0] == 3.9 and b.get_ydata()[0] == 1.0


def test_closer_than_baselines_counts_strictly_closer_metrics():
    real = {"EB": 0.0, "QN": 0.5, "H": 2.0, "SC": float("nan")}
    model = {"EB": 0.05, "QN": 0.45, "H": 3.0, "SC": 0.9}
    random = {"EB": 0.0, "QN": 0.0, "H": 3.5, "SC": 0.7}
    cells = {"EB": 0.1, "QN": 0.05, "H": 2.5, "SC": 0.8}
    # EB: a baseline is exact; QN: closer than both; H: the cell-wise baseline is closer; SC: nan is never closer
    assert ml.closer_than_baselines(model, real, [random, cells]) == ["QN"]
    assert ml.closer_than_baselines(model, real, [random]) == ["QN", "H"]


def test_closer_than_baselines_can_leave_out_metrics():
    real, model = {"EB": 0.0, "QN": 0.5}, {"EB": 0.02, "QN": 0.45}
    cells = {"EB": 0.0, "QN": 0.05}
    assert ml.closer_than_baselines(model, real, [cells], metrics=["QN"]) == ["QN"]
    assert ml.closer_than_baselines(model, real, [cells], metrics=["EB"]) == []


def test_nearest_style_names_the_nearest_reference_and_ties():
    refs = {"chorale": {"poly": 3.9, "UPC": 7.0, "H": float("nan")}, "irish": {"poly": 1.001, "UPC": 4.4, "H": 2.0},
            "german": {"poly": 1.0, "UPC": 2.9, "H": 1.4}}
    found = ml.nearest_style({"poly": 1.46, "UPC": 3.1, "H": 1.5}, refs)
    assert found["UPC"] == ["german"]                      # 3.1 lies nearer 2.9 than 4.4
    assert sorted(found["poly"]) == ["german", "irish"]    # two references 0.001 apart tie
    assert "H" not in found                                # nan in a reference: left out
    assert ml.nearest_style({"poly": 1.46, "UPC": 3.1}, refs, metrics=["UPC"]) == {"UPC": ["german"]}
    assert ml.nearest_style({"poly": 1.46}, refs, tie=0)["poly"] == ["irish"]


def test_confusion_shares_rows_are_label_shares():
    predicted = [np.array([0, 0, 0, 1]), np.array([2, 1, 1, 1, 1]), np.array([], dtype=int)]
    conf = ml.confusion_shares(predicted, 3)
    assert np.allclose(conf[0], [0.75, 0.25, 0]) and np.allclose(conf[1], [0, 0.8, 0.2])
    assert np.isnan(conf[2]).all() and np.allclose(conf[:2].sum(axis=1), 1)
    with pytest.raises(ValueError):
        ml.confusion_shares([np.array([0, 3])], 3)
