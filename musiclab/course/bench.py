"""Timing and full-mode results: how long each notebook takes, what it measures at full size, and
how fast the core training steps run on this device. The README's tables come from here.

    python -m musiclab.bench --out timings.md          # notebooks in quick mode + core steps
    python -m musiclab.bench --no-notebooks            # core steps only (a minute)
    python -m musiclab.bench --full                    # every notebook in full mode, + core steps
    python -m musiclab.bench --full --notebooks 02 05 --parallel 2 --readme README.md

Full mode (``--full``): each chosen notebook runs top to bottom with ``MUSICLAB_MODE=full`` (the
real sizes, meant for a GPU), ``--parallel`` at a time (one GPU holds several of these models), as
a copy in one work folder (so 08 and 10 find the checkpoints of 02-07, and none lands over a
learner's). Its kernel gets ``MUSICLAB_RESULTS=<file>``: the headline numbers the notebook passes
to ``ml.record`` land there (``musiclab.course.results``), with the device, torch version and peak GPU
memory. The runner adds wall time, date and commit and merges the entry into ``--results``
(default ``data/full_results.json``, written atomically after each notebook); a notebook that
fails is recorded as failed with its error. The notebooks print these numbers beside their own
(``ml.compare("05")``). The core-step rates of this device are merged into the same file.

Rates: tokens/s for a folk-rnn-like LSTM language-model step (Sturm et al. 2016: 3 x 512 LSTM,
137 tokens) and for the package's GPT at ``music_gpt_recipe()``'s sizes (notebook 10; nanoGPT's
6 x 6 x 384 in full mode), steps/s for a bar-level GAN step (generator and discriminator,
notebook 07), frames/s for a DIC (autoencoder) step on 64-band log-mel frames (notebook 02). A
step is forward + backward + optimizer update, under bf16 autocast on CUDA as in ``fit`` and
``train_gpt`` (the GAN loop has none); the first steps (warm-up) are not timed.
"""
import argparse
import concurrent.futures
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import results
from ..config import device as best_device
from ..files import atomic_write
from ..models.music_gpt import sample_gpt
from ..models.rnn import TuneLSTM, sample_tunes
from ..models.transformer import GPT, GPTConfig
from ..sampling import TuneGrammar
from ..checks import check_counts, check_positive
from ..train import allow_tf32, autocast, gpt_optimizer, load_model

__all__ = ["time_step", "lstm_step_rate", "gpt_step_rate", "gan_step_rate", "dic_step_rate", "core_benchmarks",
           "sampling_rows", "sampling_report",
           "execute_notebook", "notebook_seconds", "find_notebooks", "run_full_notebook", "run_full", "merge_results",
           "results_table", "rates_table", "replace_block", "markdown_table", "SIZES"]

SIZES = {  # name -> keyword arguments of each benchmark; "gpt": music_gpt_recipe()'s quick and full sizes
    "tiny": {"lstm": dict(vocab=20, hidden=8, layers=1, batch=2, seq_len=8),
             "gpt": dict(vocab=20, n_layer=1, n_head=2, n_embd=16, block_size=8, batch=2),
             "gan": dict(hidden=8, batch=4), "dic": dict(sizes=(64, 16, 4), batch=8)},
    "quick": {"lstm": dict(vocab=137, hidden=64, layers=1, batch=16, seq_len=128),
              "gpt": dict(vocab=137, n_layer=2, n_head=4, n_embd=64, block_size=128, batch=16),
              "gan": dict(hidden=128, batch=64), "dic": dict(sizes=(64, 128, 64, 8), batch=256)},
    "full": {"lstm": dict(vocab=137, hidden=512, layers=3, batch=64, seq_len=128),
             "gpt": dict(vocab=137, n_layer=6, n_head=6, n_embd=384, block_size=256, batch=64),
             "gan": dict(hidden=512, batch=128), "dic": dict(sizes=(64, 256, 128, 8), batch=256)},
}
BAR_STEPS, BAR_KEYS, Z_DIM = 16, 60, 64
ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "data" / results.FILE


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


def update(optimizer, loss) -> None:
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def lstm_step_rate(vocab=137, hidden=512, layers=3, batch=64, seq_len=128, device="cpu", n_steps=5) -> float:
    """Tokens per second of one training step of an embedding -> LSTM -> linear language model."""
    model = nn.ModuleDict({"embed": nn.Embedding(vocab, hidden), "lstm": nn.LSTM(hidden, hidden, layers, batch_first=True),
                           "out": nn.Linear(hidden, vocab)}).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randint(vocab, (batch, seq_len + 1), device=device)

    def step():
        with autocast(device):
            h, _ = model["lstm"](model["embed"](x[:, :-1]))
            loss = F.cross_entropy(model["out"](h).reshape(-1, vocab), x[:, 1:].reshape(-1))
        update(optimizer, loss)

    return batch * seq_len / time_step(step, n_steps, device=device)


def gpt_step_rate(vocab=137, n_layer=6, n_head=6, n_embd=384, block_size=256, batch=64, device="cpu", n_steps=5) -> float:
    """Tokens per second of one training step of the package's GPT (notebook 10, ``train_gpt``):
    AdamW as ``gpt_optimizer``, gradient clipping at 1, bf16 autocast on CUDA."""
    model = GPT(GPTConfig(vocab_size=vocab, block_size=block_size, n_layer=n_layer, n_head=n_head,
                          n_embd=n_embd)).to(device)
    optimizer = gpt_optimizer(model, 1e-3)
    x = torch.randint(vocab, (batch, block_size + 1), device=device)

    def step():
        with autocast(device):
            _, loss = model(x[:, :-1], x[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return batch * block_size / time_step(step, n_steps, device=device)


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
        update(opt_D, F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean())
        update(opt_G, F.softplus(-D(fake)).mean())

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
        with autocast(device):
            loss = F.mse_loss(model(x), x)
        update(optimizer, loss)

    return batch / time_step(step, n_steps, device=device)


def core_benchmarks(device=None, sizes=("quick", "full"), n_steps: int = 3, threads=None) -> list:
    """Rows ``{"what", "size", "threads", "rate", "unit"}`` for the LSTM, GPT, GAN and DIC steps at
    each size, with ``threads`` CPU threads for torch (None: leave torch's setting)."""
    device = device or best_device()
    if torch.device(device).type == "cuda":
        allow_tf32()
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
        lstm, gpt = s["lstm"], s["gpt"]
        rows.append({"what": f"LSTM LM step ({lstm['layers']} x {lstm['hidden']}, batch {lstm['batch']} x {lstm['seq_len']})",
                     "size": size, "rate": lstm_step_rate(**lstm, device=device, n_steps=n_steps), "unit": "tokens/s"})
        rows.append({"what": f"GPT step ({gpt['n_layer']} x {gpt['n_head']} x {gpt['n_embd']}, "
                             f"batch {gpt['batch']} x {gpt['block_size']})",
                     "size": size, "rate": gpt_step_rate(**gpt, device=device, n_steps=n_steps), "unit": "tokens/s"})
        rows.append({"what": f"GAN step, G + D (hidden {s['gan']['hidden']}, batch {s['gan']['batch']})", "size": size,
                     "rate": gan_step_rate(**s["gan"], device=device, n_steps=n_steps), "unit": "steps/s"})
        rows.append({"what": f"DIC step ({' -> '.join(map(str, s['dic']['sizes']))}, batch {s['dic']['batch']})",
                     "size": size, "rate": dic_step_rate(**s["dic"], device=device, n_steps=n_steps), "unit": "frames/s"})
    for row in rows:
        row["threads"] = torch.get_num_threads()
    return rows


def execute_notebook(path, timeout: int = 600, env: dict | None = None, unset=()) -> tuple:
    """(the executed notebook, wall-clock seconds): ``path`` run top to bottom with nbclient in its
    own folder (so relative paths such as checkpoints/ work), ``timeout`` per cell. The kernel
    inherits this process's environment, with ``env`` set and the variables in ``unset`` removed for
    the run only. Errors (and timeouts) propagate. ``notebook_seconds``, ``musiclab.book.execute``
    and ``musiclab.exercises.exercise_seconds`` run notebooks so."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in [*(env or {}), *unset]}
    os.environ.update(env or {})
    for k in unset:
        os.environ.pop(k, None)
    try:
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        return nb, time.perf_counter() - start
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def notebook_seconds(path, timeout: int = 600) -> float:
    """Wall-clock seconds to execute a notebook in quick mode (MUSICLAB_MODE=quick) with nbclient,
    in its own folder (``execute_notebook``); ``timeout`` per cell, as in the test run."""
    return execute_notebook(path, timeout, {"MUSICLAB_MODE": "quick"})[1]


# ----------------------------------------------------------------------------- full mode

def find_notebooks(folder, names=None) -> list:
    """The course notebooks in ``folder`` (``NN_name.ipynb``), all or those ``names`` picks by
    number ("05"), stem ("05_rnn_chorales") or file name; ValueError for a name that picks none."""
    found = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return found
    picked = []
    for name in names:
        match = [p for p in found if name in (p.name, p.stem, p.stem.split("_")[0])]
        if not match:
            raise ValueError(f"no notebook {name!r} in {folder}; there are {[p.stem for p in found]}")
        picked += [p for p in match if p not in picked]
    return picked


def git_commit(notebook=None, root=ROOT) -> str:
    """HEAD's short hash, marked when the tracked files of musiclab/ or the ``notebook`` (default:
    all of notebooks/) differ from it; "unknown" without git."""
    paths = ["musiclab", "notebooks"]
    if notebook is not None:
        notebook = Path(notebook).resolve()
        paths[1:] = [str(notebook.relative_to(root))] if notebook.is_relative_to(root) else []
    try:
        run = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True, text=True, check=True).stdout
        sha = run("rev-parse", "--short", "HEAD").strip()
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", *paths).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha} + uncommitted changes" if dirty else sha


def error_line(stderr: str) -> str:
    """The last ``SomethingError: message`` line of nbconvert's output (ANSI colours removed)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", stderr)
    lines = [l.strip() for l in text.splitlines() if re.match(r"\s*[\w.]*(Error|Exception|Interrupt)\b", l)]
    tail = [l.strip() for l in text.splitlines() if l.strip()]
    return (lines or tail or ["failed without a message"])[-1][:500]


SAVE_CELL = "import musiclab.course.results\nmusiclab.course.results.save()  # added by musiclab.bench: device, peak memory, numbers"


def run_full_notebook(path, workdir, timeout: int = 3600, max_seconds: float | None = None) -> dict:
    """Execute one notebook in full mode (``MUSICLAB_MODE=full``) as a copy in ``workdir`` with
    nbconvert, in a process of its own; returns its results entry: ``status`` ("passed" or
    "failed"), ``error``, ``seconds``, ``date``, ``commit``, ``mode`` and what its kernel recorded
    (device, hardware, torch, peak_gpu_memory_gib, metrics). ``timeout`` applies per cell,
    ``max_seconds`` to the whole notebook; the executed copy is kept in ``workdir/executed``."""
    import nbformat

    path, workdir = Path(path), Path(workdir)
    (workdir / "executed").mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(SAVE_CELL, metadata={"tags": ["musiclab-bench"]}))
    copy = workdir / path.name
    nbformat.write(nb, copy)
    record_file = workdir / "executed" / f"{path.stem}.results.json"
    record_file.unlink(missing_ok=True)
    env = {**os.environ, "MUSICLAB_MODE": "full"}
    env[results.ENV] = str(record_file)
    cmd = [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", str(copy),
           "--output-dir", str(workdir / "executed"), f"--ExecutePreprocessor.timeout={timeout}"]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group: the kernel goes with it
    try:
        _, stderr = proc.communicate(timeout=max_seconds)
        error = None if proc.returncode == 0 else error_line(stderr)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        error = f"stopped after {max_seconds:.0f} s (time limit)"
    seconds = time.perf_counter() - start
    (workdir / "executed" / f"{path.stem}.log").write_text(stderr, encoding="utf-8")
    kernel = json.loads(record_file.read_text()) if record_file.exists() else {**results.kernel_info(), "metrics": {}}
    return {"status": "passed" if error is None else "failed", "error": error, "mode": "full",
            **kernel, "seconds": round(seconds, 1), "date": date, "commit": git_commit(path)}


def read_file(path) -> dict:
    """The whole results file, {"notebooks": {...}, "rates": {...}}; empty parts when missing."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {"notebooks": data.get("notebooks", {}), "rates": data.get("rates", {})}


def merge_results(path, notebooks=None, rates=None) -> dict:
    """Merge notebook entries ({name: entry}) and device rates ({device: entry}) into the results
    file at ``path``, written atomically; returns the whole file's content."""
    data = read_file(path)
    data["notebooks"].update(notebooks or {})
    data["notebooks"] = dict(sorted(data["notebooks"].items()))
    data["rates"].update(rates or {})
    atomic_write(path, json.dumps(data, indent=1) + "\n")
    return data


def run_full(paths, workdir=None, parallel: int = 1, results_file=RESULTS, timeout: int = 3600,
             max_seconds: float | None = None, max_total_seconds: float | None = None, log=print) -> dict:
    """Run notebooks (paths) in full mode, ``parallel`` at a time, merging each entry into
    ``results_file`` as soon as it ends; returns {notebook stem: entry}. ``max_seconds`` stops
    one notebook, ``max_total_seconds`` the whole run: a notebook still running then is stopped
    (and recorded as failed), one not started yet is left out (its old entry stays)."""
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, got {parallel}")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="musiclab-full-"))
    log(f"full mode: {len(paths)} notebook(s), {parallel} at a time, in {workdir}")
    end = None if max_total_seconds is None else time.monotonic() + max_total_seconds

    def run(path):
        limit = max_seconds
        if end is not None:
            left = end - time.monotonic()
            if left <= 0:
                return None
            limit = left if limit is None else min(limit, left)
        return run_full_notebook(path, workdir, timeout, limit)

    done = {}
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        running = {pool.submit(run, p): Path(p).stem for p in paths}
        for future in concurrent.futures.as_completed(running):
            name, entry = running[future], future.result()
            if entry is None:
                log(f"{name}: not started, --max-total-seconds reached")
                continue
            done[name] = entry
            merge_results(results_file, {name: entry})
            log(f"{name}: {entry['status']} in {entry['seconds']:.0f} s"
                + (f" ({entry['error']})" if entry["error"] else ""))
    return dict(sorted(done.items()))


def rates_entry(rows, device) -> dict:
    """What the results file keeps of one device's core-step rates."""
    info = results.kernel_info()
    return {"hardware": info["hardware"] if torch.device(device).type == info["device"] else str(device),
            "torch": torch.__version__, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "commit": git_commit(), "rows": rows}


def results_table(entries) -> str:
    """The Markdown table of full-mode runs: one row per notebook."""
    rows = []
    for name, e in entries.items():
        memory = "-" if e.get("peak_gpu_memory_gib") is None else f"{e['peak_gpu_memory_gib']:.2f} GiB"
        metrics = "; ".join(f"{k} {results.fmt(v)}" for k, v in e.get("metrics", {}).items()) or "-"
        status = e["status"] if e["status"] == "passed" else f"failed: {e['error']}"
        device = results.device_label(e)
        rows.append([name, status, f"{e['seconds'] / 60:.1f} min", f"{device} ({e['hardware']})", e["torch"], memory,
                     e["date"], e["commit"], metrics])
    return markdown_table(["notebook", "status", "wall time", "device", "torch", "peak GPU memory", "date",
                           "commit", "headline numbers"], rows)


def rates_table(rates, columns=(("cpu", "CPU"), ("cuda", "GPU")), missing="not measured") -> str:
    """The Markdown table of core-step rates, one column per device kind (``missing`` where a
    device has no measurement), rows in the order the first measured device gave them."""
    measured = [rates[k] for k, _ in columns if k in rates]
    if not measured:
        return "no rates measured yet"
    key = lambda r: (r["what"], r["size"])
    by_device = {k: {key(r): r for r in rates[k]["rows"]} for k, _ in columns if k in rates}
    header = ["step", "size", "unit"] + [f"{title} ({rates[k]['hardware']}, torch {rates[k]['torch']}, "
                                         f"{rates[k]['date']}, commit {rates[k]['commit']})" if k in rates
                                         else title for k, title in columns]
    order = list(dict.fromkeys(key(r) for m in measured for r in m["rows"]))
    rows = []
    for what, size in order:
        unit = next(d[(what, size)]["unit"] for d in by_device.values() if (what, size) in d)
        cells = [fmt_rate(by_device[k][(what, size)]["rate"]) if k in by_device and (what, size) in by_device[k]
                 else missing for k, _ in columns]
        rows.append([what, size, unit] + cells)
    return markdown_table(header, rows)


def replace_block(text: str, name: str, block: str) -> str:
    """``text`` with the part between ``<!-- bench:name -->`` and ``<!-- /bench:name -->`` replaced
    by ``block`` (the markers stay); ValueError when the markers are missing."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    if begin not in text or end not in text:
        raise ValueError(f"the markers {begin} ... {end} are missing")
    head, rest = text.split(begin, 1)
    return head + begin + "\n" + block.strip() + "\n" + end + rest.split(end, 1)[1]


def markdown_table(header, rows) -> str:
    """A Markdown table from a header list and rows of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.2f}"


def core_report(dev, sizes, n_steps, thread_counts) -> tuple:
    """(rows, Markdown table) of the core steps on ``dev``, checked finite and positive."""
    core = [r for t in thread_counts for r in core_benchmarks(dev, sizes, n_steps, t)]
    for r in core:
        if not (math.isfinite(r["rate"]) and r["rate"] > 0):
            raise RuntimeError(f"bad rate for {r['what']}: {r['rate']}")
    return core, "Core training steps (forward + backward + update):\n\n" + markdown_table(
        ["step", "size", "torch threads", "rate", "unit"],
        [[r["what"], r["size"], r["threads"], fmt_rate(r["rate"]), r["unit"]] for r in core])


SAMPLERS = {"04_rnn_melody.pt": ("tune LSTM (04)", TuneLSTM, sample_tunes),
            "10_music_transformer.pt": ("music GPT (10)", GPT, lambda model, vocab, n, **kw: sample_gpt(model, vocab, n=n, **kw))}


def sampling_rows(checkpoints, n: int = 50, max_len: int = 800) -> list:
    """Rows ``{"model", "free", "constrained", "ratio", "token_ratio"}``: tunes per second drawn by the
    models whose checkpoints (04's LSTM, 10's GPT) are in the folder ``checkpoints``, freely and under
    the grammar mask (``TuneGrammar``, issue 24: constrained should cost at most twice free), ``n``
    tunes side by side, on the CPU; "ratio" is free over constrained tunes per second, "token_ratio"
    the same in tokens per second (constrained tunes are longer: the grammar closes them). Models
    without a checkpoint are left out."""
    rows = []
    for name, (label, cls, sample) in SAMPLERS.items():
        path = Path(checkpoints) / name
        if not path.exists():
            continue
        model, meta = load_model(path, cls)
        tunes, tokens = {}, {}
        for how, constrain in (("free", False), ("constrained", TuneGrammar(meta["vocab"], max_len=max_len))):
            start = time.perf_counter()
            drawn = sample(model, meta["vocab"], n, seed=0, max_len=max_len, constrain=constrain)
            seconds = time.perf_counter() - start
            tunes[how], tokens[how] = n / seconds, sum(map(len, drawn)) / seconds
        rows.append({"model": label, **tunes, "ratio": tunes["free"] / tunes["constrained"],
                     "token_ratio": tokens["free"] / tokens["constrained"]})
    return rows


def sampling_report(checkpoints, n: int = 50) -> str:
    """A Markdown table of ``sampling_rows`` (or a line saying that no checkpoint was found)."""
    rows = sampling_rows(checkpoints, n)
    if not rows:
        return f"Sampling speed: no checkpoint of 04 or 10 in {checkpoints} (run those notebooks first)."
    return f"Sampling speed on the CPU ({n} tunes side by side, tunes per second):\n\n" + markdown_table(
        ["model", "free", "constrained", "constrained costs (x free) per tune", "per token"],
        [[r["model"], f"{r['free']:.2f}", f"{r['constrained']:.2f}", f"{r['ratio']:.2f}", f"{r['token_ratio']:.2f}"]
         for r in rows])


def check_args(args) -> None:
    """ValueError naming the first option out of range, before anything runs."""
    check_counts(**{"--parallel": args.parallel, "--steps": args.steps, "--timeout": args.timeout})
    for name in ("max_seconds", "max_total_seconds"):
        if getattr(args, name) is not None:
            check_positive("--" + name.replace("_", "-"), getattr(args, name))
    threads = args.threads.split(",") if args.threads else []
    if not all(t.strip().isdigit() and int(t) > 0 for t in threads):
        raise ValueError(f"--threads takes positive whole numbers separated by commas, got {args.threads!r}")
    unknown = [s.strip() for s in args.sizes.split(",") if s.strip() not in SIZES]
    if unknown:
        raise ValueError(f"--sizes: unknown size {unknown[0]!r}; choose from {list(SIZES)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--full", action="store_true", help="run the notebooks in full mode and record their results")
    parser.add_argument("--notebooks", nargs="*", default=None, help="notebooks to run, e.g. 02 05 (default: all)")
    parser.add_argument("--no-notebooks", action="store_true", help="time only the core training steps")
    parser.add_argument("--no-core", action="store_true", help="skip the core training steps")
    parser.add_argument("--folder", default=str(ROOT / "notebooks"), help="folder with the notebooks")
    parser.add_argument("--parallel", type=int, default=1, help="full mode: notebooks run at the same time")
    parser.add_argument("--results", default=str(RESULTS), help="full mode: the results file (JSON) to merge into")
    parser.add_argument("--readme", help="full mode: rewrite the tables between the bench markers of this file")
    parser.add_argument("--workdir", help="full mode: folder for the notebook copies (default: a new temporary one)")
    parser.add_argument("--max-seconds", type=float, help="full mode: stop a notebook after this many seconds")
    parser.add_argument("--max-total-seconds", type=float, help="full mode: stop the whole run after this many seconds")
    parser.add_argument("--out", help="also write the Markdown report to this file")
    parser.add_argument("--timeout", type=int, default=None, help="seconds allowed per notebook cell")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per core benchmark")
    parser.add_argument("--threads", default="", help="comma-separated CPU thread counts to compare, e.g. 1,2")
    parser.add_argument("--sizes", default="quick,full", help="comma-separated sizes: tiny, quick, full")
    parser.add_argument("--no-sampling", action="store_true", help="skip the sampling-speed table (free vs constrained)")
    args = parser.parse_args(argv)
    try:
        check_args(args)
    except ValueError as err:
        parser.error(str(err))          # usage and the message, exit status 2

    dev = best_device()
    parts = [f"Device: {dev} ({platform.processor() or platform.machine()}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads), {time.strftime('%Y-%m-%d')}"]
    paths = [] if args.no_notebooks else find_notebooks(args.folder, args.notebooks)
    if args.full:
        if paths:
            run_full(paths, args.workdir, args.parallel, args.results, args.timeout or 3600, args.max_seconds,
                     args.max_total_seconds)
    elif paths:
        rows = []
        # run copies in a temporary folder, in order: their checkpoints/ and files land there,
        # never over the checkpoints a learner trained in notebooks/
        work = Path(tempfile.mkdtemp(prefix="musiclab-bench-"))
        for path in paths:
            shutil.copy(path, work / path.name)
            try:
                rows.append([path.name, f"{notebook_seconds(work / path.name, args.timeout or 600):.0f}"])
            except Exception as err:  # report and continue: one broken notebook should not hide the others
                rows.append([path.name, f"failed ({type(err).__name__})"])
            print(f"{rows[-1][0]}: {rows[-1][1]}", flush=True)
        shutil.rmtree(work, ignore_errors=True)
        parts.append("Notebooks in quick mode (MUSICLAB_MODE=quick):\n\n" + markdown_table(["notebook", "seconds"], rows))
    if not args.no_core:
        thread_counts = [int(t) for t in args.threads.split(",")] if args.threads else [None]
        core, table = core_report(dev, [s.strip() for s in args.sizes.split(",")], args.steps, thread_counts)
        parts.append(table)
        if args.full:
            merge_results(args.results, rates={torch.device(dev).type: rates_entry(core, dev)})
    if not args.no_sampling:
        parts.append(sampling_report(Path(args.folder) / "checkpoints"))
    if args.full:
        data = read_file(args.results)
        ran = {p.stem for p in paths}
        parts.append(f"Full-mode runs in {args.results}:\n\n" + results_table(
            {k: v for k, v in data["notebooks"].items() if k in ran or not paths}))
        if args.readme:
            text = Path(args.readme).read_text(encoding="utf-8")
            text = replace_block(text, "full-results", results_table(data["notebooks"]))
            text = replace_block(text, "rates", rates_table(data["rates"]))
            atomic_write(args.readme, text)
    report = "\n\n".join(parts) + "\n"
    print(report)
    if args.out:
        atomic_write(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
