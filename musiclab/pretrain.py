"""The command line that pretrains a music GPT, on one device or one process per device under torchrun.

It reads music21's ABC corpora (:func:`_corpus_data`), builds a ``GPT`` with the music-GPT recipe
(``musiclab.models.music_gpt``) and trains it with ``train_gpt`` (``musiclab.train``: the one
step-based loop, with DistributedDataParallel, atomic checkpoints and resumption).

Command line (one device, or one process per device under torchrun)::

    python -m musiclab.pretrain --corpora oneills ryans essen --out checkpoints/gpt.pt
    python -m musiclab.pretrain --recipe folk-pretrained --resume      # a shipped model, again
    torchrun --nproc_per_node=2 -m musiclab.pretrain --quick --out /tmp/gpt.pt --resume
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.distributed as dist

from .config import is_quick, with_overrides
from .corpora import load_corpus
from .data import BOUNDARY, token_data
from .models.music_gpt import STYLE_TOKENS, gpt_config, music_gpt_recipe, style_token, train_from_recipe, tune_stream
from .models.transformer import weights_digest
from .splits import split_pieces
from .checks import check_counts, check_positive
from .course.pretrained import PRETRAINED, command_line, pretrained_recipe, train_pretrained


# ----------------------------------------------------------------------------- command line

def _corpus_data(corpora, limit, seed):
    """Pieces of the corpora (``limit`` each), a leak-free split of all of them together, and
    their tokens with a vocabulary from the training tunes plus the style tokens."""
    pieces = [p for name in corpora for p in load_corpus(name, limit=limit)]
    split = split_pieces(pieces, seed=seed)
    data = token_data(pieces, split.indices)
    styles = sorted({STYLE_TOKENS[p.corpus] for p in pieces})
    data.vocab = data.vocab + [s for s in styles if s not in data.vocab]
    prefixes = {name: [[style_token(pieces[i])] for i in split[name]] for name in ("train", "val", "test")}
    return pieces, split, data, prefixes


def _parser():
    parser = argparse.ArgumentParser(prog="python -m musiclab.pretrain", description=(
        "Pretrain a music GPT on ABC tunes of music21's corpora, on one device or one process per "
        "device under torchrun (DistributedDataParallel: NCCL on GPUs, gloo on CPUs). Checkpoints "
        "are written atomically by rank 0; --resume continues from the last one."))
    parser.add_argument("--recipe", choices=PRETRAINED, help=(
        "train one of the models that ship with the course by its recipe (musiclab.course.pretrained), "
        "checkpointing to WORKDIR/RECIPE.train.pt, and write its fp16 weights and provenance to --ship-to"))
    parser.add_argument("--workdir", default="checkpoints", help="with --recipe: the working checkpoint's folder")
    parser.add_argument("--ship-to", help="with --recipe: where the weights and provenance go (default: the repo's data/)")
    parser.add_argument("--corpora", nargs="+", default=["essen", "ryans", "oneills"],
                        choices=["essen", "oneills", "ryans"], help="ABC corpora to train on (default: all three)")
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT pieces of each corpus")
    parser.add_argument("--quick", action="store_true", help="quick-mode sizes (as MUSICLAB_MODE=quick)")
    parser.add_argument("--out", default="checkpoints/pretrain_gpt.pt", help="checkpoint path")
    parser.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    parser.add_argument("--steps", type=int, help="optimizer steps in all (default: the recipe's)")
    parser.add_argument("--stop-after", type=int, help="end this run after N steps, as an interrupt would")
    parser.add_argument("--save-every", type=int, help="write a checkpoint every N steps (default 100, or the recipe's)")
    parser.add_argument("--eval-every", type=int, help="validation loss every N steps (default: never, or the recipe's)")
    for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, dest=name)
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda, ... (default: cuda:LOCAL_RANK if there is a GPU, else cpu)")
    return parser


def _check_args(args, recipe):
    """ValueError naming the first option out of range (before any data is read or file written)."""
    check_counts(**{"--" + k.replace("_", "-"): getattr(args, k) for k in
                    ("steps", "stop_after", "limit", "n_layer", "n_head", "n_embd", "block_size", "batch_size")})
    check_counts(0, **{"--save-every": args.save_every, "--eval-every": args.eval_every, "--seed": args.seed})
    if args.lr is not None:
        check_positive("--lr", args.lr)
    gpt_config(recipe, vocab_size=1)


def _run_recipe(parser, args, argv) -> int:
    """``--recipe NAME``: ``train_pretrained`` of ``musiclab.course.pretrained``, the options given on the
    command line overriding single settings of the recipe (the provenance records the command)."""
    recipe = pretrained_recipe(args.recipe)
    overrides = {k: v for k, v in vars(args).items() if k in recipe and k != "seed" and v is not None}
    try:
        check_counts(**{"--" + k.replace("_", "-"): v for k, v in overrides.items() if isinstance(v, int)},
                     stop_after=args.stop_after)
    except ValueError as err:
        parser.error(str(err))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    provenance = train_pretrained(args.recipe, workdir=args.workdir, out=args.ship_to, resume=args.resume,
                          stop_after=args.stop_after, device=device, command=command_line(argv), **overrides)
    if provenance is None:
        print("stopped early; continue with --resume", flush=True)
    else:
        print(f"{args.recipe}: {provenance['steps']} steps, {provenance['tokens']:,} tokens in "
              f"{provenance['wall_seconds']:.0f} s on {provenance['device']}; validation {provenance['val_loss']:.4f}, "
              f"test {provenance['test_loss']:.4f} {provenance['loss_unit']}; sha256 {provenance['sha256'][:12]}", flush=True)
    return 0


def main(argv=None) -> int:
    """``python -m musiclab.pretrain``: see the module docstring and ``--help``. Options out of
    range end it with argparse's usage error (exit status 2) before anything is read or written."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.recipe:
        return _run_recipe(parser, args, sys.argv[1:] if argv is None else argv)
    args.save_every = 100 if args.save_every is None else args.save_every
    args.eval_every = 0 if args.eval_every is None else args.eval_every
    if args.quick:
        os.environ["MUSICLAB_MODE"] = "quick"
    recipe = with_overrides(music_gpt_recipe(), {k: v for k, v in vars(args).items() if k in music_gpt_recipe() and v is not None})
    recipe["eval_every"] = args.eval_every
    try:
        _check_args(args, recipe)
    except ValueError as err:
        parser.error(str(err))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if args.device:
        device = torch.device(args.device)
    else:
        device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    started_group = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        started_group = True
    rank = dist.get_rank() if dist.is_initialized() else 0
    try:
        t0 = time.time()
        pieces, split, data, prefixes = _corpus_data(args.corpora, args.limit, args.seed)
        index = {t: i for i, t in enumerate(data.vocab)}
        bos = index[BOUNDARY]
        streams = {name: tune_stream(data.ids(name), bos, [[index[t] for t in p] for p in prefixes[name]])
                   for name in ("train", "val")}
        if rank == 0:
            print(f"{len(pieces):,} pieces of {', '.join(args.corpora)}: {split}; "
                  f"{len(streams['train']):,} training tokens, vocabulary {len(data.vocab)}; "
                  f"{world} process{'es' if world > 1 else ''} on {device} ({time.time() - t0:.1f} s)", flush=True)
        meta = dict(vocab=data.vocab, corpora=list(args.corpora), limit=args.limit, split_seed=args.seed,
                    quick=is_quick(), recipe=recipe, world_size=world,
                    train_ids=[pieces[i].id for i in split.train], val_ids=[pieces[i].id for i in split.val],
                    test_ids=[pieces[i].id for i in split.test])
        model, history = train_from_recipe(recipe, len(data.vocab), streams["train"], streams["val"], seed=args.seed,
                                           device=device, desc="pretrain GPT", checkpoint=args.out,
                                           save_every=args.save_every, resume=args.resume,
                                           stop_after=args.stop_after, meta=meta)
        step = history["step"][-1] if history["step"] else 0
        val = f", val loss {history['val'][-1]:.4f}" if history["val"] else ""
        line = (f"rank {rank}: step {step} of {recipe['steps']}, train loss {history['train'][-1]:.4f}{val}, "
                f"weights {weights_digest(model)}")
        for turn in range(dist.get_world_size() if dist.is_initialized() else 1):
            if turn == rank:   # one process at a time, so that lines in a shared terminal never mix
                print(line, flush=True)
            if dist.is_initialized():
                dist.barrier()  # also: rank 0 has written the checkpoint before anyone leaves
    finally:
        if started_group:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
