"""Training a music GPT: the one training loop, its command line, and the measurements of notebook 10.

* Data: tunes become one long stream of token ids, ``<s> <style> M:.. K:.. notes <s> <style> ...``
  (:func:`tune_stream`); a training step reads random windows of it (:func:`stream_batch`), as
  nanoGPT does. Style tokens (``<irish>``, ``<german>``) are control tokens: prime a model with one.
* :func:`train_gpt` is the one loop (notebook 10, the recipe :func:`train_music_gpt` that 08 calls,
  and ``python -m musiclab.pretrain``): AdamW, warmup then cosine learning rate, gradient clipping,
  bf16 autocast on recent CUDA GPUs, DistributedDataParallel when ``torch.distributed`` is initialised (one
  process per device, each reading its share of every global batch), a progress bar on rank 0,
  atomic checkpoints written by rank 0, and resumption from the last checkpoint.
* Measurements: per-token NLL of whole tunes for any of the course's language models
  (:func:`token_nll`, :func:`ngram_token_nll`), split by :func:`token_type`; the scaling law
  L(N) = E + A / N^alpha (:func:`fit_scaling_law`); sampling with temperature, top-k and top-p
  (:func:`sample_gpt`); attention maps (:func:`attention_maps`).

Command line (one device, or one process per device under torchrun)::

    python -m musiclab.pretrain --corpora oneills ryans essen --out checkpoints/gpt.pt
    torchrun --nproc_per_node=2 -m musiclab.pretrain --quick --out /tmp/gpt.pt --resume
"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
from torch.nn import functional as F
from tqdm.auto import tqdm

from .abc import BAR_TOKENS
from .config import DurationEstimate, by_mode, is_quick, seed_everything, with_overrides
from .data import BOUNDARY, UNK, tune_batches
from .models.transformer import GPT, GPTConfig, check_sampling, next_logits, sample_next
from .train import (autocast, check_counts, check_positive, load_checkpoint, read_checkpoint_meta, save_checkpoint,
                    to_device)

__all__ = ["STYLE_TOKENS", "style_token", "tune_stream", "stream_batch", "learning_rate", "gpt_optimizer",
           "stream_loss", "train_gpt", "music_gpt_recipe", "train_music_gpt", "token_nll",
           "ngram_token_nll", "TOKEN_TYPES", "token_type", "nll_by_type", "fit_scaling_law",
           "sample_gpt", "attention_maps", "weights_digest"]

STYLE_TOKENS = {"oneills": "<irish>", "ryans": "<irish>", "essen": "<german>", "chorales": "<bach>"}


def style_token(piece) -> str:
    """The control token of a piece's style, from its corpus: "<irish>", "<german>", "<bach>"."""
    return STYLE_TOKENS[piece.corpus]


# ----------------------------------------------------------------------------- data

def tune_stream(tunes_ids, bos: int, prefixes=None) -> torch.Tensor:
    """One 1-D tensor of token ids: <s> prefix_1 tune_1 <s> prefix_2 tune_2 ... <s>.

    ``prefixes`` (one list of ids per tune, e.g. its style token) are read like the tune; a window
    of the stream may start anywhere and cross from one tune into the next."""
    prefixes = prefixes if prefixes is not None else [[] for _ in tunes_ids]
    if len(prefixes) != len(tunes_ids):
        raise ValueError(f"{len(prefixes)} prefixes for {len(tunes_ids)} tunes")
    ids = [bos]
    for prefix, tune in zip(prefixes, tunes_ids):
        ids += list(prefix) + list(tune) + [bos]
    return torch.tensor(ids, dtype=torch.long)


def stream_batch(stream, batch_size: int, block_size: int, step: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1, starts=None):
    """The (x, y) windows of training step ``step``: ``batch_size`` random windows of
    ``block_size`` tokens, y = x shifted by one, starting anywhere or at one of ``starts``. The windows depend only on (seed, step), so a resumed run reads what
    an uninterrupted one would; under DDP, rank r of ``world_size`` takes rows r, r +
    world_size, ... of the same global batch, so the result does not depend on the processes."""
    if batch_size % world_size:
        raise ValueError(f"batch_size={batch_size} must be a multiple of the {world_size} processes")
    if len(stream) < block_size + 1:
        raise ValueError(f"the stream has {len(stream)} tokens, fewer than block_size + 1 = {block_size + 1}")
    rng = np.random.default_rng([seed, step])
    if starts is None:
        chosen = torch.from_numpy(rng.integers(0, len(stream) - block_size, batch_size))
    else:
        chosen = torch.as_tensor(starts)[torch.from_numpy(rng.integers(0, len(starts), batch_size))]
    starts = chosen[rank::world_size]
    offsets = torch.arange(block_size + 1)
    windows = stream[starts[:, None] + offsets]
    return windows[:, :-1], windows[:, 1:]


# ----------------------------------------------------------------------------- the loop

def learning_rate(step: int, steps: int, lr: float, warmup: int, min_lr: float) -> float:
    """Linear warmup to ``lr`` over ``warmup`` steps, then a cosine down to ``min_lr`` at
    ``steps`` (nanoGPT's schedule). ``step`` counts from 0."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def gpt_optimizer(model, lr: float, weight_decay: float = 0.1, betas=(0.9, 0.95)):
    """AdamW with weight decay on the matrices only (not on biases and LayerNorm gains), as nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


@torch.no_grad()
def stream_loss(model, stream, block_size: int, batch_size: int = 64, max_tokens: int | None = None) -> float:
    """Mean next-token NLL (nats) over consecutive windows of a stream, every token predicted
    once (each window starts a fresh context). Eval mode; ``max_tokens`` caps the work."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    n = (len(stream) - 1) // block_size
    if max_tokens is not None:
        n = min(n, max(1, max_tokens // block_size))
    if n == 0:
        raise ValueError(f"the stream has {len(stream)} tokens, fewer than block_size + 1 = {block_size + 1}")
    windows = stream[:n * block_size + 1]
    x, y = windows[:-1].view(n, block_size), windows[1:].view(n, block_size)
    total = 0.0
    for i in range(0, n, batch_size):
        with autocast(device):
            logits, _ = model(x[i:i + batch_size].to(device))
        total += F.cross_entropy(logits.float().flatten(0, 1), y[i:i + batch_size].flatten().to(device),
                                 reduction="sum").item()
    model.train(was_training)
    return total / (n * block_size)


def _distributed():
    """(rank, world_size) of this process; (0, 1) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train_gpt(model, train_stream, steps: int, batch_size: int, lr: float, block_size: int | None = None,
              warmup: int = 0, min_lr: float | None = None, weight_decay: float = 0.1, grad_clip: float = 1.0,
              starts=None, val_stream=None, eval_every: int = 0, eval_tokens: int | None = None, keep_best: bool = False,
              checkpoint=None, save_every: int = 0, resume: bool = False, stop_after: int | None = None,
              seed: int = 0, device="cpu", desc: str = "GPT", meta: dict | None = None) -> dict:
    """Train ``model`` (a GPT) on random windows of ``train_stream`` for ``steps`` optimizer steps.

    Returns the history ``{"step": [...], "train": [...], "val_step": [...], "val": [...],
    "tokens": tokens read so far}``: the training loss of every step and the validation loss
    (:func:`stream_loss` of ``val_stream``) every ``eval_every`` steps and at the end. With
    ``keep_best`` the model ends with the weights of its best validation loss (early stopping).

    * Learning rate: :func:`learning_rate` (warmup, cosine to ``min_lr``, default ``lr / 10``).
    * Distributed: when ``torch.distributed`` is initialised the model is wrapped in
      DistributedDataParallel; each process reads its rows of the same global batch
      (:func:`stream_batch`), so the result does not depend on the number of processes.
      Only rank 0 shows the progress bar and writes checkpoints.
    * Checkpoints: with ``checkpoint`` (a path), rank 0 writes it atomically (``save_checkpoint``)
      every ``save_every`` steps and at the end: weights, optimizer state, step, history and
      ``meta``. With ``resume`` an existing checkpoint is loaded and training continues at its
      step (ValueError if it is not one ``train_gpt`` wrote: no optimizer state, or past ``steps``).
      ``stop_after`` ends this run after that many steps, as an interrupt would.

    Limits (ValueError before anything is read or written): steps, batch_size, stop_after and
    block_size (at most the model's) integers >= 1; warmup, eval_every, save_every >= 0; lr > 0.
    """
    check_counts(steps=steps, batch_size=batch_size, block_size=block_size, stop_after=stop_after)
    check_counts(0, warmup=warmup, eval_every=eval_every, save_every=save_every)
    check_positive("lr", lr)
    if block_size is not None and block_size > model.config.block_size:
        raise ValueError(f"block_size={block_size} is longer than the model's block_size={model.config.block_size}")
    rank, world = _distributed()
    block_size = block_size or model.config.block_size
    min_lr = lr / 10 if min_lr is None else min_lr
    model.to(device)
    optimizer = gpt_optimizer(model, lr, weight_decay)
    history = {"step": [], "train": [], "val_step": [], "val": [], "tokens": 0}
    best_val, best_state, start = float("inf"), None, 0
    if resume and checkpoint is not None and os.path.exists(checkpoint):
        saved = read_checkpoint_meta(checkpoint)
        missing = [key for key in ("optimizer", "step", "history") if key not in saved]
        if missing:
            raise ValueError(f"cannot resume from {checkpoint}: it has no {', '.join(missing)} (not written by train_gpt)")
        if saved["step"] > steps:
            raise ValueError(f"cannot resume from {checkpoint}: it is at step {saved['step']}, past steps={steps}")
        load_checkpoint(checkpoint, model)
        optimizer.load_state_dict(saved["optimizer"])
        start, history = saved["step"], saved["history"]
        best_val, best_state = saved.get("best_val", float("inf")), saved.get("best_state")
        if rank == 0:
            print(f"resuming from {checkpoint} at step {start} of {steps}", flush=True)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        on_cuda = torch.device(device).type == "cuda"
        net = DistributedDataParallel(model, device_ids=[torch.device(device).index] if on_cuda else None)

    def save(step):
        if rank == 0 and checkpoint is not None:
            save_checkpoint(checkpoint, model, **(meta or {}), step=step, steps=steps,
                            optimizer=optimizer.state_dict(), history=history, best_val=best_val,
                            **({"best_state": best_state} if best_state is not None else {}))

    def validate(step):
        nonlocal best_val, best_state
        loss = stream_loss(model, val_stream, block_size, max_tokens=eval_tokens)
        history["val_step"].append(step)
        history["val"].append(loss)
        if keep_best and loss < best_val:
            best_val, best_state = loss, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return loss

    end = steps if stop_after is None else min(steps, start + stop_after)
    bar = tqdm(range(start, end), desc=desc, disable=rank != 0, initial=start, total=steps)
    estimate = DurationEstimate(desc, end - start, device)
    model.train()
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, lr, warmup, min_lr)
        x, y = stream_batch(train_stream, batch_size, block_size, step, seed, rank, world, starts)
        x, y = to_device((x, y), device)   # from pinned memory on CUDA
        with autocast(device):
            _, loss = net(x, y)
        if not torch.isfinite(loss):
            raise ValueError(f"the loss became {loss.item()} at step {step}: lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        logged = loss.detach()
        if world > 1:  # the loss of the whole global batch, the same on every process
            dist.all_reduce(logged)
            logged = logged / world
        history["step"].append(step + 1)
        history["train"].append(logged.item())
        history["tokens"] += batch_size * block_size
        if rank == 0:
            estimate.done()
        done = step + 1
        if val_stream is not None and eval_every and done % eval_every == 0 and done < steps:
            validate(done)
            model.train()
        if save_every and done % save_every == 0 and done < end:
            save(done)
        if rank == 0:
            # refresh=False: drawn with the bar's next timed update, not once per step (a notebook
            # cell that sends thousands of progress messages makes nbval lose its output)
            bar.set_postfix(train=f"{history['train'][-1]:.3f}", refresh=False,
                            **({"val": f"{history['val'][-1]:.3f}"} if history["val"] else {}))
    bar.close()
    if end == steps and val_stream is not None and (not history["val_step"] or history["val_step"][-1] != steps):
        validate(steps)
    if end == steps and keep_best and best_state is not None:
        model.load_state_dict(best_state)
    save(end)
    model.eval()
    return history


# ----------------------------------------------------------------------------- the recipe

def music_gpt_recipe() -> dict:
    """Sizes and training settings of notebook 10's music GPT on 04's tokens: 6 layers, 6 heads,
    384 channels, a 256-token context and dropout 0.2 in full mode (nanoGPT's Shakespeare-char
    size, meant for a GPU); 2 x 4 x 64 with a 64-token context in quick mode (2 CPU cores: short
    windows give more of them per second, and on 400 tunes that beats a longer context).
    AdamW with warmup and a cosine schedule; validation every ``eval_every`` steps, the best
    validation weights kept."""
    return dict(n_layer=by_mode(6, 2), n_head=by_mode(6, 4), n_embd=by_mode(384, 64),
                block_size=by_mode(256, 64), dropout=by_mode(0.2, 0.0), positions="learned",
                steps=by_mode(5000, 600), batch_size=by_mode(64, 32), lr=by_mode(1e-3, 1e-2),
                warmup=by_mode(200, 20), weight_decay=0.1, eval_every=by_mode(250, 50))


def train_music_gpt(data, device="cpu", seed: int = 0, prefixes=None, **overrides):
    """Train a ``GPT`` on ``data`` (a ``TokenData``: vocabulary and train/val token lists) with
    :func:`music_gpt_recipe` (``overrides`` change single settings) using :func:`train_gpt`;
    returns (model, history) with the weights of the best validation loss. ``prefixes``
    ({"train": [...], "val": [...]}: token lists put before each tune, e.g. its style token) are
    optional. Notebook 10; 08 when its checkpoint is missing."""
    r = with_overrides(music_gpt_recipe(), overrides)
    seed_everything(seed)
    bos = data.vocab.index(BOUNDARY)
    index = {t: i for i, t in enumerate(data.vocab)}
    pre = {name: None if prefixes is None else [[index[t] for t in p] for p in prefixes[name]]
           for name in ("train", "val")}
    train = tune_stream(data.ids("train"), bos, pre["train"])
    val = tune_stream(data.ids("val"), bos, pre["val"])
    model = GPT(GPTConfig(vocab_size=len(data.vocab), block_size=r["block_size"], n_layer=r["n_layer"],
                          n_head=r["n_head"], n_embd=r["n_embd"], dropout=r["dropout"],
                          positions=r["positions"]))
    history = train_gpt(model, train, r["steps"], r["batch_size"], r["lr"], warmup=r["warmup"],
                        weight_decay=r["weight_decay"], val_stream=val, eval_every=r["eval_every"],
                        keep_best=True, seed=seed, device=device,
                        desc=f"music GPT {r['n_layer']}x{r['n_head']}x{r['n_embd']}")
    return model, history


# ----------------------------------------------------------------------------- measuring

def _windows(n: int, block: int):
    """(start, first scored position) of windows covering positions 0..n-1: the first window
    scores all of its positions, each later one (half a block further) only the new ones, so
    every position is scored once with at least half a block of context."""
    if n <= block:
        return [(0, 0)]
    stride, out, scored = max(1, block // 2), [(0, 0)], block
    while scored < n:
        start = min(scored + stride, n) - block
        out.append((start, scored))
        scored = start + block
    return out


@torch.no_grad()
def token_nll(model, tunes_ids, bos: int, prefix=(), batch_size: int = 32) -> list:
    """The NLL (nats) of every predicted token of every tune, as a list of arrays: the model
    reads <s> + ``prefix`` + tune and predicts each tune token and the closing <s>, as
    ``tune_nll`` of notebook 04 counts them, so the means are comparable. Works for a ``GPT``
    (tunes longer than its context are read in overlapping windows: :func:`_windows`) and for
    any model whose ``model(x)[0]`` are next-token logits (04's ``TuneLSTM``). Eval mode."""
    model.eval()
    device = next(model.parameters()).device
    config = dict(getattr(model, "config", {}) or {})
    block = config.get("block_size")
    skip = len(prefix)
    seqs = [list(prefix) + list(t) for t in tunes_ids]
    out = [None] * len(seqs)
    short = [i for i, s in enumerate(seqs) if block is None or len(s) + 1 <= block]
    order = sorted(short, key=lambda i: len(seqs[i]))
    for b in range(0, len(order), batch_size):
        chunk = order[b:b + batch_size]
        x, y = tune_batches([seqs[i] for i in chunk], len(chunk), bos)[0]
        with autocast(device):
            logits = model(x.to(device))[0]
        nll = F.cross_entropy(logits.float().transpose(1, 2), y.to(device).clamp(min=0), reduction="none").cpu()
        for row, i in enumerate(chunk):
            out[i] = nll[row, skip:len(seqs[i]) + 1].numpy()
    for i in set(range(len(seqs))) - set(short):
        x = torch.tensor([bos] + seqs[i], device=device)
        y = torch.tensor(seqs[i] + [bos], device=device)
        parts = []
        for start, scored in _windows(len(x), block):
            with autocast(device):
                logits = model(x[None, start:start + block])[0][0].float()
            parts.append(F.cross_entropy(logits, y[start:start + block], reduction="none")[scored - start:])
        out[i] = torch.cat(parts).cpu().numpy()[skip:]
    return out


def ngram_token_nll(lm, token_lists) -> list:
    """The NLL of every predicted token (and the closing boundary) of each tune under an
    ``NGramLM``: the same tokens as :func:`token_nll` predicts, for the same comparison."""
    return [np.array([-math.log(lm.prob_at(context, token)) for context, token in lm.ngrams(t, lm.order)])
            for t in token_lists]


TOKEN_TYPES = ("pitch", "duration", "bar line", "header", "end of tune", "other")
_PITCH = re.compile(r"(\^\^|\^|__|_|=)?[A-Ga-g][,']*")
_DURATION = re.compile(r"\d+|\d*/\d+")
_ENDING = re.compile(r"(:?\||\[)\d+([,-]\d+)*")


def token_type(token: str) -> str:
    """What a folk-rnn token is: "pitch" (a note: "^f", "c'"), "duration" ("2", "/2", "3/2"),
    "bar line" ("|", ":|", "|1"), "header" (meter, key and style tokens: "M:6/8", "K:Gmaj",
    "<irish>"), "end of tune" (<s>), or "other" (rests, ties, triplets, broken rhythm, chords, <unk>)."""
    if token == BOUNDARY:
        return "end of tune"
    if token.startswith(("M:", "K:")) or (token.startswith("<") and token not in (UNK,)):
        return "header"
    if _PITCH.fullmatch(token):
        return "pitch"
    if _DURATION.fullmatch(token):
        return "duration"
    if token in BAR_TOKENS or _ENDING.fullmatch(token):
        return "bar line"
    return "other"


def nll_by_type(nlls, token_lists) -> dict:
    """{token type: (mean NLL in nats, number of tokens)} of per-token NLLs (:func:`token_nll`)
    of tunes whose tokens are ``token_lists``; the closing <s> of each tune is "end of tune"."""
    types = [token_type(t) for tokens in token_lists for t in list(tokens) + [BOUNDARY]]
    values = np.concatenate([np.asarray(n, dtype=float) for n in nlls])
    if len(types) != len(values):
        raise ValueError(f"{len(values)} NLLs for {len(types)} tokens (tokens and NLLs must belong together)")
    types = np.array(types)
    return {t: (float(values[types == t].mean()), int((types == t).sum())) for t in TOKEN_TYPES if (types == t).any()}


def fit_scaling_law(n_params, losses) -> dict:
    """Fit L(N) = E + A / N^alpha (Kaplan et al. 2020; Hoffmann et al. 2022's parametric form
    without the data term) by least squares (scipy's ``curve_fit``). Returns {"E", "A", "alpha",
    "predicted", "residuals"} (residuals = measured - predicted loss, in nats)."""
    from scipy.optimize import curve_fit

    N = np.asarray(n_params, dtype=float)
    L = np.asarray(losses, dtype=float)
    if len(N) < 4:
        raise ValueError(f"fitting 3 parameters needs at least 4 sizes, got {len(N)}")

    def law(n, E, logA, alpha):
        return E + np.exp(logA - alpha * np.log(n))

    p0 = (0.9 * L.min(), math.log(max(L.max() - 0.9 * L.min(), 1e-3)) + 0.3 * math.log(N.min()), 0.3)
    (E, logA, alpha), _ = curve_fit(law, N, L, p0=p0, bounds=([0.0, -50.0, 0.0], [L.min(), 50.0, 3.0]),
                                    maxfev=20000)
    predicted = law(N, E, logA, alpha)
    return {"E": float(E), "A": float(math.exp(logA)), "alpha": float(alpha), "predicted": predicted,
            "residuals": L - predicted}


@torch.no_grad()
def sample_gpt(model, vocab, prefix=(), n: int = 1, max_len: int = 400, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, seed: int = 0) -> list:
    """Draw ``n`` tunes from a GPT at once: each reads <s> + ``prefix`` (control tokens such as
    "<irish>", "M:6/8", "K:Dmaj") and continues, one token per step with a KV cache, until it
    writes <s> or has ``max_len`` new tokens. Tokens are drawn by ``sample_next`` (temperature,
    then top-k, then nucleus top-p); <unk> is never drawn. Returns lists of tokens: the prefix's
    meter and key (if given) and the new tokens, without style tokens. Notebooks 08 and 10.

    Limits (ValueError): n and max_len integers >= 1, the prefix's tokens in ``vocab`` (which
    holds <s>), temperature, top_k and top_p as ``check_sampling`` allows."""
    check_counts(n=n, max_len=max_len)
    check_sampling(temperature, top_k, top_p)
    index = {t: i for i, t in enumerate(vocab)}
    unknown = [t for t in [BOUNDARY, *prefix] if t not in index]
    if unknown:
        raise ValueError(f"tokens {unknown} of the prefix (or <s>) are not in the vocabulary")
    model.eval()
    device = next(model.parameters()).device
    bos = index[BOUNDARY]
    banned = [index[t] for t in (UNK,) if t in index]
    idx = torch.tensor([[bos] + [index[t] for t in prefix]] * n, device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    cache = None
    for _ in range(max_len):
        z, cache = next_logits(model, idx, cache)
        z = z.float()
        z[:, banned] = -float("inf")
        nxt = sample_next(z, temperature, top_k, top_p, generator)
        nxt[done] = bos
        idx = torch.cat([idx, nxt], dim=1)
        done |= nxt[:, 0] == bos
        if done.all():
            break
    tunes = []
    for row in idx[:, 1:].tolist():
        new = row[len(prefix):]
        new = new[:new.index(bos)] if bos in new else new
        tunes.append([t for t in prefix if not t.startswith("<")] + [vocab[i] for i in new])
    return tunes


@torch.no_grad()
def attention_maps(model, idx) -> torch.Tensor:
    """The attention weights of every layer and head of a GPT reading ``idx`` (B, T):
    (B, n_layer, n_head, T, T), row t = how query t spreads its attention over keys 0..t.
    Recomputed from each block's input as softmax(q k^T / sqrt(hs)) with the causal mask (the
    model itself calls a fused kernel that does not return them). Notebook 10."""
    model.eval()
    inputs = {}
    hooks = [block.ln_1.register_forward_hook(lambda m, i, o, layer=layer: inputs.__setitem__(layer, o))
             for layer, block in enumerate(model.blocks)]
    try:
        model(idx)
    finally:
        for h in hooks:
            h.remove()
    maps = []
    B, T = idx.shape
    C, nh = model.config.n_embd, model.config.n_head
    causal = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()
    for layer, block in enumerate(model.blocks):
        q, k, _ = block.attn.c_attn(inputs[layer]).split(C, dim=2)
        q, k = (t.view(B, T, nh, C // nh).transpose(1, 2) for t in (q, k))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(C // nh)
        maps.append(scores.masked_fill(~causal, float("-inf")).softmax(dim=-1))
    return torch.stack(maps, dim=1)


def weights_digest(model) -> str:
    """SHA-256 of a model's parameters and buffers (names, shapes and bytes): equal digests mean
    identical weights (the DDP test compares the processes' models with it)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- command line

def _corpus_data(corpora, limit, seed):
    """Pieces of the corpora (``limit`` each), a leak-free split of all of them together, and
    their tokens with a vocabulary from the training tunes plus the style tokens."""
    from .corpora import load_corpus
    from .data import token_data
    from .splits import split_pieces

    pieces = [p for name in corpora for p in load_corpus(name, limit=limit)]
    split = split_pieces(pieces, seed=seed)
    data = token_data(pieces, split.indices)
    styles = sorted({STYLE_TOKENS[p.corpus] for p in pieces})
    data.vocab = data.vocab + [s for s in styles if s not in data.vocab]
    prefixes = {name: [[style_token(pieces[i])] for i in split[name]] for name in ("train", "val", "test")}
    return pieces, split, data, prefixes


def _parser():
    parser = argparse.ArgumentParser(prog="python -m musiclab.pretrain", description=(
        "Pretrain a music GPT on ABC tunes of music21's corpora, on one device or one process per "
        "device under torchrun (DistributedDataParallel: NCCL on GPUs, gloo on CPUs). Checkpoints "
        "are written atomically by rank 0; --resume continues from the last one."))
    parser.add_argument("--corpora", nargs="+", default=["essen", "ryans", "oneills"],
                        choices=["essen", "oneills", "ryans"], help="ABC corpora to train on (default: all three)")
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT pieces of each corpus")
    parser.add_argument("--quick", action="store_true", help="quick-mode sizes (as MUSICLAB_MODE=quick)")
    parser.add_argument("--out", default="checkpoints/pretrain_gpt.pt", help="checkpoint path")
    parser.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    parser.add_argument("--steps", type=int, help="optimizer steps in all (default: the recipe's)")
    parser.add_argument("--stop-after", type=int, help="end this run after N steps, as an interrupt would")
    parser.add_argument("--save-every", type=int, default=100, help="write a checkpoint every N steps")
    parser.add_argument("--eval-every", type=int, default=0, help="validation loss every N steps")
    for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, dest=name)
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda, ... (default: cuda:LOCAL_RANK if there is a GPU, else cpu)")
    return parser


def _check_args(args, recipe):
    """ValueError naming the first option out of range (before any data is read or file written)."""
    check_counts(**{"--" + k.replace("_", "-"): getattr(args, k) for k in
                    ("steps", "stop_after", "limit", "n_layer", "n_head", "n_embd", "block_size", "batch_size")})
    check_counts(0, **{"--save-every": args.save_every, "--eval-every": args.eval_every, "--seed": args.seed})
    if args.lr is not None:
        check_positive("--lr", args.lr)
    GPTConfig(vocab_size=1, **{k: recipe[k] for k in ("block_size", "n_layer", "n_head", "n_embd", "dropout")})


def main(argv=None) -> int:
    """``python -m musiclab.pretrain``: see the module docstring and ``--help``. Options out of
    range end it with argparse's usage error (exit status 2) before anything is read or written."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.quick:
        os.environ["MUSICLAB_MODE"] = "quick"
    recipe = {**music_gpt_recipe(), **{k: v for k, v in vars(args).items() if k in music_gpt_recipe() and v is not None}}
    recipe["eval_every"] = args.eval_every
    try:
        _check_args(args, recipe)
    except ValueError as err:
        parser.error(str(err))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if args.device:
        device = torch.device(args.device)
    else:
        device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    started_group = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        started_group = True
    rank = dist.get_rank() if dist.is_initialized() else 0
    try:
        t0 = time.time()
        pieces, split, data, prefixes = _corpus_data(args.corpora, args.limit, args.seed)
        index = {t: i for i, t in enumerate(data.vocab)}
        bos = index[BOUNDARY]
        streams = {name: tune_stream(data.ids(name), bos, [[index[t] for t in p] for p in prefixes[name]])
                   for name in ("train", "val")}
        if rank == 0:
            print(f"{len(pieces):,} pieces of {', '.join(args.corpora)}: {split}; "
                  f"{len(streams['train']):,} training tokens, vocabulary {len(data.vocab)}; "
                  f"{world} process{'es' if world > 1 else ''} on {device} ({time.time() - t0:.1f} s)", flush=True)
        seed_everything(args.seed)
        config = GPTConfig(vocab_size=len(data.vocab), block_size=recipe["block_size"], n_layer=recipe["n_layer"],
                           n_head=recipe["n_head"], n_embd=recipe["n_embd"], dropout=recipe["dropout"])
        model = GPT(config)
        meta = dict(vocab=data.vocab, corpora=list(args.corpora), limit=args.limit, split_seed=args.seed,
                    quick=is_quick(), recipe=recipe, world_size=world,
                    train_ids=[pieces[i].id for i in split.train], val_ids=[pieces[i].id for i in split.val],
                    test_ids=[pieces[i].id for i in split.test])
        history = train_gpt(model, streams["train"], recipe["steps"], recipe["batch_size"], recipe["lr"],
                            warmup=recipe["warmup"], weight_decay=recipe["weight_decay"],
                            val_stream=streams["val"], eval_every=recipe["eval_every"],
                            checkpoint=args.out, save_every=args.save_every, resume=args.resume,
                            stop_after=args.stop_after, seed=args.seed, device=device, meta=meta,
                            desc=f"pretrain GPT {config.n_layer}x{config.n_head}x{config.n_embd}")
        step = history["step"][-1] if history["step"] else 0
        val = f", val loss {history['val'][-1]:.4f}" if history["val"] else ""
        line = (f"rank {rank}: step {step} of {recipe['steps']}, train loss {history['train'][-1]:.4f}{val}, "
                f"weights {weights_digest(model)}")
        for turn in range(dist.get_world_size() if dist.is_initialized() else 1):
            if turn == rank:   # one process at a time, so that lines in a shared terminal never mix
                print(line, flush=True)
            if dist.is_initialized():
                dist.barrier()  # also: rank 0 has written the checkpoint before anyone leaves
    finally:
        if started_group:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
