"""The music GPT of notebook 10: its data, its recipe, its measurements and its sampler.

* Data: tunes become one long stream of token ids, ``<s> <style> M:.. K:.. notes <s> <style> ...``
  (:func:`tune_stream`); ``train_gpt`` (``musiclab.train``) reads random windows of it, as nanoGPT
  does. Style tokens (``<irish>``, ``<german>``) are control tokens: prime a model with one.
* The recipe: :func:`music_gpt_recipe` (sizes and settings) and :func:`train_music_gpt` (notebook
  10; 08 when its checkpoint is missing).
* Measurements: per-token NLL of whole tunes for any of the course's language models
  (:func:`token_nll`, :func:`ngram_token_nll`), split by :func:`token_type` (:func:`nll_by_type`).
* Sampling with temperature, top-k and top-p (:func:`sample_gpt`).

The model itself is ``musiclab.models.transformer.GPT``; ``python -m musiclab.pretrain`` trains it
on several corpora, on one device or under torchrun.
"""
from __future__ import annotations

import math
import re

import numpy as np
import torch
from torch.nn import functional as F

from ..abc import BAR_TOKENS
from ..config import by_mode, seed_everything, with_overrides
from ..data import BOUNDARY, UNK, tune_batches
from ..train import autocast, train_gpt
from ..sampling import sample_tokens
from .transformer import GPT, GPTConfig, next_logits

__all__ = ["STYLE_TOKENS", "style_token", "tune_stream", "music_gpt_recipe", "gpt_config", "train_from_recipe", "train_music_gpt", "token_nll",
           "ngram_token_nll", "VocabView", "TOKEN_TYPES", "token_type", "nll_by_type", "gpt_next_logits", "sample_gpt"]

STYLE_TOKENS = {"oneills": "<irish>", "ryans": "<irish>", "essen": "<german>", "chorales": "<bach>"}


def style_token(piece) -> str:
    """The control token of a piece's style, from its corpus: "<irish>", "<german>", "<bach>".
    Notebook 10 and ``python -m musiclab.pretrain``.
    Notebooks: 10."""
    return STYLE_TOKENS[piece.corpus]


# ----------------------------------------------------------------------------- data

def tune_stream(tunes_ids, bos: int, prefixes=None) -> torch.Tensor:
    """One 1-D tensor of token ids: <s> prefix_1 tune_1 <s> prefix_2 tune_2 ... <s>.

    ``prefixes`` (one list of ids per tune, e.g. its style token) are read like the tune; a window
    of the stream may start anywhere and cross from one tune into the next.
    Notebooks: 10."""
    prefixes = prefixes if prefixes is not None else [[] for _ in tunes_ids]
    if len(prefixes) != len(tunes_ids):
        raise ValueError(f"{len(prefixes)} prefixes for {len(tunes_ids)} tunes")
    ids = [bos]
    for prefix, tune in zip(prefixes, tunes_ids):
        ids += list(prefix) + list(tune) + [bos]
    return torch.tensor(ids, dtype=torch.long)


# ----------------------------------------------------------------------------- the recipe

def music_gpt_recipe() -> dict:
    """Sizes and training settings of notebook 10's music GPT on 04's tokens: 6 layers, 6 heads,
    384 channels, a 256-token context and dropout 0.2 in full mode (nanoGPT's Shakespeare-char
    size, meant for a GPU); 2 x 4 x 64 with a 128-token context in quick mode (2 CPU cores): 8 bars
    of 04's training tunes take 64 tokens (median), so every token ``token_nll`` scores sees at
    least 8 bars, back to the same place in the previous strain; 16 windows a step (the tokens of
    32 windows of 64) at a learning rate of 5e-3 (better than 1e-2 on validation at this context), for 1,500
    steps: on all of 04's training tunes 600 steps left it behind the 8-gram (test perplexity 6.0 against 5.4).
    AdamW with warmup and a cosine schedule; validation every ``eval_every`` steps, the best
    validation weights kept. ``bar_positions`` (off): also read how far into its bar each token is
    (``GPTConfig.bar_vocab``); notebook 10's section 12 turns it on to measure what it buys.
    Notebooks: 10."""
    return dict(n_layer=by_mode(6, 2), n_head=by_mode(6, 4), n_embd=by_mode(384, 64),
                block_size=by_mode(256, 128), dropout=by_mode(0.2, 0.0), positions="learned", bar_positions=False,
                steps=by_mode(5000, 1500), batch_size=by_mode(64, 16), lr=by_mode(1e-3, 5e-3),
                warmup=by_mode(200, 20), weight_decay=0.1, eval_every=by_mode(250, 100))


def gpt_config(recipe: dict, vocab_size: int, vocab=None) -> GPTConfig:
    """The ``GPTConfig`` of a recipe's sizes (block_size, n_layer, n_head, n_embd, dropout and,
    where the recipe names them, positions) for a vocabulary of ``vocab_size`` tokens. A recipe with
    ``bar_positions=True`` also reads how far into its bar each token is: it needs the ``vocab``."""
    sizes = ("block_size", "n_layer", "n_head", "n_embd", "dropout", "positions")
    config = {k: recipe[k] for k in sizes if k in recipe}
    if recipe.get("bar_positions"):
        if vocab is None:
            raise ValueError("a recipe with bar_positions needs the vocabulary's tokens: gpt_config(recipe, n, vocab)")
        config["bar_vocab"] = list(vocab)
    return GPTConfig(vocab_size=vocab_size, **config)


def train_from_recipe(recipe: dict, vocab_size: int, train_stream, val_stream=None, model_class=GPT, seed: int = 0,
                      device="cpu", desc: str = "GPT", vocab=None, **settings):
    """The one GPT builder: seed, ``model_class(gpt_config(recipe, vocab_size, vocab))``, then
    :func:`train_gpt` with the recipe's steps, batch size, learning rate, warmup, weight decay and
    validation interval (``settings``: train_gpt's other arguments, e.g. ``keep_best``,
    ``checkpoint``). Returns (model, history). Notebooks 10, 11 and 08 through
    :func:`train_music_gpt`, ``train_chorale_gpt`` and ``train_token_gpt``; ``python -m musiclab.pretrain``.
    Notebooks: 10."""
    seed_everything(seed)
    model = model_class(gpt_config(recipe, vocab_size, vocab))
    history = train_gpt(model, train_stream, recipe["steps"], recipe["batch_size"], recipe["lr"],
                        warmup=recipe["warmup"], weight_decay=recipe.get("weight_decay", 0.1),
                        val_stream=val_stream, eval_every=recipe["eval_every"], seed=seed, device=device,
                        desc=f"{desc} {recipe['n_layer']}x{recipe['n_head']}x{recipe['n_embd']}", **settings)
    return model, history


def train_music_gpt(data, device="cpu", seed: int = 0, prefixes=None, **overrides):
    """Train a ``GPT`` on ``data`` (a ``TokenData``: vocabulary and train/val token lists) with
    :func:`music_gpt_recipe` (``overrides`` change single settings) using :func:`train_from_recipe`;
    returns (model, history) with the weights of the best validation loss. ``prefixes``
    ({"train": [...], "val": [...]}: token lists put before each tune, e.g. its style token) are
    optional; 08 trains one through ``recipes`` when its checkpoint is missing.
    Notebooks: 10."""
    r = with_overrides(music_gpt_recipe(), overrides)
    bos = data.vocab.index(BOUNDARY)
    index = {t: i for i, t in enumerate(data.vocab)}
    pre = {name: None if prefixes is None else [[index[t] for t in p] for p in prefixes[name]]
           for name in ("train", "val")}
    train = tune_stream(data.ids("train"), bos, pre["train"])
    val = tune_stream(data.ids("val"), bos, pre["val"])
    desc = "music GPT, bar positions" if r["bar_positions"] else "music GPT"
    return train_from_recipe(r, len(data.vocab), train, val, seed=seed, device=device, desc=desc, keep_best=True,
                             vocab=data.vocab)


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
    any model whose ``model(x)[0]`` are next-token logits (04's ``TuneLSTM``). Eval mode.
    Notebooks 08, 10 and 11.
    Notebooks: 08, 10, 11."""
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


class VocabView(torch.nn.Module):
    """A token model seen through another vocabulary ``vocab``, so that it predicts the same tokens
    as the models of that vocabulary: it reads ids of ``vocab`` and returns log-probabilities over
    ``vocab``, every token of ``model_vocab`` outside ``vocab`` folded into <unk> (their
    probabilities summed). Notebook 10 scores the shipped music GPT (a vocabulary that also holds
    Essen's tokens) on 04's test tokens this way, beside 04's LSTM and the n-gram.
    Limits (ValueError): every token of ``vocab`` is in ``model_vocab``, and ``vocab`` holds <unk>.
    Notebooks: 10."""

    def __init__(self, model, model_vocab, vocab):
        super().__init__()
        model_index, index = {t: i for i, t in enumerate(model_vocab)}, {t: i for i, t in enumerate(vocab)}
        missing = [t for t in vocab if t not in model_index]
        if missing or UNK not in vocab:
            raise ValueError(f"the view's vocabulary needs <unk> and only the model's tokens; not the model's: {missing[:5]}")
        self.model, self.config, self.size = model, model.config, len(vocab)
        self.register_buffer("to_model", torch.tensor([model_index[t] for t in vocab]), persistent=False)
        self.register_buffer("column", torch.tensor([index.get(t, index[UNK]) for t in model_vocab]), persistent=False)

    def forward(self, idx):
        probs = self.model(self.to_model.to(idx.device)[idx])[0].float().softmax(-1)
        folded = probs.new_zeros(*probs.shape[:-1], self.size).index_add_(-1, self.column.to(idx.device), probs)
        return folded.log(), None


def ngram_token_nll(lm, token_lists) -> list:
    """The NLL of every predicted token (and the closing boundary) of each tune under an
    ``NGramLM``: the same tokens as :func:`token_nll` predicts, for the same comparison.
    Notebooks: 10."""
    return [np.array([-math.log(lm.prob_at(context, token)) for context, token in lm.ngrams(t, lm.order)])
            for t in token_lists]


TOKEN_TYPES = ("pitch", "duration", "bar line", "header", "end of tune", "other")
_PITCH = re.compile(r"(\^\^|\^|__|_|=)?[A-Ga-g][,']*")
_DURATION = re.compile(r"\d+|\d*/\d+")
_ENDING = re.compile(r"(:?\||\[)\d+([,-]\d+)*")


def token_type(token: str) -> str:
    """What a folk-rnn token is: "pitch" (a note: "^f", "c'"), "duration" ("2", "/2", "3/2"),
    "bar line" ("|", ":|", "|1"), "header" (meter, key and style tokens: "M:6/8", "K:Gmaj",
    "<irish>"), "end of tune" (<s>), or "other" (rests, ties, triplets, broken rhythm, chords, <unk>).
    Notebook 10.
    Notebooks: 10."""
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
    of tunes whose tokens are ``token_lists``; the closing <s> of each tune is "end of tune".
    Notebooks: 10."""
    types = [token_type(t) for tokens in token_lists for t in list(tokens) + [BOUNDARY]]
    values = np.concatenate([np.asarray(n, dtype=float) for n in nlls])
    if len(types) != len(values):
        raise ValueError(f"{len(values)} NLLs for {len(types)} tokens (tokens and NLLs must belong together)")
    types = np.array(types)
    return {t: (float(values[types == t].mean()), int((types == t).sum())) for t in TOKEN_TYPES if (types == t).any()}


# ----------------------------------------------------------------------------- sampling

def gpt_next_logits(model):
    """``next_logits`` of a GPT for ``sample_tokens``: appends the newest tokens to the rows still
    being written and steps with a KV cache (``next_logits`` of the transformer module), of those
    rows only."""
    model.eval()
    device = next(model.parameters()).device
    idx, cache = None, None

    def step(ids, keep):
        nonlocal idx, cache
        if keep is not None:
            idx, cache = idx[keep], cache.select(keep)
        idx = ids.to(device) if idx is None else torch.cat([idx, ids.to(device)], dim=1)
        z, cache = next_logits(model, idx, cache)
        return z
    return step


def sample_gpt(model, vocab, prefix=(), n: int = 1, max_len: int = 400, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, seed: int = 0, constrain=False) -> list:
    """Draw ``n`` tunes from a GPT at once: each reads <s> + ``prefix`` (control tokens such as
    "<irish>", "M:6/8", "K:Dmaj") and continues, one token per step with a KV cache, until it
    writes <s> or has ``max_len`` new tokens: the one sampling loop, ``sample_tokens`` (temperature,
    then top-k, then nucleus top-p; <unk> never drawn; ``constrain=True`` or a ``TuneGrammar`` masks
    what would break the tune's grammar). Returns lists of tokens: the prefix's meter and key (if
    given) and the new tokens, without style tokens.

    Limits (ValueError): n and max_len integers >= 1, the prefix's tokens in ``vocab`` (which
    holds <s>), temperature, top_k and top_p as ``check_sampling`` allows.
    Notebooks: 08, 10."""
    rows = sample_tokens(gpt_next_logits(model), vocab, n, prefix, temperature, top_k, top_p, seed, max_len, constrain)
    return [[t for t in prefix if not t.startswith("<")] + row for row in rows]
