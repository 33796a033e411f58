"""Device choice, seeding and the quick-mode switch shared by every notebook.

Quick mode (environment variable ``MUSICLAB_QUICK=1``, set by the test run) shrinks data,
epochs and models so each notebook runs in about a minute on two CPU cores. Without it the
sizes are the real ones, meant for a GPU.
"""
import os
import random

import numpy as np
import torch


def device() -> torch.device:
    """The best available torch device: cuda, then mps (Apple), then cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python's ``random``, numpy and torch (all devices) for repeatable runs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def is_quick() -> bool:
    """True when ``MUSICLAB_QUICK`` is set to 1/true/yes (the test run sets it)."""
    return os.environ.get("MUSICLAB_QUICK", "").strip().lower() in {"1", "true", "yes"}


def by_mode(full, quick):
    """Return ``quick`` in quick mode, else ``full``: ``epochs = by_mode(30, 2)``."""
    return quick if is_quick() else full


def with_overrides(recipe: dict, overrides: dict) -> dict:
    """A training recipe with some settings changed; an unknown setting raises ValueError
    (the ``train_*`` functions of musiclab.models and musiclab.pretrain)."""
    unknown = set(overrides) - set(recipe)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(recipe)}")
    return {**recipe, **overrides}
