"""The course's two training loops, their one update step, and atomic checkpoints.

* :func:`fit` loops over epochs of a DataLoader (notebooks 02, 04, 05, 07 and the recipes in
  ``musiclab.models``); it only does the bookkeeping: device moves, epochs, averaging, validation,
  keeping the best epoch.
* :func:`train_gpt` loops over optimizer steps on random windows of one token stream, as nanoGPT's
  train.py does (notebooks 10 and 11, ``python -m musiclab.pretrain``): AdamW
  (:func:`gpt_optimizer`), warmup then cosine learning rate (:func:`learning_rate`), gradient
  clipping, DistributedDataParallel when ``torch.distributed`` is initialised, atomic
  checkpoints written by rank 0, and resumption from the last one.
* Both take a step with :func:`optimizer_step` (finite loss, zero_grad, backward, clip, step).

Checkpoints store a model's constructor arguments (``model.config``), so ``load_model`` rebuilds
it from the package's class (notebook 08).

On CUDA the loops run faster without changing what they compute in float32 elsewhere: on GPUs with
bf16 tensor cores the forward pass of a training step runs under bf16 autocast (:func:`autocast`:
matrix multiplies in bfloat16, losses and reductions in float32, no loss scaling needed since bf16
has float32's range) with TF32 matrix multiplies allowed, and batches are copied from pinned
memory. On CPU and MPS all of this is a no-op, so results there stay exact.
"""
import contextlib
import copy
import io
import math
import os

import numpy as np
import torch
import torch.distributed as dist
from torch.nn import functional as F

from .checks import MAX_PARAMS, check_counts, check_positive
from .config import DurationEstimate, progress_bar
from .files import atomic_write

__all__ = ["to_device", "autocast", "allow_tf32", "evaluate", "optimizer_step", "fit", "stream_batch",
           "learning_rate", "gpt_optimizer", "stream_loss", "train_gpt", "atomic_write", "save_checkpoint",
           "load_checkpoint", "read_checkpoint_meta", "MAX_PARAMS", "load_model", "load_or_train"]

def to_device(batch, device):
    """Move a tensor, or a tuple/list/dict of tensors, to ``device``. To a CUDA device a CPU tensor
    goes through pinned (page-locked) memory without blocking, as a DataLoader with
    ``pin_memory=True`` would do it."""
    if torch.is_tensor(batch):
        if torch.device(device).type == "cuda" and batch.device.type == "cpu":
            return batch.pin_memory().to(device, non_blocking=True)
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def allow_tf32() -> None:
    """Let CUDA matrix multiplies and cuDNN convolutions/RNNs use TF32 tensor cores (10-bit
    mantissa inputs, float32 accumulation): several times faster on Ampere and later GPUs."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def autocast(device):
    """The context for a training forward pass: on a CUDA GPU with bf16 tensor cores (compute
    capability 8.0 or later: A100, H100, RTX 30xx and newer), bf16 autocast (Micikevicius et al.
    2018, mixed precision; bf16 keeps float32's exponent range, so no loss scaling) with TF32
    allowed; on older GPUs (a T4 would only emulate bf16), CPU and MPS a context that does
    nothing. Used by ``fit`` and ``train_gpt``."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0):
        allow_tf32()
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batch_size(batch) -> int:
    """Number of examples in a batch: the length of its first tensor."""
    while not torch.is_tensor(batch):
        batch = batch[0] if isinstance(batch, (list, tuple)) else next(iter(batch.values()))
    return len(batch)


@torch.no_grad()
def evaluate(model, loss_fn, loader, device) -> float:
    """Mean of ``loss_fn(model, batch)`` over ``loader``, each batch weighted by its size (so a
    short last batch counts for its examples only), with the model in eval mode."""
    model.eval()
    total, count = 0.0, 0
    for batch in loader:
        n = batch_size(batch)
        total, count = total + loss_fn(model, to_device(batch, device)).item() * n, count + n
    return total / max(count, 1)


def optimizer_step(model, optimizer, loss, clip: float | None = None) -> None:
    """One update of ``model`` from ``loss``: ValueError if the loss is not finite (nan or inf:
    the learning rate is too high), then zero the gradients, backpropagate, clip the gradient norm
    to ``clip`` (None or 0: no clipping) and let ``optimizer`` step. :func:`fit` and
    :func:`train_gpt` both update this way (notebooks 02, 04, 05, 07, 10, 11)."""
    if not torch.isfinite(loss):
        raise ValueError(f"the loss became {loss.item()}: lower the learning rate or clip gradients")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()


def fit(model, loss_fn, train_loader, optimizer, epochs: int, device, val_loader=None,
        clip: float | None = None, desc: str = "training", keep_best: bool = True,
        patience: int | None = None) -> dict:
    """Train ``model`` for ``epochs``; ``loss_fn(model, batch)`` returns a scalar loss.

    Returns ``{"train": [mean loss per epoch], "val": [...], "best_epoch": n}``; a progress bar shows
    progress. ``clip`` clips the gradient norm (useful for RNNs). With a ``val_loader`` and
    ``keep_best`` the model ends with the weights of its best validation epoch (early stopping).
    ``patience``: with a ``val_loader``, stop once that many epochs in a row brought no new best
    validation loss, so that ``epochs`` is a ceiling and the run ends where validation has turned;
    ``history["stopped"]`` then says whether it stopped early (None: always run every epoch).
    On CUDA the training forward pass runs under :func:`autocast` (bf16) and batches come from
    pinned memory; validation runs in float32, so the epoch kept is chosen on exact losses.
    """
    model.to(device)
    history = {"train": [], "val": []}
    best_val, best_state = float("inf"), None
    bar = progress_bar(range(epochs), desc=desc)
    steps = len(train_loader) if hasattr(train_loader, "__len__") else None   # a generator has no length
    estimate = DurationEstimate(desc, epochs * steps, device) if steps else DurationEstimate(desc, epochs, device, "epochs")
    for _ in bar:
        model.train()
        total, count = 0.0, 0
        for batch in train_loader:
            with autocast(device):
                loss = loss_fn(model, to_device(batch, device))
            optimizer_step(model, optimizer, loss, clip)
            total, count = total + loss.item(), count + 1
            if steps:
                estimate.done()
        if not steps:
            estimate.done()
        history["train"].append(total / max(count, 1))
        if val_loader is not None:
            history["val"].append(evaluate(model, loss_fn, val_loader, device))
            if history["val"][-1] < best_val:
                best_val, history["best_epoch"] = history["val"][-1], len(history["val"])
                best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix({k: f"{v[-1]:.4f}" for k, v in history.items() if isinstance(v, list) and v})
        if patience is not None and val_loader is not None:
            history["stopped"] = len(history["val"]) - history.get("best_epoch", 0) >= patience
            if history["stopped"]:
                break
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    return history


# ----------------------------------------------------------------------------- the step-based loop (GPT)

def stream_batch(stream, batch_size: int, block_size: int, step: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1, starts=None):
    """The (x, y) windows of training step ``step``: ``batch_size`` random windows of
    ``block_size`` tokens, y = x shifted by one, starting anywhere or at one of ``starts``. The
    windows depend only on (seed, step), so a resumed run reads what an uninterrupted one would;
    under DDP, rank r of ``world_size`` takes rows r, r + world_size, ... of the same global batch,
    so the result does not depend on the processes. :func:`train_gpt` reads its batches this way
    (notebooks 10 and 11; 10 also calls it).
    Notebooks: 10."""
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


def learning_rate(step: int, steps: int, lr: float, warmup: int, min_lr: float) -> float:
    """Linear warmup to ``lr`` over ``warmup`` steps, then a cosine down to ``min_lr`` at
    ``steps`` (nanoGPT's schedule). ``step`` counts from 0. :func:`train_gpt` (notebook 10)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def gpt_optimizer(model, lr: float, weight_decay: float = 0.1, betas=(0.9, 0.95)):
    """AdamW with weight decay on the matrices only (not on biases and LayerNorm gains), as nanoGPT.
    :func:`train_gpt` (notebooks 10 and 11) and the GPT step timing of ``musiclab.bench``."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


@torch.no_grad()
def stream_loss(model, stream, block_size: int, batch_size: int = 64, max_tokens: int | None = None) -> float:
    """Mean next-token NLL (nats) over consecutive windows of a stream, every token predicted
    once (each window starts a fresh context). Eval mode; ``max_tokens`` caps the work.
    :func:`train_gpt`'s validation loss (notebooks 10 and 11).
    Notebooks: 10."""
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


def train_gpt(model, train_stream, steps: int, batch_size: int, lr: float, block_size: int | None = None,
              warmup: int = 0, min_lr: float | None = None, weight_decay: float = 0.1, grad_clip: float = 1.0,
              starts=None, val_stream=None, eval_every: int = 0, eval_tokens: int | None = None, keep_best: bool = False,
              checkpoint=None, save_every: int = 0, resume: bool = False, stop_after: int | None = None,
              seed: int = 0, device="cpu", desc: str = "GPT", meta: dict | None = None) -> dict:
    """Train a GPT for ``steps`` AdamW steps on random windows of ``train_stream`` (next-token
    cross-entropy, warmup then a cosine learning rate) and return the history of its losses.
    Every GPT of the course trains here, through :func:`train_from_recipe`, as does ``python -m
    musiclab.pretrain``. The bookkeeping (validation, early stopping, checkpoints, resuming, several
    GPUs) is :class:`GPTRun`'s; the update is :func:`optimizer_step`, the same as :func:`fit`'s.
    ValueError on bad settings, before any step.
    Notebooks: 10."""
    _check_gpt_settings(model, steps, batch_size, lr, block_size, warmup, eval_every, save_every, stop_after)
    block_size = block_size or model.config.block_size
    min_lr = lr / 10 if min_lr is None else min_lr
    model.to(device)
    optimizer = gpt_optimizer(model, lr, weight_decay)
    run = GPTRun(model, optimizer, steps, val_stream, block_size, eval_tokens, eval_every, keep_best,
                 checkpoint, save_every, resume, stop_after, meta, desc, device)
    model.train()
    for step in run.step_range():                      # a progress bar; from the checkpoint's step on resume
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, lr, warmup, min_lr)
        x, y = stream_batch(train_stream, batch_size, block_size, step, seed, run.rank, run.world, starts)
        with autocast(device):
            _, loss = run.net(*to_device((x, y), device))    # the model, or its DDP wrapper
        optimizer_step(model, optimizer, loss, grad_clip)
        run.after_step(step + 1, loss, batch_size * block_size)   # history, validation, checkpoints
    run.finish()
    model.eval()
    return run.history


class GPTRun:
    """The bookkeeping of one :func:`train_gpt` run, so that its loop reads as the update alone.

    * History ``{"step", "train", "val_step", "val", "tokens"}``: the training loss of every step
      (averaged over processes), the validation loss (:func:`stream_loss` of ``val_stream``) every
      ``eval_every`` steps and at the end, the tokens read. With ``keep_best`` the model ends with
      the weights of its best validation loss (early stopping).
    * Distributed: when ``torch.distributed`` is initialised ``net`` is the model wrapped in
      DistributedDataParallel; each process reads its rows of the same global batch
      (:func:`stream_batch`), so the result does not depend on the number of processes. Only rank 0
      shows the progress bar and writes checkpoints.
    * Checkpoints: with ``checkpoint`` (a path), rank 0 writes it atomically (``save_checkpoint``)
      every ``save_every`` steps and at the end: weights, optimizer state, step, history and
      ``meta``. With ``resume`` an existing checkpoint is loaded and training continues at its step
      (ValueError if it is not one ``train_gpt`` wrote: no optimizer state, or past ``steps``).
      ``stop_after`` ends this run after that many steps, as an interrupt would.
    """

    def __init__(self, model, optimizer, steps, val_stream, block_size, eval_tokens, eval_every, keep_best,
                 checkpoint, save_every, resume, stop_after, meta, desc, device):
        self.model, self.optimizer, self.steps, self.meta = model, optimizer, steps, meta
        self.val_stream, self.block_size, self.eval_tokens = val_stream, block_size, eval_tokens
        self.eval_every, self.keep_best, self.checkpoint, self.save_every = eval_every, keep_best, checkpoint, save_every
        self.rank, self.world = _distributed()
        self.start, self.history, self.best = _resume_gpt(checkpoint if resume else None, model, optimizer, steps, self.rank)
        self.net = _ddp(model, device) if self.world > 1 else model
        self.end = steps if stop_after is None else min(steps, self.start + stop_after)
        self.bar = progress_bar(range(self.start, self.end), desc=desc, disable=self.rank != 0, initial=self.start,
                                total=steps)
        self.estimate = DurationEstimate(desc, self.end - self.start, device)

    def step_range(self):
        """The steps this run takes, behind the progress bar."""
        return self.bar

    def after_step(self, done: int, loss, tokens: int) -> None:
        """Record step ``done``'s loss and tokens; validate and save when their turn comes."""
        self.history["step"].append(done)
        self.history["train"].append(_global_mean(loss, self.world))
        self.history["tokens"] += tokens
        if self.rank == 0:
            self.estimate.done()
        if self.val_stream is not None and self.eval_every and done % self.eval_every == 0 and done < self.steps:
            self.validate(done)
        if self.save_every and done % self.save_every == 0 and done < self.end:
            self.save(done)
        if self.rank == 0:
            _show_losses(self.bar, self.history)

    def validate(self, step: int) -> None:
        _validate_gpt(self.model, self.val_stream, self.block_size, self.eval_tokens, step,
                      self.history, self.best, self.keep_best)

    def save(self, step: int) -> None:
        _save_gpt(self.checkpoint, self.model, self.optimizer, step, self.steps, self.history, self.best,
                  self.meta, self.rank)

    def finish(self) -> None:
        """At the last step: a final validation, the best weights back (``keep_best``), a checkpoint."""
        self.bar.close()
        if self.end == self.steps and self.val_stream is not None and self.history["val_step"][-1:] != [self.steps]:
            self.validate(self.steps)
        if self.end == self.steps and self.keep_best and self.best["state"] is not None:
            self.model.load_state_dict(self.best["state"])
        self.save(self.end)


def _check_gpt_settings(model, steps, batch_size, lr, block_size, warmup, eval_every, save_every, stop_after):
    """:func:`train_gpt`'s limits (ValueError naming the setting), checked before anything runs."""
    check_counts(steps=steps, batch_size=batch_size, block_size=block_size, stop_after=stop_after)
    check_counts(0, warmup=warmup, eval_every=eval_every, save_every=save_every)
    check_positive("lr", lr)
    if block_size is not None and block_size > model.config.block_size:
        raise ValueError(f"block_size={block_size} is longer than the model's block_size={model.config.block_size}")


def _distributed():
    """(rank, world_size) of this process; (0, 1) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _ddp(model, device):
    """``model`` wrapped in DistributedDataParallel (gradients averaged over the processes)."""
    from torch.nn.parallel import DistributedDataParallel
    on_cuda = torch.device(device).type == "cuda"
    return DistributedDataParallel(model, device_ids=[torch.device(device).index] if on_cuda else None)


def _global_mean(loss, world: int) -> float:
    """The loss of the whole global batch: the mean over the processes, the same on every one."""
    loss = loss.detach()
    if world > 1:
        dist.all_reduce(loss)
        loss = loss / world
    return loss.item()


def _resume_gpt(checkpoint, model, optimizer, steps: int, rank: int):
    """(first step, history, best {"val", "state"}) of a run: fresh ones, or those of the checkpoint
    ``train_gpt`` wrote at ``checkpoint`` (None: do not resume), whose weights and optimizer state
    are loaded. ValueError when that file is not a checkpoint train_gpt wrote or is past ``steps``."""
    history = {"step": [], "train": [], "val_step": [], "val": [], "tokens": 0}
    if checkpoint is None or not os.path.exists(checkpoint):
        return 0, history, {"val": float("inf"), "state": None}
    saved = read_checkpoint_meta(checkpoint)
    missing = [key for key in ("optimizer", "step", "history") if key not in saved]
    if missing:
        raise ValueError(f"cannot resume from {checkpoint}: it has no {', '.join(missing)} (not written by train_gpt)")
    if saved["step"] > steps:
        raise ValueError(f"cannot resume from {checkpoint}: it is at step {saved['step']}, past steps={steps}")
    load_checkpoint(checkpoint, model)
    optimizer.load_state_dict(saved["optimizer"])
    if rank == 0:
        print(f"resuming from {checkpoint} at step {saved['step']} of {steps}", flush=True)
    best = {"val": saved.get("best_val", float("inf")), "state": saved.get("best_state")}
    return saved["step"], saved["history"], best


def _save_gpt(checkpoint, model, optimizer, step: int, steps: int, history: dict, best: dict, meta, rank: int):
    """Rank 0 writes ``train_gpt``'s checkpoint (nothing without a path): weights, ``meta``, and
    what resuming needs (step, optimizer state, history, best validation loss and weights)."""
    if rank == 0 and checkpoint is not None:
        save_checkpoint(checkpoint, model, **(meta or {}), step=step, steps=steps,
                        optimizer=optimizer.state_dict(), history=history, best_val=best["val"],
                        **({"best_state": best["state"]} if best["state"] is not None else {}))


def _validate_gpt(model, val_stream, block_size, eval_tokens, step, history, best, keep_best):
    """Append the validation loss at ``step`` to ``history``; with ``keep_best`` copy the weights
    into ``best`` when it is the lowest so far. The model's mode is left as it was."""
    loss = stream_loss(model, val_stream, block_size, max_tokens=eval_tokens)
    history["val_step"].append(step)
    history["val"].append(loss)
    if keep_best and loss < best["val"]:
        best["val"], best["state"] = loss, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _show_losses(bar, history):
    """The last training and validation losses beside the progress bar. refresh=False: drawn with
    the bar's next timed update, not once per step (a notebook cell that sends thousands of
    progress messages makes nbval lose its output)."""
    bar.set_postfix(train=f"{history['train'][-1]:.3f}", refresh=False,
                    **({"val": f"{history['val'][-1]:.3f}"} if history["val"] else {}))


# ----------------------------------------------------------------------------- checkpoints

def save_checkpoint(path, model, **meta) -> None:
    """Save ``model.state_dict()`` and plain metadata (numbers, strings, lists) atomically.

    A package model's constructor arguments (``model.config``) and class name are stored too,
    so ``load_model`` can rebuild it; training notebooks add their training ids and split seed.
    Notebooks: 02, 04, 05, 07, 10, 11."""
    if hasattr(model, "config"):
        meta = {"config": dict(model.config), "class": type(model).__name__, **meta}
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "meta": meta}, buffer)
    atomic_write(path, buffer.getvalue())


def load_checkpoint(path, model) -> dict:
    """Load a checkpoint saved by ``save_checkpoint`` into ``model`` (``weights_only=True``: no
    arbitrary code runs) and return its metadata. A missing or corrupt file raises ValueError."""
    if not os.path.exists(path):
        raise ValueError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable musiclab checkpoint ({type(err).__name__}: {err})") from err
    try:
        model.load_state_dict(checkpoint["model"])
        return checkpoint["meta"]
    except (KeyError, TypeError, RuntimeError) as err:
        raise ValueError(f"{path} does not fit {type(model).__name__} ({type(err).__name__}: {err})") from err


def read_checkpoint_meta(path) -> dict:
    """The metadata of a checkpoint without building a model (ValueError if missing or corrupt)."""
    if not os.path.exists(path):
        raise ValueError(f"checkpoint not found: {path}")
    try:
        meta = torch.load(path, map_location="cpu", weights_only=True)["meta"]
    except Exception as err:
        raise ValueError(f"{path} is not a readable musiclab checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is not a readable musiclab checkpoint (its meta is a {type(meta).__name__}, not a dict)")
    return meta


def load_model(path, cls, device="cpu"):
    """Rebuild a package model from a checkpoint: ``cls(**meta["config"])`` with its weights, in
    eval mode on ``device``; returns (model, meta). ValueError when the file is missing, corrupt,
    holds another class, or its config does not build a ``cls`` of at most ``MAX_PARAMS``
    parameters (checked on the meta device, before any memory is allocated), or its weights do
    not fit. Notebook 08 loads every model this way.
    Notebooks: 02, 04, 05, 07, 10, 11."""
    meta = read_checkpoint_meta(path)
    if meta.get("class") != cls.__name__ or not isinstance(meta.get("config"), dict):
        raise ValueError(f"{path} holds {meta.get('class', 'no package model')!r}, not {cls.__name__}")
    try:
        with torch.device("meta"):   # sizes only: tensors without memory
            n = sum(p.numel() for p in cls(**meta["config"]).parameters())
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: its config {meta['config']} does not build a {cls.__name__} ({err})") from err
    if n > MAX_PARAMS:
        raise ValueError(f"{path}: its config {meta['config']} gives {n:,} parameters, more than MAX_PARAMS={MAX_PARAMS:,}")
    model = cls(**meta["config"])
    load_checkpoint(path, model)
    return model.to(device).eval(), meta


def load_or_train(path, cls, train, quick: bool, device="cpu"):
    """Notebook 08's one call per model: the checkpoint at ``path`` if it holds a ``cls`` made in
    the same mode (``quick``), else ``train()`` -> (model, meta), the training notebook's recipe.
    Returns (model, meta, "checkpoint" or "trained here") and prints which it was and why. Any
    checkpoint that cannot be used (missing, corrupt, another class, a bad or huge config, weights
    of other shapes) is trained again, never an error.
    Notebooks: 08, 10, 11."""
    try:
        model, meta = load_model(path, cls, device)
        if meta.get("quick") != quick:
            raise ValueError(f"made in {'quick' if meta.get('quick') else 'full'} mode")
        print(f"{os.path.basename(path)}: loaded")
        return model, meta, "checkpoint"
    except Exception as err:   # whatever is wrong with the file, the recipe makes a good model
        print(f"{os.path.basename(path)}: {err}; training here with the notebook's recipe")
    model, meta = train()
    return model.to(device).eval(), meta, "trained here"
