"""A small training loop with a progress bar, plus atomic checkpoints.

Used by the training notebooks (02, 04, 05, 07) and the recipes in ``musiclab.models``; ``fit``
only does the bookkeeping: device moves, epochs, averaging, validation, keeping the best epoch.
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
import numbers
import os
import tempfile

import torch
from tqdm.auto import tqdm

from .config import DurationEstimate

__all__ = ["to_device", "autocast", "allow_tf32", "evaluate", "fit", "atomic_write", "save_checkpoint", "load_checkpoint", "read_checkpoint_meta",
           "MAX_PARAMS", "load_model", "load_or_train"]

MAX_PARAMS = 10**9   # the largest model load_model builds (and GPTConfig allows): 4 GB of float32 weights


def check_counts(minimum: int = 1, **counts) -> None:
    """Raise ValueError naming the first of ``counts`` (name=value) that is not an integer >= ``minimum``;
    None passes (a default). ``GPT.generate``, ``train_gpt``, ``sample_gpt`` and the command line use it."""
    for name, value in counts.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum):
            raise ValueError(f"{name} must be {'a positive integer' if minimum == 1 else f'an integer >= {minimum}'}, "
                             f"got {value!r}")


def check_positive(name: str, value) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is a finite number > 0 (a learning rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


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


def fit(model, loss_fn, train_loader, optimizer, epochs: int, device, val_loader=None,
        clip: float | None = None, desc: str = "training", keep_best: bool = True) -> dict:
    """Train ``model`` for ``epochs``; ``loss_fn(model, batch)`` returns a scalar loss.

    Returns ``{"train": [mean loss per epoch], "val": [...], "best_epoch": n}``; a tqdm bar shows
    progress. ``clip`` clips the gradient norm (useful for RNNs). With a ``val_loader`` and
    ``keep_best`` the model ends with the weights of its best validation epoch (early stopping).
    On CUDA the training forward pass runs under :func:`autocast` (bf16) and batches come from
    pinned memory; validation runs in float32, so the epoch kept is chosen on exact losses.
    """
    model.to(device)
    history = {"train": [], "val": []}
    best_val, best_state = float("inf"), None
    bar = tqdm(range(epochs), desc=desc)
    steps = len(train_loader) if hasattr(train_loader, "__len__") else None   # a generator has no length
    estimate = DurationEstimate(desc, epochs * steps, device) if steps else DurationEstimate(desc, epochs, device, "epochs")
    for _ in bar:
        model.train()
        total, count = 0.0, 0
        for batch in train_loader:
            with autocast(device):
                loss = loss_fn(model, to_device(batch, device))
            if not torch.isfinite(loss):
                raise ValueError(f"the loss became {loss.item()}: lower the learning rate or clip gradients")
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
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
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    return history


def atomic_write(path, data) -> None:
    """Write ``data`` (str or bytes) to ``path`` via a temporary file and ``os.replace``,
    so a crash never leaves a half-written file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    mode = "w" if isinstance(data, str) else "wb"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual rights
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_checkpoint(path, model, **meta) -> None:
    """Save ``model.state_dict()`` and plain metadata (numbers, strings, lists) atomically.

    A package model's constructor arguments (``model.config``) and class name are stored too,
    so ``load_model`` can rebuild it; training notebooks add their training ids and split seed."""
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
    not fit. Notebook 08 loads every model this way."""
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
    of other shapes) is trained again, never an error."""
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
