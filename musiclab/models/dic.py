"""Deep autoencoders (the "DIC"), logistic PCA and the VAE of notebook 02, with their recipes.

* ``DIC``: a deep autoencoder, ReLU layers narrowing to a linear code and mirrored back (Hinton &
  Salakhutdinov 2006, "Reducing the dimensionality of data with neural networks"). The log-mel
  and the piano-roll DICs are this one class with other sizes: the model returns raw outputs, and
  the *loss* says what they mean (MSE on standardised dB; BCE on the logits of 0/1 cells).
* ``LogisticPCA``: the baseline with the same code size and loss, a linear code with a sigmoid
  output (Collins, Dasgupta & Schapire 2001; Schein, Saul & Ungar 2003), i.e. a DIC with no
  hidden layers.
* ``VAE``: the variational autoencoder (Kingma & Welling 2014, "Auto-encoding variational
  Bayes"): Gaussian codes, the reparameterisation trick, the closed-form KL term, trained with a
  KL warm-up (Bowman et al. 2016).
* Recipes ``train_logmel_dic``, ``train_bar_dic``, ``train_logistic_pca``, ``train_vae``: one
  call each, sizes per mode from ``*_recipe()``; notebook 02 calls them, and 08 calls
  ``train_bar_dic`` when 02's checkpoint is missing.

Bars are (n, steps, keys) or flattened (n, steps * keys) arrays of 0/1 from ``piece_bars`` /
``bar_dataset``; they are decoded from probabilities with ``decode_bars`` (the one rule, in
``musiclab.data``) at a threshold calibrated on training bars (``bar_threshold``).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from ..config import by_mode, seed_everything, with_overrides
from ..data import decode_bars
from ..reconstruction import best_threshold
from ..train import fit

__all__ = ["mlp", "DIC", "LogisticPCA", "VAE", "kl_to_standard_normal", "mse_loss", "bce_loss",
           "vae_loss", "KLWarmup", "init_output_bias", "logmel_dic_recipe", "bar_dic_recipe",
           "logistic_pca_recipe", "vae_recipe", "fit_autoencoder", "stopping_note", "train_logmel_dic", "train_bar_dic",
           "train_logistic_pca", "train_vae", "bar_probs", "bar_threshold", "decode_codes",
           "interpolate_codes"]


def mlp(sizes):
    """Linear layers sizes[0] -> sizes[1] -> ... with a ReLU between two, none after the last.
    Notebooks: 02."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class DIC(nn.Module):
    """Deep autoencoder (Hinton & Salakhutdinov 2006; notebook 02): the encoder maps sizes[0] ->
    ... -> sizes[-1] (the code z, linear), the decoder mirrors it back. ``forward`` returns the
    decoder's raw output: dB values (MSE) or the logits of 0/1 cells (BCE, sigmoid in the loss).
    Notebooks: 02, 08."""

    def __init__(self, sizes):
        super().__init__()
        self.config = {"sizes": [int(s) for s in sizes]}
        self.encoder = mlp(self.config["sizes"])
        self.decoder = mlp(self.config["sizes"][::-1])

    def forward(self, x):
        return self.decoder(self.encoder(x))


class LogisticPCA(DIC):
    """A linear code with a sigmoid output, trained on the same BCE as the bar DIC: the DIC with
    no hidden layers (logistic PCA, Collins et al. 2001, as a linear autoencoder; notebook 02).
    Notebooks: 02."""

    def __init__(self, n_in: int, k: int):
        super().__init__([n_in, k])
        self.config = {"n_in": int(n_in), "k": int(k)}


class VAE(nn.Module):
    """Variational autoencoder (Kingma & Welling 2014; notebook 02). The encoder gives the mean
    and log variance of q(z | x) = N(mu, diag sigma^2); z = mu + sigma * eps (the
    reparameterisation trick); the decoder is the DIC's. ``forward`` returns (logits, mu, logvar).
    Notebooks: 02."""

    def __init__(self, sizes):
        super().__init__()
        self.config = {"sizes": [int(s) for s in sizes]}
        *body, self.k = self.config["sizes"]
        self.encoder = mlp(body + [2 * self.k])
        self.decoder = mlp(self.config["sizes"][::-1])

    def encode(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decoder(z), mu, logvar


def kl_to_standard_normal(mu, logvar):
    """D_KL(N(mu, sigma^2) || N(0, I)) per row: 0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1).
    Notebooks: 02."""
    return 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(dim=-1)


def mse_loss(model, batch):
    """Mean squared error of the reconstruction (log-mel frames, standardised dB)."""
    (x,) = batch
    return F.mse_loss(model(x), x)


def bce_loss(model, batch):
    """Binary cross-entropy summed over the cells of a bar, averaged over bars (from logits).
    Notebooks: 02."""
    (x,) = batch
    return F.binary_cross_entropy_with_logits(model(x), x, reduction="sum") / len(x)


def vae_loss(model, batch, beta: float = 1.0):
    """Negative ELBO per bar: BCE summed over cells + beta * KL to N(0, I) (beta = 1: the ELBO)."""
    (x,) = batch
    logits, mu, logvar = model(x)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    return reconstruction + beta * kl_to_standard_normal(mu, logvar).mean()


class KLWarmup:
    """``vae_loss`` with beta rising linearly from 0 to 1 over the first ``steps`` training steps
    (Bowman et al. 2016), so the decoder learns to use the code before the KL term pulls every
    code to the prior; in eval mode (validation) it is the plain negative ELBO, beta = 1.
    Notebooks: 02."""

    def __init__(self, steps: int):
        self.steps, self.step = max(int(steps), 1), 0

    def __call__(self, model, batch):
        if not model.training:
            return vae_loss(model, batch)
        self.step += 1
        return vae_loss(model, batch, beta=min(1.0, self.step / self.steps))


def init_output_bias(model, X):
    """Set the last layer's bias to the log-odds of each cell in the training bars X, so the
    untrained decoder outputs the average bar (no plateau of "everything off" at the start).
    Notebooks: 02."""
    mean = torch.as_tensor(np.asarray(X, dtype=np.float32).reshape(len(X), -1).mean(axis=0))
    mean = mean.clamp(1e-3, 1 - 1e-3)
    with torch.no_grad():
        model.decoder[-1].bias.copy_(torch.log(mean / (1 - mean)))


def logmel_dic_recipe() -> dict:
    """Sizes of the log-mel DIC per mode (notebook 02, part A): 64 mel bands -> code of 8.
    ``epochs`` is a ceiling: quick mode stops once ``patience`` epochs bring no new best
    validation loss (full mode, patience None, runs every epoch, as its recorded run did).
    Notebooks: 02."""
    return {"hidden": by_mode([256, 128], [128, 64]), "k": 8, "epochs": by_mode(8, 12),
            "batch_size": 256, "lr": 1e-3, "patience": by_mode(None, 3)}


def bar_dic_recipe() -> dict:
    """Sizes of the bar DIC per mode (notebooks 02 and 08): one bar -> code of 16.
    Notebooks: 02."""
    return {"hidden": by_mode([512, 128], [256, 64]), "k": 16, "epochs": by_mode(30, 16),
            "batch_size": 128, "lr": by_mode(2e-3, 3e-3)}


def logistic_pca_recipe() -> dict:
    """The baseline's recipe (notebook 02): the bar DIC's code size and batches, with a larger
    step and more epochs than the DIC, so that the linear model is not under-trained; in quick
    mode up to 80 epochs, stopped once 10 in a row bring no new best validation loss.
    Notebooks: 02."""
    return {**bar_dic_recipe(), "hidden": [], "epochs": by_mode(60, 80), "lr": 1e-2,
            "patience": by_mode(None, 10)}


def vae_recipe() -> dict:
    """Sizes of the bar VAE per mode (notebook 02): the bar DIC's, with the KL weight rising from
    0 to 1 over the first ``warmup`` fraction of the training steps (of the ``epochs`` ceiling).
    Quick mode: up to 40 epochs, a warm-up of 8 of them (as long as before), stopped once 5
    epochs in a row bring no new best validation loss.
    Notebooks: 02."""
    return {**bar_dic_recipe(), "warmup": by_mode(0.5, 0.2), "epochs": by_mode(30, 40),
            "patience": by_mode(None, 5)}


def _rows(X):
    """Bars (n, steps, keys) or rows (n, d) as a float32 tensor (n, d)."""
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    return X.reshape(len(X), -1)


def fit_autoencoder(model, loss_fn, train, val, recipe, device, desc, seed):
    """Adam with ``recipe["lr"]`` and ``ml.fit`` for ``recipe["epochs"]`` on shuffled
    mini-batches of ``recipe["batch_size"]`` rows of ``train`` (seeded); with ``val`` the
    weights of the best validation epoch are kept, and ``recipe["patience"]`` (if set) stops
    training once validation has turned. Returns (model in eval mode, history).
    Notebooks: 02."""
    shuffle = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(TensorDataset(train), batch_size=recipe["batch_size"], shuffle=True,
                              generator=shuffle)
    val_loader = None if val is None else DataLoader(TensorDataset(val), batch_size=4096)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    history = fit(model, loss_fn, train_loader, optimizer, recipe["epochs"], device,
                  val_loader=val_loader, desc=desc, patience=recipe.get("patience"))
    return model.eval(), history


def stopping_note(history) -> str:
    """One line on where a run of ``fit`` ended: its best validation epoch of the epochs run, and
    whether validation had turned (stopped by ``patience``), the run used its whole epoch budget
    with an earlier best, or the best epoch was the last one, so the model was still improving.
    Notebooks: 02."""
    best, run = history["best_epoch"], len(history["val"])
    if history.get("stopped"):
        return f"best validation epoch {best} of {run}: stopped after {run - best} epochs without a new best"
    if best < run:
        return f"best validation epoch {best} of {run}: validation turned before the last epoch"
    return f"best validation epoch {best} of {run}: still improving at its last epoch (the epoch ceiling)"


def train_logmel_dic(train_frames, val_frames=None, device="cpu", seed: int = 0, **overrides):
    """Train the log-mel DIC (notebook 02, part A) on standardised frames (n, 64) with MSE;
    returns (model, history). ``overrides`` change entries of ``logmel_dic_recipe()`` (an
    unknown one raises ValueError).
    Notebooks: 02."""
    recipe = with_overrides(logmel_dic_recipe(), overrides)
    train = _rows(train_frames)
    seed_everything(seed)
    model = DIC([train.shape[1], *recipe["hidden"], recipe["k"]])
    val = None if val_frames is None else _rows(val_frames)
    return fit_autoencoder(model, mse_loss, train, val, recipe, device, "DIC on log-mel frames", seed)


def train_bar_dic(train_bars, val_bars=None, device="cpu", seed: int = 0, **overrides):
    """Train the bar DIC (notebooks 02 and 08) with BCE, the output bias set to the average
    training bar; returns (model, history) with the best validation epoch's weights.
    ``overrides`` change entries of ``bar_dic_recipe()`` (hidden, k, epochs, batch_size, lr).
    Notebooks: 02."""
    recipe = with_overrides(bar_dic_recipe(), overrides)
    train = _rows(train_bars)
    seed_everything(seed)
    model = DIC([train.shape[1], *recipe["hidden"], recipe["k"]])
    init_output_bias(model, train)
    val = None if val_bars is None else _rows(val_bars)
    return fit_autoencoder(model, bce_loss, train, val, recipe, device, "DIC on piano-roll bars", seed)


def train_logistic_pca(train_bars, val_bars=None, device="cpu", seed: int = 0, **overrides):
    """The baseline of the bar DIC (notebook 02): ``LogisticPCA`` with the DIC's code size, BCE
    and output bias, trained by ``logistic_pca_recipe()``; returns (model, history).
    Notebooks: 02."""
    recipe = with_overrides(logistic_pca_recipe(), overrides)
    train = _rows(train_bars)
    seed_everything(seed)
    model = LogisticPCA(train.shape[1], recipe["k"])
    init_output_bias(model, train)
    val = None if val_bars is None else _rows(val_bars)
    return fit_autoencoder(model, bce_loss, train, val, recipe, device, "logistic PCA on bars", seed)


def train_vae(train_bars, val_bars=None, device="cpu", seed: int = 0, **overrides):
    """Train the bar VAE (notebook 02) on the negative ELBO with a KL warm-up over the first
    ``warmup`` fraction of the steps (``vae_recipe()``); returns (model, history).
    Notebooks: 02."""
    recipe = with_overrides(vae_recipe(), overrides)
    train = _rows(train_bars)
    seed_everything(seed)
    model = VAE([train.shape[1], *recipe["hidden"], recipe["k"]])
    init_output_bias(model, train)
    steps_per_epoch = -(-len(train) // recipe["batch_size"])
    loss_fn = KLWarmup(recipe["warmup"] * recipe["epochs"] * steps_per_epoch)
    val = None if val_bars is None else _rows(val_bars)
    return fit_autoencoder(model, loss_fn, train, val, recipe, device, "VAE on piano-roll bars", seed)


@torch.no_grad()
def bar_probs(model, bars, batch: int = 8192) -> np.ndarray:
    """A model's reconstruction probabilities sigmoid(logits) of bars, same shape as ``bars``.
    A VAE reconstructs from its mean code mu (no noise).
    Notebooks: 02."""
    model.eval()
    device = next(model.parameters()).device
    X = _rows(bars)
    out = []
    for i in range(0, len(X), batch):
        x = X[i:i + batch].to(device)
        z = model.encode(x)[0] if isinstance(model, VAE) else model.encoder(x)
        out.append(torch.sigmoid(model.decoder(z)).cpu())
    return torch.cat(out).numpy().reshape(np.shape(bars))


def bar_threshold(model, train_bars) -> float:
    """The decoding threshold of a bar model: the best frame F1 on its *training* bars.
    Notebooks: 02."""
    return best_threshold(train_bars, bar_probs(model, train_bars))


@torch.no_grad()
def decode_codes(model, z, threshold: float, shape=None) -> np.ndarray:
    """Codes (n, k) -> 0/1 bars by the decoder, sigmoid and ``decode_bars`` at ``threshold``;
    ``shape`` = (steps, keys) gives (n, steps, keys).
    Notebooks: 02, 08."""
    model.eval()
    device = next(model.parameters()).device
    probs = torch.sigmoid(model.decoder(torch.as_tensor(np.asarray(z, dtype=np.float32)).to(device))).cpu()
    bars = decode_bars(probs, threshold=threshold)
    return bars if shape is None else bars.reshape(len(bars), *shape)


@torch.no_grad()
def interpolate_codes(model, x_a, x_b, ts, threshold: float, shape=None) -> np.ndarray:
    """Walk in code space: decode ``z_t = (1 - t) z_a + t z_b`` for every t of ``ts``, where z_a and
    z_b are the codes of the inputs x_a and x_b (a VAE's mean codes), by ``decode_codes`` at
    ``threshold``; ``shape`` = (steps, keys) gives (len(ts), steps, keys).
    Notebooks: 02."""
    model.eval()
    X = _rows(np.stack([np.asarray(x_a), np.asarray(x_b)])).to(next(model.parameters()).device)
    z = (model.encode(X)[0] if isinstance(model, VAE) else model.encoder(X)).cpu().numpy()
    ts = np.asarray(ts, dtype=np.float64)[:, None]
    return decode_codes(model, (1 - ts) * z[0] + ts * z[1], threshold, shape=shape)
