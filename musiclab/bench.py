"""Timing report: how long each notebook takes in quick mode, and how fast the core training
steps run on this device. Used for the README's timing table (and by curious learners).

    python -m musiclab.bench --out timings.md          # notebooks + core steps
    python -m musiclab.bench --no-notebooks            # core steps only (a minute)

Rates: tokens/s for a folk-rnn-like LSTM language-model step (Sturm et al. 2016: 3 x 512 LSTM,
137 tokens), steps/s for a bar-level GAN step (generator and discriminator, notebook 07),
frames/s for a DIC (autoencoder) step on 64-band log-mel frames (notebook 02). A step is
forward + backward + optimizer update; the first steps (warm-up) are not timed.
"""
import argparse
import math
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import device as best_device
from .train import atomic_write

__all__ = ["time_step", "lstm_step_rate", "gan_step_rate", "dic_step_rate", "core_benchmarks",
           "notebook_seconds", "markdown_table", "SIZES"]

SIZES = {  # name -> keyword arguments of each benchmark
    "tiny": {"lstm": dict(vocab=20, hidden=8, layers=1, batch=2, seq_len=8),
             "gan": dict(hidden=8, batch=4), "dic": dict(sizes=(64, 16, 4), batch=8)},
    "quick": {"lstm": dict(vocab=137, hidden=64, layers=1, batch=16, seq_len=128),
              "gan": dict(hidden=128, batch=64), "dic": dict(sizes=(64, 128, 64, 8), batch=256)},
    "full": {"lstm": dict(vocab=137, hidden=512, layers=3, batch=64, seq_len=128),
             "gan": dict(hidden=512, batch=128), "dic": dict(sizes=(64, 256, 128, 8), batch=256)},
}
BAR_STEPS, BAR_KEYS, Z_DIM = 16, 60, 64


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    elif torch.device(device).type == "mps":
        torch.mps.synchronize()


def time_step(step, n_steps: int = 5, warmup: int = 1, device="cpu") -> float:
    """Mean seconds per call of ``step()`` over ``n_steps`` calls, after ``warmup`` untimed calls."""
    if n_steps < 1 or warmup < 0:
        raise ValueError(f"need n_steps >= 1 and warmup >= 0, got {n_steps} and {warmup}")
    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(n_steps):
        step()
    sync(device)
    return (time.perf_counter() - start) / n_steps


def lstm_step_rate(vocab=137, hidden=512, layers=3, batch=64, seq_len=128, device="cpu", n_steps=5) -> float:
    """Tokens per second of one training step of an embedding -> LSTM -> linear language model."""
    model = nn.ModuleDict({"embed": nn.Embedding(vocab, hidden), "lstm": nn.LSTM(hidden, hidden, layers, batch_first=True),
                           "out": nn.Linear(hidden, vocab)}).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randint(vocab, (batch, seq_len + 1), device=device)

    def step():
        h, _ = model["lstm"](model["embed"](x[:, :-1]))
        loss = F.cross_entropy(model["out"](h).reshape(-1, vocab), x[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return batch * seq_len / time_step(step, n_steps, device=device)


def gan_step_rate(hidden=512, batch=128, device="cpu", n_steps=5) -> float:
    """Steps per second of one GAN step on bars (16 x 60): a D update and a G update (notebook 07's MLPs)."""
    bar = BAR_STEPS * BAR_KEYS
    G = nn.Sequential(nn.Linear(Z_DIM, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 2 * hidden), nn.LeakyReLU(0.2),
                      nn.Linear(2 * hidden, bar), nn.Sigmoid()).to(device)
    sn = nn.utils.parametrizations.spectral_norm
    D = nn.Sequential(sn(nn.Linear(bar, 2 * hidden)), nn.LeakyReLU(0.2), sn(nn.Linear(2 * hidden, hidden)),
                      nn.LeakyReLU(0.2), sn(nn.Linear(hidden, 1))).to(device)
    opt_G, opt_D = torch.optim.Adam(G.parameters(), lr=2e-4), torch.optim.Adam(D.parameters(), lr=2e-4)
    real = (torch.rand(batch, bar, device=device) < 0.05).float()

    def step():
        fake = G(torch.randn(batch, Z_DIM, device=device))
        loss_D = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        loss_G = F.softplus(-D(fake)).mean()
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()

    return 1.0 / time_step(step, n_steps, device=device)


def dic_step_rate(sizes=(64, 256, 128, 8), batch=256, device="cpu", n_steps=5) -> float:
    """Frames per second of one autoencoder step (MSE) on log-mel frames of ``sizes[0]`` bands."""
    def mlp(s):
        layers = [m for a, b in zip(s[:-1], s[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        return layers[:-1]

    model = nn.Sequential(*mlp(list(sizes)), *mlp(list(sizes)[::-1])).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, sizes[0], device=device)

    def step():
        loss = F.mse_loss(model(x), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return batch / time_step(step, n_steps, device=device)


def core_benchmarks(device=None, sizes=("quick", "full"), n_steps: int = 3, threads=None) -> list:
    """Rows ``{"what", "size", "threads", "rate", "unit"}`` for the LSTM, GAN and DIC steps at each
    size, with ``threads`` CPU threads for torch (None: leave torch's setting)."""
    device = device or best_device()
    if threads is None:
        return core_rows(device, sizes, n_steps)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return core_rows(device, sizes, n_steps)
    finally:
        torch.set_num_threads(before)


def core_rows(device, sizes, n_steps) -> list:
    rows = []
    for size in sizes:
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; choose from {list(SIZES)}")
        s = SIZES[size]
        lstm = s["lstm"]
        rows.append({"what": f"LSTM LM step ({lstm['layers']} x {lstm['hidden']}, batch {lstm['batch']} x {lstm['seq_len']})",
                     "size": size, "rate": lstm_step_rate(**lstm, device=device, n_steps=n_steps), "unit": "tokens/s"})
        rows.append({"what": f"GAN step, G + D (hidden {s['gan']['hidden']}, batch {s['gan']['batch']})", "size": size,
                     "rate": gan_step_rate(**s["gan"], device=device, n_steps=n_steps), "unit": "steps/s"})
        rows.append({"what": f"DIC step ({' -> '.join(map(str, s['dic']['sizes']))}, batch {s['dic']['batch']})",
                     "size": size, "rate": dic_step_rate(**s["dic"], device=device, n_steps=n_steps), "unit": "frames/s"})
    for row in rows:
        row["threads"] = torch.get_num_threads()
    return rows


def notebook_seconds(path, timeout: int = 600) -> float:
    """Wall-clock seconds to execute a notebook in quick mode (MUSICLAB_QUICK=1) with nbclient,
    in its own folder (so relative paths such as checkpoints/ work); ``timeout`` per cell, as in
    the test run. Errors (and timeouts) propagate."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    old = os.environ.get("MUSICLAB_QUICK")
    os.environ["MUSICLAB_QUICK"] = "1"  # the kernel inherits this process's environment
    try:
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        return time.perf_counter() - start
    finally:
        if old is None:
            os.environ.pop("MUSICLAB_QUICK", None)
        else:
            os.environ["MUSICLAB_QUICK"] = old


def markdown_table(header, rows) -> str:
    """A Markdown table from a header list and rows of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="also write the Markdown report to this file")
    parser.add_argument("--no-notebooks", action="store_true", help="time only the core training steps")
    parser.add_argument("--notebooks", default=str(Path(__file__).resolve().parents[1] / "notebooks"),
                        help="folder with the notebooks (default: the repo's notebooks/)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per notebook cell")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per core benchmark")
    parser.add_argument("--threads", default="", help="comma-separated CPU thread counts to compare, e.g. 1,2")
    parser.add_argument("--sizes", default="quick,full", help="comma-separated sizes: tiny, quick, full")
    args = parser.parse_args(argv)

    dev = best_device()
    parts = [f"Device: {dev} ({platform.processor() or platform.machine()}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads), {time.strftime('%Y-%m-%d')}"]
    if not args.no_notebooks:
        rows = []
        # run copies in a temporary folder, in order: their checkpoints/ and files land there,
        # never over the checkpoints a learner trained in notebooks/
        work = Path(tempfile.mkdtemp(prefix="musiclab-bench-"))
        for path in sorted(Path(args.notebooks).glob("[0-9][0-9]_*.ipynb")):
            shutil.copy(path, work / path.name)
            try:
                rows.append([path.name, f"{notebook_seconds(work / path.name, args.timeout):.0f}"])
            except Exception as err:  # report and continue: one broken notebook should not hide the others
                rows.append([path.name, f"failed ({type(err).__name__})"])
            print(f"{rows[-1][0]}: {rows[-1][1]}", flush=True)
        shutil.rmtree(work, ignore_errors=True)
        parts.append("Notebooks in quick mode (MUSICLAB_QUICK=1):\n\n" + markdown_table(["notebook", "seconds"], rows))
    sizes = [s.strip() for s in args.sizes.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")] if args.threads else [None]
    core = [r for t in thread_counts for r in core_benchmarks(dev, sizes, args.steps, t)]
    for r in core:
        if not (math.isfinite(r["rate"]) and r["rate"] > 0):
            raise RuntimeError(f"bad rate for {r['what']}: {r['rate']}")
    parts.append("Core training steps (forward + backward + update):\n\n" + markdown_table(
        ["step", "size", "torch threads", "rate", "unit"],
        [[r["what"], r["size"], r["threads"], fmt_rate(r["rate"]), r["unit"]] for r in core]))
    report = "\n\n".join(parts) + "\n"
    print(report)
    if args.out:
        atomic_write(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
