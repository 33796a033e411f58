"""Data builders shared by the training notebooks and 08: one rule each, in one place.

* ``to_c`` / ``key_family``: transpose a piece to C major or A (or C) minor; church modes map to
  the major or minor key with the same third (notebooks 02, 05, 07, 08).
* ``piece_bars`` / ``bar_dataset``: whole bars of a piece as piano rolls, with one rule for pickups
  (notebooks 02, 07, 08).
* ``decode_bars``: the one rule from a model's cell probabilities to 0/1 bars (notebooks 02, 07, 08).
* ``chorale_beat_roll``: a chorale as one 88-key frame per beat, in C (notebooks 05, 08; the JSB
  protocol of Boulanger-Lewandowski et al. 2012).
* ``TokenData`` / ``token_data`` / ``tune_batches``: ABC token datasets with a vocabulary from the
  training tunes and teacher-forcing batches (notebooks 04, 08).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from .abc import build_vocab, encode_tokens, tokenize_abc
from .corpora import load_corpus
from .music import bars, key_shift, piano_roll, transpose

__all__ = ["pieces_by_id", "checkpoint_split", "MODE_FAMILY", "key_family", "to_c", "bar_quarters", "piece_bars", "bar_dataset",
           "decode_bars", "chorale_beat_roll", "TokenData", "token_data", "tune_batches", "BOUNDARY", "UNK", "PAD_TARGET"]

MODE_FAMILY = {"major": "major", "ionian": "major", "mixolydian": "major", "lydian": "major",
               "minor": "minor", "aeolian": "minor", "dorian": "minor", "phrygian": "minor",
               "locrian": "minor"}   # a mode goes with the major or minor key that has its third


def pieces_by_id(ids) -> list:
    """The pieces named by ``Piece.id`` strings ("oneills:17"), in the order given: how a notebook
    gets exactly the pieces a checkpoint trained on (``train_ids``) or held out.
    Notebooks: 10."""
    corpora = {}
    pieces = []
    for piece_id in ids:
        name, _, index = str(piece_id).partition(":")
        if name not in corpora:
            corpora[name] = load_corpus(name)
        if not index.isdigit() or int(index) >= len(corpora[name]):
            raise ValueError(f"no piece {piece_id!r}: {name} has {len(corpora[name])} pieces")
        pieces.append(corpora[name][int(index)])
    return pieces


def checkpoint_split(meta) -> tuple[list, dict]:
    """The pieces a checkpoint's meta names (its train, val and test ids, in that order) and the
    split as index arrays into them, ready for ``token_data`` or ``split.take``-style use (08).
    Notebooks: 08."""
    sides = [side for side in ("train", "val", "test") if f"{side}_ids" in meta]
    pieces = pieces_by_id([i for side in sides for i in meta[f"{side}_ids"]])
    ends = np.cumsum([len(meta[f"{side}_ids"]) for side in sides])
    return pieces, {side: np.arange(end - len(meta[f"{side}_ids"]), end) for side, end in zip(sides, ends)}


def key_family(key: str) -> str:
    """"A dorian" -> "A minor", "G mixolydian" -> "G major"; an unknown mode raises ValueError."""
    parts = key.split()
    if len(parts) != 2 or parts[1] not in MODE_FAMILY:
        raise ValueError(f"key must be 'tonic mode' with mode in {sorted(MODE_FAMILY)}, got {key!r}")
    return f"{parts[0]} {MODE_FAMILY[parts[1]]}"


def to_c(piece, minor_to: str = "A") -> np.ndarray:
    """The piece's notes moved to C major, or to ``minor_to`` minor (A; "C" for chorales in 05).
    Notebooks: 02, 05, 07."""
    return transpose(piece.notes, key_shift(key_family(piece.key), minor_to=minor_to))


def bar_quarters(meter: str) -> float | None:
    """Length of a bar in quarter notes: "4/4" -> 4.0, "6/8" -> 3.0; None for free meter.
    Notebooks: 00, 02, 07."""
    try:
        beats, unit = meter.split("/")
        return int(beats) * 4 / int(unit)
    except ValueError:
        return None


def piece_bars(piece, steps_per_quarter: int = 4, low: int = 36, high: int = 96,
               drop_empty: bool = True) -> np.ndarray:
    """The whole bars of a piece in C / A minor: (n_bars, steps_per_bar, high - low), 0/1.

    Bar lines fall on multiples of the bar length (``Piece`` counts time from the first
    downbeat). The pickup rule: when the first note starts after time 0, bar 0 holds only the
    pickup, so it is dropped; a partial last bar is dropped too. Notes outside [low, high) are
    dropped. Empty bars (rests) are dropped unless ``drop_empty=False``.
    Notebooks: 07.
    """
    quarters = bar_quarters(piece.meter)
    if quarters is None or quarters * steps_per_quarter % 1:
        raise ValueError(f"{piece.name!r}: meter {piece.meter!r} has no whole number of steps per bar")
    roll = piano_roll(to_c(piece), steps_per_quarter=steps_per_quarter, low=low, high=high)
    b = bars(roll, int(quarters * steps_per_quarter))
    if len(piece.notes) and piece.notes[:, 0].min() > 0:
        b = b[1:]
    return b[b.any(axis=(1, 2))] if drop_empty else b


def bar_dataset(pieces, quarters: float = 4.0, **bar_options) -> tuple[np.ndarray, np.ndarray]:
    """Bars of every piece whose bar is ``quarters`` long (4/4 and 2/2 by default), stacked:
    (bars (n, steps, keys) float32, index into ``pieces`` of each bar's piece).
    Notebooks: 02, 07, 08."""
    per_piece = [(i, piece_bars(p, **bar_options)) for i, p in enumerate(pieces)
                 if bar_quarters(p.meter) == quarters]
    if not per_piece:
        raise ValueError(f"no piece has bars of {quarters} quarter notes")
    stack = np.concatenate([b for _, b in per_piece]).astype(np.float32)
    owner = np.concatenate([np.full(len(b), i) for i, b in per_piece])
    return stack, owner


def decode_bars(probs, rule: str = "threshold", threshold: float = 0.5, seed: int = 0,
                melody: bool = False) -> np.ndarray:
    """The one rule from a model's cell probabilities to a 0/1 bar (notebooks 07, 08, 02).

    ``rule="threshold"`` (MuseGAN's hard thresholding, what 07 reports): a cell is on when its
    probability is above ``threshold``. ``rule="sample"``: each cell is drawn on with its
    probability (Bernoulli, seeded). ``melody=True`` decodes a melody, at most one key per time
    step (the last axis holds the keys): only the most probable key of each step can sound, kept
    when it passes the rule (above ``threshold``, or its Bernoulli draw); the other keys of the step
    are off. A decoding choice, not something the model learned (07's melody styles; chorales
    keep their chords). Returns float32 numpy of the same shape.
    Notebooks: 02, 08."""
    p = torch.as_tensor(probs.detach().cpu() if torch.is_tensor(probs) else np.asarray(probs),
                        dtype=torch.float32)
    if p.numel() and (p.min() < 0 or p.max() > 1 or not torch.isfinite(p).all()):
        raise ValueError("decode_bars expects probabilities in [0, 1]")
    if rule not in ("threshold", "sample"):
        raise ValueError(f"rule must be 'threshold' or 'sample', got {rule!r}")
    if melody and p.numel():
        top, key = p.max(dim=-1, keepdim=True)              # the most probable key of each step
        p = torch.zeros_like(p).scatter(-1, key, top)      # every other key of the step: probability 0
    if rule == "threshold":
        return (p > threshold).float().numpy()
    return torch.bernoulli(p, generator=torch.Generator().manual_seed(seed)).numpy()


def chorale_beat_roll(piece) -> np.ndarray:
    """(T, 88) roll in C major / C minor, one frame per beat: the keys sounding on each beat.

    The notes start on the chorale's first sounding beat; a 16th-note roll keeps every fourth
    frame, so passing eighths between beats are not seen (Boulanger-Lewandowski et al. 2012).
    Notebooks 05 and 08. A piece without notes raises ValueError naming it.
    Notebooks: 05, 08.
    """
    if len(piece.notes) == 0:
        raise ValueError(f"{piece.name!r} has no notes: a beat roll needs at least one")
    notes = to_c(piece, minor_to="C")
    notes[:, :2] -= np.floor(notes[:, 0].min())
    return piano_roll(notes, steps_per_quarter=4)[::4]


BOUNDARY, UNK, PAD_TARGET = "<s>", "<unk>", -100


@dataclass
class TokenData:
    """ABC token lists of a split with <unk> for rare tokens, and their vocabulary (04, 08)."""
    vocab: list
    train: list
    val: list
    test: list

    def ids(self, split: str) -> list:
        """The token ids of every tune of ``split`` ("train", "val" or "test")."""
        return [encode_tokens(t, self.vocab) for t in getattr(self, split)]


def token_data(pieces, split: dict, min_count: int = 2, vocab=None) -> TokenData:
    """Tokenise each piece's ABC (``tokenize_abc``) and map tokens seen fewer than ``min_count``
    times in the training tunes to <unk>; ``vocab`` (e.g. from a checkpoint) overrides the count.
    ``split`` maps "train"/"val"/"test" to indices into ``pieces``.
    Notebooks: 04, 08, 10."""
    tokens = {name: [tokenize_abc(pieces[i].abc) for i in split[name]] for name in ("train", "val", "test")}
    if vocab is None:
        counts = Counter(tok for t in tokens["train"] for tok in t)
        vocab = build_vocab([[tok for tok, c in counts.items() if c >= min_count]], specials=(BOUNDARY, UNK))
    known = set(vocab)
    unk = {name: [[tok if tok in known else UNK for tok in t] for t in lists] for name, lists in tokens.items()}
    return TokenData(vocab=list(vocab), **unk)


def tune_batches(tunes_ids, batch_size: int, bos: int, rng=None) -> list:
    """Teacher-forcing batches (x, y) of tunes of similar length: x = <s> + tune, y = tune + <s>,
    padded (targets with PAD_TARGET, which the loss ignores). Shuffled when ``rng`` is given.
    Notebooks: 04."""
    lengths = np.array([len(t) for t in tunes_ids], dtype=float)
    if rng is not None:
        lengths += rng.uniform(0, 20, len(lengths))   # vary which tunes share a batch
    order = np.argsort(lengths, kind="stable")
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(chunks)
    batches = []
    for chunk in chunks:
        group = [tunes_ids[i] for i in chunk]
        width = max(len(t) for t in group) + 1
        x = torch.full((len(group), width), bos)
        y = torch.full((len(group), width), PAD_TARGET)
        for b, ids in enumerate(group):
            x[b, 1:len(ids) + 1] = torch.tensor(ids, dtype=torch.long)
            y[b, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            y[b, len(ids)] = bos          # predict the end of the tune
        batches.append((x, y))
    return batches
