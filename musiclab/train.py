"""A small training loop with a progress bar, plus atomic checkpoints.

Used by the training notebooks (02, 04, 05, 07). The model and its loss are written in each
notebook; ``fit`` only does the bookkeeping: device moves, epochs, averaging, validation.
"""
import os
import tempfile

import torch
from tqdm.auto import tqdm

__all__ = ["to_device", "fit", "atomic_write", "save_checkpoint", "load_checkpoint"]


def to_device(batch, device):
    """Move a tensor, or a tuple/list/dict of tensors, to ``device``."""
    if torch.is_tensor(batch):
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


@torch.no_grad()
def evaluate(model, loss_fn, loader, device) -> float:
    """Mean of ``loss_fn(model, batch)`` over ``loader`` with the model in eval mode."""
    model.eval()
    losses = [loss_fn(model, to_device(batch, device)).item() for batch in loader]
    return sum(losses) / max(len(losses), 1)


def fit(model, loss_fn, train_loader, optimizer, epochs: int, device, val_loader=None,
        clip: float | None = None, desc: str = "training") -> dict:
    """Train ``model`` for ``epochs``; ``loss_fn(model, batch)`` returns a scalar loss.

    Returns ``{"train": [mean loss per epoch], "val": [...]}``; a tqdm bar shows progress.
    ``clip`` clips the gradient norm (useful for RNNs).
    """
    model.to(device)
    history = {"train": [], "val": []}
    bar = tqdm(range(epochs), desc=desc)
    for _ in bar:
        model.train()
        total, count = 0.0, 0
        for batch in train_loader:
            loss = loss_fn(model, to_device(batch, device))
            if not torch.isfinite(loss):
                raise ValueError(f"the loss became {loss.item()}: lower the learning rate or clip gradients")
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total, count = total + loss.item(), count + 1
        history["train"].append(total / max(count, 1))
        if val_loader is not None:
            history["val"].append(evaluate(model, loss_fn, val_loader, device))
        bar.set_postfix({k: f"{v[-1]:.4f}" for k, v in history.items() if v})
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
    """Save ``model.state_dict()`` and plain metadata (numbers, strings, lists) atomically."""
    import io
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
    model.load_state_dict(checkpoint["model"])
    return checkpoint["meta"]
