"""The style-conditional bar GAN of notebook 07 (musiclab.models.gan)."""
import numpy as np
import pytest
import torch

import musiclab as ml

SHAPE = dict(n_styles=3, steps=16, n_keys=24)


def small_gan():
    torch.manual_seed(0)
    return ml.BarGenerator(z_dim=8, hidden=16, **SHAPE), ml.BarDiscriminator(hidden=16, **SHAPE)


def toy_bars(n_per_style=40, seed=0):
    """Three recognisable 'styles': a held low note, a held high note, a run of 2-step notes."""
    rng = np.random.default_rng(seed)
    bars, styles = [], []
    for _ in range(n_per_style):
        low, high, run = (np.zeros((16, 24), np.float32) for _ in range(3))
        low[:, rng.integers(0, 6)] = 1
        high[:, rng.integers(18, 24)] = 1
        start = rng.integers(6, 10)
        for t in range(8):
            run[2 * t:2 * t + 2, start + t] = 1
        bars += [low, high, run]
        styles += [0, 1, 2]
    return np.stack(bars), np.array(styles)


def test_shapes_and_probabilities():
    G, D = small_gan()
    z, c = torch.randn(5, 8), torch.eye(3)[[0, 1, 2, 0, 1]]
    probs = G(z, c)
    assert probs.shape == (5, 16, 24)
    assert ((probs > 0) & (probs < 1)).all()
    assert D(probs, c).shape == (5,)


def test_style_input_changes_the_output():
    G, D = small_gan()
    z = torch.randn(4, 8)
    with torch.no_grad():
        out = [G(z, torch.eye(3)[[s] * 4]) for s in range(3)]
        scores = [D(out[0], torch.eye(3)[[s] * 4]) for s in range(3)]
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])
    assert not torch.allclose(scores[0], scores[1])   # D judges a bar given its style


def test_spectral_norm_keeps_each_layer_near_one():
    _, D = small_gan()
    with torch.no_grad():
        for name, p in D.named_parameters():
            if name.endswith("original"):
                p.mul_(7.0)                            # make every layer steep
        D.train()
        for _ in range(30):                            # power iteration: one step per forward pass
            D(torch.rand(4, 16, 24), torch.eye(3)[[0, 1, 2, 0]])
    D.eval()
    layers = [m for m in D.modules() if hasattr(m, "parametrizations")]
    assert len(layers) == 5                            # two feature layers, the score, the style embedding, the style head
    for layer in layers:
        raw = torch.linalg.matrix_norm(layer.parametrizations.weight.original, ord=2)
        used = torch.linalg.matrix_norm(layer.weight, ord=2)
        assert raw > 3 and abs(used - 1) < 0.05, (raw, used)


def test_spectral_norm_can_be_switched_off_for_the_plain_mlp():
    shape = dict(hidden=16, **SHAPE)
    plain, normed = ml.BarDiscriminator(spectral_norm=False, **shape), ml.BarDiscriminator(**shape)
    assert not any(hasattr(m, "parametrizations") for m in plain.modules())
    assert sum(hasattr(m, "parametrizations") for m in normed.modules()) == 5
    assert plain.config["spectral_norm"] is False and normed.config["spectral_norm"] is True
    with torch.no_grad():                              # a steep plain layer stays steep
        plain.features[0].weight.mul_(7.0)
    assert torch.linalg.matrix_norm(plain.features[0].weight, ord=2) > 3
    bars, styles = toy_bars(n_per_style=4)              # the recipe's switch reaches D
    _, D, _ = ml.train_bar_gan(bars, styles, "cpu", steps=2, batch=4, hidden=8, z_dim=4, spectral_norm=False,
                               progress=False)
    assert not any(hasattr(m, "parametrizations") for m in D.modules())


def test_predict_styles_can_give_empty_bars_their_own_label():
    bars, styles = toy_bars(n_per_style=10)
    clf, _ = ml.train_style_classifier(bars, styles, n_styles=4, epochs=100)   # label 3 never seen in training
    mixed = np.concatenate([bars[:6], np.zeros((2, 16, 24), np.float32)])
    plain, marked = ml.predict_styles(clf, mixed), ml.predict_styles(clf, mixed, empty_label=3)
    assert (plain[:6] == styles[:6]).all() and (plain[6:] != 3).all()   # the classifier alone never says 3
    assert (marked[:6] == plain[:6]).all() and (marked[6:] == 3).all()


def test_shuffle_bars_keeps_one_kind_of_evidence():
    rng = np.random.default_rng(0)
    bars = (rng.random((20, 16, 24)) < 0.1).astype(np.float32)
    keys, time = ml.shuffle_bars(bars, "keys", seed=1), ml.shuffle_bars(bars, "time", seed=1)
    assert keys.shape == time.shape == bars.shape
    assert np.array_equal(keys.sum(axis=2), bars.sum(axis=2))      # keys shuffled: keys on per step kept
    assert np.array_equal(time.sum(axis=1), bars.sum(axis=1))      # steps shuffled: each key's on-steps kept
    assert not np.array_equal(keys, bars) and not np.array_equal(time, bars)
    assert np.array_equal(ml.shuffle_bars(bars, "keys", seed=1), keys)   # seeded
    with pytest.raises(ValueError):
        ml.shuffle_bars(bars, "pitch")


def test_checkpoint_round_trip(tmp_path):
    G, _ = small_gan()
    path = tmp_path / "gan.pt"
    ml.save_checkpoint(path, G, styles={"a": ["chorales"]}, decode={"rule": "threshold", "threshold": 0.5})
    G2, meta = ml.load_model(path, ml.BarGenerator)
    z, c = torch.randn(3, 8), torch.eye(3)[[0, 1, 2]]
    with torch.no_grad():
        assert torch.equal(G(z, c), G2(z, c))
    assert meta["config"] == G.config and meta["decode"]["rule"] == "threshold"
    with pytest.raises(ValueError):
        ml.load_model(path, ml.BarDiscriminator)       # another class is refused


def test_tiny_training_runs_with_finite_losses():
    bars, styles = toy_bars()
    G, D, history = ml.train_bar_gan(bars, styles, "cpu", steps=30, batch=16, hidden=16, z_dim=8, lr=1e-3,
                                     snapshot_steps=(0, 30), progress=False)
    for key in ["D", "G", "D(x) real", "D(G(z)) fake"]:
        assert len(history[key]) == 30 and np.isfinite(history[key]).all()
    assert sorted(history["snapshots"]) == [0, 30]
    assert history["snapshots"][30].shape == (3, 2, 16, 24)
    assert not np.allclose(history["snapshots"][0], history["snapshots"][30])   # G changed
    bars_out = ml.generate_bars(G, np.eye(3)[1], 5, seed=0)
    assert bars_out.shape == (5, 16, 24) and set(np.unique(bars_out)) <= {0.0, 1.0}
    probs = ml.generate_bars(G, np.eye(3)[1], 5, seed=0, decode=False)
    melody = ml.generate_bars(G, np.eye(3)[1], 5, seed=0, decode=dict(threshold=0.05), melody=True)
    assert np.array_equal(melody, ml.decode_bars(probs, threshold=0.05, melody=True))   # the package's rule
    assert melody.sum(-1).max() <= 1


def test_a_typo_in_a_setting_raises():
    bars, styles = toy_bars(n_per_style=4)
    with pytest.raises(ValueError, match="style_wieght"):
        ml.train_bar_gan(bars, styles, "cpu", steps=1, style_wieght=0.0, progress=False)


def test_gan_step_is_one_update_of_d_then_one_of_g_with_the_logged_losses():
    import copy
    softplus = torch.nn.functional.softplus
    G, D = small_gan()
    opt_G, opt_D = (torch.optim.Adam(m.parameters(), lr=1e-3) for m in (G, D))
    bars, styles = toy_bars(n_per_style=4)
    x, y = torch.from_numpy(bars), torch.from_numpy(styles).long()
    c, z = torch.eye(3)[y], torch.randn(len(y), 8)
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)          # the networks before the step
    logged = ml.gan_step(G, D, opt_G, opt_D, x, c, y, z, style_weight=1.0)
    assert list(logged) == ["D", "G", "D(x) real", "D(G(z)) fake", "style real", "style fake"]
    with torch.no_grad():
        fake = G0(z, c)
        L_D = softplus(-D0(x, c)).mean() + softplus(D0(fake, c)).mean()   # real up, fakes down
        L_G = softplus(-D.eval()(fake, c)).mean()        # non-saturating, through the *updated* D
    assert logged["D"] == pytest.approx(L_D.item(), rel=1e-6)
    assert logged["G"] == pytest.approx(L_G.item(), rel=1e-4)   # (D's spectral norms iterate once more)
    assert not all(torch.equal(a, b) for a, b in zip(G0.parameters(), G.parameters()))   # both moved
    assert not all(torch.equal(a, b) for a, b in zip(D0.parameters(), D.parameters()))


def test_style_balanced_batches_reach_a_rare_style():
    bars, styles = toy_bars(n_per_style=30)
    keep = (styles != 2) | (np.arange(len(styles)) < 6)      # style 2 keeps 2 bars of 60
    seen = []
    real_multinomial = torch.multinomial

    def spy(weights, n, replacement=False):
        idx = real_multinomial(weights, n, replacement=replacement)
        seen.append(idx)
        return idx

    torch.multinomial = spy
    try:
        ml.train_bar_gan(bars[keep], styles[keep], "cpu", steps=20, batch=30, hidden=8, z_dim=4, progress=False)
    finally:
        torch.multinomial = real_multinomial
    drawn = styles[keep][torch.cat(seen).numpy()]
    assert abs(np.mean(drawn == 2) - 1 / 3) < 0.1              # a third of the draws, not 2 / 62


def test_style_classifier_learns_toy_styles():
    bars, styles = toy_bars(seed=1)
    clf, loss = ml.train_style_classifier(bars, styles, epochs=100)
    assert loss[-1] < loss[0]
    test_bars, test_styles = toy_bars(n_per_style=10, seed=2)
    assert np.mean(ml.predict_styles(clf, test_bars) == test_styles) > 0.9


def test_bar_metrics_average_entropy_and_scale_over_sounding_bars():
    from musiclab import metrics
    bars, _ = toy_bars(n_per_style=3)
    stack = np.concatenate([bars, np.zeros((2, 16, 24), np.float32)])     # two empty bars
    values = metrics.bar_metrics(stack, low=48)
    assert np.isclose(values["EB"], 2 / len(stack))
    assert np.isclose(values["H (bits)"], np.mean([metrics.pitch_class_entropy(b, low=48) for b in bars]))
    assert np.isclose(values["SC"], np.mean([metrics.scale_consistency(b, low=48) for b in bars]))
    assert np.isnan(metrics.bar_metrics(np.zeros((3, 16, 24)), low=48)["SC"])


def test_models_export_every_family_name_but_not_the_family_modules():
    import musiclab.models as models
    families = [models.transformer, models.rnn, models.dic, models.gan, models.music_gpt,
                models.chorale_gpt]
    import pkgutil
    assert sorted(f.__name__.rsplit(".", 1)[1] for f in families) == sorted(
        m.name for m in pkgutil.iter_modules(models.__path__))                 # a new family file is listed
    assert sorted(models.__all__) == sorted(n for f in families for n in f.__all__)
    assert all(hasattr(ml, n) for n in models.__all__)                       # ml.train_bar_gan, ml.GPT, ...
    assert not any(hasattr(ml, n) for n in ["transformer", "rnn", "dic", "gan", "music_gpt", "chorale_gpt"])
