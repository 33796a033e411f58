"""A small decoder-only Transformer (a GPT) for music tokens, written like nanoGPT.

Pre-LayerNorm blocks of causal self-attention and an MLP (Vaswani et al. 2017, "Attention is all
you need"; Radford et al. 2019, GPT-2), token embeddings tied to the output layer (Press & Wolf
2017), learned or sinusoidal positions, a KV cache for generation, and the analytic parameter and
FLOP counts (PaLM's 6N + 12LTC, Chowdhery et al. 2022, appendix B; Kaplan et al. 2020 count
differently). Notebook 09 takes it apart; notebook 10 trains it on music.

Shapes: B batch, T time (tokens), C = n_embd channels, nh heads of hs = C // nh channels each.
"""
import hashlib
import math
import numbers
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
from torch.nn import functional as F

from ..checks import MAX_PARAMS, check_counts
from ..validity import BarClock
from ..sampling import apply_temperature, check_sampling, sample_next, top_k_filter, top_p_filter  # noqa: F401

__all__ = ["GPTConfig", "GPT", "Block", "CausalSelfAttention", "KVCache", "sinusoidal_positions", "bar_positions", "param_count",
           "forward_flops_per_token", "flops_per_token", "next_logits", "cache_logit_gap", "attention_maps", "weights_digest",
           "causal_attention"]


@dataclass
class GPTConfig:
    """Sizes of a GPT. ``positions`` is "learned" (GPT-2) or "sinusoidal" (Vaswani et al. 2017).
    ``bar_vocab``, the vocabulary's ABC tokens (one per id), gives the model a third input beside
    the token and its position: how far into its bar each token is (:func:`bar_positions`), as
    REMI's Position tokens do (Huang & Yang 2020); None (the default) leaves it out.

    The sizes are positive integers, n_embd a multiple of n_head, dropout in [0, 1), and the model
    (with its position table) at most ``MAX_PARAMS`` parameters; else ValueError naming the field.
    Notebooks: 09, 10."""

    vocab_size: int
    block_size: int  # the longest sequence the model reads (its context)
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = True  # biases in the Linears and LayerNorms, as in GPT-2
    positions: str = "learned"
    bar_vocab: list | None = None

    def keys(self):
        """Field names, so that ``dict(config)`` works (checkpoints store it: musiclab.train)."""
        return [f.name for f in fields(self)]

    def __getitem__(self, name):
        return getattr(self, name)

    def __post_init__(self):
        for name in ["vocab_size", "block_size", "n_layer", "n_head", "n_embd"]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, numbers.Real) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias must be True or False, got {self.bias!r}")
        if self.positions not in ("learned", "sinusoidal"):
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {self.positions!r}")
        if self.bar_vocab is not None:
            if isinstance(self.bar_vocab, str) or not all(isinstance(t, str) for t in self.bar_vocab):
                raise ValueError("bar_vocab must be the vocabulary's tokens, a list of strings")
            if len(self.bar_vocab) != self.vocab_size:
                raise ValueError(f"bar_vocab holds {len(self.bar_vocab)} tokens for vocab_size={self.vocab_size}")
            self.bar_vocab = list(self.bar_vocab)
        if self.positions == "sinusoidal" and self.n_embd % 2:
            raise ValueError(f"sinusoidal positions need an even n_embd, got {self.n_embd}")
        n = param_count(self, non_embedding=True) + self.block_size * self.n_embd   # a position table either way
        if n > MAX_PARAMS:
            raise ValueError(f"GPTConfig(vocab_size={self.vocab_size}, block_size={self.block_size}, n_layer="
                             f"{self.n_layer}, n_embd={self.n_embd}) has {n:,} parameters, more than MAX_PARAMS={MAX_PARAMS:,}")


def sinusoidal_positions(n_positions: int, n_embd: int) -> torch.Tensor:
    """(n_positions, n_embd) table PE[p, 2i] = sin(p / 10000^(2i/C)), PE[p, 2i+1] = cos(same)
    (Vaswani et al. 2017, section 3.5). Notebook 09 checks its properties.
    Notebooks: 09."""
    p = torch.arange(n_positions, dtype=torch.float64)[:, None]
    inv_freq = 10000.0 ** (-torch.arange(0, n_embd, 2, dtype=torch.float64) / n_embd)
    pe = torch.zeros(n_positions, n_embd, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(p * inv_freq)
    pe[:, 1::2] = torch.cos(p * inv_freq)
    return pe.float()


class KVCache:
    """The keys and values of every layer for the tokens read so far, so that generation feeds
    only the newest token through the model (notebooks 09, 10), and, for a model with bar
    positions, each row's ``BarClock``."""

    def __init__(self, n_layer: int):
        self.k = [None] * n_layer
        self.v = [None] * n_layer
        self.clocks = None

    def __len__(self) -> int:
        """Number of cached tokens."""
        return 0 if self.k[0] is None else self.k[0].size(2)

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Add new keys and values (B, nh, T, hs) to ``layer``'s; return all of them."""
        if self.k[layer] is not None:
            k = torch.cat([self.k[layer], k], dim=2)
            v = torch.cat([self.v[layer], v], dim=2)
        self.k[layer], self.v[layer] = k, v
        return k, v

    def select(self, rows):
        """Keep the cached keys and values of the batch rows ``rows`` only (a sampler drops the
        tunes it has finished); returns the cache."""
        self.k = [None if k is None else k[rows] for k in self.k]
        self.v = [None if v is None else v[rows] for v in self.v]
        if self.clocks is not None:
            self.clocks = [self.clocks[int(r)] for r in rows]
        return self


BAR_SLOTS = 192                    # sixths of an eighth note: four 4/4 bars; 192 is "at least that"
BAR_UNKNOWN = BAR_SLOTS + 1         # not known yet: a window that starts inside a bar


def bar_positions(idx, vocab, clocks=None):
    """(B, T) token ids -> (B, T) ids of how far into its bar each token is: the eighths filled
    since the last bar line after reading it, in sixths of an eighth (a triplet eighth is 4),
    capped at ``BAR_SLOTS``, or ``BAR_UNKNOWN`` (a ``BarClock`` per row: unknown until a bar line
    or <s>). ``clocks`` (one per row) carry on from earlier tokens; they are updated in place.
    A GPT with ``bar_vocab`` adds an embedding of these ids to its input (the shipped music GPT of
    notebook 10)."""
    clocks = [BarClock() for _ in range(idx.size(0))] if clocks is None else clocks
    rows = []
    for clock, row in zip(clocks, idx.tolist()):
        filled = [clock.read(vocab[i]) for i in row]
        rows.append([BAR_UNKNOWN if f is None else min(round(f * 6), BAR_SLOTS) for f in filled])
    return torch.tensor(rows, dtype=torch.long, device=idx.device).view(idx.shape)


def causal_attention(q, k, v, dropout_p=0.0):
    """softmax(q k^T / sqrt(hs) + mask) v, each query seeing its own and earlier keys.

    With a KV cache the queries are the last T of S positions: query i may see keys j <= S - T + i.
    Notebooks: 09.
    """
    T, S = q.size(-2), k.size(-2)
    if T == S:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
    allowed = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(diagonal=S - T)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: one Linear makes q, k, v for all heads, another mixes
    the heads' outputs (Vaswani et al. 2017, section 3.2).
    Notebooks: 09, 10."""

    def __init__(self, config: GPTConfig, layer: int = 0):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.dropout, self.layer = config.n_head, config.dropout, layer

    def forward(self, x, cache: KVCache | None = None):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.append(self.layer, k, v)
        y = causal_attention(q, k, v, self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # the heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """The position-wise feed-forward network: C -> 4C -> GELU -> C."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    """A pre-LayerNorm Transformer block (GPT-2): x + attn(ln(x)), then x + mlp(ln(x)).
    Notebooks: 09, 10."""

    def __init__(self, config: GPTConfig, layer: int = 0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache: KVCache | None = None):
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Decoder-only Transformer language model over token ids (Radford et al. 2019).

    ``forward(idx, targets)`` returns next-token logits (B, T, vocab_size) and, given targets,
    their mean cross-entropy (targets equal to -1 are ignored). Build it from a config,
    ``GPT(GPTConfig(...))``, or from the config's fields, ``GPT(vocab_size=..., ...)`` (as
    ``musiclab.load_model`` does). Used by notebooks 09 and 10.
    Notebooks: 08, 09, 10.
    """

    def __init__(self, config: GPTConfig | None = None, **sizes):
        super().__init__()
        if (config is None) == (not sizes):
            raise ValueError("give GPT either a GPTConfig or its fields as keywords, not both")
        config = GPTConfig(**sizes) if config is None else config
        self.config = config
        C = config.n_embd
        self.wte = nn.Embedding(config.vocab_size, C)
        if config.positions == "learned":
            self.wpe = nn.Embedding(config.block_size, C)
        else:  # a fixed table, not a parameter (and not saved in the state dict)
            self.register_buffer("pe", sinusoidal_positions(config.block_size, C), persistent=False)
        if config.bar_vocab is not None:
            self.wbe = nn.Embedding(BAR_UNKNOWN + 1, C)   # how far into its bar a token is
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config, layer) for layer in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(C, bias=config.bias)
        self.lm_head = nn.Linear(C, config.vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying: one matrix reads and writes tokens
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by 1/sqrt(2 n_layer)
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self, non_embedding: bool = False) -> int:
        """Number of parameters (a tied matrix counts once); ``non_embedding`` leaves out the
        position table (the token table stays: it is also the output layer), as nanoGPT does."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.config.positions == "learned":
            n -= self.wpe.weight.numel()
        return n

    def _check_input(self, idx, targets, start):
        if idx.dim() != 2 or idx.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"idx must be a (batch, time) tensor of token ids, got {tuple(idx.shape)} {idx.dtype}")
        if start + idx.size(1) > self.config.block_size:
            raise ValueError(f"sequence of length {start + idx.size(1)} is longer than "
                             f"block_size={self.config.block_size}")
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.config.vocab_size}), "
                             f"got {idx.min().item()}..{idx.max().item()}")
        if targets is not None and targets.shape != idx.shape:
            raise ValueError(f"targets {tuple(targets.shape)} must have the shape of idx {tuple(idx.shape)}")
        if targets is not None and targets.numel() and (targets.min() < -1 or targets.max() >= self.config.vocab_size):
            raise ValueError(f"targets must lie in [0, {self.config.vocab_size}) or be -1 (ignored)")

    def forward(self, idx, targets=None, cache: KVCache | None = None):
        """idx (B, T) token ids -> (logits (B, T, vocab_size), mean cross-entropy or None).

        With a ``cache``, ``idx`` continues the cached tokens (positions start after them)."""
        start = 0 if cache is None else len(cache)
        self._check_input(idx, targets, start)
        pos = torch.arange(start, start + idx.size(1), device=idx.device)
        pos_emb = self.wpe(pos) if self.config.positions == "learned" else self.pe[pos]
        x = self.wte(idx) + pos_emb
        if self.config.bar_vocab is not None:
            x = x + self.wbe(self._bar_positions(idx, cache))
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, cache)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def _bar_positions(self, idx, cache):
        """``bar_positions`` of ``idx``; with a cache, each row's clock goes on from the cached tokens."""
        if cache is None:
            return bar_positions(idx, self.config.bar_vocab)
        if cache.clocks is None:
            cache.clocks = [BarClock() for _ in range(idx.size(0))]
        return bar_positions(idx, self.config.bar_vocab, cache.clocks)

    @torch.no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, use_cache: bool = True, generator=None):
        """Append ``max_new_tokens`` (an integer >= 0) sampled tokens to ``idx`` (B, T) by
        ``sample_next``: temperature a finite number >= 0 (0 is greedy), top_k an integer >= 1, top_p in (0, 1].

        With ``use_cache`` each step feeds only the newest token and reuses the cached keys and
        values; without it each step recomputes the whole context (the last block_size tokens).
        Both give the same tokens. Call ``model.eval()`` first to switch dropout off."""
        check_counts(0, max_new_tokens=max_new_tokens)
        check_sampling(temperature, top_k, top_p)
        if not torch.is_tensor(idx) or idx.dim() != 2 or idx.size(1) == 0:
            raise ValueError(f"generate needs a (batch, time) prompt of at least one token, got {tuple(idx.shape)}")
        cache = None
        for _ in range(max_new_tokens):
            if use_cache:
                logits, cache = next_logits(self, idx, cache)
            else:
                logits = self(idx[:, -self.config.block_size:])[0][:, -1]
            idx_next = sample_next(logits, temperature, top_k, top_p, generator)
            idx = torch.cat([idx, idx_next], dim=1)
        return idx


def next_logits(model, idx, cache: KVCache | None = None):
    """(logits (B, vocab_size) of the token after ``idx`` (B, T), the cache to pass next time).
    While ``cache`` has room only the newest token is fed and the cached keys and values are
    reused; on the first step or with a full context the last block_size tokens are read afresh
    into a new cache. ``GPT.generate``, ``sample_gpt`` (10) and ``continue_chorales`` (11) step so.
    Notebooks: 09."""
    if cache is not None and len(cache) < model.config.block_size:
        logits, _ = model(idx[:, -1:], cache=cache)
    else:
        cache = KVCache(model.config.n_layer)
        logits, _ = model(idx[:, -model.config.block_size:], cache=cache)
    return logits[:, -1], cache


@torch.no_grad()
def cache_logit_gap(model, idx) -> float:
    """Largest |difference| between the next-token logits of every prefix of ``idx`` (B, T) computed
    step by step with the KV cache (``next_logits``, as ``generate`` does) and recomputed from scratch
    (the last block_size tokens of each prefix, as a model without a cache does). Run ``idx`` past
    block_size to test both of ``next_logits``' paths; use a trained model in float64, whose sharp
    attention would show a key or value at the wrong position (an untrained model's near-uniform
    attention can hide one). Notebook 09 checks it.
    Notebooks: 09."""
    if not torch.is_tensor(idx) or idx.dim() != 2 or idx.size(1) == 0:
        raise ValueError(f"cache_logit_gap needs a (batch, time) tensor of at least one token, got {tuple(idx.shape)}")
    cache, gap, block = None, 0.0, model.config.block_size
    for t in range(1, idx.size(1) + 1):
        cached, cache = next_logits(model, idx[:, :t], cache)
        recomputed = model(idx[:, max(0, t - block):t])[0][:, -1]
        gap = max(gap, (cached - recomputed).abs().max().item())
    return gap


def param_count(config: GPTConfig, non_embedding: bool = False, token_table: bool = True) -> int:
    """Parameters of ``GPT(config)`` from its sizes: the tied token table V C, the position
    table T C (if learned), per block 12 C^2 weights (4 C^2 attention, 8 C^2 MLP) plus 2 C
    LayerNorm gains and 11 C biases, and the final LayerNorm. ``non_embedding`` leaves out the
    position table only (nanoGPT's get_num_params): the tied token table is also the output layer.
    ``token_table=False`` leaves out the tied token table V C too: with ``non_embedding`` that is
    Kaplan et al. (2020)'s non-embedding N, every embedding excluded (for scaling laws).
    Notebook 09 checks it.
    Notebooks: 09, 10."""
    V, T, L, C, b = config.vocab_size, config.block_size, config.n_layer, config.n_embd, config.bias
    per_block = 12 * C * C + 2 * C + (11 * C if b else 0)
    n = V * C + L * per_block + C + (C if b else 0)
    if config.positions == "learned" and not non_embedding:
        n += T * C
    if config.bar_vocab is not None:
        n += (BAR_UNKNOWN + 1) * C
    return n if token_table else n - V * C


def forward_flops_per_token(config: GPTConfig, seq_len: int | None = None) -> int:
    """Matrix-multiply FLOPs of one forward pass per token, reading sequences of ``seq_len``
    (default block_size) tokens: 2 FLOPs per multiply-add, 2 (12 L C^2 + C V) for the weight
    matrices and 4 L T C for attention's q k^T and its weighted sum of v (over the full T x T,
    as FLOP counters count it). Compare with torch.utils.flop_counter (notebook 09).
    Notebooks: 09."""
    T = config.block_size if seq_len is None else seq_len
    L, C, V = config.n_layer, config.n_embd, config.vocab_size
    return 2 * (12 * L * C * C + C * V) + 4 * L * T * C


def flops_per_token(config: GPTConfig, seq_len: int | None = None) -> int:
    """Training FLOPs (forward and backward) per token, 6 N + 12 L T C, with N every parameter
    but the position table (``param_count(config, non_embedding=True)``: the tied token table
    stays, as the output layer it is multiplied every token). This is the PaLM estimate
    (Chowdhery et al. 2022, appendix B) that nanoGPT's estimate_mfu uses; Kaplan et al. 2020
    count 2 N + 2 L T C forward with N without embeddings. The backward pass costs twice the
    forward, so this is about 3 x forward_flops_per_token.
    Notebooks: 09, 10."""
    T = config.block_size if seq_len is None else seq_len
    N = param_count(config, non_embedding=True)
    return 6 * N + 12 * config.n_layer * T * config.n_embd


@torch.no_grad()
def attention_maps(model, idx) -> torch.Tensor:
    """The attention weights of every layer and head of a GPT reading ``idx`` (B, T):
    (B, n_layer, n_head, T, T), row t = how query t spreads its attention over keys 0..t.
    Recomputed from each block's input as softmax(q k^T / sqrt(hs)) with the causal mask (the
    model itself calls a fused kernel that does not return them).
    Notebooks: 10."""
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
    identical weights (notebook 10 and ``python -m musiclab.pretrain`` compare the processes' models
    of a DDP run with it)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
