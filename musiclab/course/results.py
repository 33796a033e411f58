"""Full-mode results: the headline numbers a notebook measured, kept with where they were measured.

A training notebook states each headline claim with ``ml.claim(name, value, above=..., below=...)``
(the number and the bound it must beat, checked at once) and records other numbers it reports with
``ml.record(name, value)``; it gathers them in a "What this run showed" cell (``ml.compare``). The
values stay in memory; when the full-mode runner (``python -m musiclab.bench
--full``) executes the notebook it sets ``MUSICLAB_RESULTS=<path>``, and every ``record`` (and
``save``, which the runner calls after the last cell) rewrites that JSON file atomically, with the
device, torch version and peak GPU memory of the kernel. The runner merges them into the committed
``data/full_results.json`` (one entry per notebook, with wall time, date and commit), and
``compare(notebook)`` prints this run's numbers beside that full-mode run: read from the file,
never typed in.
"""
import json
import math
import numbers
import os
import platform
from pathlib import Path

import torch

from ..config import device, is_quick, mode, mode_line
from ..corpora import _package_data_dir, _repo_data_dir
from ..files import atomic_write

__all__ = ["claim", "record", "recorded", "save", "results_path", "load_results", "full_results", "compare", "print_mode"]

ENV = "MUSICLAB_RESULTS"   # where record() writes, set by the runner
FILE = "full_results.json"
_recorded = {}             # name -> value, in the order the notebook recorded them
_bounds = {}               # name -> the bound a claim checked, as the table prints it ("> 0.5")


def record(name: str, value):
    """Remember a number of this run under ``name`` (with its unit, e.g. "test NLL (nats/frame):
    LSTM"); returns None, so a cell ending with it echoes nothing. Under the full-mode runner the
    file named by ``MUSICLAB_RESULTS`` is rewritten at once, so a notebook that fails later keeps
    what it had.
    Notebooks: 02, 04, 05, 06, 07, 08, 10, 11."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a result needs a non-empty name, got {name!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"result {name!r} must be a finite number (use .item() for a tensor), got {value!r}")
    _recorded[name] = float(value)
    if os.environ.get(ENV):
        save()


def claim(name: str, value, above=None, below=None):
    """A headline claim of this run: record ``value`` under ``name`` (as :func:`record` does) and
    check it, ``value > above`` and/or ``value < below``; AssertionError naming the claim, the value
    and the bound when it does not hold. Returns None, so a cell that ends with a claim prints
    nothing (the value is in :func:`compare`'s table). Every training notebook states its
    claims so (02, 04, 05, 07, 08, 10, 11) and prints them with :func:`compare` in its "What this
    run showed" cell, bound beside value. A claim needs a bound: ValueError without one.
    Notebooks: 02, 04, 05, 06, 07, 08, 10, 11."""
    if above is None and below is None:
        raise ValueError(f"claim {name!r} needs a bound: above=... or below=... (a number with no bound: record)")
    record(name, value)
    bounds = [(">", b) for b in [above] if b is not None] + [("<", b) for b in [below] if b is not None]
    _bounds[name] = " and ".join(f"{sign} {fmt(float(b))}" for sign, b in bounds)
    if not all(value > b if sign == ">" else value < b for sign, b in bounds):
        raise AssertionError(f"claim {name!r} does not hold in this run: {fmt(float(value))} is not {_bounds[name]}")


def recorded() -> dict:
    """The numbers recorded so far in this kernel, {name: value}."""
    return dict(_recorded)


def kernel_info() -> dict:
    """Where this run happens: device type, its name, torch version and threads, peak GPU memory."""
    dev = device()
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
    else:
        name = f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s)"
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return {"device": dev.type, "hardware": name, "torch": torch.__version__,
            "peak_gpu_memory_gib": None if peak is None else round(peak, 2)}


def save(path=None) -> None:
    """Write the recorded numbers and ``kernel_info()`` as JSON to ``path`` (default: the file named
    by ``MUSICLAB_RESULTS``) atomically."""
    path = path or os.environ.get(ENV)
    if not path:
        raise ValueError(f"no file to save to: pass a path or set {ENV}")
    atomic_write(path, json.dumps({**kernel_info(), "metrics": recorded()}, indent=1) + "\n")


def results_path() -> Path:
    """The committed results file: data/full_results.json in a source checkout, else the copy in
    the installed package (musiclab/corpus_data), else where a checkout's would be."""
    for folder in (_repo_data_dir(), _package_data_dir()):
        if folder is not None and (folder / FILE).exists():
            return folder / FILE
    return (_repo_data_dir() or Path(__file__).resolve().parents[1] / "corpus_data") / FILE


def load_results(path=None) -> dict:
    """All full-mode entries, {notebook: entry}; {} when there is no results file yet."""
    path = Path(path or results_path())
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("notebooks", {})
        if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
            raise TypeError("'notebooks' must map each notebook to a dict")
        return entries
    except (ValueError, AttributeError, TypeError) as err:
        raise ValueError(f"{path} is not a musiclab results file ({type(err).__name__}: {err})") from err


def full_name(notebook: str, entries: dict) -> str | None:
    """The key of ``notebook`` ("05_rnn_chorales" or just "05") among ``entries``, None if absent."""
    names = [n for n in entries if n == notebook or n.split("_")[0] == notebook]
    return names[0] if names else None


def full_results(notebook: str, path=None) -> dict | None:
    """The full-mode entry of ``notebook`` ("05_rnn_chorales" or just "05"), None when none is recorded.
    Notebooks: 04."""
    entries = load_results(path)
    name = full_name(notebook, entries)
    return None if name is None else entries[name]


def fmt(value) -> str:
    """A number for a table: 4 significant digits, thousands with separators, a dash for None."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def device_label(entry: dict) -> str:
    """"GPU", "CPU" or "MPS": the kind of device an entry ran on, as the tables name it;
    "unknown device" when the entry does not say."""
    device = entry.get("device")
    if not isinstance(device, str):
        return "unknown device"
    return "GPU" if device == "cuda" else device.upper()


def provenance(entry: dict) -> str:
    """One line: where and when a full-mode run happened ("unknown" for what the entry does not say)."""
    e = {key: "unknown" for key in ("hardware", "torch", "date", "commit")} | entry
    seconds = entry.get("seconds")
    wall = f"{seconds / 60:.1f} min" if isinstance(seconds, (int, float)) else "unknown"
    memory = "" if entry.get("peak_gpu_memory_gib") is None else f", peak GPU memory {entry['peak_gpu_memory_gib']} GiB"
    status = "" if entry.get("status", "passed") == "passed" else f"; FAILED: {entry.get('error')}"
    return (f"{device_label(entry)} ({e['hardware']}), torch {e['torch']}, {e['date']}, commit {e['commit']}, "
            f"wall time {wall}{memory}{status}")


def compare(notebook: str, path=None) -> None:
    """Print this run's recorded numbers, the bound each claim checked (:func:`claim`), beside the
    committed full-mode run of ``notebook``, with
    that run's device, date, commit and wall time ("unknown device", "unknown" for what the
    entry does not say); or say that none is recorded, and say so under the table when that run
    recorded none of this run's metrics. The training notebooks' "What this run
    showed" cell (``ml.compare("05")``); it returns nothing, so a notebook shows the table once.
    Notebooks: 02, 04, 05, 06, 07, 08, 10, 11."""
    entries = load_results(path)
    mine, name = recorded(), full_name(notebook, entries)
    entry = None if name is None else entries[name]
    this = f"this run ({'quick' if is_quick() else 'full'} mode)"
    claimed = lambda n: _bounds.get(n, "") if n in mine else ""
    if entry is None:
        lines = [f"no full-mode run recorded yet for {notebook} (python -m musiclab.bench --full "
                 f"--notebooks {notebook.split('_')[0]} records one in data/{FILE})"]
        rows = [(name, fmt(value), claimed(name)) for name, value in mine.items()]
        header = ("metric", this, "claim")
    else:
        lines = [f"full-mode run of {name}: {provenance(entry)}"]
        full = entry.get("metrics") if isinstance(entry.get("metrics"), dict) else {}
        names = list(mine) + [n for n in full if n not in mine]
        rows = [(n, fmt(mine.get(n)), claimed(n), fmt(full.get(n))) for n in names]
        header = ("metric", this, "claim", "full-mode run")
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        lines.append("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]).rstrip())
    if entry is not None and mine and not any(n in full for n in mine):
        lines.append("(that full-mode run recorded none of these metrics: its column holds no result)")
    print("\n".join(lines))


def print_mode(notebook: str | None = None) -> None:
    """The first code cell of every notebook: ``mode_line()`` (quick or full, why, how to change it).
    In full mode it adds what the committed results say of this notebook's full-mode run (its wall
    time, or that none has run to the end yet) and, on a CPU, how the trainings announce their
    duration (``config.DurationEstimate``).
    Notebooks: 00, 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 11."""
    print(mode_line())
    if mode() == "quick":
        return
    entry = full_results(notebook) if notebook else None
    if entry and entry.get("status") == "passed" and entry.get("seconds"):
        print(f"full mode: this notebook took {entry['seconds'] / 60:.1f} min on {device_label(entry)} ({entry.get('hardware', 'hardware unknown')}), "
              f"{entry.get('date', 'date unknown')} (python -m musiclab.bench --full).")
    else:
        print("full mode: this notebook has not yet been run to the end at full size on a recorded machine; "
              "if it fails or is too slow, use MUSICLAB_MODE=quick.")
    if device().type == "cpu":
        print("full mode on a CPU: sizes meant for a GPU. The package's trainings print an estimate of their "
              "duration after their first step; stop one with Kernel > Interrupt.")
