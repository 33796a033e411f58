"""Constrained decoding: the grammar of a folk tune as a mask on a model's next token (notebooks 04, 08, 10).

A token model (the LSTM of 04, the n-gram, the GPT of 10) gives a distribution over the next
token; nothing in it forbids a bar of five eighths in 6/8. ``TuneGrammar`` reads the tokens
written so far the way ``musiclab.validity`` reads a finished tune (the same durations, tuplets,
broken rhythm, chords and ties) and says which next tokens keep the tune well-formed; the sampler
sets the other logits to minus infinity and renormalises over what is left (the "grammar mask" of
constrained decoding; Deutsch et al. 2019, Willard & Louf 2023 for the general method). The rules:

* **header**: the meter (a number meter, not ``M:none``) and then the key come first; no inline
  meter or key changes later; control and unknown tokens are never drawn;
* **bars fill exactly**: no note longer than what is left of the bar, no bar line before the bar is
  full. Lengths move on a grid (the shortest note length of the vocabulary, a 16th or a 32nd) so
  that a bar can always be completed; a tuplet is written as plain notes and finished in its bar;
  after ``>``/``<`` comes the note that completes the pair;
* **pickups**: the first bar may be short (an upbeat); a bar before a section line (``:|``, ``||``,
  endings) may lack exactly the upbeat's length, and the bar after it is then the next section's
  upbeat or a full bar: the rule ``validity`` counts as adding up;
* **chords**: ``[`` opens a chord of one to four notes, ``]`` closes it before the next bar line;
* **the end**: the tune may stop (``<s>``) only after a bar line, once it has ``min_bars`` bars, on
  a note of the key's tonic; after ``max_bars`` bars (or near ``max_len`` tokens) the next bar is
  the last one and its last note is the tonic (the cadence rule).

Each rule is a small method (``header``, ``note``, ``duration``, ``bar_line``, ``chord_open``,
``chord_close``, ``broken``, ``tie``, ``tuplet``, ``end``) that returns the state after the token, or
None when the token is not allowed; ``viable`` says whether a state can still end as a tune;
``allowed`` is the mask. ``sample_tokens`` is the one sampling loop of every token model, free or
constrained (``sample_tune``, ``sample_tunes``, ``sample_gpt``, ``NGramLM.sample`` call it).

The greedy mask is not the model conditioned on the grammar: it renormalises step by step, so a
token that leads into tunes the model finds unlikely keeps its full share (notebook 04 shows the
difference exactly on a small case). ``sample_bar_by_bar`` comes nearer: it draws each bar freely and
keeps it only if it fits, the mask stepping in after a number of refusals. ``tests/test_sampling.py`` checks each rule on hand-made bars and
that 1,000 tunes drawn from random distributions under the mask all pass ``validity_rates``.
"""
from __future__ import annotations

import functools
import math
import numbers
import re
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import torch

from .abc import BAR_TOKENS
from .checks import check_counts
from .validity import (_ENDING, _KEY, _LETTER_PC, _NOTE, _TUPLET, _broken_factors, _is_duration, _meter, _note_parts,
                       _tuplet, key_signature, length)

__all__ = ["check_sampling", "apply_temperature", "top_k_filter", "top_p_filter", "sample_next", "TuneState",
           "TuneGrammar", "token_kind", "sample_tokens", "sample_bar_by_bar"]

BOUNDARY, UNK = "<s>", "<unk>"
MAX_CHORD_NOTES = 4
TICKS = 5040          # ticks per eighth note: every length below is a whole number of ticks
_GRIDS = (Fraction(1, 4), Fraction(1, 2), Fraction(1))   # in eighths: a 32nd, a 16th, an eighth
_signature = functools.lru_cache(maxsize=None)(key_signature)


def _ticks(eighths) -> int | None:
    """A length in eighths as whole ticks (None when it is not a whole number of ticks)."""
    t = Fraction(eighths) * TICKS
    return int(t) if t.denominator == 1 else None


@functools.lru_cache(maxsize=None)
def _broken_ticks(token: str) -> tuple:
    """``_broken_factors`` in whole numbers: (numerator, denominator) of the factor of the note
    before, and the unit of the note after in ticks."""
    first, second = _broken_factors(token)
    return first.numerator, first.denominator, _ticks(second)


@functools.lru_cache(maxsize=None)
def _tuplet_ticks(token: str, meter: str) -> tuple:
    """``_tuplet`` in ticks: (the unit of each note, or None off the tick grid; the number of notes)."""
    factor, r = _tuplet(token, meter)
    return _ticks(factor), r


def token_kind(token: str) -> str:
    """What a folk-rnn token is, for the grammar: "end" (<s>), "special" (<unk>, control tokens
    such as <irish>), "meter", "key", "note", "rest", "duration", "bar", "ending" ("[1"),
    "chord_open", "chord_close", "broken" (> < >> <<), "tie", "tuplet" or "other" (M:none and the rest).
    Notebooks: 04."""
    if token == BOUNDARY:
        return "end"
    if token.startswith("<") and len(token) > 2 and token.endswith(">"):
        return "special"
    if re.fullmatch(r"M:\d+/\d+", token):
        return "meter"
    if _KEY.fullmatch(token):
        return "key"
    if _NOTE.fullmatch(token):
        return "note"
    if token == "z":
        return "rest"
    if _is_duration(token):
        return "duration"
    if token in BAR_TOKENS or _ENDING.fullmatch(token):
        return "bar"
    if re.fullmatch(r"\[\d+([,-]\d+)*", token):
        return "ending"
    if token in ("[", "]", "-"):
        return {"[": "chord_open", "]": "chord_close", "-": "tie"}[token]
    if re.fullmatch(r">+|<+", token):
        return "broken"
    if _TUPLET.fullmatch(token) and _TUPLET.fullmatch(token)[1]:
        return "tuplet"
    return "other"


class TuneState(NamedTuple):
    """What the grammar remembers of the tokens so far; lengths in ticks (``TICKS`` per eighth).

    ``used``: the closed events of this bar (a tuplet counts whole from its first token);
    ``cur``: the length of the last event (None: none yet in this bar), ``unit``: what a duration
    token after it multiplies, ``cur_open``: a duration token may still follow; ``broken``: the
    unit of the note owed to a ``>``/``<``; ``chord``: notes in the open chord (-1: none open);
    ``owed``: the bar before the last section line was short, so this bar may (``owed_only``: must)
    be the next section's upbeat, that much."""
    phase: str = "meter"            # meter, key, body, done (the closing bar is written), ended
    meter: str = ""
    key: str = ""
    measure: int = 0
    bars: int = 0                   # bars written (empty ones not counted)
    pickup: int | None = None       # the first bar's length when it is short of a measure
    owed: int | None = None         # the length of the upbeat this bar may be (after a short bar and a section line)
    owed_only: bool = False         # ... must be
    used: int = 0
    cur: int | None = None
    unit: int = TICKS
    cur_open: bool = False
    cur_tonic: bool = False         # the last event is a note (or chord) on the tonic
    last_tonic: bool = False        # the last pitched event is
    broken: int | None = None
    tuplet_left: int = 0
    tuplet_unit: int = TICKS
    chord: int = -1
    chord_first: int = TICKS
    chord_low: int | None = None
    prev: str = "start"             # the kind of the last token read
    line: str = ""                  # the last bar line
    closing: bool = False
    bar_acc: tuple = ()             # ((letter, octave), alteration) of this bar's accidentals
    n_tokens: int = 0


class TuneGrammar:
    """The grammar of a folk-rnn ABC tune over ``vocab``, as a mask on the next token (see the
    module docstring for the rules).

    ``min_bars``/``max_bars``: how long a tune may be, in written bars; ``max_len``: the sampler's
    token limit, which also starts the closing bar early enough. ``advance(state, token)`` reads a
    token (None: not allowed), ``viable(state)`` says whether the tune can still be finished,
    ``allowed(state)`` is the mask (bool numpy, one per vocabulary entry), ``read(tokens)`` reads a
    list, ``accepts(tokens)`` says whether a whole tune follows the rules.
    Notebooks: 04, 08, 10."""

    def __init__(self, vocab, min_bars: int = 8, max_bars: int = 32, max_len: int = 800):
        check_counts(min_bars=min_bars, max_bars=max_bars, max_len=max_len)
        if min_bars > max_bars:
            raise ValueError(f"min_bars ({min_bars}) must not exceed max_bars ({max_bars})")
        self.vocab = list(vocab)
        self.min_bars, self.max_bars, self.max_len = min_bars, max_bars, max_len
        self.kinds = [token_kind(t) for t in self.vocab]
        self.kind_of = dict(zip(self.vocab, self.kinds))
        if "meter" not in self.kinds or "key" not in self.kinds:
            raise ValueError("the vocabulary needs at least one meter token (M:6/8) and one key token (K:Gmaj)")
        lengths = {t: length(t) for t, k in zip(self.vocab, self.kinds) if k == "duration"}
        grid = next(g for g in _GRIDS if g == 1 or g in lengths.values())
        self.grid = _ticks(grid)
        self.durations = {t: d for t, d in lengths.items() if d > 0 and (d / grid).denominator == 1}
        self.lengths = (Fraction(1),) + tuple(sorted(set(self.durations.values())))
        self._cache = {}

    @classmethod
    def for_tunes(cls, vocab, tunes, spread: float = 0.4, max_len: int = 800) -> "TuneGrammar":
        """A grammar whose tunes are about as long as ``tunes`` (real token lists): between
        (1 - spread) and (1 + spread) times their median number of written bars, so that what a
        learner hears lasts 0.5-1.5 times a real tune (issue 24). Notebooks: 04, 08, 10."""
        bars = [sum(token_kind(t) == "bar" for t in tune) for tune in tunes]
        if not bars:
            raise ValueError("for_tunes needs at least one real tune")
        median = float(np.median(bars))
        low = max(1, math.ceil((1 - spread) * median))
        return cls(vocab, min_bars=low, max_bars=max(low, math.floor((1 + spread) * median)), max_len=max_len)

    # ------------------------------------------------------------------ reading tokens
    def start(self) -> TuneState:
        """The state before the first token."""
        return TuneState()

    def read(self, tokens, state: TuneState | None = None) -> TuneState:
        """The state after ``tokens``; ValueError naming the first token the grammar does not allow."""
        state = state or self.start()
        for i, token in enumerate(tokens):
            new = self.advance(state, token)
            if new is None or not self.viable(new):
                raise ValueError(f"token {i} ({token!r}) breaks the tune's grammar after {list(tokens[max(0, i - 8):i])}")
            state = new
        return state

    def accepts(self, tokens) -> bool:
        """Whether ``tokens`` are a whole tune by the rules (read to the end, then <s> allowed)."""
        try:
            return self.end(self.read(tokens)) is not None
        except ValueError:
            return False

    def closed_by_rule(self, tunes) -> int:
        """How many of ``tunes`` (drawn under this grammar) reached ``max_bars - 1`` bars or the token
        limit, so that the cadence rule wrote their last bar; the others ended with the model's <s>."""
        return sum(self.read(tune).closing for tune in tunes)

    def advance(self, state: TuneState, token: str) -> TuneState | None:
        """The state after ``token`` (None: the grammar does not allow it here). Control tokens
        (<irish>) before the header are read as nothing: a GPT's prompt starts with them."""
        kind = self.kind_of.get(token) or token_kind(token)
        if kind == "special":
            return state if state.phase == "meter" and token != UNK else None
        if kind == "note":
            new = self.note(state, *self._pitch(state, token))
        elif kind == "rest":
            new = self.note(state, None, state.bar_acc)
        elif kind in ("meter", "key"):
            new = self.header(state, token)
        elif kind == "duration":
            new = self.duration(state, self.durations.get(token))
        elif kind in ("bar", "broken", "tuplet"):
            new = {"bar": self.bar_line, "broken": self.broken, "tuplet": self.tuplet}[kind](state, token)
        elif kind in ("chord_open", "chord_close", "tie", "ending", "end"):
            new = {"chord_open": self.chord_open, "chord_close": self.chord_close, "tie": self.tie,
                   "ending": self.ending, "end": self.end}[kind](state)
        else:
            new = None
        return None if new is None else new._replace(prev=kind, n_tokens=state.n_tokens + 1)

    def _pitch(self, state: TuneState, token: str) -> tuple:
        """(MIDI pitch, the bar's accidentals after it) of a note token, read as ``validity`` reads it."""
        name, octave, acc = _note_parts(token)
        bar_acc = state.bar_acc
        if acc is not None:
            bar_acc = tuple(sorted({**dict(bar_acc), (name, octave): acc}.items()))
        signature = _signature(state.key)[1] if state.key else {}
        alter = dict(bar_acc).get((name, octave), signature.get(name, 0))
        return 12 * (octave + 1) + _LETTER_PC[name] + alter, bar_acc

    def _is_tonic(self, state: TuneState, pitch) -> bool:
        return pitch is not None and bool(state.key) and pitch % 12 == _signature(state.key)[0]

    # ------------------------------------------------------------------ the rules, one per kind of token
    def header(self, s: TuneState, token: str) -> TuneState | None:
        """The meter first, then the key; neither later (no inline changes)."""
        if s.phase == "meter" and token.startswith("M:"):
            return s._replace(phase="key", meter=token, measure=_ticks(_meter(token) * 8))
        if s.phase == "key" and token.startswith("K:"):
            return s._replace(phase="body", key=token)
        return None

    def note(self, s: TuneState, pitch: int | None, bar_acc: tuple) -> TuneState | None:
        """A note (``pitch``) or a rest (None): a new event of one unit (an eighth, or what a tuplet or
        a broken rhythm makes of it), or a note of the open chord (at most four; no rests in chords)."""
        if s.phase != "body" or (s.prev == "tie" and pitch is None):
            return None
        if s.chord >= 0:
            if pitch is None or s.chord >= MAX_CHORD_NOTES:
                return None
            return s._replace(chord=s.chord + 1, chord_low=pitch if s.chord_low is None else min(s.chord_low, pitch),
                              bar_acc=bar_acc)
        in_tuplet = s.tuplet_left > 0
        unit = s.tuplet_unit if in_tuplet else s.broken or TICKS
        tonic = self._is_tonic(s, pitch)
        return s._replace(used=s.used + (s.cur or 0), cur=0 if in_tuplet else unit, unit=unit, cur_open=not in_tuplet,
                          cur_tonic=tonic, last_tonic=tonic if pitch is not None else s.last_tonic, broken=None,
                          tuplet_left=max(s.tuplet_left - 1, 0), bar_acc=bar_acc)

    def duration(self, s: TuneState, d: Fraction | None) -> TuneState | None:
        """A length right after a note (it replaces the unit), after ``]`` (it multiplies the chord),
        or after a chord's note (the first note's sets the chord's length); lengths on the grid only."""
        if d is None or s.phase != "body" or s.prev not in ("note", "rest", "chord_close"):
            return None
        if s.chord >= 0:
            return s._replace(chord_first=_ticks(d)) if s.chord == 1 else s
        if not s.cur_open or (s.unit * d.numerator) % d.denominator:
            return None
        return s._replace(cur=s.unit * d.numerator // d.denominator, cur_open=False)

    def chord_open(self, s: TuneState) -> TuneState | None:
        """``[``: a chord starts (not inside another, in a tuplet, after ``>`` or in the closing bar)."""
        if s.phase != "body" or s.chord >= 0 or s.tuplet_left or s.broken is not None or s.closing:
            return None
        return s._replace(used=s.used + (s.cur or 0), cur=None, cur_open=False, chord=0, chord_first=TICKS, chord_low=None)

    def chord_close(self, s: TuneState) -> TuneState | None:
        """``]``: closes a chord of at least one note; the chord lasts as long as its first note."""
        if s.chord < 1:
            return None
        tonic = self._is_tonic(s, s.chord_low)
        return s._replace(chord=-1, cur=s.chord_first, unit=s.chord_first, cur_open=True, cur_tonic=tonic,
                          last_tonic=tonic, chord_low=None)

    def broken(self, s: TuneState, token: str) -> TuneState | None:
        """``>`` (``<``): the last event gets 3/2 (1/2) of its length and the next note 1/2 (3/2) of
        its own; ``>>`` 7/4 and 1/4. The next token is that note."""
        if (s.phase != "body" or not s.cur or s.chord >= 0 or s.tuplet_left or s.closing
                or s.prev not in ("note", "rest", "duration", "chord_close")):
            return None                                 # (cur == 0: the last note of a tuplet)
        num, den, unit = _broken_ticks(token)
        if (s.cur * num) % den or unit is None:
            return None
        return s._replace(cur=s.cur * num // den, cur_open=False, broken=unit)

    def tie(self, s: TuneState) -> TuneState | None:
        """``-`` after a note or chord (not in the closing bar); a note or a bar line follows."""
        if s.phase != "body" or s.cur is None or s.chord >= 0 or s.closing or s.prev not in ("note", "duration", "chord_close"):
            return None
        return s._replace(cur_open=False)

    def tuplet(self, s: TuneState, token: str) -> TuneState | None:
        """``(p:q:r``: the next r notes, plain, take q/p of their length; the whole tuplet counts at once."""
        if s.phase != "body" or s.chord >= 0 or s.tuplet_left or s.broken is not None or s.closing:
            return None
        unit, r = _tuplet_ticks(token, s.meter)
        if unit is None or r < 1:
            return None
        return s._replace(used=s.used + (s.cur or 0) + r * unit, cur=None, cur_open=False, tuplet_left=r, tuplet_unit=unit)

    def ending(self, s: TuneState) -> TuneState | None:
        """``[1``: an ending's label, right after a bar line."""
        return s if s.phase == "body" and s.prev == "bar" and not s.closing else None

    def bar_fits(self, s: TuneState, total: int, line: str) -> bool:
        """Whether a bar of ``total`` ticks may end with ``line``, ``validity``'s rule: the first bar (an
        upbeat) up to a measure; a bar owed to a section's upbeat exactly that long; otherwise a
        measure, and before a section line (``||``, ``:|``, endings) any length up to a measure, the
        next bar then owing the rest (the next section's upbeat)."""
        if total % self.grid or total > s.measure:
            return False
        if s.bars == 0:
            return True
        if s.owed_only:
            return total == s.owed
        return total == s.measure or total == s.owed or line != "|"

    def bar_line(self, s: TuneState, token: str) -> TuneState | None:
        """A bar line once the bar is full (``bar_fits``); ``|:`` also opens the tune or follows a
        bar line (no other empty bar). The closing bar ends on the tonic with a section or final
        line (not ``|``), and only <s> may follow."""
        if s.phase != "body" or s.chord >= 0 or s.tuplet_left or s.broken is not None:
            return None
        total = s.used + (s.cur or 0)
        if total == 0:                                  # only |: at the start or after a bar line
            return s if token == "|:" and not s.closing and s.prev in ("key", "bar") else None
        if not self.bar_fits(s, total, token) or (s.closing and (not s.cur_tonic or token == "|")):
            return None
        first, M = s.bars == 0, s.measure
        pickup = (total if total < M else None) if first else s.pickup
        owes = not first and token != "|" and total < M and total != s.owed
        closing = s.bars + 1 >= self.max_bars - 1 or s.n_tokens + 2 + self.closing_room(s) >= self.max_len
        return s._replace(phase="done" if s.closing else "body", bars=s.bars + 1, pickup=pickup,
                          owed=M - total if owes else None, owed_only=owes and total != M - (pickup or 0),
                          used=0, cur=None, cur_open=False, cur_tonic=False, bar_acc=(), closing=closing, line=token)

    def closing_room(self, s: TuneState) -> int:
        """Tokens a closing bar may need: a note and a length per grid step, its bar line and <s>."""
        return 2 * (s.measure // self.grid) + 2

    def end(self, s: TuneState) -> TuneState | None:
        """``<s>``: right after a section or final bar line (not ``|``), with at least ``min_bars``
        bars, the last note on the tonic; or after the closing bar."""
        if s.phase == "done" or (s.phase == "body" and s.prev == "bar" and s.line != "|" and s.bars >= self.min_bars
                                 and s.last_tonic):
            return s._replace(phase="ended")
        return None

    # ------------------------------------------------------------------ can it still end as a tune?
    @functools.lru_cache(maxsize=None)
    def _reach(self, parts: tuple) -> dict:
        """{residue mod the grid: the shortest length of that residue} over the lengths the open
        events in ``parts`` can still take: (unit, "lengths") is a note of ``unit`` with or without a
        duration token, ("pair", None) a chord whose first note and multiplier are still open."""
        sums = {Fraction(0)}
        for unit, what in parts:
            options = ([f * m for f in self.lengths for m in self.lengths] if what == "pair"
                       else [Fraction(unit, TICKS) * d for d in self.lengths])
            sums = {a + b for a in sums for b in options}
        best = {}
        for x in sums:
            t = x * TICKS
            if t.denominator == 1:
                best[int(t) % self.grid] = min(best.get(int(t) % self.grid, int(t)), int(t))
        return best

    def viable(self, s: TuneState) -> bool:
        """Whether the tune can still be finished by the rules: some way of ending the open event
        (and the note owed to ``>``) leaves the bar short of a length it may have by a whole number of
        grid steps, which plain notes fill (in the closing bar: ending on the tonic)."""
        if s.phase != "body":
            return True
        parts = ()
        if s.chord >= 0:
            parts = (((TICKS, "pair"),) if s.chord == 0 or (s.chord == 1 and s.prev == "note")
                     else ((s.chord_first, "lengths"),))
            base = s.used
        elif s.cur_open:
            parts, base = ((s.unit, "lengths"),), s.used
        else:
            base = s.used + (s.cur or 0)
        if s.broken is not None:
            parts += ((s.broken, "lengths"),)
        reach = self._reach(parts) if parts else {0: 0}
        for target in ({s.owed} if s.owed_only else {s.measure}):   # (a section line may end a bar early)
            room = target - base
            shortest = reach.get(room % self.grid) if room >= 0 else None
            if shortest is not None and (shortest < room or shortest == room and (s.cur_tonic or not s.closing)):
                return True
        return False

    # ------------------------------------------------------------------ the mask
    def allowed(self, state: TuneState) -> np.ndarray:
        """The mask: True for every token of the vocabulary the grammar allows next (bool, len(vocab))."""
        key = self._cache_key(state)
        if key not in self._cache:
            self._cache[key] = self._mask(key._replace(key="K:Cmaj" if state.key else ""))
        mask, tonic_mask = self._cache[key]
        if not state.closing:
            return mask
        return np.where(self._tonic_notes(state.key, state.bar_acc), tonic_mask, mask)

    def _cache_key(self, s: TuneState) -> TuneState:
        """``s`` with every field the next token's rules do not read set to its default, so that states
        with the same mask share one entry: the bar count only as first / short of ``min_bars`` /
        enough, the key's tonic and the accidentals apart (``allowed`` adds them), the last bar line
        and the last pitch only right after a bar line (``end``), the tonic of the last event only in
        the closing bar, and the units of a note, a chord or a tuplet only while one is open."""
        bars = 0 if s.bars == 0 else self.min_bars if s.bars >= self.min_bars else 1
        after_bar = s.prev == "bar"
        return s._replace(key="K" if s.key else "", bar_acc=(), n_tokens=0, bars=bars, chord_low=None,
                          line=s.line if after_bar else "", last_tonic=s.last_tonic and after_bar,
                          cur_tonic=s.cur_tonic and s.closing, unit=s.unit if s.cur_open else TICKS,
                          chord_first=s.chord_first if s.chord >= 0 else TICKS,
                          tuplet_unit=s.tuplet_unit if s.tuplet_left else TICKS)

    def _mask(self, s: TuneState) -> tuple:
        """(mask with every note read as not the tonic, mask with every note read as the tonic)."""
        def ok(new):
            return new is not None and self.viable(new)
        other, same = (ok(self.advance_note(s, 60 + p)) for p in (1, 0))     # K:Cmaj: C is the tonic
        plain, as_tonic = np.zeros(len(self.vocab), bool), np.zeros(len(self.vocab), bool)
        skip = {"special", "other", "meter" if s.phase != "meter" else "", "key" if s.phase != "key" else ""}
        if s.prev not in ("note", "rest", "chord_close"):
            skip.add("duration")
        if s.phase == "body" and (s.chord >= 0 or s.tuplet_left or s.broken is not None):
            skip.add("bar")
        for i, (token, kind) in enumerate(zip(self.vocab, self.kinds)):
            if kind == "note":
                plain[i], as_tonic[i] = other, same
            elif kind not in skip:
                plain[i] = as_tonic[i] = ok(self.advance(s, token))
        return plain, as_tonic

    def advance_note(self, s: TuneState, pitch: int) -> TuneState | None:
        """``advance`` for a note of MIDI ``pitch`` (no accidental)."""
        new = self.note(s, pitch, s.bar_acc)
        return None if new is None else new._replace(prev="note", n_tokens=s.n_tokens + 1)

    @functools.lru_cache(maxsize=None)
    def _tonic_notes(self, key: str, bar_acc: tuple) -> np.ndarray:
        """True for the note tokens that sound the key's tonic here (with the bar's accidentals)."""
        state = TuneState(phase="body", key=key, bar_acc=bar_acc)
        return np.array([kind == "note" and self._is_tonic(state, self._pitch(state, t)[0])
                         for t, kind in zip(self.vocab, self.kinds)])


# ---------------------------------------------------------------------- temperature, top-k, top-p
def check_sampling(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None):
    """Raise ValueError unless temperature is a finite number >= 0 (0: greedy), top_k None or an
    integer >= 1, top_p None or in (0, 1]: the settings of ``sample_next``, ``GPT.generate``,
    ``sample_gpt`` and ``continue_chorales`` (an infinite temperature would sample uniformly, NaN fail)."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not 0 <= temperature < math.inf:
        raise ValueError(f"temperature must be a finite number >= 0 (0 takes the most likely token), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")


def apply_temperature(logits, temperature: float):
    """logits / temperature: below 1 sharpens the distribution, above 1 flattens it.
    Notebooks: 04."""
    check_sampling(temperature)
    if temperature == 0:
        raise ValueError(f"temperature must be > 0 here (0 means greedy in sample_next), got {temperature}")
    return logits / temperature


def top_k_filter(logits, k: int):
    """Keep the k largest logits of each row (exactly k, ties broken by position), set the
    rest to -inf (Fan et al. 2018).
    Notebooks: 04."""
    check_sampling(top_k=k)
    values, indices = torch.topk(logits, min(int(k), logits.size(-1)), dim=-1)
    return torch.full_like(logits, float("-inf")).scatter(-1, indices, values)


def top_p_filter(logits, p: float):
    """Nucleus filter (Holtzman et al. 2020): keep the smallest set of most probable tokens whose
    probability adds up to at least p, set the rest to -inf."""
    check_sampling(top_p=p)
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above each one
    sorted_logits = sorted_logits.masked_fill(mass_before >= p, float("-inf"))  # the top token always stays
    return torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                generator=None):
    """Draw one token per row from logits (B, V) -> (B, 1): temperature, then top-k, then top-p;
    temperature 0 takes the most likely token (greedy). Limits: ``check_sampling``.
    Notebooks: 04, 10."""
    check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return torch.multinomial(logits.softmax(dim=-1), num_samples=1, generator=generator)



# ---------------------------------------------------------------------- the one sampling loop
def as_grammar(constrain, vocab, max_len: int) -> TuneGrammar | None:
    """What a sampler's ``constrain=`` means: None for False (free sampling), a ``TuneGrammar`` of
    ``vocab`` with its defaults and ``max_len`` for True, or the ``TuneGrammar`` given (ValueError if
    it was built for another vocabulary). ``sample_tokens`` and ``sample_bar_by_bar`` read it so."""
    grammar = constrain if isinstance(constrain, TuneGrammar) else TuneGrammar(vocab, max_len=max_len) if constrain else None
    if grammar is not None and grammar.vocab != list(vocab):
        raise ValueError("the grammar was built for another vocabulary")
    return grammar


@torch.no_grad()
def sample_tokens(next_logits, vocab, n: int = 1, prefix=(), temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None, seed: int = 0, max_len: int = 800, constrain=False,
                  boundary: str = BOUNDARY) -> list:
    """Draw ``n`` token lists side by side from any next-token model. ``next_logits(ids, keep)``
    returns the logits of the next token (k, V) of the rows still being written: the first call
    gets <s> + ``prefix`` for every row (a LongTensor (n, t)) and ``keep=None``; each later call
    gets one new token per row (k, 1) and ``keep``, the positions in its previous batch of the rows
    that go on (None when all go on). A model with a state (an LSTM's, a GPT's KV cache) keeps the
    state of those rows only, so a finished tune costs nothing more. Each row ends at its own <s>
    or after ``max_len`` new tokens; <unk> is never drawn. ``constrain``: False (free sampling),
    True (a ``TuneGrammar`` with its defaults) or a ``TuneGrammar``: the tokens the grammar forbids
    get logit -inf before temperature, top-k and top-p (``sample_next``), so the draw is
    renormalised over what is allowed. Returns the new tokens after the prefix, without <s>
    (``boundary``). ``sample_tune``, ``sample_tunes``, ``sample_gpt`` and ``NGramLM.sample`` are this
    loop with their model's ``next_logits``."""
    check_counts(n=n, max_len=max_len)
    check_sampling(temperature, top_k, top_p)
    index = {t: i for i, t in enumerate(vocab)}
    unknown = [t for t in [boundary, *prefix] if t not in index]
    if unknown:
        raise ValueError(f"tokens {unknown} of the prefix (or <s>) are not in the vocabulary")
    grammar = as_grammar(constrain, vocab, max_len)
    bos = index[boundary]
    generator = torch.Generator().manual_seed(seed)
    states = [grammar.read(prefix)] * n if grammar else None
    anything = np.ones(len(vocab), bool)                 # the mask of a finished row
    rows, open_ = [[] for _ in range(n)], [True] * n
    alive = list(range(n))           # the rows still being written, in the model's batch order
    z = next_logits(torch.tensor([[bos] + [index[t] for t in prefix]] * n), None)
    for _ in range(max_len):
        logits = torch.zeros(n, len(vocab))            # a finished row's draw is made and not kept
        logits[alive] = z.float().cpu()
        if UNK in index:
            logits[:, index[UNK]] = -float("inf")
        if grammar is not None:
            logits[~torch.from_numpy(np.stack([grammar.allowed(s) if o else anything
                                               for s, o in zip(states, open_)]))] = -float("inf")
        drawn = sample_next(logits, temperature, top_k, top_p, generator)
        for r in alive:
            i = int(drawn[r, 0])
            if i == bos:
                open_[r] = False
                continue
            rows[r].append(vocab[i])
            if grammar is not None:
                states[r] = grammar.advance(states[r], vocab[i])
        if not any(open_):
            break
        keep = [j for j, r in enumerate(alive) if open_[r]]
        keep, alive = (None if len(keep) == len(alive) else keep), [r for r in alive if open_[r]]
        z = next_logits(drawn[alive], keep)
    return rows


def sample_bar_by_bar(distribution, vocab, grammar, n: int = 1, prefix=(), seed: int = 0,
                      max_len: int = 800, retries: int = 10, temperature: float = 1.0,
                      boundary: str = BOUNDARY, counts: dict | None = None) -> list:
    """Constrained sampling nearer the model conditioned on the grammar than the greedy mask, for a
    model that scores a whole row: ``distribution(tokens)`` gives the probabilities (V,) of the
    token after ``tokens`` (an n-gram's ``NGramLM.distribution``); ``grammar``: a ``TuneGrammar``, or
    True for one with its defaults (``as_grammar``). The header is drawn under the
    mask; then each bar (up to its bar line, or <s>) is drawn freely, token by token, and drawn
    again, up to ``retries`` times, while the grammar refuses one of its tokens; a bar refused every
    time is drawn under the mask (``TuneGrammar.allowed``), so every tune is well formed. Keeping a
    free bar only when it fits is rejection sampling of that bar, given the tune so far: exact bar
    by bar, not for the whole tune (a bar is never drawn again for the sake of a later one).
    ``retries=0`` is the greedy mask. Returns ``n`` lists of the tokens after ``prefix``, without
    <s> (``boundary``); the grammar's own ``max_len`` bounds a tune, and ``max_len`` stops it.
    ``counts`` (a dict, optional) gets what it cost: "bars" (bars of the body kept, the end <s> counted
    as one), "refused" (free bars drawn and thrown away) and "masked" (bars refused ``retries`` times,
    then drawn under the mask).
    ``NGramLM.sample_many`` calls it with ``retries`` (notebooks 04 and 08)."""
    check_counts(n=n, max_len=max_len)
    check_counts(retries=retries, minimum=0)
    check_sampling(temperature, None, None)
    grammar = as_grammar(grammar, vocab, max_len)
    if grammar is None:
        raise ValueError("sample_bar_by_bar needs a grammar (a TuneGrammar or True)")
    index, rng = {t: i for i, t in enumerate(vocab)}, np.random.default_rng(seed)

    def draw(tokens, mask=None):
        """The next token after ``tokens``: temperature, then the mask (if any), then a draw."""
        p = np.asarray(distribution(tokens), dtype=float).copy()
        if UNK in index:
            p[index[UNK]] = 0.0
        if mask is not None:
            p = p * mask if (p * mask).sum() > 0 else mask.astype(float)   # the model gives them nothing
        if temperature == 0:
            return vocab[int(np.argmax(p))]
        p = p ** (1.0 / temperature)
        return vocab[int(rng.choice(len(p), p=p / p.sum()))]

    def bar(row, state, masked):
        """The tokens of one bar after ``row`` and the state after them; None if the grammar refuses one."""
        tokens = []
        while len(row) + len(tokens) < len(prefix) + max_len:
            allowed = grammar.allowed(state)
            token = draw(row + tokens, allowed if masked else None)
            if not allowed[index[token]]:
                return None
            tokens.append(token)
            if token == boundary:
                break
            state = grammar.advance(state, token)
            if state.phase != "body" or token_kind(token) == "bar":   # a header token is a bar of its own
                break
        return tokens, state

    rows, cost = [], {"bars": 0, "refused": 0, "masked": 0}
    for _ in range(n):
        row, state = list(prefix), grammar.read(prefix)
        while len(row) < len(prefix) + max_len and (not row or row[-1] != boundary):
            drawn, body = None, state.phase == "body"
            for _ in range(retries if body else 0):     # the header: under the mask
                drawn = bar(row, state, masked=False)
                if drawn is not None:
                    break
                cost["refused"] += 1
            cost["bars"] += body
            cost["masked"] += body and drawn is None
            tokens, state = drawn or bar(row, state, masked=True)
            row += tokens
        rows.append([t for t in row[len(prefix):] if t != boundary])
    if counts is not None:
        counts.update(cost)
    return rows
