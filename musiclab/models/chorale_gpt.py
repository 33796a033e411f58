"""A joint model of chorale frames: the package GPT reading each beat frame key by key.

05's ``ChoraleLSTM`` predicts the 88 keys of the next frame independently given the past, so it
cannot say "C-E-G or D-F-A, not a mix of the two". Here each frame is written as its sounding keys
from bass to soprano followed by a frame-end token, the way Music Transformer serialises
chorales (Huang et al. 2019), and a ``GPT`` predicts one token at a time. (Coconet, Huang et al.
2017, is not a serialisation: an orderless NADE, a convolutional net trained to fill in masked
notes of the four-voice grid, sampled by blocked Gibbs sampling.) The
chain rule then gives the exact probability of a whole frame,

    p(frame_t | past) = prod_j p(key_j | keys < j of frame_t, past) * p(end | frame_t, past),

so the NLL per frame is the sum of the NLLs of its tokens and compares directly with 05's nats
per frame (and with RNN-NADE, which factorises the frame the same way over keys; Boulanger-
Lewandowski et al. 2012). ``ChoraleGPT`` builds the serialisation's grammar into its logits: after
key k only a higher key or the frame end may follow. Notebook 11 trains it; 08 evaluates it.
"""
import numpy as np
import torch

from ..config import by_mode, with_overrides
from ..checks import check_counts
from .music_gpt import gpt_config, token_nll, train_from_recipe, tune_stream
from .transformer import GPT, KVCache, check_sampling, next_logits, sample_next

__all__ = ["N_KEYS", "FRAME_END", "CHORALE_BOS", "CHORALE_VOCAB", "frame_tokens", "roll_from_tokens",
           "ChoraleGPT", "frame_nlls", "chorale_gpt_nll", "transpose_roll", "chorale_gpt_recipe", "chorale_gpt_width",
           "train_chorale_gpt", "continue_chorales"]

N_KEYS = 88                   # token k < 88: key k of the 88-key roll sounds in this frame
FRAME_END = N_KEYS            # "|": the frame is complete
CHORALE_BOS = N_KEYS + 1      # "<s>": before and after every chorale
CHORALE_VOCAB = N_KEYS + 2


def frame_tokens(roll) -> list:
    """A (T, 88) 0/1 roll -> token ids: each frame's sounding keys from low to high, then
    FRAME_END (an empty frame is FRAME_END alone). ``roll_from_tokens`` inverts it.
    Notebooks: 11."""
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != N_KEYS:
        raise ValueError(f"a chorale roll must be (frames, {N_KEYS}), got shape {roll.shape}")
    if not np.isin(roll, (0, 1)).all():
        raise ValueError("a chorale roll must hold only 0 and 1")
    ids = []
    for frame in roll:
        ids += np.flatnonzero(frame).tolist() + [FRAME_END]
    return ids


def roll_from_tokens(ids) -> np.ndarray:
    """Token ids -> (T, 88) roll, one frame per FRAME_END; CHORALE_BOS tokens are skipped and keys
    after the last FRAME_END (an unfinished frame) are dropped."""
    frames, frame = [], np.zeros(N_KEYS, dtype=np.float32)
    for i in ids:
        if not 0 <= i < CHORALE_VOCAB:
            raise ValueError(f"{i} is not a chorale token id (0..{CHORALE_VOCAB - 1})")
        if i == FRAME_END:
            frames.append(frame)
            frame = np.zeros(N_KEYS, dtype=np.float32)
        elif i < N_KEYS:
            frame[i] = 1.0
    return np.array(frames, dtype=np.float32).reshape(-1, N_KEYS)


def grammar_mask(idx) -> torch.Tensor:
    """(B, T) input ids -> (B, T, CHORALE_VOCAB) bool, True where the next token is illegal:
    after key k the keys 0..k and <s> (a chorale ends after a frame end, never mid-frame)."""
    tokens = torch.arange(CHORALE_VOCAB, device=idx.device)
    after_key = (idx < N_KEYS)[..., None]
    lower_key = (tokens < N_KEYS) & (tokens <= idx[..., None])
    return after_key & (lower_key | (tokens == CHORALE_BOS))


class ChoraleGPT(GPT):
    """The package ``GPT`` over the chorale tokens, with illegal next tokens (``grammar_mask``)
    given probability 0, so each frame has exactly one token sequence.
    Notebooks: 08, 11."""

    def forward(self, idx, targets=None, cache: KVCache | None = None):
        self._check_input(idx, targets, 0 if cache is None else len(cache))
        logits, _ = super().forward(idx, None, cache)
        logits = logits.masked_fill(grammar_mask(idx), float("-inf"))
        if targets is None:
            return logits, None
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)).float(),
                                                 targets.reshape(-1), ignore_index=-1)
        return logits, loss


def frame_nlls(token_nll, roll) -> np.ndarray:
    """Per-token NLLs of a serialised roll (as ``music_gpt.token_nll`` returns them: every token of
    ``frame_tokens(roll)`` then the closing <s>) -> (T,) NLL of each frame, the sum over its keys and
    its FRAME_END. The closing <s> is not a frame and is left out.
    Notebooks: 11."""
    sizes = np.asarray(roll).sum(axis=1).astype(int) + 1
    if len(token_nll) != sizes.sum() + 1:
        raise ValueError(f"{len(token_nll)} token NLLs for a roll of {sizes.sum()} tokens (+ closing <s>)")
    return np.add.reduceat(np.asarray(token_nll, dtype=np.float64)[:-1], np.cumsum(sizes) - sizes)


def chorale_gpt_nll(model, rolls, batch_size: int = 32, per_roll: bool = False):
    """(mean NLL per frame in nats over frames 1..T-1 of every roll, number of frames): the frames
    05's ``chorale_nll`` scores (the first frame has no past there), so the two compare directly.
    The GPT reads <s> and the whole chorale (in overlapping windows past its context).
    ``per_roll=True``: instead a list with the per-frame NLLs of each roll (frames 1..T-1).
    Notebooks: 08, 11."""
    nlls = token_nll(model, [frame_tokens(r) for r in rolls], CHORALE_BOS, batch_size=batch_size)
    per = [frame_nlls(nll, roll)[1:] for nll, roll in zip(nlls, rolls)]
    if per_roll:
        return per
    scored = np.concatenate(per)
    return float(scored.mean()), len(scored)


def transpose_roll(roll, semitones: int):
    """The roll shifted by ``semitones`` keys, or None when a note would leave the 88 keys."""
    roll = np.asarray(roll)
    keys = np.flatnonzero(roll.any(axis=0))
    if len(keys) and not (0 <= keys[0] + semitones and keys[-1] + semitones < N_KEYS):
        return None
    return np.roll(roll, semitones, axis=1)


def chorale_gpt_recipe() -> dict:
    """Sizes and training settings of notebook 11's joint chorale model: 6 x 6 x 384 with a 512-
    token context (about 100 frames: a whole chorale) and dropout 0.2 in full mode; 2 x 4 x 64 with
    128 tokens in quick mode. In full mode the training chorales are also transposed by up to
    ``transpose`` semitones either way (the rolls are in C; validation and test are not
    transposed): more data for a large model. A small one trained for a few hundred steps does
    better on chorales in C alone (on 2 CPU cores: 6.3 vs 7.8 nats/frame). AdamW, warmup, cosine.
    Notebooks: 11."""
    return dict(n_layer=by_mode(6, 2), n_head=by_mode(6, 4), n_embd=by_mode(384, 64),
                block_size=by_mode(512, 128), dropout=by_mode(0.2, 0.0), transpose=by_mode(5, 0),
                steps=by_mode(4000, 300), batch_size=by_mode(64, 32), lr=by_mode(6e-4, 1e-2),
                warmup=by_mode(200, 20), weight_decay=0.1, eval_every=by_mode(250, 50))


def chorale_gpt_width(params: int, **overrides) -> int:
    """The width ``n_embd`` (a multiple of the recipe's ``n_head``) whose ``ChoraleGPT``, with the
    other sizes of ``chorale_gpt_recipe()`` (``overrides`` change them), has the parameter count
    nearest ``params``: a joint model the size of another (e.g. 05's LSTM), for a comparison at
    matched parameters.
    Notebooks: 11."""
    r = with_overrides(chorale_gpt_recipe(), overrides)
    count = lambda width: ChoraleGPT(gpt_config({**r, "n_embd": width}, CHORALE_VOCAB)).num_params()
    step = r["n_head"]
    low, high = 1, 4096 // step                  # widths low*step .. high*step; the count grows with the width
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if count(mid * step) < params else (low, mid)
    return min((low * step, high * step), key=lambda width: abs(count(width) - params))


def train_chorale_gpt(train_rolls, val_rolls, device="cpu", seed: int = 0, **overrides):
    """Train a ``ChoraleGPT`` on (T, 88) beat rolls with ``chorale_gpt_recipe()`` (``overrides``
    change single settings) using ``train_from_recipe``; returns (model, history) with the weights
    of the best validation loss. Notebook 11; 08 when its checkpoint is missing.
    Notebooks: 11."""
    r = with_overrides(chorale_gpt_recipe(), overrides)
    shifted = [transpose_roll(roll, s) for roll in train_rolls for s in range(-r["transpose"], r["transpose"] + 1)]
    train = tune_stream([frame_tokens(roll) for roll in shifted if roll is not None], CHORALE_BOS)
    val = tune_stream([frame_tokens(roll) for roll in val_rolls], CHORALE_BOS)
    return train_from_recipe(r, CHORALE_VOCAB, train, val, model_class=ChoraleGPT, seed=seed, device=device,
                             desc="chorale GPT", keep_best=True)


@torch.no_grad()
def continue_chorales(model, primes, n_frames: int, temperature: float = 1.0, max_voices: int | None = None,
                      generator=None, voices: int | None = None) -> np.ndarray:
    """Sample ``n_frames`` frames after each prime (B, P, 88) from a ``ChoraleGPT``, token by token
    with a KV cache: keys rise within a frame (the grammar) and, with ``max_voices``, the frame
    ends after that many keys. With ``voices`` every frame holds exactly that many keys: the frame
    end is masked until it has them (unless no higher key is left) and forced after them, the keys
    themselves drawn from the model's conditionals (a decoding rule, not something it learned).
    Returns (B, P + n_frames, 88) numpy rolls, like 05's ``continue_rolls``. ``generator``: a
    torch.Generator on the model's device.
    Limits (ValueError): n_frames an integer >= 0, max_voices and voices None or >= 1 (not both),
    temperature as ``check_sampling`` allows.
    Notebooks: 08, 11."""
    check_counts(0, n_frames=n_frames)
    check_counts(max_voices=max_voices, voices=voices)
    check_sampling(temperature)
    if max_voices is not None and voices is not None:
        raise ValueError("give max_voices (a cap) or voices (exactly so many keys), not both")
    cap = voices if voices is not None else max_voices
    model.eval()
    device = next(model.parameters()).device
    out = []
    for prime in np.asarray(primes):
        idx = torch.tensor([[CHORALE_BOS] + frame_tokens(prime)], device=device)
        cache, frames, n_on = None, 0, 0
        while frames < n_frames:
            z, cache = next_logits(model, idx, cache)
            z = z.float()
            z[:, CHORALE_BOS] = -float("inf")          # a continuation does not end the chorale
            if cap is not None and n_on >= cap:
                z[:, :N_KEYS] = -float("inf")
            elif voices is not None and torch.isfinite(z[:, :N_KEYS]).any():
                z[:, FRAME_END] = -float("inf")        # not yet `voices` keys, and a higher key is left
            token = sample_next(z, temperature, generator=generator)
            idx = torch.cat([idx, token], dim=1)
            frames, n_on = (frames + 1, 0) if token.item() == FRAME_END else (frames, n_on + 1)
        out.append(roll_from_tokens(idx[0].tolist()))
    return np.stack(out)
