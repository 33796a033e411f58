"""Music validity of ABC token lists: does a generated tune *read* as a tune? (notebooks 04, 08)

music21 reads almost anything, so "music21 could parse it" says little. These checks read the
folk-rnn tokens of ``musiclab.abc`` (Sturm et al. 2016) the way a musician reads the score:

* **header**: the tune starts with its meter and key, ``"M:6/8", "K:Gmaj"``;
* **bars add up**: every inner bar lasts exactly one measure of the meter in force. The first and
  the last bar may be partial (a pickup, an ending), so they are not checked; a bar next to a
  section line (repeat, double bar, ending) may be partial when it completes a measure with the
  bar across that line or with the opening pickup (each section has its own pickup). Durations are in
  eighth notes (the tokens' unit ``L:1/8``): a note lasts 1, "2", "/2", "3/2" ...; a tuplet
  ``(p:q:r`` plays its next r notes in q/p of their length (``(3`` = three in the time of two);
  broken rhythm ``a > b`` makes the pair 3/2 and 1/2 of their lengths (``>>``: 7/4 and 1/4, ``<``
  the other way round); a chord ``[CEG]`` lasts as long as its first note (``tokenize_abc`` writes
  ``[CE]2`` as ``[ C 2 E 2 ]``; a length after ``]`` multiplies it, as in ABC); ties ``-`` do not
  change lengths; an inline ``M:`` holds from the bar it opens (from the next one when it comes
  in the middle of a bar);
* **balanced chords**: every ``[`` is closed by ``]`` before the next ``[`` or bar line, and no
  ``]`` comes without ``[`` (the tokenizer drops slurs, so chords are the only brackets; ``(3`` is a
  tuplet marker that needs no closing, ``[1`` an ending);
* **ends on the tonic**: the pitch class of the last note (of a final chord, its lowest note) is
  the tonic of the key in force, read with the key signature and the accidentals earlier in the bar.

Real tunes pass the header, bar and chord checks almost always, the tonic check less often (tunes
with D.C. or segno end in the middle, some modal tunes end on another degree);
``tests/test_validity.py`` measures all four on O'Neill's and Ryan's tunes. Read a model's rates
beside the real tunes' rates, never alone (notebook 08, issue 11).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .abc import BAR_TOKENS, length as _length

__all__ = ["TuneValidity", "tune_validity", "validity_rates", "token_pitches", "key_signature", "token_histograms",
           "histogram_overlap", "bar_lines_per_tune", "LENGTHS_IN_EIGHTHS", "BarClock"]

_NOTE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)")
_KEY = re.compile(r"K:([A-G])([#b]?)(maj|min|dor|phr|lyd|mix|loc)")
_TUPLET = re.compile(r"\((\d+)(?::(\d*))?(?::(\d*))?")
_ENDING = re.compile(r"(:?\|)\d+([,-]\d+)*")            # "|1", ":|2" end a bar; "[1" does not
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
_MODE_SHIFT = {"maj": 0, "min": -3, "dor": -2, "phr": -4, "lyd": 1, "mix": -1, "loc": -5}
_FIFTHS = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F": -1}   # sharps (+) or flats (-) of the major key
SPECIALS = ("<s>", "<unk>")   # musiclab.data.BOUNDARY and UNK: skipped


def key_signature(key_token: str) -> tuple[int, dict]:
    """"K:Gmaj" -> (tonic pitch class, {letter: alteration}): G major is (7, {"F": +1}),
    D dorian (2, {}), Bb major (10, {"B": -1, "E": -1}). ValueError for an unknown key token."""
    m = _KEY.fullmatch(key_token)
    if m is None:
        raise ValueError(f"not a key token: {key_token!r} (expected e.g. 'K:Gmaj', 'K:Ador')")
    letter, acc, mode = m.groups()
    alter = {"#": 1, "b": -1, "": 0}[acc]
    fifths = _FIFTHS[letter] + 7 * alter + _MODE_SHIFT[mode]
    order = "FCGDAEB" if fifths > 0 else "BEADGCF"
    sign = 1 if fifths > 0 else -1
    return (_LETTER_PC[letter] + alter) % 12, {x: sign for x in order[:abs(fifths)]}


length = functools.lru_cache(maxsize=None)(_length)   # "3/2" -> Fraction(3, 2), read once


def _is_duration(token: str) -> bool:
    return re.fullmatch(r"\d+|\d*/\d+", token) is not None


def _is_bar(token: str) -> bool:
    return token in BAR_TOKENS or _ENDING.fullmatch(token) is not None


@functools.lru_cache(maxsize=None)
def _note_parts(token: str) -> tuple:
    """(letter, octave, alteration or None) of a note token: "^f" -> ("F", 5, 1), "C," -> ("C", 3, None)."""
    acc, letter, marks = _NOTE.fullmatch(token).groups()
    octave = (5 if letter.islower() else 4) + marks.count("'") - marks.count(",")
    return letter.upper(), octave, None if acc is None else _ACCIDENTAL[acc]


def _broken_factors(token: str) -> tuple[Fraction, Fraction]:
    """The factors broken rhythm gives the note before and the note after: ">" (3/2, 1/2), "<" (1/2, 3/2),
    ">>" (7/4, 1/4)."""
    long = 2 - Fraction(1, 2 ** len(token))
    return (long, 2 - long) if token[0] == ">" else (2 - long, long)


def _tuplet(token: str, meter_token: str) -> tuple[Fraction, int]:
    """"(p:q:r" -> (factor q/p, number of notes r), with ABC 2.1's defaults: r = p, and q = 3 for
    p = 2, 4, 8, q = 2 for p = 3, 6, otherwise 3 in compound meters (6/8, 9/8, 12/8) and 2."""
    p, q, r = (int(x) if x else None for x in _TUPLET.fullmatch(token).groups())
    if not p:
        return Fraction(1), 0
    compound = re.fullmatch(r"M:(6|9|12)/8", meter_token) is not None
    q = q or {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)
    return Fraction(q, p), r or p


def _meter(token: str) -> Fraction | None:
    """"M:6/8" -> 6/8 of a whole note; "M:none" -> None."""
    m = re.fullmatch(r"M:(\d+)/(\d+)", token)
    return Fraction(int(m[1]), int(m[2])) if m else None


@dataclass
class _Event:
    """A note, a rest or a chord: its written length in eighths, the factor of tuplets and broken
    rhythm, its MIDI pitches (none for a rest) and whether a tie "-" follows it."""
    length: Fraction
    pitches: list = field(default_factory=list)
    chord: bool = False
    factor: Fraction = Fraction(1)
    tied: bool = False

    @property
    def duration(self) -> Fraction:
        return self.length * self.factor


class _Reader:
    """Reads tokens left to right into bars of events, keeping the state a musician keeps: the
    meter and key in force, the accidentals of the bar, an open chord, a running tuplet, a pending
    broken rhythm."""

    def __init__(self, carry_accidentals: bool = True):
        self.carry = carry_accidentals
        self.bars = []                          # (meter of the bar, [events], the bar line after it)
        self.events, self.bar_meter = [], None
        self.meter, self.meter_token, self.signature = None, "M:none", {}
        self.bar_acc = {}                       # (letter, octave) -> alteration, until the bar line
        self.chord, self.chords_ok = None, True
        self.tuplet_factor, self.tuplet_left = Fraction(1), 0
        self.broken = None                      # factor for the note after ">" or "<"
        self.last = None                        # the event a duration token belongs to

    def pitch(self, tok: str) -> int:
        name, octave, acc = _note_parts(tok)
        if acc is not None and not self.carry:
            return 12 * (octave + 1) + _LETTER_PC[name] + acc
        if acc is not None:
            self.bar_acc[name, octave] = acc
        alter = self.bar_acc.get((name, octave), self.signature.get(name, 0))
        return 12 * (octave + 1) + _LETTER_PC[name] + alter

    def add(self, event: _Event) -> None:
        if not self.events:
            self.bar_meter = self.meter
        if self.tuplet_left > 0:
            event.factor *= self.tuplet_factor
            self.tuplet_left -= 1
        if self.broken is not None:
            event.factor *= self.broken
            self.broken = None
        self.events.append(event)
        self.last = event

    def end_bar(self, line: str | None) -> None:
        if self.chord is not None:              # a bar line inside a chord
            self.chords_ok, self.chord = False, None
        self.bars.append((self.bar_meter, self.events, line))
        self.events, self.bar_acc, self.last, self.broken = [], {}, None, None

    def read(self, tok: str) -> None:
        if _is_duration(tok):
            if self.chord:                      # a note inside a chord: its own length
                self.chord[-1].length = length(tok)
            elif self.last is not None:         # after ]: multiplies the chord, as in ABC
                self.last.length = self.last.length * length(tok) if self.last.chord else length(tok)
            self.last = None
        elif _NOTE.fullmatch(tok) or tok == "z":
            note = _Event(Fraction(1), [self.pitch(tok)] if tok != "z" else [])
            if self.chord is not None:
                self.chord.append(note)
            else:
                self.add(note)
        elif tok == "[":
            self.chords_ok &= self.chord is None
            self.chord, self.last = [], None
        elif tok == "]":
            if not self.chord:                  # no chord open, or an empty one
                self.chords_ok = False
            else:
                self.add(_Event(self.chord[0].length, sorted(p for n in self.chord for p in n.pitches), chord=True))
            self.chord = None
        elif _is_bar(tok):
            self.end_bar(tok)
        elif re.fullmatch(r">+|<+", tok) and self.events:
            first, self.broken = _broken_factors(tok)
            self.events[-1].factor *= first
            self.last = None
        elif tok == "-" and self.events:
            self.events[-1].tied = True
        elif _TUPLET.fullmatch(tok):
            self.tuplet_factor, self.tuplet_left = _tuplet(tok, self.meter_token)
            self.last = None
        elif tok.startswith("M:"):
            self.meter, self.meter_token = _meter(tok), tok
            if not self.events:                 # a meter change at a bar line holds for this bar
                self.bar_meter = self.meter
        elif _KEY.fullmatch(tok):
            self.signature = key_signature(tok)[1]
        else:                                   # "[1" and unknown tokens have no length
            self.last = None


def _read(tokens, carry_accidentals: bool = True) -> _Reader:
    reader = _Reader(carry_accidentals)
    for tok in tokens:
        if tok not in SPECIALS:
            reader.read(tok)
    if reader.chord is not None:                # a chord still open at the end
        reader.chords_ok = False
    reader.end_bar(None)
    reader.bars = [bar for bar in reader.bars if bar[1]]     # ":| |:" leaves no bar between them
    return reader


class BarClock:
    """How far into its bar a tune is, token by token: the eighths filled since the last bar line,
    read by the same reader as the validity checks (tuplets, broken rhythm, chords, a duration token
    lengthening the note before it). ``read(token)`` returns that length after the token, or None
    while it is unknown: a clock that starts inside a tune (a window of a token stream) knows
    nothing until it has seen a bar line (nor of a triplet begun before it); one that has seen <s>
    starts a new tune at 0.
    The GPT's position-in-bar input (``GPTConfig.bar_vocab``: the shipped music GPT of notebook 10)
    reads tokens with it.
    Notebooks: 10."""

    def __init__(self, known: bool = False):
        self.reader, self.known = _Reader(), known

    def read(self, token: str) -> Fraction | None:
        if token == SPECIALS[0]:                # <s>: a tune starts (or ends), at the start of a bar
            self.reader, self.known = _Reader(), True
        elif token not in SPECIALS:
            bars = len(self.reader.bars)
            self.reader.read(token)
            self.known |= len(self.reader.bars) > bars
        if not self.known:
            return None
        return sum((e.duration for e in self.reader.events), Fraction(0))


@dataclass
class TuneValidity:
    """The validity report of one tune (see the module docstring for the rules).

    ``bar_lengths`` holds (length, measure) in eighths for every checked inner bar; ``measure`` is
    None under ``M:none`` (such bars are not counted in ``bars``/``bars_ok``)."""
    header: bool
    bars: int
    bars_ok: int
    chords_balanced: bool
    ends_on_tonic: bool
    bar_lengths: list = field(repr=False, default_factory=list)

    @property
    def valid(self) -> bool:
        """All four checks pass (a tune with no inner bar passes the bar check vacuously)."""
        return self.header and self.bars_ok == self.bars and self.chords_balanced and self.ends_on_tonic


def _inner_bars(bars) -> list:
    """(length, measure, adds up) of every inner bar, in eighths (measure None under M:none).

    A bar adds up when it lasts one measure, or when it touches a section line (any bar line but
    "|": repeats, double bars, endings) and makes one measure together with the bar across that
    line or with the opening pickup: each section of a tune may have its own pickup, and the bar
    before the section line then lacks exactly that much ("G2G2 G2z || G | ...")."""
    lengths = [sum((e.duration for e in events), Fraction(0)) for _, events, _ in bars]
    out = []
    for i in range(1, len(bars) - 1):
        meter, _, line = bars[i]
        if meter is None:
            out.append((lengths[i], None, False))
            continue
        partners = []
        if line != "|":                 # a section line after this bar
            partners += [lengths[i + 1], lengths[0]]
        if bars[i - 1][2] != "|":       # a section line before it
            partners += [lengths[i - 1], lengths[0]]
        want = meter * 8
        out.append((lengths[i], want, lengths[i] == want or any(lengths[i] + p == want for p in partners)))
    return out


def tune_validity(tokens) -> TuneValidity:
    """The validity report of one token list (``tokenize_abc`` tokens or a model's sample; the
    special tokens <s> and <unk> are skipped).

    >>> tune_validity(["M:2/4", "K:Gmaj", "D", "|", "G", "A", "B", "c", "|", "d", "2", "G", "2", "|]"])
    TuneValidity(header=True, bars=1, bars_ok=1, chords_balanced=True, ends_on_tonic=True)
    Notebooks: 10.
    """
    tokens = [t for t in tokens if t not in SPECIALS]
    header = len(tokens) >= 2 and tokens[0].startswith("M:") and tokens[1].startswith("K:")
    reader = _read(tokens)
    checked = [(got, want, ok) for got, want, ok in _inner_bars(reader.bars) if want is not None]
    pitched = [e for _, events, _ in reader.bars for e in events if e.pitches]
    keys = [t for t in tokens if _KEY.fullmatch(t)]
    ends = bool(pitched and keys) and min(pitched[-1].pitches) % 12 == key_signature(keys[-1])[0]
    return TuneValidity(header=header, bars=len(checked), bars_ok=sum(ok for _, _, ok in checked),
                        chords_balanced=reader.chords_ok, ends_on_tonic=ends,
                        bar_lengths=[(got, want) for got, want, _ in checked])


def validity_rates(token_lists) -> dict:
    """Rates over a set of tunes: the share of tunes with a header, of inner bars that add up
    (pooled over all tunes' inner bars; ``n_bars`` of them), of tunes with balanced chords, ending
    on the tonic, and passing all four (``valid``); ``n_tunes``. Empty input gives nan rates.
    Notebooks: 04, 08, 10."""
    reports = [tune_validity(t) for t in token_lists]
    n_bars = sum(r.bars for r in reports)

    def share(values):
        return float(np.mean(values)) if len(values) else float("nan")

    return {"n_tunes": len(reports), "header": share([r.header for r in reports]),
            "bars": sum(r.bars_ok for r in reports) / n_bars if n_bars else float("nan"), "n_bars": n_bars,
            "chords": share([r.chords_balanced for r in reports]), "tonic": share([r.ends_on_tonic for r in reports]),
            "valid": share([r.valid for r in reports])}


def token_pitches(tokens, merge_ties: bool = True, carry_accidentals: bool = True) -> list[int]:
    """MIDI pitches of the notes of a token list in order (a chord gives its notes low to high),
    read with the key signature; a note tied to one of the same pitch counts once
    (``merge_ties``), as in a piano roll. For copy detection of tunes
    (``musiclab.evaluation.longest_common_run``, notebook 08).

    ``carry_accidentals``: ABC 2.1 (and printed music) lets an accidental hold for the same
    note in the same octave until the bar line ("d =B c B": both B natural). music21, which
    builds the corpus ``Piece.notes``, applies it to its own note only; pass False to read the
    tokens that way (the test suite checks that they then agree with the corpus notes).
    Notebooks: 08, 10."""
    out, tied = [], False
    for _, events, _ in _read(tokens, carry_accidentals).bars:
        for e in events:
            if not (merge_ties and tied and e.pitches == out[-len(e.pitches):]):
                out += e.pitches
            tied = e.tied and bool(e.pitches)
    return out


LENGTHS_IN_EIGHTHS = (Fraction(1, 2), Fraction(2, 3), Fraction(1), Fraction(3, 2), Fraction(2), Fraction(3),
                      Fraction(4), Fraction(6))   # 16th, triplet 8th, 8th, dotted 8th, quarter, dotted quarter, half, dotted half


def token_histograms(token_lists) -> dict:
    """What a set of tunes is made of, read from their tokens (no music21): "degrees", the share
    of notes on each pitch class counted from the tonic of the key in force (0 = the tonic, 7 =
    the fifth; transposition does not change it), and "lengths", the share of notes and rests
    lasting each of ``LENGTHS_IN_EIGHTHS`` (tuplets and broken rhythm applied), the last entry
    any other length. Each tune's histograms are taken first and averaged, so one long tune
    weighs as much as a short one. Both sum to 1 (nan without notes). Compare sets with
    ``histogram_overlap``.
    Notebooks: 04, 08, 10."""
    where = {d: i for i, d in enumerate(LENGTHS_IN_EIGHTHS)}
    per_tune = {"degrees": [], "lengths": []}
    for tokens in token_lists:
        tokens = [t for t in tokens if t not in SPECIALS]
        keys = [t for t in tokens if _KEY.fullmatch(t)]
        tonic = key_signature(keys[0])[0] if keys else 0
        degrees, lengths = np.zeros(12), np.zeros(len(LENGTHS_IN_EIGHTHS) + 1)
        for _, events, _ in _read(tokens).bars:
            for e in events:
                lengths[where.get(e.duration, len(LENGTHS_IN_EIGHTHS))] += 1
                for p in e.pitches:
                    degrees[(p - tonic) % 12] += 1
        for name, counts in (("degrees", degrees), ("lengths", lengths)):
            if counts.sum():
                per_tune[name].append(counts / counts.sum())
    return {name: np.mean(h, axis=0) if h else np.full(12 if name == "degrees" else len(LENGTHS_IN_EIGHTHS) + 1, np.nan)
            for name, h in per_tune.items()}


def bar_lines_per_tune(token_lists) -> float:
    """The mean number of bar-line tokens (``|``, ``||``, ``:|``, ``|1`` ...) per tune: how long a set
    of tunes runs, in bars, beside real tunes.
    Notebooks: 04, 08."""
    return float(np.mean([sum(_is_bar(t) for t in tokens) for tokens in token_lists]))


def histogram_overlap(p, q) -> float:
    """The overlap area sum(min(p_i, q_i)) of two histograms that sum to 1: 1 when they are equal,
    0 when they share no bin. ValueError for histograms of different lengths.
    Notebooks: 04, 08, 10."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"histograms of different lengths: {p.shape} and {q.shape}")
    return float(np.minimum(p, q).sum())
