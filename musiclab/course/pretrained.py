"""The two models the course trains once and ships: a music GPT and a joint chorale GPT.

A learner without a GPU trains models for a minute in the notebooks. These two were trained for
longer, by a recipe anyone can run again (``python -m musiclab.pretrain --recipe NAME``), and ship
inside the package as fp16 weights with a provenance file beside each (command, commit, data
ids, steps, tokens, device, wall time, validation and test losses, sha256), so that every
learner can load, sample and evaluate them in seconds on a CPU (Magenta shipped its trained
bundles for the same reason).

* ``folk-pretrained``: the package ``GPT`` on the training tunes of Essen + O'Neill's + Ryan's,
  each after its style token (``<german>``, ``<irish>``), with notebook 10's leak-free sides
  (``folk_pretraining_split``). Notebook 10, section 12.
* ``chorale-pretrained``: the ``ChoraleGPT`` of notebook 11 on 05's training chorales,
  transposed by up to 5 semitones either way as 11's full recipe does. Notebooks 11 and 08.

Functions: :func:`pretrained_recipe` (the sizes and settings), :func:`pretrained_data` (the
streams and held-out pieces), :func:`train_pretrained` (train, evaluate, write the shipped files),
:func:`load_pretrained` (hash checked, ``weights_only=True``) and :func:`heldout_loss` (the loss
the provenance records, recomputed).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..config import seed_everything
from ..corpora import _package_data_dir, _repo_data_dir
from ..data import BOUNDARY, chorale_beat_roll, pieces_by_id, token_data
from ..files import atomic_write
from ..models.chorale_gpt import CHORALE_BOS, CHORALE_VOCAB, ChoraleGPT, chorale_gpt_nll, frame_tokens, transpose_roll
from ..models.music_gpt import STYLE_TOKENS, gpt_config, style_token, token_nll, tune_stream
from ..models.transformer import GPT
from ..train import load_model, train_gpt
from .bench import git_commit
from .recipes import chorale_data, folk_pretraining_split

__all__ = ["PRETRAINED", "pretrained_recipe", "pretrained_data", "train_pretrained", "ship_pretrained", "pretrained_path", "load_pretrained",
           "heldout_loss", "pretrained_summary", "QUICK_HELDOUT"]

QUICK_HELDOUT = 100     # held-out pieces a quick check recomputes (a fixed random subset of the side)


def pretrained_recipe(name: str) -> dict:
    """Sizes and settings of a shipped model, sized for 2 CPU cores: both trained at once, one
    torch thread each, for about an hour (1,900 steps of 32 windows of 256 tokens, 15.6 million
    tokens). Both are 4 layers, 4 heads and 192 channels with dropout 0.1, measured first for about
    100-150 s each (2 threads): on the folk tunes 4 x 4 x 192 was level with 4 x 4 x 128 at equal
    time (2.41 against 2.42 nats per token on the Irish validation tunes) and still falling; on the
    chorales it was ahead (9.5 against 9.7 nats per frame); 6 x 6 x 288 read 2.6 times fewer tokens
    a second, too few for an hour. The closing note of issue 27 has the numbers.
    ``folk-pretrained`` reads 256 tokens (two or three strains of a tune) and, with each token, how
    far into its bar it is (``bar_positions``: ``GPTConfig.bar_vocab``; without it a first run's free
    bars added up only about 40% of the time, notebook 10 section 12); ``chorale-pretrained``
    256 tokens too (about 50 beat frames, a dozen bars), its training chorales also transposed by
    up to 5 semitones either way. AdamW, warmup, cosine; the weights of the best validation loss
    are kept.
    Notebooks: 10."""
    if name not in _RECIPES:
        raise ValueError(f"no pretrained recipe {name!r}; there are {list(_RECIPES)}")
    return dict(_RECIPES[name], name=name)


_COMMON = dict(n_layer=4, n_head=4, n_embd=192, dropout=0.1, positions="learned", weight_decay=0.1,
               block_size=256, batch_size=32, lr=2e-3, steps=1900, warmup=100, eval_every=250,
               eval_tokens=60_000, save_every=100, seed=0, threads=1)
_RECIPES = {"folk-pretrained": dict(_COMMON, model="GPT", bar_positions=True),
            "chorale-pretrained": dict(_COMMON, model="ChoraleGPT", transpose=5)}
PRETRAINED = tuple(_RECIPES)


def _model_class(recipe: dict):
    """The package class a recipe trains: ``GPT`` or ``ChoraleGPT``."""
    return ChoraleGPT if recipe["model"] == "ChoraleGPT" else GPT


# ----------------------------------------------------------------------------- data

def _folk_ids(pieces, vocab) -> list:
    """Each tune's token ids in ``vocab`` (``token_data``'s tokens: <unk> for any token outside it)."""
    return token_data(pieces, {"train": [], "val": [], "test": range(len(pieces))}, vocab=vocab).ids("test")


def _folk_stream(pieces, ids, vocab) -> torch.Tensor:
    """<s> <style> tune <s> <style> tune ... <s> of ``pieces`` (their token ``ids`` in ``vocab``)."""
    index = {t: i for i, t in enumerate(vocab)}
    return tune_stream(ids, index[BOUNDARY], [[index[style_token(p)]] for p in pieces])


def _chorale_stream(rolls, transpose: int = 0) -> torch.Tensor:
    """<s> chorale <s> ... of beat rolls serialised by ``frame_tokens``, each also transposed by
    every shift up to ``transpose`` semitones either way that keeps its notes on the 88 keys."""
    shifted = [transpose_roll(r, s) for r in rolls for s in range(-transpose, transpose + 1)]
    return tune_stream([frame_tokens(r) for r in shifted if r is not None], CHORALE_BOS)


def pretrained_data(name: str, seed: int = 0) -> dict:
    """What a shipped model trains on: {"ids": {side: piece ids}, "vocab": tokens (folk) or None,
    "train": stream, "val": stream}. Folk: ``folk_pretraining_split`` (Essen + O'Neill's + Ryan's,
    04's sides for the Irish tunes), a vocabulary of the tokens seen at least twice in its training
    tunes plus the style tokens. Chorales: ``chorale_data`` (05's split by melody), the training
    rolls transposed. Validation streams are never transposed."""
    recipe = pretrained_recipe(name)
    if name == "folk-pretrained":
        pieces, split = folk_pretraining_split(seed)
        sides = split.indices
        data = token_data(pieces, sides, min_count=2)
        vocab = data.vocab + sorted(set(STYLE_TOKENS[p.corpus] for p in pieces) - set(data.vocab))   # ids unchanged
        taken = {side: [pieces[i] for i in sides[side]] for side in sides}
        return dict(ids={side: [p.id for p in taken[side]] for side in taken}, vocab=vocab,
                    **{side: _folk_stream(taken[side], data.ids(side), vocab) for side in ("train", "val")})
    pieces, split, rolls = chorale_data(seed)
    return dict(ids={side: [pieces[i].id for i in split[side]] for side in ("train", "val", "test")}, vocab=None,
                train=_chorale_stream(rolls["train"], recipe["transpose"]), val=_chorale_stream(rolls["val"]))


def heldout_subset(ids, n: int = QUICK_HELDOUT, seed: int = 0) -> list:
    """A fixed random subset of ``n`` held-out ids (all of them when there are fewer), in their order."""
    if len(ids) <= n:
        return list(ids)
    keep = np.sort(np.random.default_rng(seed).choice(len(ids), n, replace=False))
    return [ids[i] for i in keep]


def heldout_loss(model, provenance: dict, side: str = "val", quick: bool = False) -> float:
    """The held-out loss a provenance file records, recomputed from its piece ids: folk, the mean
    NLL per predicted token of whole tunes read after <s> <style> (``token_nll``); chorales, the
    mean NLL per frame (``chorale_gpt_nll``, 05's frames). ``quick``: the fixed subset of
    ``QUICK_HELDOUT`` pieces whose value is recorded as ``{side}_loss_quick``.
    Notebooks: 10."""
    ids = provenance["ids"][side]
    pieces = pieces_by_id(heldout_subset(ids) if quick else ids)
    if provenance["recipe"]["model"] == "ChoraleGPT":
        return chorale_gpt_nll(model, [chorale_beat_roll(p) for p in pieces])[0]
    vocab = provenance["vocab"]
    index = {t: i for i, t in enumerate(vocab)}
    total, count = 0.0, 0
    for style in sorted({style_token(p) for p in pieces}):
        group = [p for p in pieces if style_token(p) == style]
        nll = np.concatenate(token_nll(model, _folk_ids(group, vocab), index[BOUNDARY], prefix=[index[style]]))
        total, count = total + float(nll.sum()), count + len(nll)
    return total / count


# ----------------------------------------------------------------------------- files

def pretrained_path(name: str, folder=None) -> Path:
    """The shipped weights of ``name``: <folder>/<name>.pt, by default in the repo's data/ (a
    source checkout) or the installed package's data folder. Its provenance is the .json beside it."""
    pretrained_recipe(name)
    if folder is None:
        folders = [d for d in (_repo_data_dir(), _package_data_dir()) if d is not None]
        found = [d for d in folders if (d / f"{name}.pt").exists()]
        if not found:
            raise ValueError(f"no shipped {name}.pt in {[str(d) for d in folders]}: run "
                             f"python -m musiclab.pretrain --recipe {name}")
        folder = found[0]
    return Path(folder) / f"{name}.pt"


def sha256_of(path) -> str:
    """The sha256 of a file's bytes, as hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_pretrained(name: str, device="cpu", folder=None):
    """(model, provenance) of a shipped model: the file's sha256 checked against its provenance,
    the weights loaded with ``weights_only=True`` (``load_model``) and turned from fp16 into
    float32, in eval mode on ``device``. ValueError when the file is missing or its hash differs.
    Notebooks: 08, 10, 11."""
    path = pretrained_path(name, folder)
    provenance = json.loads(path.with_suffix(".json").read_text())
    digest = sha256_of(path)
    if digest != provenance["sha256"]:
        raise ValueError(f"{path}: sha256 {digest[:12]}... differs from its provenance's {provenance['sha256'][:12]}...")
    model, _ = load_model(path, _model_class(provenance["recipe"]), "cpu")
    return model.float().to(device).eval(), provenance


def pretrained_summary(provenance: dict) -> str:
    """How a shipped model was made, in a few lines from its provenance: size, command, commit,
    data, steps, tokens, hardware, wall time and its held-out losses.
    Notebooks: 08, 10, 11."""
    p, c = provenance, provenance["config"]
    ids = {side: len(v) for side, v in p["ids"].items()}
    return (f"{p['name']}: {p['recipe']['model']} {c['n_layer']} layers x {c['n_head']} heads x {c['n_embd']} channels, "
            f"{p['params']:,} parameters, a {c['block_size']}-token context\n"
            f"made by `{p['command']}`" + (f" (resumed {len(p['resumed_with'])} times)" if p["resumed_with"] else "") +
            f" at commit {p['commit']}, {p['date']}\n"
            f"{ids['train']:,} training pieces (a stream of {p['train_stream_tokens']:,} tokens"
            + (f", their transpositions up to {p['recipe']['transpose']} semitones included" if p["recipe"].get("transpose") else "")
            + f"), {ids['val']:,} validation, "
            f"{ids['test']:,} test; {p['steps']:,} steps, {p['tokens']:,} tokens read "
            f"({p['tokens'] / p['train_stream_tokens']:.1f} passes)\n"
            f"on {p['device']} ({p['hardware']}, torch {p['torch']}) in {p['wall_seconds'] / 60:.0f} minutes\n"
            f"held-out loss of the shipped fp16 weights: validation {p['val_loss']:.3f}, test {p['test_loss']:.3f} "
            f"{p['loss_unit']}")


# ----------------------------------------------------------------------------- training

def _fp16_copy(model):
    """A float32 model whose weights went through fp16 (the shipped numbers) and its fp16 state."""
    half = {k: v.detach().cpu().half() for k, v in model.state_dict().items()}
    copy = type(model)(model.config)
    copy.load_state_dict(half)
    return copy.float().eval(), half


def train_pretrained(name: str, workdir="checkpoints", out=None, resume: bool = False, stop_after: int | None = None,
             device="cpu", command: str | None = None, **overrides) -> dict | None:
    """Train a shipped model by its recipe (``overrides`` change single settings, as a test does),
    resumably: the working checkpoint <workdir>/<name>.train.pt is written every ``save_every``
    steps; ``resume`` continues from it. When the last step is done, :func:`ship_pretrained` writes the
    weights and their provenance to ``out`` (default: the repo's data/). Returns the provenance,
    or None when ``stop_after`` ended the run early. The commit recorded is the one the run started
    from (a resumed run keeps the first run's)."""
    recipe = {**pretrained_recipe(name), **overrides}
    torch.set_num_threads(recipe["threads"])
    data = pretrained_data(name, recipe["seed"])
    vocab_size = len(data["vocab"]) if data["vocab"] else CHORALE_VOCAB
    work = Path(workdir) / f"{name}.train.pt"
    work.parent.mkdir(parents=True, exist_ok=True)
    log = work.with_suffix(".runs.json")    # the commit, and the wall time and command of every run so far
    fresh = {"seconds": 0.0, "commands": [], "commit": git_commit()}
    runs = json.loads(log.read_text()) if resume and log.exists() and work.exists() else fresh
    seed_everything(recipe["seed"])
    model = _model_class(recipe)(gpt_config(recipe, vocab_size, data["vocab"]))
    t0 = time.time()
    try:
        history = train_gpt(model, data["train"], recipe["steps"], recipe["batch_size"], recipe["lr"],
                            warmup=recipe["warmup"], weight_decay=recipe["weight_decay"], val_stream=data["val"],
                            eval_every=recipe["eval_every"], eval_tokens=recipe["eval_tokens"], keep_best=True,
                            checkpoint=work, save_every=recipe["save_every"], resume=resume, stop_after=stop_after,
                            seed=recipe["seed"], device=device, desc=name, meta=dict(recipe=recipe))
    finally:
        runs = dict(runs, seconds=runs["seconds"] + time.time() - t0,
                    commands=runs["commands"] + [command or f"python -m musiclab.pretrain --recipe {name}"])
        atomic_write(log, json.dumps(runs))
    if history["step"][-1] < recipe["steps"]:
        return None
    return ship_pretrained(name, model.cpu().eval(), history, recipe, data, runs, device, out)


def ship_pretrained(name: str, model, history: dict, recipe: dict, data: dict, runs: dict, device, out=None) -> dict:
    """Write a trained model as the course ships it: its weights rounded to fp16, their validation
    and test losses measured (:func:`heldout_loss`, all pieces and the quick subset; the validation
    loss also before rounding), then <out>/<name>.pt and <name>.json (the provenance, with the
    file's sha256) written atomically. Returns the provenance."""
    shipped, half = _fp16_copy(model)
    provenance = dict(
        name=name, command=runs["commands"][0], resumed_with=runs["commands"][1:], commit=runs["commit"],
        recipe=recipe, config=dict(model.config), params=model.num_params(), vocab=data["vocab"], ids=data["ids"],
        steps=recipe["steps"], tokens=int(history["tokens"]), train_stream_tokens=len(data["train"]),
        device=str(device), hardware=f"{platform.machine()}, {os.cpu_count()} cores, {recipe['threads']} torch thread(s)",
        torch=torch.__version__, python=sys.version.split()[0], wall_seconds=round(runs["seconds"], 1),
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        best_val_stream_loss=min(history["val"]), val_curve=dict(step=history["val_step"], loss=history["val"]),
        loss_unit="nats per frame" if isinstance(model, ChoraleGPT) else "nats per token")
    for side in ("val", "test"):
        provenance[f"{side}_loss"] = heldout_loss(shipped, provenance, side)
        provenance[f"{side}_loss_quick"] = heldout_loss(shipped, provenance, side, quick=True)
    provenance["val_loss_fp32"] = heldout_loss(model, provenance, "val")
    buffer = io.BytesIO()
    torch.save({"model": half, "meta": {"config": dict(model.config), "class": type(model).__name__, "name": name,
                                        "vocab": data["vocab"]}}, buffer)
    folder = Path(out) if out is not None else (_repo_data_dir() or Path("."))
    folder.mkdir(parents=True, exist_ok=True)
    weights = buffer.getvalue()
    provenance.update(sha256=hashlib.sha256(weights).hexdigest(), bytes=len(weights))
    atomic_write(folder / f"{name}.pt", weights)
    atomic_write(folder / f"{name}.json", json.dumps(provenance, indent=1) + "\n")
    return provenance


def command_line(argv) -> str:
    """The command as typed, for the provenance."""
    return "python -m musiclab.pretrain " + " ".join(shlex.quote(a) for a in argv)
