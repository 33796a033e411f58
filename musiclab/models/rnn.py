"""The two LSTMs of the course: a folk-tune language model (04) and a chorale piano-roll model (05).

* ``TuneLSTM``: ABC tokens -> embedding -> stacked LSTM -> next-token logits, the folk-rnn model
  of Sturm, Santos, Ben-Tal & Korshunova (2016, "Music transcription modelling and composition
  using deep learning"). Its loss (``tune_loss``, ``tune_nll``), its training recipe
  (``train_tune_lstm``) and its sampler (``sample_tune``). Notebook 04 trains it, 08 samples it.
* ``ChoraleLSTM``: 88-key frames -> LSTM -> 88 sigmoid logits for the next frame, the recurrent
  model of Boulanger-Lewandowski, Bengio & Vincent (2012, "Modeling temporal dependencies in
  high-dimensional sequences") with LSTM cells. Its loss (``pad_rolls``, ``frame_losses``,
  ``chorale_nll``), recipe (``train_chorale_lstm``) and sampler (``continue_rolls``). Notebook 05
  trains it, 08 samples it.

Both start with a positive forget-gate bias (``set_forget_bias``; notebook 03 measures why) and
both recipes train with ``musiclab.train.fit``, which keeps the best-validation weights.
"""
import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from ..config import by_mode, seed_everything, with_overrides
from ..data import BOUNDARY, PAD_TARGET, UNK, tune_batches
from ..train import fit
from ..sampling import sample_tokens

__all__ = ["set_forget_bias", "TuneLSTM", "tune_loss", "tune_nll", "tune_lstm_recipe", "train_tune_lstm",
           "lstm_next_logits", "sample_tune", "sample_tunes", "ChoraleLSTM", "pad_rolls", "frame_losses", "chorale_loss", "chorale_nll",
           "chorale_lstm_recipe", "train_chorale_lstm", "continue_rolls"]


def set_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Start every layer's forget gate near sigma(value): the forget slice of ``bias_ih`` is set
    to ``value`` and that of ``bias_hh`` to 0 (PyTorch's gate order is i, f, g, o). With the
    default, tiny biases f is about 0.5 and the cell halves at every step (notebook 03).
    Notebooks: 03, 04."""
    H = lstm.hidden_size
    with torch.no_grad():
        for name, bias in lstm.named_parameters():
            if name.startswith("bias_ih"):
                bias[H:2 * H] = value
            elif name.startswith("bias_hh"):
                bias[H:2 * H] = 0.0


# ----------------------------------------------------------------------------- 04: folk tunes

class TuneLSTM(nn.Module):
    """Token-level language model, folk-rnn style (Sturm et al. 2016): embedding -> ``layers``
    stacked LSTMs of ``hidden`` units -> linear layer to next-token logits, dropout between.
    folk-rnn: 3 x 512, dropout 0.5. Notebook 04 trains it; 08 samples from it.
    Notebooks: 04, 08, 10."""

    def __init__(self, vocab_size: int, hidden: int = 512, layers: int = 3, dropout: float = 0.5,
                 forget_bias: float = 1.0):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, hidden=hidden, layers=layers, dropout=dropout,
                           forget_bias=forget_bias)
        self.embed = nn.Embedding(vocab_size, hidden)
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab_size)
        set_forget_bias(self.lstm, forget_bias)

    def forward(self, x, state=None):
        """x (B, T) token ids -> (logits (B, T, V) for the next token, LSTM state (h, c))."""
        h, state = self.lstm(self.drop(self.embed(x)), state)
        return self.out(self.drop(h)), state


def tune_loss(model, batch):
    """Mean NLL per predicted token (nats) of a teacher-forcing batch (x, y) from
    ``tune_batches``; padded targets (``PAD_TARGET``) are ignored.
    Notebooks: 04."""
    x, y = batch
    logits, _ = model(x)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=PAD_TARGET)


@torch.no_grad()
def tune_nll(model, tunes_ids, bos: int, batch_size: int = 64) -> tuple[float, int]:
    """(NLL per token in nats, number of tokens) of whole tunes, each scored from its start:
    every token and the closing <s> count once (exp of it is the perplexity). Eval mode.
    Notebooks: 04, 08."""
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for x, y in tune_batches(tunes_ids, batch_size, bos):
        logits, _ = model(x.to(device))
        y = y.to(device)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=PAD_TARGET, reduction="sum").item()
        count += int((y != PAD_TARGET).sum())
    return total / count, count


class _Reshuffled:
    """Fresh ``tune_batches`` for every epoch of ``fit`` (other tunes share a batch each time)."""

    def __init__(self, tunes_ids, batch_size, bos, seed):
        self.args, self.rng = (tunes_ids, batch_size, bos), np.random.default_rng(seed)

    def __iter__(self):
        return iter(tune_batches(*self.args, rng=self.rng))

    def __len__(self):  # batches per epoch (fit's duration estimate counts steps)
        tunes_ids, batch_size, _ = self.args
        return -(-len(tunes_ids) // batch_size)


def tune_lstm_recipe() -> dict:
    """Sizes and training settings of notebook 04's LSTM: folk-rnn's 3 x 512 with dropout 0.5 in
    full mode (meant for a GPU); in quick mode a 1 x 128 LSTM, 5 epochs over all training tunes in
    batches of 8 (about 40 s on one CPU core); Adam, gradient norm clipped at 5.
    Notebooks: 04."""
    return dict(hidden=by_mode(512, 128), layers=by_mode(3, 1), dropout=by_mode(0.5, 0.1), forget_bias=1.0,
                epochs=by_mode(60, 5), batch_size=by_mode(32, 8), lr=by_mode(2e-3, 5e-3), clip=5.0)


def train_tune_lstm(data, device="cpu", seed: int = 0, **overrides):
    """Train a ``TuneLSTM`` on ``data`` (a ``TokenData``: vocabulary and token lists) with
    ``tune_lstm_recipe()`` (``overrides`` change single settings); returns (model, history) with
    the weights of the best validation epoch (``fit``). Notebook 04; 08 when its checkpoint is
    missing.
    Notebooks: 04."""
    r = with_overrides(tune_lstm_recipe(), overrides)
    seed_everything(seed)
    bos = data.vocab.index(BOUNDARY)
    model = TuneLSTM(len(data.vocab), r["hidden"], r["layers"], r["dropout"], r["forget_bias"])
    train = _Reshuffled(data.ids("train"), r["batch_size"], bos, seed)
    val = tune_batches(data.ids("val"), 64, bos)
    optimizer = torch.optim.Adam(model.parameters(), lr=r["lr"])
    history = fit(model, tune_loss, train, optimizer, r["epochs"], device, val_loader=val, clip=r["clip"],
                  desc=f"tune LSTM {r['layers']}x{r['hidden']}")
    return model, history


def lstm_next_logits(model):
    """``next_logits`` of a ``TuneLSTM`` for ``sample_tokens``: feeds the newest tokens of the rows
    still being written and keeps their LSTM state between calls (one forward step per token)."""
    model.eval()
    device = next(model.parameters()).device
    state = None

    def next_logits(ids, keep):
        nonlocal state
        if keep is not None:
            state = tuple(s[:, keep] for s in state)          # (layers, rows, hidden): finished rows go
        logits, state = model(ids.to(device), state)
        return logits[:, -1]
    return next_logits


def sample_tune(model, vocab, prefix=(), temperature: float = 1.0, top_k: int | None = None, seed: int = 0,
                max_len: int = 800, constrain=False) -> list:
    """Draw one tune from a ``TuneLSTM``: the prefix (e.g. a meter and a key) and the tokens after
    it, until it writes <s> or has ``max_len`` tokens. The one sampling loop, ``sample_tokens``
    (temperature, then top-k; <unk> never drawn); ``constrain=True`` (or a ``TuneGrammar``) masks what
    would break the tune's grammar.
    Notebooks: 04."""
    return sample_tunes(model, vocab, 1, prefix, temperature, top_k, seed, max_len, constrain=constrain)[0]


def sample_tunes(model, vocab, n: int, prefix=(), temperature: float = 1.0, top_k: int | None = None,
                 seed: int = 0, max_len: int = 800, batch_size: int = 128, constrain=False) -> list:
    """Draw ``n`` tunes from a ``TuneLSTM``, ``batch_size`` of them side by side, by the rules of
    ``sample_tune``: one forward step serves a whole batch, so a hundred tunes take about as long
    as a few drawn one at a time. Batch b is seeded with ``seed + b * batch_size``, so the first
    tune is ``sample_tune``'s with that seed.
    Notebooks: 04, 08, 10."""
    prefix = list(prefix)
    if max_len <= len(prefix):
        return [prefix[:] for _ in range(n)]
    tunes = []
    for start in range(0, n, batch_size):
        rows = sample_tokens(lstm_next_logits(model), vocab, min(batch_size, n - start), prefix, temperature,
                             top_k or None, None, seed + start, max_len - len(prefix), constrain)
        tunes += [prefix + row for row in rows]
    return tunes


# ----------------------------------------------------------------------------- 05: chorales

class ChoraleLSTM(nn.Module):
    """88 keys in -> LSTM -> 88 logits, one sigmoid per key of the next frame: the RNN of
    Boulanger-Lewandowski et al. (2012) with LSTM cells. Given the past the keys are independent
    Bernoullis (no chord model; RNN-NADE adds one). Notebook 05 trains it; 08 samples from it.
    Notebooks: 05, 08, 11."""

    def __init__(self, n_keys: int = 88, hidden: int = 128, layers: int = 1, dropout: float = 0.0,
                 forget_bias: float = 1.0):
        super().__init__()
        self.config = dict(n_keys=n_keys, hidden=hidden, layers=layers, dropout=dropout, forget_bias=forget_bias)
        self.lstm = nn.LSTM(n_keys, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_keys)
        set_forget_bias(self.lstm, forget_bias)

    def forward(self, x, state=None):
        """x (B, T, 88) frames -> (logits (B, T, 88) for frames 1..T, LSTM state)."""
        h, state = self.lstm(x, state)
        return self.out(self.drop(h)), state


def pad_rolls(rolls):
    """Rolls (T_i, 88) of different lengths -> (x (B, T, 88) float32 padded with silent frames,
    mask (B, T - 1): True where frame t + 1 is a real frame to predict).
    Notebooks: 05, 11."""
    x = nn.utils.rnn.pad_sequence([torch.as_tensor(np.asarray(r), dtype=torch.float32) for r in rolls],
                                  batch_first=True)
    lengths = torch.tensor([len(r) for r in rolls])
    mask = torch.arange(1, x.shape[1])[None, :] < lengths[:, None]
    return x, mask


def frame_losses(model, batch):
    """NLL (nats) of every real predicted frame of a ``pad_rolls`` batch: frame t given frames < t,
    binary cross-entropy summed over the 88 keys (the published unit), padding left out.
    Notebooks: 05, 11."""
    x, mask = batch
    logits, _ = model(x[:, :-1])
    return F.binary_cross_entropy_with_logits(logits, x[:, 1:], reduction="none").sum(-1)[mask]


def chorale_loss(model, batch):
    """Mean NLL per predicted frame of a batch (the training loss)."""
    return frame_losses(model, batch).mean()


@torch.no_grad()
def chorale_nll(model, rolls, batch_size: int = 64, per_roll: bool = False):
    """(mean NLL per frame in nats over frames 1..T-1 of every roll, number of frames); eval mode.
    ``per_roll=True``: instead a list with the per-frame NLLs of each roll (numpy, frames 1..T-1),
    for intervals that resample whole chorales (``nll_gap``).
    Notebooks: 05, 08, 11."""
    model.eval()
    device = next(model.parameters()).device
    nll = torch.cat([frame_losses(model, [b.to(device) for b in pad_rolls(rolls[i:i + batch_size])])
                     for i in range(0, len(rolls), batch_size)])
    if per_roll:
        return np.split(nll.cpu().numpy(), np.cumsum([len(r) - 1 for r in rolls])[:-1])
    return nll.mean().item(), len(nll)


def chorale_lstm_recipe() -> dict:
    """Sizes and training settings of notebook 05's LSTM: 1 x 256 with dropout 0.5 on its output
    in full mode, 1 x 64 in quick mode (40 epochs, about 8 s on one CPU thread: 12 left the
    validation NLL at 9.35, 40 bring it to 8.90); Adam at 1e-2, gradient norm clipped at 1.
    Notebooks: 05."""
    return dict(hidden=by_mode(256, 64), layers=1, dropout=by_mode(0.5, 0.0), forget_bias=1.0,
                epochs=by_mode(80, 40), batch_size=16, lr=1e-2, clip=1.0)


def train_chorale_lstm(train_rolls, val_rolls, device="cpu", seed: int = 0, **overrides):
    """Train a ``ChoraleLSTM`` on (T, 88) beat rolls with ``chorale_lstm_recipe()`` (``overrides``
    change single settings); returns (model, history) with the weights of the best validation
    epoch. The validation rolls form one batch, so ``history["val"]`` is the NLL per frame.
    Notebook 05; 08 when its checkpoint is missing.
    Notebooks: 05."""
    r = with_overrides(chorale_lstm_recipe(), overrides)
    seed_everything(seed)
    model = ChoraleLSTM(len(train_rolls[0][0]), r["hidden"], r["layers"], r["dropout"], r["forget_bias"])
    train = DataLoader(list(train_rolls), batch_size=r["batch_size"], shuffle=True, collate_fn=pad_rolls,
                       generator=torch.Generator().manual_seed(seed))
    val = [pad_rolls(val_rolls)]
    optimizer = torch.optim.Adam(model.parameters(), lr=r["lr"])
    history = fit(model, chorale_loss, train, optimizer, r["epochs"], device, val_loader=val, clip=r["clip"],
                  desc=f"chorale LSTM {r['layers']}x{r['hidden']}")
    return model, history


@torch.no_grad()
def continue_rolls(model, primes, n_frames: int, temperature: float = 1.0, max_voices: int | None = None,
                   generator=None, voices: int | None = None) -> np.ndarray:
    """Sample ``n_frames`` frames after each prime (B, P, 88) from a ``ChoraleLSTM``: every key of
    the next frame drawn from its Bernoulli sigma(z / temperature), the frame fed back in. With
    ``max_voices`` only the most probable of the drawn keys are kept (a cap: it cannot add a key).
    With ``voices`` every frame gets exactly that many keys instead, drawn one after the other
    without replacement, each with weight its odds p / (1 - p) = exp(z / temperature) (clamped to
    e^-30..e^30) among the keys not yet drawn: independent Bernoulli keys conditioned on exactly
    k on are distributed as P(S) proportional to prod_{i in S} p_i / (1 - p_i) (conditional
    Poisson sampling, Hajek 1964; Chen, Dempster & Liu 1994), and successive odds-weighted
    draws approximate it.
    A decoding rule, not something the model learned. Returns
    (B, P + n_frames, 88) numpy rolls. ``generator``: a torch.Generator on the model's device.
    Notebooks: 05, 08, 11."""
    if max_voices is not None and voices is not None:
        raise ValueError("give max_voices (a cap on the drawn keys) or voices (exactly so many keys), not both")
    if voices is not None and not 1 <= voices <= model.config["n_keys"]:
        raise ValueError(f"voices must lie between 1 and the number of keys, got {voices}")
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(primes), dtype=torch.float32, device=device)
    logits, state = model(x)
    frames = [x]
    for _ in range(n_frames):
        p = torch.sigmoid(logits[:, -1] / temperature)
        if voices is not None:       # exactly `voices` keys, without replacement, weights the odds p/(1-p)
            odds = torch.exp((logits[:, -1] / temperature).clamp(-30.0, 30.0))
            keep = torch.multinomial(odds, voices, replacement=False, generator=generator)
            on = torch.zeros_like(p).scatter(-1, keep, 1.0)
        else:
            on = torch.bernoulli(p, generator=generator)
        if max_voices is not None:
            keep = (p * on).topk(max_voices, dim=-1).indices
            on = on * torch.zeros_like(on).scatter(-1, keep, 1.0)
        frames.append(on[:, None])
        logits, state = model(on[:, None], state)
    return torch.cat(frames, dim=1).cpu().numpy()
