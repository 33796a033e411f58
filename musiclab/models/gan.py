"""A style-conditional GAN for one bar of music (notebook 07; loaded by notebook 08).

The generator G(z, c) maps noise z and a style vector c to the probability that each cell of a
bar (steps x keys piano roll) is on; the discriminator D(x, c) scores a bar given its style.

* GAN and its non-saturating generator loss: Goodfellow et al. (2014), "Generative adversarial nets".
* The condition c concatenated to both networks' inputs: Mirza & Osindero (2014), "Conditional
  generative adversarial nets".
* Spectral normalisation of D's layers: Miyato et al. (2018), "Spectral normalization for
  generative adversarial networks"; the projection discriminator: Miyato & Koyama (2018),
  "cGANs with projection discriminator".
* D's style head and G's style loss: an auxiliary style classifier on D's features, trained on the
  *real* bars only, whose cross-entropy on the fakes G minimises (a classifier-guided loss). This is
  not the AC-GAN of Odena, Olah & Shlens (2017), "Conditional image synthesis with auxiliary
  classifier GANs", whose D also learns to name the style of the fakes; G's term is the same.
* Bars as binary piano rolls, hard thresholding of G's probabilities and the bar metrics:
  MuseGAN, Dong et al. (2018), "MuseGAN: multi-track sequential generative adversarial networks
  for symbolic music generation and accompaniment".

``train_bar_gan`` is the one training recipe (notebook 07 calls it; 08 calls it when 07's
checkpoint is missing); each of its steps is one ``gan_step`` (one update of D, one of G);
``generate_bars`` decodes G's probabilities with ``decode_bars`` (the one rule, in ``musiclab.data``);
``StyleClassifier`` / ``train_style_classifier`` tell which style a bar is in (07 checks that G
plays the style it is asked for).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import DurationEstimate, by_mode, progress_bar, seed_everything, with_overrides
from ..data import decode_bars

__all__ = ["BarGenerator", "BarDiscriminator", "gan_recipe", "gan_step", "train_bar_gan",
           "generate_bars", "StyleClassifier", "train_style_classifier", "predict_styles", "shuffle_bars"]


class BarGenerator(nn.Module):
    """G(z, c): noise (n, z_dim) and style weights (n, n_styles) -> bar probabilities
    (n, steps, n_keys). An MLP; the style enters through a linear embedding E (no bias), so a
    mixture of styles (1 - a) e_s + a e_t is embedded as (1 - a) E e_s + a E e_t (notebook 07).
    Notebooks: 07, 08."""

    def __init__(self, n_styles: int = 3, steps: int = 16, n_keys: int = 60, z_dim: int = 64,
                 style_dim: int = 16, hidden: int = 128):
        super().__init__()
        self.config = dict(n_styles=n_styles, steps=steps, n_keys=n_keys, z_dim=z_dim,
                           style_dim=style_dim, hidden=hidden)
        self.style = nn.Linear(n_styles, style_dim, bias=False)
        self.net = nn.Sequential(
            nn.Linear(z_dim + style_dim, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2 * hidden), nn.LeakyReLU(0.2),
            nn.Linear(2 * hidden, steps * n_keys))
        nn.init.constant_(self.net[-1].bias, -3.0)   # start sparse like music: sigmoid(-3) = 0.05, not 0.5
        self.style_bias = nn.Linear(n_styles, steps * n_keys, bias=False)   # each style's own bias per cell
        nn.init.zeros_(self.style_bias.weight)

    def forward(self, z, c):
        logits = self.net(torch.cat([z, self.style(c)], dim=1)) + self.style_bias(c)
        return torch.sigmoid(logits).view(-1, self.config["steps"], self.config["n_keys"])


class BarDiscriminator(nn.Module):
    """D(x, c): a bar (n, steps, n_keys) and its style weights (n, n_styles) -> a logit (n,),
    high = "looks like a real bar of this style".

    Features phi(x) come from an MLP; the logit is w . phi(x) + (V c) . phi(x): a style-free
    score plus a style's own direction in feature space (the projection discriminator of
    Miyato & Koyama 2018), so D must check that the bar fits *the asked* style. A second head,
    ``style_logits``, classifies phi(x) into the styles: an auxiliary classifier that
    ``gan_step`` trains on real bars only (unlike AC-GAN, Odena et al. 2017, which trains it on
    the fakes too). With ``spectral_norm=True`` (the default) every layer is spectrally normalised
    (W / sigma_max(W), sigma estimated by power iteration), so D is about 1-Lipschitz in its input
    and cannot draw arbitrarily sharp boundaries around the exactly-0/1 real bars (Miyato et al.
    2018); ``spectral_norm=False`` gives the plain MLP, for the experiment notebook 07 suggests.
    Notebooks: 07."""

    def __init__(self, n_styles: int = 3, steps: int = 16, n_keys: int = 60, hidden: int = 128,
                 spectral_norm: bool = True):
        super().__init__()
        self.config = dict(n_styles=n_styles, steps=steps, n_keys=n_keys, hidden=hidden,
                           spectral_norm=spectral_norm)
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda layer: layer)
        self.features = nn.Sequential(
            sn(nn.Linear(steps * n_keys, 2 * hidden)), nn.LeakyReLU(0.2),
            sn(nn.Linear(2 * hidden, hidden)), nn.LeakyReLU(0.2))
        self.score = sn(nn.Linear(hidden, 1))
        self.style = sn(nn.Linear(n_styles, hidden, bias=False))
        self.classify = sn(nn.Linear(hidden, n_styles))

    def forward(self, x, c):
        phi = self.features(x.flatten(1))
        return self.score(phi).squeeze(1) + (self.style(c) * phi).sum(1)

    def style_logits(self, x):
        """Which style does D think the bar is in? (n, n_styles) logits."""
        return self.classify(self.features(x.flatten(1)))


def gan_recipe() -> dict:
    """Sizes and settings of notebook 07's GAN in this mode (quick mode: about a minute on one CPU thread).
    Notebooks: 07."""
    return dict(steps=by_mode(20000, 2000), batch=by_mode(128, 64), hidden=by_mode(512, 128),
                z_dim=64, lr=by_mode(2e-4, 1e-3), style_weight=1.0, spectral_norm=True)


def gan_step(G, D, opt_G, opt_D, x, c, y, z, style_weight: float) -> dict:
    """One update of D, then one of G, on real bars ``x`` of styles ``y`` (one-hot ``c``) and the
    fakes G(z, c). Returns the numbers ``train_bar_gan`` logs, as floats.
    Notebooks: 07."""
    fake = G(z, c)
    # D's loss (Goodfellow et al. 2014): L_D = softplus(-D(x)) + softplus(D(G(z))) = -log sigma(D(x))
    # - log(1 - sigma(D(G(z)))): real bars up, fakes down; G's output is detached, so this step moves
    # D only. Plus the style head's cross-entropy on the real bars only (AC-GAN would add the fakes').
    d_real, d_fake = D(x, c), D(fake.detach(), c)
    adv_D = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    style_real = F.cross_entropy(D.style_logits(x), y)
    opt_D.zero_grad()
    (adv_D + style_weight * style_real).backward()
    opt_D.step()
    # G's non-saturating loss (Goodfellow et al. 2014): L_G = softplus(-D(G(z))) = -log sigma(D(G(z)))
    # on the same fakes, through the updated D; plus the style head's cross-entropy on the fakes:
    # G's bars must be recognisable as the asked style (a classifier-guided loss, as AC-GAN's G term).
    adv_G = F.softplus(-D(fake, c)).mean()
    style_fake = F.cross_entropy(D.style_logits(fake), y)
    opt_G.zero_grad()
    (adv_G + style_weight * style_fake).backward()
    opt_G.step()
    return {"D": adv_D.item(), "G": adv_G.item(), "D(x) real": torch.sigmoid(d_real).mean().item(),
            "D(G(z)) fake": torch.sigmoid(d_fake).mean().item(), "style real": style_real.item(),
            "style fake": style_fake.item()}


def train_bar_gan(bars, styles, device, n_styles: int | None = None, seed: int = 0, snapshot_steps=(),
                  n_snapshot: int = 2, progress: bool = True, **overrides):
    """Train a conditional bar GAN (notebook 07's recipe; 08 calls it when 07's checkpoint is missing).

    ``bars``: (n, steps, keys) 0/1 training bars; ``styles``: (n,) style index of each bar.
    ``overrides`` change settings of :func:`gan_recipe` (steps, batch, hidden, z_dim, lr,
    style_weight, spectral_norm: False trains a D without spectral normalisation; an unknown one
    raises ValueError). Every batch is style-balanced (each style
    equally likely, whatever its number of bars); each step is one :func:`gan_step`. With
    a = D(x, c) on real bars and b = D(G(z, c), c) on fakes:

    * D minimises softplus(-a) + softplus(b) = -log sigma(a) - log(1 - sigma(b)) (Goodfellow et al. 2014),
      plus ``style_weight`` x the cross-entropy of its style head on the *real* bars only (AC-GAN,
      Odena et al. 2017, would train the head on the fakes too);
    * G minimises the non-saturating loss softplus(-b) = -log sigma(b), plus ``style_weight`` x the
      cross-entropy of D's style head on its fakes: its bars must be recognisable as the asked style.

    Adam, betas (0.5, 0.999). Returns (G, D, history): history holds per step the adversarial
    losses "D" and "G", "D(x) real" and "D(G(z)) fake" (the mean probability D gives real and fake
    bars), "style real" and "style fake" (the style head's cross-entropies) and "snapshots": {step: G's probabilities for the
    same ``n_snapshot`` noise vectors in every style, (n_styles, n_snapshot, steps, keys)}.
    Notebooks: 07.
    """
    r = with_overrides(gan_recipe(), overrides)
    steps, batch, z_dim = r["steps"], r["batch"], r["z_dim"]
    X = torch.as_tensor(np.asarray(bars), dtype=torch.float32)
    Y = torch.as_tensor(np.asarray(styles), dtype=torch.long)
    n_styles = int(Y.max()) + 1 if n_styles is None else n_styles
    weights = (1.0 / torch.bincount(Y, minlength=n_styles).clamp(min=1).float())[Y]   # style-balanced

    seed_everything(seed)
    shape = dict(n_styles=n_styles, steps=X.shape[1], n_keys=X.shape[2], hidden=r["hidden"])
    G = BarGenerator(z_dim=z_dim, **shape).to(device)
    D = BarDiscriminator(spectral_norm=r["spectral_norm"], **shape).to(device)
    opt_G = torch.optim.Adam(G.parameters(), lr=r["lr"], betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=r["lr"], betas=(0.5, 0.999))
    history = {k: [] for k in ["D", "G", "D(x) real", "D(G(z)) fake", "style real", "style fake"]}
    history["snapshots"] = {}
    fixed_z = torch.randn(n_snapshot, z_dim, generator=torch.Generator().manual_seed(7)).to(device)
    every_style = torch.eye(n_styles, device=device)
    estimate = DurationEstimate("GAN training", steps, device)

    for step in progress_bar(range(steps + 1), desc="GAN training", disable=not progress):
        if step in snapshot_steps:
            with torch.no_grad():
                grid = [G(fixed_z, every_style[s].expand(n_snapshot, -1)) for s in range(n_styles)]
            history["snapshots"][step] = torch.stack(grid).cpu().numpy()
        if step == steps:
            break
        i = torch.multinomial(weights, batch, replacement=True)
        x, y = X[i].to(device), Y[i].to(device)
        z = torch.randn(batch, z_dim, device=device)
        logged = gan_step(G, D, opt_G, opt_D, x, every_style[y], y, z, r["style_weight"])
        for name, value in logged.items():
            history[name].append(value)
        estimate.done()
    return G.eval(), D.eval(), history


@torch.no_grad()
def generate_bars(G, c, n: int, seed: int = 0, decode: dict | None = None, melody: bool = False) -> np.ndarray:
    """``n`` bars from G for the style vector ``c`` (n_styles,) (one-hot or a mixture), from seeded
    noise, decoded by :func:`decode_bars` with the options ``decode`` (default: threshold 0.5);
    ``melody=True`` adds decode_bars' melody rule (at most one key per step: 07's and 08's melody
    styles). ``decode=False`` returns the probabilities.
    Notebooks: 07, 08."""
    G.eval()
    device = next(G.parameters()).device
    z = torch.randn(n, G.config["z_dim"], generator=torch.Generator().manual_seed(seed)).to(device)
    probs = G(z, torch.as_tensor(np.asarray(c), dtype=torch.float32, device=device).expand(n, -1)).cpu()
    if decode is False:
        return probs.detach().numpy()
    return decode_bars(probs, **(dict(decode or {}) | ({"melody": True} if melody else {})))


class StyleClassifier(nn.Module):
    """Which style is a bar in? Multinomial logistic regression on four summaries of a 0/1 bar
    (n, steps, keys): its pitch profile (share of steps each key sounds), the note onsets on each
    key, and its rhythm (share of keys on, and onsets, at each step). Notebook 07 trains it on real
    training bars plus a "not music" class of noise bars (the random baselines' kind), measures it
    on held-out real bars and asks it to label the GAN's bars and fresh noise.
    Notebooks: 07."""

    def __init__(self, n_styles: int = 3, steps: int = 16, n_keys: int = 60):
        super().__init__()
        self.config = dict(n_styles=n_styles, steps=steps, n_keys=n_keys)
        self.linear = nn.Linear(2 * n_keys + 2 * steps, n_styles)

    @staticmethod
    def features(x):
        x = (torch.as_tensor(x, dtype=torch.float32) > 0.5).float()
        onsets = (x - F.pad(x, (0, 0, 1, 0))[:, :-1]).clamp(min=0)      # 1 where a key turns on
        return torch.cat([x.mean(1), onsets.sum(1), x.mean(2), onsets.mean(2)], dim=1)

    def forward(self, x):
        return self.linear(self.features(x))


def train_style_classifier(bars, styles, n_styles: int | None = None, epochs: int = 300,
                           weight_decay: float = 1e-4, seed: int = 0):
    """Fit a :class:`StyleClassifier` on real bars (full-batch Adam, class-balanced cross-entropy,
    CPU, a second or two). Returns (classifier, history of the training loss).
    Notebooks: 07, 08."""
    seed_everything(seed)
    X = torch.as_tensor(np.asarray(bars), dtype=torch.float32)
    Y = torch.as_tensor(np.asarray(styles), dtype=torch.long)
    n_styles = int(Y.max()) + 1 if n_styles is None else n_styles
    model = StyleClassifier(n_styles=n_styles, steps=X.shape[1], n_keys=X.shape[2])
    features = model.features(X)
    balance = len(Y) / (n_styles * torch.bincount(Y, minlength=n_styles).clamp(min=1).float())
    opt = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=weight_decay)
    history = []
    for _ in range(epochs):
        loss = F.cross_entropy(model.linear(features), Y, weight=balance)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    return model.eval(), history


@torch.no_grad()
def predict_styles(classifier, bars, empty_label: int | None = None) -> np.ndarray:
    """The style index the classifier gives each bar (n,). ``empty_label``: the label given to a
    bar with no note on instead (notebook 07's "not music": real bars are never empty, since
    ``piece_bars`` drops empty bars, and all of an empty bar's features are 0, so the classifier's
    own answer for it is only its biases).
    Notebooks: 07, 08."""
    bars = torch.as_tensor(np.asarray(bars), dtype=torch.float32)
    labels = classifier.eval()(bars).argmax(1).numpy()
    if empty_label is not None:
        labels[~(bars > 0.5).flatten(1).any(1).numpy()] = empty_label
    return labels


def shuffle_bars(bars, axis: str, seed: int = 0) -> np.ndarray:
    """Real bars with one kind of evidence destroyed, to test a style check on inputs it never
    trained on: ``axis="keys"`` permutes each bar's 60 (all) keys, so its rhythm and number of keys
    per step stay and its pitches are lost; ``axis="time"`` permutes each bar's steps, so its pitch
    profile stays and its rhythm is lost. Each bar gets its own permutation (seeded). The same
    idea as shuffled-input controls for probing classifiers: a check that labels shuffled music
    as often as real music does not look at what the shuffle destroyed.
    Notebooks: 07."""
    if axis not in ("keys", "time"):
        raise ValueError(f'axis must be "keys" or "time", got {axis!r}')
    bars = np.asarray(bars)
    if bars.ndim != 3:
        raise ValueError(f"expected bars (n, steps, keys), got shape {bars.shape}")
    rng = np.random.default_rng(seed)
    dim = 2 if axis == "keys" else 1
    return np.stack([np.take(b, rng.permutation(bars.shape[dim]), axis=dim - 1) for b in bars]) if len(bars) else bars.copy()
