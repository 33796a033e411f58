"""How a tune becomes tokens: miditok's REMI, TSD, CPWord and BPE beside folk-rnn's ABC tokens (notebook 11).

* The tunes are notebook 04's (O'Neill's + Ryan's, the leak-free split, the quick-mode subset):
  :func:`study_tunes`. A tune's notes become a ``symusic.Score`` (:func:`notes_to_score`) that
  miditok tokenizes (Fradet et al. 2021, miditok) with one fixed :func:`tokenizer_config`:
  the tunes' pitch range, 24 ticks per quarter note (sixteenths, eighth triplets and 32nds all
  fall on it), no velocities or tempos, and the tune's meter as a time signature, so REMI's and
  CPWord's bars are the real bars (``time_signatures=False``: a 4/4 grid whatever the meter). :func:`on_grid` says whether a tune fits that grid exactly, :func:`misfit`
  which note does not (``encode`` refuses such a note rather than round or drop it).
* :class:`NoteTokenizer` makes every tokenization a plain list of ids, so one GPT recipe models
  them all: REMI (Huang & Yang 2020: Bar, Position, Pitch, Duration), TSD (TimeShift, Pitch,
  Duration), CPWord (Hsiao et al. 2021) *flattened* (each compound token is written as its
  fields, one token per field that is not padding: ``Family_Note Pitch_67 Duration_0.12.24``),
  and BPE (Sennrich et al. 2016) learned on REMI's training tunes (:func:`make_tokenizer`,
  names "REMI", "TSD", "CPWord", "REMI+BPE600"). :func:`round_trip_failures` checks
  tokens -> notes gives back every note.
* :func:`tokenizer_study`: the same small GPT (``musiclab.models.transformer.GPT``, trained by
  ``musiclab.train.train_gpt``) on each tokenization, and its test **bits per note**
  (:func:`bits_per_note`): total NLL of the test tunes over their number of notes, the unit that
  does not depend on how many tokens a tokenizer spends on a note.
"""
from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path

import numpy as np

from .config import by_mode, with_overrides
from .data import BOUNDARY, UNK, token_data
from .evaluation import bootstrap_interval
from .models.music_gpt import token_nll, train_from_recipe, tune_stream
from .course.recipes import tune_split

STUDY_QUICK_SIZES = {"train": 400, "val": 40, "test": 40}   # 11's tunes per side in quick mode (a subset of 04's)

__all__ = ["TICKS_PER_QUARTER", "PITCH_RANGE", "BEAT_RES", "BPE_SIZES", "tokenizer_config", "notes_to_score",
           "score_to_notes", "misfit", "on_grid", "NoteTokenizer", "make_tokenizer", "round_trip_failures",
           "tokens_per_note", "bits_per_note", "study_tunes", "study_recipe", "train_token_gpt",
           "study_names", "tokenizer_study", "METERS", "study_intervals", "rank_with_ties", "agreed_order"]

TICKS_PER_QUARTER = 24              # time grid: 1/24 quarter holds 16ths (6), 8th triplets (8), 32nds (3)
PITCH_RANGE = (55, 94)              # MIDI 55 (G3) .. 93 (A6): every O'Neill's and Ryan's note (high end exclusive)
BEAT_RES = {(0, 2): 24, (2, 8): 4}  # durations: 1/24 steps up to a half note, 1/4 steps up to 8 quarters
BPE_SIZES = (600, 800, 1000)        # BPE vocabularies learned on top of REMI's base vocabulary (412 tokens)
METERS = {8: [3, 6, 9, 12], 4: [2, 3, 4, 6], 2: [2]}   # denominator: numerators (every meter of the tunes)
_NAME = re.compile(r"(REMI|TSD)(?:\+BPE(\d+))?|CPWord")


def tokenizer_config(time_signatures: bool = True):
    """The one miditok ``TokenizerConfig`` of the study (notebook 11): pitch range of the tunes,
    the 1/24-quarter grid of :data:`BEAT_RES`, no velocities (all notes alike), tempos, chords or
    rests; special tokens PAD and BOS (BOS is the tune boundary ``<s>``). With ``time_signatures``
    (miditok's ``use_time_signatures``, the meters of :data:`METERS`) the tune's meter is written
    (REMI and CPWord: a ``TimeSig`` token after every ``Bar``; TSD: once) and bars are the real
    bars; without, miditok assumes 4/4 for every tune.
    Notebooks: 11."""
    import miditok
    return miditok.TokenizerConfig(pitch_range=PITCH_RANGE, beat_res=BEAT_RES, use_velocities=False,
                                   use_time_signatures=time_signatures, time_signature_range=METERS,
                                   use_pitchdrum_tokens=False, special_tokens=["PAD", "BOS"])


def notes_to_score(notes, meter: str | None = None):
    """Notes (N, >=3) [start, end, pitch, ...] in quarter notes -> a one-track ``symusic.Score``
    at :data:`TICKS_PER_QUARTER` ticks per quarter (times rounded to the grid); ``meter`` ("6/8")
    becomes its time signature from tick 0 (the tunes' notes put bar 1 at a bar line, a pickup before it)."""
    from symusic import Note, Score, TimeSignature, Track
    notes = np.asarray(notes, dtype=float)
    score, track = Score(TICKS_PER_QUARTER), Track(program=0)
    if meter is not None:
        numerator, denominator = (int(x) for x in meter.split("/"))
        score.time_signatures.append(TimeSignature(0, numerator, denominator))
    ticks = np.round(notes[:, :2] * TICKS_PER_QUARTER).astype(int)
    for (start, end), pitch in zip(ticks, notes[:, 2].astype(int)):
        track.notes.append(Note(int(start), int(end - start), int(pitch), 90))
    score.tracks.append(track)
    return score


def score_to_notes(score) -> np.ndarray:
    """A ``symusic.Score`` -> float (N, 3) [start, end, pitch] in quarter notes, sorted by start then pitch."""
    rows = [(n.time, n.time + n.duration, n.pitch) for track in score.tracks for n in track.notes]
    notes = np.array(rows, dtype=float).reshape(-1, 3)
    notes[:, :2] /= score.ticks_per_quarter
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


def _durations() -> set:
    """The note lengths (in ticks) that miditok's Duration tokens of :data:`BEAT_RES` can write."""
    ticks = set()
    for (low, high), res in BEAT_RES.items():
        ticks |= {b * TICKS_PER_QUARTER + k * TICKS_PER_QUARTER // res for b in range(low, high) for k in range(res)}
        ticks.add(high * TICKS_PER_QUARTER)
    return ticks - {0}


def misfit(notes, tol: float = 1e-3) -> str | None:
    """Why the first note the tokens cannot write exactly does not fit (its start or end off the
    1/24-quarter grid, a length no Duration token writes, a pitch outside :data:`PITCH_RANGE`), or
    None when every note fits. ``notes`` (N, >=3) [start, end, pitch, ...] in quarter notes."""
    notes = np.asarray(notes, dtype=float)
    if notes.ndim != 2 or notes.shape[1] < 3:
        raise ValueError(f"notes must be (N, >=3) [start, end, pitch, ...], got shape {notes.shape}")
    t, pitch = notes[:, :2] * TICKS_PER_QUARTER, notes[:, 2]
    lengths = np.round(t[:, 1] - t[:, 0]).astype(int)
    low, high = PITCH_RANGE
    problems = [
        (np.abs(t - np.round(t)).max(axis=1) > tol * TICKS_PER_QUARTER, "starts or ends off the 1/24-quarter grid"),
        (~np.isin(lengths, sorted(_durations())), "has a length no Duration token writes (BEAT_RES)"),
        ((pitch < low) | (pitch >= high) | (pitch % 1 != 0), f"has a pitch that is not a whole number in {low}..{high - 1}"),
    ]
    for bad, why in problems:
        if bad.any():
            i = int(np.argmax(bad))
            return f"note {i} (start {notes[i, 0]:g}, end {notes[i, 1]:g}, pitch {pitch[i]:g}) {why}"
    return None


def on_grid(notes, tol: float = 1e-3) -> bool:
    """True when the tune has notes, every one starting and ending on the 1/24-quarter grid, with a
    length a Duration token can write and in :data:`PITCH_RANGE` (:func:`misfit` says which note
    does not): then the tokenizers give it back exactly. (A few Irish tunes fail: grace notes of
    1/36 quarter, quintuplets; notebook 11 leaves them out.)
    Notebooks: 11."""
    return len(notes) > 0 and misfit(notes, tol) is None


class NoteTokenizer:
    """A miditok tokenizer seen as one plain list of ids per tune (notebook 11).

    ``encode(notes) -> ids`` and ``decode(ids) -> notes``; ``vocab`` names every id, ``bos`` is the
    boundary id. CPWord's compound tokens are flattened: one token per field that is not padding
    (``Ignore_None``), in field order, so a plain GPT models it and tokens per note counts every
    choice the model makes; decoding starts a new compound token at each ``Family_*`` token.
    """

    def __init__(self, name: str, tokenizer):
        self.name, self.tokenizer = name, tokenizer
        self.compound = bool(tokenizer.is_multi_voc)
        if self.compound:   # flat vocabulary: every field's tokens once, padding left out
            self.vocab = list(dict.fromkeys(t for field in tokenizer.vocab for t in field if t != "Ignore_None"))
        else:
            self.vocab = [self._readable(i) for i in range(len(tokenizer))]
        self.index = {t: i for i, t in enumerate(self.vocab)}
        self.bos = self.index["BOS_None"]

    def __len__(self) -> int:
        return len(self.vocab)

    def _readable(self, i: int) -> str:
        """Token ``i`` as text; a BPE token as its base tokens joined by "+"."""
        if not self.tokenizer.is_trained:
            return self.tokenizer[i]
        from miditok import TokSequence
        seq = TokSequence(ids=[i], are_ids_encoded=True)
        self.tokenizer.decode_token_ids(seq)
        return "+".join(seq.tokens)

    def encode(self, notes, meter: str | None = None) -> list[int]:
        """The ids of a tune's notes (N, >=3) [start, end, pitch, ...] in quarter notes, in the tune's
        ``meter`` ("6/8"; None: miditok's 4/4) when the tokenizer writes time signatures. A note the
        tokens cannot write exactly (see :func:`misfit`) raises ValueError naming it, instead
        of being rounded to the grid or dropped; an empty tune gives []."""
        problem = misfit(notes)
        if problem:
            raise ValueError(f"{self.name} cannot encode the tune exactly: {problem}")
        if len(notes) == 0:
            return []
        if not self.tokenizer.config.use_time_signatures:
            meter = None
        seq = self.tokenizer(notes_to_score(notes, meter))[0]   # one track, one sequence
        if not self.compound:
            return list(seq.ids)
        return [self.index[t] for compound in seq.tokens for t in compound if t != "Ignore_None"]

    def decode(self, ids) -> np.ndarray:
        """Notes (N, 3) [start, end, pitch] in quarter notes from ids made by :meth:`encode`.

        Ids must be integers in 0..len(self)-1 (ValueError otherwise). Other sequences are read
        as miditok reads them: REMI and TSD skip tokens out of their grammar (a Pitch without a
        Duration, ...), so random ids give the few notes they happen to spell, maybe none;
        flattened CPWord must come in compound tokens that each start with a ``Family_`` token
        and fill each field once (ValueError otherwise)."""
        ids = self._checked(ids)
        ids = [i for i in ids if i != self.bos]
        if self.compound:
            ids = self._compounds([self.vocab[i] for i in ids])
        return score_to_notes(self.tokenizer.decode([ids]))

    def _compounds(self, tokens) -> list[list[int]]:
        """Flat CPWord tokens -> compound token ids, ``Ignore_None`` in the fields a token leaves empty."""
        fields, out = self.tokenizer.vocab_types_idx, []
        for position, token in enumerate(tokens):
            kind = token.split("_")[0]
            if kind == "Family":
                out.append(["Ignore_None"] * len(self.tokenizer.vocab))
            elif not out or kind not in fields or out[-1][fields[kind]] != "Ignore_None":
                raise ValueError(f"CPWord ids must be compound tokens, each a Family_ token and then at most one "
                                 f"token of each field: {token} at position {position} is not")
            out[-1][fields[kind]] = token
        return [[self.tokenizer.vocab[f][t] for f, t in enumerate(c)] for c in out]

    def tokens(self, ids) -> list[str]:
        """The names of ``ids`` (integers in 0..len(self)-1)."""
        return [self.vocab[i] for i in self._checked(ids)]

    def _checked(self, ids) -> list[int]:
        """``ids`` as ints; ValueError unless every one is a whole number in 0..len(self)-1."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"{self.name} token ids must be integers in 0..{len(self) - 1}, got {ids.tolist()[:10]}")
        return ids.tolist()


def make_tokenizer(name: str, train_notes=None, train_meters=None, time_signatures: bool = True) -> NoteTokenizer:
    """"REMI", "TSD", "CPWord", or "REMI+BPE<size>" / "TSD+BPE<size>" (BPE learned on
    ``train_notes``, a list of note arrays: the training tunes only, in ``train_meters``, one meter
    string per tune) with :func:`tokenizer_config` (``time_signatures``: the tunes' meters and bars).
    Notebooks: 11."""
    import miditok
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"unknown tokenizer {name!r}: use 'REMI', 'TSD', 'CPWord' or e.g. 'REMI+BPE600'")
    base, size = match[1] or "CPWord", match[2]
    tokenizer = getattr(miditok, base)(tokenizer_config(time_signatures))
    if size is not None:
        if not train_notes:
            raise ValueError(f"{name}: BPE needs train_notes (the training tunes) to learn its merges")
        if int(size) <= len(tokenizer):
            raise ValueError(f"{name}: the BPE vocabulary must be larger than {base}'s {len(tokenizer)} base tokens")
        with tempfile.TemporaryDirectory() as folder:   # miditok learns BPE from MIDI files
            paths = [Path(folder) / f"{i}.mid" for i in range(len(train_notes))]
            meters = train_meters if train_meters is not None and time_signatures else [None] * len(train_notes)
            for path, notes, meter in zip(paths, train_notes, meters):
                notes_to_score(notes, meter).dump_midi(path)
            tokenizer.train(vocab_size=int(size), model="BPE", files_paths=paths)
    return NoteTokenizer(name, tokenizer)


def round_trip_failures(tokenizer: NoteTokenizer, tunes, meters=None) -> int:
    """How many notes of ``tunes`` (note arrays; ``meters``, one per tune, or None) do not come back
    from ``decode(encode(notes, meter))`` with the same start, end and pitch (to 1e-6 quarter); 0
    means the tokenizer loses nothing. The tunes must fit the grid (:func:`on_grid`): ``encode``
    refuses a note it cannot write.
    Notebooks: 11."""
    failed = 0
    for notes, meter in zip(tunes, meters if meters is not None else [None] * len(tunes)):
        want = score_to_notes(notes_to_score(notes))
        got = tokenizer.decode(tokenizer.encode(notes, meter))
        if len(got) != len(want) or not np.allclose(got, want, atol=1e-6):
            same = {tuple(r) for r in np.round(got, 6)}
            failed += sum(tuple(r) not in same for r in np.round(want, 6)) or abs(len(want) - len(got))
    return failed


def tokens_per_note(tunes_ids, n_notes: int, boundaries: bool = False) -> float:
    """Tokens of the tunes (without boundaries) over their number of notes; ``boundaries=True``
    also counts each tune's closing <s>, the tokens :func:`bits_per_note` scores.
    Notebooks: 11."""
    return (sum(len(t) for t in tunes_ids) + (len(tunes_ids) if boundaries else 0)) / n_notes


def bits_per_note(model, tunes_ids, bos: int, n_notes: int) -> float:
    """Test cost of a model in bits per note: the NLL of every predicted token of every tune, the
    closing boundary included (``musiclab.models.music_gpt.token_nll``), summed, over ln 2 and ``n_notes``."""
    total = sum(float(nll.sum()) for nll in token_nll(model, tunes_ids, bos))
    return total / math.log(2) / n_notes


def study_tunes(seed: int = 0) -> dict:
    """Notebook 04's tunes on each side ("train", "val", "test": lists of ``Piece``): O'Neill's +
    Ryan's, the leak-free split with 04's seed, in quick mode a seeded subset of it (400 training,
    40 validation and 40 test tunes: 04 trains on every training tune, more than the study's time
    allows); tunes off the grid (:func:`on_grid`) left out on every side, so every tokenizer sees
    the same notes.
    Notebooks: 11."""
    pieces, split = tune_split(seed, sizes=STUDY_QUICK_SIZES)
    return {side: [p for p in split.take(pieces, side) if on_grid(p.notes)] for side in ("train", "val", "test")}


def study_recipe() -> dict:
    """The one GPT recipe of the study. Quick mode (2 CPU cores): 2 layers x 4 heads x 64 channels,
    a 128-token context, 200 steps of 16 windows, no validation (notebook 11 sets the steps by
    ``epochs`` instead: the same passes over every tokenization's training tunes). Full mode (a GPU): 4 x 4 x 256,
    256 tokens, 3000 steps of 64 windows, the best validation weights kept (every 250 steps).
    Notebooks: 11."""
    return dict(n_layer=by_mode(4, 2), n_head=4, n_embd=by_mode(256, 64), block_size=by_mode(256, 128),
                dropout=by_mode(0.1, 0.0), steps=by_mode(3000, 200), batch_size=by_mode(64, 16),
                lr=by_mode(1e-3, 1e-2), warmup=by_mode(100, 20), eval_every=by_mode(250, 0))


def train_token_gpt(train_ids, val_ids, vocab_size: int, bos: int, seed: int = 0, device="cpu", desc="GPT",
                    **overrides):
    """A ``GPT`` trained with :func:`study_recipe` by ``train_from_recipe`` on the stream of the training
    tunes; with ``eval_every`` it keeps the weights of the best validation loss. Returns (model, history)."""
    r = with_overrides(study_recipe(), overrides)
    val = tune_stream(val_ids, bos) if r["eval_every"] else None
    return train_from_recipe(r, vocab_size, tune_stream(train_ids, bos), val, seed=seed, device=device, desc=desc,
                             eval_tokens=20_000, keep_best=True)


def study_names(bpe_sizes=BPE_SIZES) -> list:
    """The tokenizations the study compares: "ABC" (folk-rnn's tokens), REMI, TSD, CPWord, REMI+BPE<size>.
    Notebooks: 11."""
    return ["ABC", "REMI", "TSD", "CPWord"] + [f"REMI+BPE{size}" for size in bpe_sizes]


def _abc_ids(tunes: dict):
    """04's ABC tokens of the tunes (vocabulary from the training tunes, rare tokens -> <unk>)."""
    sides = list(tunes)
    pieces = [p for side in sides for p in tunes[side]]
    ends = np.cumsum([len(tunes[side]) for side in sides])
    data = token_data(pieces, {s: np.arange(e - len(tunes[s]), e) for s, e in zip(sides, ends)}, min_count=2)
    return {side: data.ids(side) for side in sides}, len(data.vocab), data.vocab.index(BOUNDARY), data.vocab.index(UNK)


def tokenizer_study(tunes: dict, names=None, tokenizers=None, seed: int = 0, device="cpu", epochs: float | None = None,
                    seeds=None, warmup_share: float | None = None, **overrides) -> list[dict]:
    """Notebook 11's table: for each tokenization (:func:`study_names`) the vocabulary size, tokens
    per note of the training tunes, the test bits per note of the same GPT recipe
    (:func:`train_token_gpt`), the uniform baseline ``log2(vocab) x test tokens per note`` and the
    round-trip failures on the test tunes (None for ABC, whose notes come from music21's parser).
    miditok tokenizations read each tune in its meter (``Piece.meter``) when they write time signatures.
    ``tokenizers`` ({name: NoteTokenizer}) are used instead of building those again (BPE must have
    learned on ``tunes["train"]``); ``overrides`` change settings of the recipe for every tokenization alike.
    ``epochs``: train every tokenization for the same number of passes over its own training
    stream (steps = epochs x stream tokens / (batch x context), rounded, at least 1) instead of the
    recipe's fixed steps. ``seeds``: one training per seed (default: ``seed`` alone); the row's
    "bits_per_note" is the mean over seeds, "seed_bits" each seed's, "tune_bits" (seeds x test
    tunes) each test tune's bits and "tune_notes" its notes (for :func:`study_intervals`);
    "steps" and "epochs" say how long each model trained. The warmup scales with the run: a share
    of each run's steps (``warmup_share``; default the recipe's ``warmup / steps`` of
    :func:`study_recipe`), at least 1, unless ``overrides`` set "warmup" (row "warmup"), so a short run
    neither spends half of its steps warming up nor jumps to the peak learning rate in a few steps. "uniform_bits_per_note" counts the closing <s> of every test tune, as
    bits per note does. "unknown_test_tokens": ABC's test tokens mapped to <unk> (None for miditok),
    of "test_tokens" (boundaries left out).
    Notebooks: 11."""
    names = study_names() if names is None else names
    seeds = [seed] if seeds is None else list(seeds)
    notes = {side: [p.notes for p in pieces] for side, pieces in tunes.items()}
    meters = {side: [p.meter for p in pieces] for side, pieces in tunes.items()}
    n_notes = {side: sum(len(n) for n in notes[side]) for side in notes}
    recipe, base = with_overrides(study_recipe(), overrides), study_recipe()
    rows = []
    for name in names:
        unknown = None
        if name == "ABC":
            ids, size, bos, unk = _abc_ids(tunes)
            failures, unknown = None, int(sum(np.sum(np.asarray(t) == unk) for t in ids["test"]))
        else:
            tok = (tokenizers or {}).get(name) or make_tokenizer(name, notes["train"] if "BPE" in name else None,
                                                                  meters["train"])
            ids = {side: [tok.encode(n, m) for n, m in zip(notes[side], meters[side])] for side in notes}
            size, bos, failures = len(tok), tok.bos, round_trip_failures(tok, notes["test"], meters["test"])
        stream = sum(len(t) + 1 for t in ids["train"])          # the tokens of one pass, boundaries included
        steps = recipe["steps"] if epochs is None else max(1, round(epochs * stream / (recipe["batch_size"]
                                                                                      * recipe["block_size"])))
        share = base["warmup"] / base["steps"] if warmup_share is None else warmup_share
        warmup = overrides.get("warmup", max(1, round(steps * share)))
        tune_bits = []
        for s in seeds:
            model, _ = train_token_gpt(ids["train"], ids["val"], size, bos, seed=s, device=device,
                                       desc=f"{name} seed {s}", **{**overrides, "steps": steps, "warmup": warmup})
            tune_bits.append([float(nll.sum()) / math.log(2) for nll in token_nll(model, ids["test"], bos)])
        tune_bits = np.array(tune_bits)
        seed_bits = tune_bits.sum(axis=1) / n_notes["test"]
        test_tpn = tokens_per_note(ids["test"], n_notes["test"], boundaries=True)
        rows.append(dict(tokenizer=name, vocab=size, tokens_per_note=tokens_per_note(ids["train"], n_notes["train"]),
                         bits_per_note=float(seed_bits.mean()), seed_bits=seed_bits.tolist(), tune_bits=tune_bits,
                         tune_notes=np.array([len(n) for n in notes["test"]]), steps=steps, warmup=warmup,
                         unknown_test_tokens=unknown, test_tokens=sum(len(t) for t in ids["test"]),
                         epochs=steps * recipe["batch_size"] * recipe["block_size"] / stream,
                         uniform_bits_per_note=math.log2(size) * test_tpn, round_trip_failures=failures))
    return rows


def study_intervals(rows, n_boot: int = 1000, level: float = 0.95) -> dict:
    """{tokenizer: Interval} of test bits per note for :func:`tokenizer_study` rows: a bootstrap
    over the test tunes (whole tunes drawn with replacement, ``bootstrap_interval``) of total
    bits over total notes, each tune's bits averaged over the seeds. It says how much the number
    depends on which tunes were tested; the seeds' spread is in each row's "seed_bits".
    Notebooks: 11."""
    out = {}
    for r in rows:
        pairs = np.stack([r["tune_bits"].mean(axis=0), r["tune_notes"]], axis=1)
        out[r["tokenizer"]] = bootstrap_interval(pairs, lambda v: float(v[:, 0].sum() / v[:, 1].sum()),
                                                 n_boot=n_boot, level=level)
    return out


def rank_with_ties(rows, intervals: dict) -> list[list[str]]:
    """Tokenizers in tiers, fewest bits per note first: a tokenizer starts a new tier only when it
    is separated from every member of the current tier, its interval (``intervals``, from
    :func:`study_intervals`) above theirs and every one of its seeds worse than every one of
    theirs; otherwise it ties with them. Returns [[names of tier 1], [tier 2], ...].
    Notebooks: 11."""
    tiers = []
    for r in sorted(rows, key=lambda r: r["bits_per_note"]):
        name = r["tokenizer"]
        by = {q["tokenizer"]: q for q in rows}
        if tiers and not all(intervals[name].low > intervals[m].high
                             and min(r["seed_bits"]) > max(by[m]["seed_bits"]) for m in tiers[-1]):
            tiers[-1].append(name)
        else:
            tiers.append([name])
    return tiers


def agreed_order(arms: dict) -> list[tuple[str, str]]:
    """The pairs (a, b) that every arm of a study ranks the same way: ``arms`` maps an arm's name to
    (rows, intervals) of :func:`tokenizer_study` and :func:`study_intervals` (e.g. equal passes and
    equal steps); (a, b) is kept when, in every arm, a needs fewer bits per note than b and the two
    are separated as :func:`rank_with_ties` separates them. Only tokenizers trained in every arm count.
    Notebooks: 11."""
    by = [({r["tokenizer"]: r for r in rows}, intervals) for rows, intervals in arms.values()]
    names = [n for n in by[0][0] if all(n in rows for rows, _ in by)]
    return [(a, b) for a in names for b in names if a != b and all(
        rows[a]["bits_per_note"] < rows[b]["bits_per_note"] and len(rank_with_ties([rows[a], rows[b]], iv)) == 2
        for rows, iv in by)]
