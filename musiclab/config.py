"""Device choice, seeding and the size switch (quick or full mode) shared by every notebook.

``MUSICLAB_MODE`` = ``quick`` | ``full`` | ``auto`` (the default). Quick mode shrinks data, epochs
and models so each notebook runs in 10 s to about 1.5 min on two CPU cores; full mode uses the real sizes,
meant for a GPU. ``auto`` picks full mode on a CUDA GPU and quick mode elsewhere (a CPU, Apple's
MPS). The older switch ``MUSICLAB_QUICK=1`` still means quick (``0`` means full) where
``MUSICLAB_MODE`` is not set. The test run sets quick mode (conftest.py). Every notebook's first
code cell prints the mode, why, and how to change it (``musiclab.course.results.print_mode``).
"""
import os
import random
import time

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
    """Seed Python's ``random``, numpy and torch (all devices) for repeatable runs.
    Notebooks: 03, 06, 10."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(seed: int = 0) -> torch.device:
    """The start of every notebook: seed everything (:func:`seed_everything`), pick the device
    (:func:`device`), print it and return it. On a CPU torch gets one thread: the course's models
    are small, and on a shared CPU extra threads mostly wait for each other.
    Notebooks: 00, 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 11."""
    seed_everything(seed)
    dev = device()
    if dev.type == "cpu":
        torch.set_num_threads(1)
    print(f"device: {dev}")
    return dev


MODES = ("quick", "full", "auto")
YES, NO = {"1", "true", "yes"}, {"0", "false", "no"}


def mode_and_reason() -> tuple[str, str]:
    """("quick" or "full", why it was chosen): ``MUSICLAB_MODE`` when set to quick or full, else
    ``MUSICLAB_QUICK`` when set, else auto (full on a CUDA GPU, quick elsewhere). An unknown value
    of either variable raises ValueError naming it and the values it takes."""
    setting = os.environ.get("MUSICLAB_MODE", "").strip().lower() or "auto"
    if setting not in MODES:
        raise ValueError(f"MUSICLAB_MODE={os.environ['MUSICLAB_MODE']!r}: use one of {', '.join(MODES)}")
    if setting != "auto":
        return setting, f"MUSICLAB_MODE={setting} is set"
    quick = os.environ.get("MUSICLAB_QUICK", "").strip().lower()
    if quick and quick not in YES | NO:
        raise ValueError(f"MUSICLAB_QUICK={os.environ['MUSICLAB_QUICK']!r}: use 1 (quick) or 0 (full)")
    if quick:
        return ("quick" if quick in YES else "full"), f"MUSICLAB_QUICK={quick} is set"
    if torch.cuda.is_available():
        return "full", f"auto: a CUDA GPU ({torch.cuda.get_device_name(0)}) is here"
    return "quick", f"auto: no CUDA GPU here, the device is {device().type}"


def mode() -> str:
    """"quick" or "full" (see ``mode_and_reason``)."""
    return mode_and_reason()[0]


def is_quick() -> bool:
    """True in quick mode: small data and models (the test run, and auto mode without a CUDA GPU).
    Notebooks: 00, 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 11."""
    return mode() == "quick"


def mode_line() -> str:
    """One line for the top of a notebook: the mode, why, and how to change it."""
    chosen, why = mode_and_reason()
    other, cost = ("full", " (sizes meant for a GPU; on a CPU minutes to many hours)") if chosen == "quick" else ("quick", "")
    return (f"mode: {chosen} ({why}). For {other}{cost}: %env MUSICLAB_MODE={other}, then run the notebook "
            f"again from the top (or start Jupyter with MUSICLAB_MODE={other}).")


def by_mode(full, quick):
    """Return ``quick`` in quick mode, else ``full``: ``epochs = by_mode(30, 2)``.
    Notebooks: 00, 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 11."""
    return quick if is_quick() else full


def with_overrides(recipe: dict, overrides: dict) -> dict:
    """A training recipe with some settings changed; an unknown setting raises ValueError
    (the ``train_*`` functions of musiclab.models)."""
    unknown = set(overrides) - set(recipe)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(recipe)}")
    return {**recipe, **overrides}


def duration(seconds: float) -> str:
    """A duration for a person: "45 s", "12 min", "3.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def progress_bar(iterable=None, *, total=None, desc=None, disable=False, **options):
    """A tqdm progress bar (a widget in a notebook) that is redrawn at most about 100 times and at
    most every half second, however long the loop. Every redraw is a message from the kernel; a
    cell that sends thousands of them overflows the kernel's output queue (about 1,000 messages),
    whose overflow is dropped, the cell's end with it, and nbval then fails the cell "waiting for
    output". ``options`` go to tqdm (and may override the limits).
    Used by the training loops (``fit``, ``train_gpt``, ``train_bar_gan``) and ``parse_corpus``.
    Notebooks: 01, 02, 03, 04, 06, 09."""
    from tqdm.auto import tqdm
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    limits = {"mininterval": 0.5, "miniters": max(1, total // 100) if total else 1}
    return tqdm(iterable, total=total, desc=desc, disable=disable, **{**limits, **options})


class DurationEstimate:
    """In full mode on a CPU (sizes meant for a GPU, chosen by hand), a training announces how long it
    will take: after its first step (or epoch), ``done()`` prints their number x the first one's time.
    Elsewhere it prints nothing. Used by the training loops (``fit``, ``train_gpt``, ``train_bar_gan``)."""

    def __init__(self, what: str, total: int, device, unit: str = "steps"):
        self.what, self.total, self.unit = what, total, unit
        self.active = torch.device(device).type == "cpu" and mode() == "full"
        self.start = time.perf_counter()

    def done(self) -> None:
        if not self.active:
            return
        self.active = False                                  # once, after the first step
        first = time.perf_counter() - self.start
        print(f"{self.what}: full mode on a CPU, {self.total:,} {self.unit} at {first:.2f} s for the first "
              f"-> about {duration(first * self.total)}. Stop it with Kernel > Interrupt; "
              f"MUSICLAB_MODE=quick trains the small sizes.", flush=True)
