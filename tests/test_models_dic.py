"""The autoencoders of notebook 02 (musiclab.models.dic) and its reconstruction measures."""
import numpy as np
import pytest
import torch

import musiclab as ml
from musiclab.models.dic import (DIC, VAE, KLWarmup, LogisticPCA, bar_probs, bar_threshold, bce_loss,
                                 decode_codes, init_output_bias, kl_to_standard_normal, mlp,
                                 train_bar_dic, train_logistic_pca, train_logmel_dic, train_vae, vae_loss)


def by_hand(model, x):
    """h_i = ReLU(W_i h_{i-1} + b_i), except after the code layer and the output layer."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    n_encoder = len([m for m in model.encoder if isinstance(m, torch.nn.Linear)])
    h = x
    for i, layer in enumerate(linears, start=1):
        h = h @ layer.weight.T + layer.bias
        if i not in (n_encoder, len(linears)):
            h = torch.relu(h)
    return h


def toy_bars(n=96, steps=4, keys=6, seed=0):
    """Bars with structure: each is one of three patterns with a few flipped cells."""
    rng = np.random.default_rng(seed)
    patterns = rng.random((3, steps, keys)) < 0.3
    bars = patterns[rng.integers(0, 3, n)] ^ (rng.random((n, steps, keys)) < 0.03)
    return bars.astype(np.float32)


def test_mlp_has_relu_between_layers_and_none_after_the_last():
    net = mlp([5, 4, 3, 2])
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]


def test_dic_equals_the_layer_formula_by_hand():
    torch.manual_seed(0)
    model = DIC([12, 8, 5, 3])
    x = torch.randn(7, 12)
    assert torch.allclose(model(x), by_hand(model, x), atol=1e-6)
    assert model.encoder(x).shape == (7, 3) and model(x).shape == (7, 12)
    assert model.config == {"sizes": [12, 8, 5, 3]}


def test_logistic_pca_is_a_linear_code_whose_logits_are_affine_in_x():
    torch.manual_seed(0)
    model = LogisticPCA(10, 3)
    x, y = torch.randn(4, 10), torch.randn(4, 10)
    assert [type(m).__name__ for m in [*model.encoder, *model.decoder]] == ["Linear", "Linear"]
    # affine: f(x + y) - f(y) = f(x) - f(0)
    zero = torch.zeros(1, 10)
    assert torch.allclose(model(x + y) - model(y), model(x) - model(zero), atol=1e-5)
    assert model.config == {"n_in": 10, "k": 3}


def test_vae_kl_closed_form_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, prior).sum(dim=-1)
    assert torch.allclose(kl_to_standard_normal(mu, logvar), expected)
    assert torch.allclose(kl_to_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))


def test_vae_shapes_and_reparameterisation():
    torch.manual_seed(0)
    vae = VAE([20, 8, 3])
    x = torch.rand(5, 20)
    logits, mu, logvar = vae(x)
    assert logits.shape == (5, 20) and mu.shape == logvar.shape == (5, 3)
    with torch.no_grad():
        vae.encoder[-1].bias[3:] = -30.0   # sigma ~ 0: the sample is the mean
    logits, mu, _ = vae(x)
    assert torch.allclose(logits, vae.decoder(mu), atol=1e-4)


def test_kl_warmup_scales_the_kl_term_in_training_and_not_in_evaluation():
    torch.manual_seed(0)
    vae, x = VAE([12, 6, 2]), (torch.rand(8, 12) < 0.3).float()
    warm = KLWarmup(steps=4)
    vae.train()
    torch.manual_seed(1)
    first = warm(vae, (x,))
    torch.manual_seed(1)
    assert torch.isclose(first, vae_loss(vae, (x,), beta=0.25))
    vae.eval()
    torch.manual_seed(2)
    evaluated = warm(vae, (x,))
    torch.manual_seed(2)
    assert torch.isclose(evaluated, vae_loss(vae, (x,))) and warm.step == 1


def test_init_output_bias_makes_the_untrained_decoder_output_the_mean_bar():
    bars = toy_bars()
    model = DIC([24, 8, 3])
    init_output_bias(model, bars)
    mean = torch.from_numpy(bars.reshape(len(bars), -1).mean(axis=0)).clamp(1e-3, 1 - 1e-3)
    assert torch.allclose(torch.sigmoid(model.decoder[-1].bias), mean, atol=1e-5)


def test_a_tiny_train_call_lowers_the_loss():
    bars = toy_bars()
    model, history = train_bar_dic(bars[:64], bars[64:], hidden=[16], k=3, epochs=8, batch_size=16, lr=1e-2)
    assert history["train"][-1] < 0.7 * history["train"][0]
    assert history["val"][history["best_epoch"] - 1] == min(history["val"])
    x = torch.from_numpy(bars[64:].reshape(32, -1))
    assert bce_loss(model, (x,)).item() == pytest.approx(min(history["val"]), rel=1e-4)  # best weights kept
    lpca, h_lpca = train_logistic_pca(bars[:64], None, k=3, epochs=8, batch_size=16, lr=1e-2)
    assert isinstance(lpca, LogisticPCA) and h_lpca["train"][-1] < h_lpca["train"][0]
    vae, h_vae = train_vae(bars[:64], bars[64:], hidden=[16], k=3, epochs=8, batch_size=16, lr=1e-2)
    assert isinstance(vae, VAE) and h_vae["val"][-1] < h_vae["val"][0]
    frames = np.random.default_rng(0).standard_normal((64, 6)).astype(np.float32)
    dic_a, h_a = train_logmel_dic(frames, frames, hidden=[8], k=2, epochs=5, batch_size=16, lr=1e-2)
    assert h_a["val"][-1] < h_a["val"][0] and dic_a.config["sizes"] == [6, 8, 2]


def test_a_typo_in_a_setting_raises():
    bars = toy_bars()
    for train in [train_bar_dic, train_logistic_pca, train_vae, train_logmel_dic]:
        with pytest.raises(ValueError, match="epoch"):
            train(bars.reshape(len(bars), -1), None, epoch=1)          # "epochs" misspelt


def test_bar_probs_threshold_and_decoding_on_a_trained_model():
    bars = toy_bars()
    model, _ = train_bar_dic(bars, None, hidden=[16], k=3, epochs=12, batch_size=16, lr=1e-2)
    probs = bar_probs(model, bars)
    assert probs.shape == bars.shape and probs.min() >= 0 and probs.max() <= 1
    threshold = bar_threshold(model, bars)
    assert ml.frame_f1(bars, probs, threshold)[2] >= ml.frame_f1(bars, probs, 0.5)[2]
    codes = model.encoder(torch.from_numpy(bars.reshape(len(bars), -1))).detach().numpy()
    decoded = decode_codes(model, codes, threshold, shape=bars.shape[1:])
    assert decoded.shape == bars.shape and np.array_equal(decoded, (probs > threshold).astype(np.float32))


def test_checkpoint_round_trip_through_save_checkpoint_and_load_model(tmp_path):
    torch.manual_seed(0)
    for model in [DIC([20, 8, 3]), LogisticPCA(20, 3), VAE([20, 8, 3])]:
        path = tmp_path / f"{type(model).__name__}.pt"
        ml.save_checkpoint(path, model, split_seed=0, train_ids=["oneills:1"], threshold=0.4)
        loaded, meta = ml.load_model(path, type(model))
        assert meta["threshold"] == 0.4 and meta["train_ids"] == ["oneills:1"]
        x = torch.rand(3, 20)
        out, out_loaded = model.eval().decoder(model.encoder(x)[:, :3]), loaded.decoder(loaded.encoder(x)[:, :3])
        assert torch.allclose(out, out_loaded)
    with pytest.raises(ValueError):
        ml.load_model(tmp_path / "DIC.pt", VAE)


def test_reconstruction_metrics_on_cases_with_known_answers():
    S = np.random.default_rng(0).uniform(-80, 20, size=(50, 16))
    assert ml.log_spectral_distance(S, S + 3.0) == pytest.approx(3.0)
    assert ml.log_spectral_distance(S, S) == 0.0
    # +20 dB multiplies every magnitude by 10: ||10 Y - Y|| / ||Y|| = 9
    assert ml.mel_spectral_convergence(S, S + 20.0) == pytest.approx(9.0)
    # silence (-inf dB, magnitude 0) is off by exactly the whole signal
    assert ml.mel_spectral_convergence(S, np.full_like(S, -np.inf)) == pytest.approx(1.0)
    # LSD is an RMS over bands: +3 dB in a quarter of the bands gives 3 / 2
    shifted = S.copy()
    shifted[:, :4] += 3.0
    assert ml.log_spectral_distance(S, shifted) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        ml.log_spectral_distance(S, S[:, :8])
    # gain matching removes one dB offset for all cells, and only that
    assert ml.log_spectral_distance(S, S - 6.0, match_gain=True) == pytest.approx(0.0, abs=1e-9)
    assert ml.log_spectral_distance(S, shifted - 6.0, match_gain=True) < ml.log_spectral_distance(S, shifted - 6.0)
    assert ml.log_spectral_distance(S, shifted, match_gain=True) == pytest.approx(np.sqrt(3 / 4 * 0.75 ** 2 + 1 / 4 * 2.25 ** 2))


def test_stopping_note_says_whether_validation_turned():
    assert "stopped after 2 epochs" in ml.stopping_note({"val": [3, 2, 2.5, 2.6], "best_epoch": 2, "stopped": True})
    assert "still improving" in ml.stopping_note({"val": [3, 2, 1], "best_epoch": 3})
    assert "turned before the last epoch" in ml.stopping_note({"val": [3, 2, 2.5], "best_epoch": 2})


def test_quick_recipes_stop_on_patience_and_keep_the_vae_warm_up_in_epochs(monkeypatch):
    monkeypatch.setenv("MUSICLAB_QUICK", "1")
    for recipe in (ml.logmel_dic_recipe(), ml.logistic_pca_recipe(), ml.vae_recipe()):
        assert recipe["patience"] >= 1 and recipe["epochs"] > recipe["patience"]
    vae = ml.vae_recipe()
    assert vae["warmup"] * vae["epochs"] < vae["epochs"] - vae["patience"]  # the warm-up ends before a stop can come


def test_frame_f1_and_best_threshold_on_hand_counted_cells():
    truth = np.array([[1, 1, 0, 0], [0, 1, 1, 0]])
    guess = np.array([[0.9, 0.2, 0.7, 0.1], [0.1, 0.8, 0.6, 0.4]])  # TP 3, FP 1, FN 1 at 0.5
    assert ml.frame_f1(truth, guess) == pytest.approx((0.75, 0.75, 0.75))
    assert ml.frame_f1(truth, np.zeros_like(guess)) == (0.0, 0.0, 0.0)
    # at 0.15 every true cell is found (TP 4) and two false ones (FP 2): F1 = 8 / 10
    assert ml.frame_f1(truth, guess, threshold=0.15)[2] == pytest.approx(0.8)
    assert ml.best_threshold(truth, guess, grid=np.array([0.15, 0.5, 0.85])) == 0.15
