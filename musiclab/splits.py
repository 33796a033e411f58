"""Leak-free train/val/test splits: group near-duplicate pieces, then split whole groups.

Splitting by file puts copies of one tune on both sides: O'Neill's prints some tunes twice
("Lamentation of Owen Roe O'Neill, The" and "The Lamentation of Owen Roe O'Neill"), the
folk collections hold transposed and ornamented variants, and Bach harmonised many chorale
melodies several times ("100 Durch Adams Fall" and "126 Durch Adams Fall"). A model that
memorises the training tunes then looks good on the test set. The rule (DESIGN.md, "Splits:
no leaks"), used by notebooks 02, 04, 05, 07 and 08:

1. :func:`pitch_ngrams` describes a melody by the set of its 8-note pitch n-grams, as
   intervals, so a transposed copy has the same set.
2. :func:`near_duplicate_groups`: two pieces are the same tune when one shares at least half
   of its n-grams with the other; "same tune" is made transitive with union-find.
3. :func:`split_groups` puts whole groups into train, val or test; :func:`split_pieces` does
   1-3 in one line.
4. :func:`assert_no_leak` (every training notebook) checks that no test piece shares half of
   its n-grams with a training piece; :func:`max_shared_fraction` measures it (also used by
   notebook 08 to see whether generated tunes copy training tunes).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

__all__ = [
    "melody_pitches", "pitch_ngrams", "title_key", "near_duplicate_groups", "split_groups", "Split",
    "split_pieces", "max_shared_fraction", "assert_no_leak",
]

MAX_N = 9  # n - 1 intervals of one byte each fit exactly in a 64-bit integer


# ----------------------------------------------------------------------------- n-grams

def _notes_of(piece_or_notes) -> np.ndarray:
    """The (N, 4) notes array of a Piece, or the array itself."""
    return np.asarray(getattr(piece_or_notes, "notes", piece_or_notes)).reshape(-1, 4)


def _name_of(piece, i: int) -> str:
    return getattr(piece, "name", None) or f"piece {i}"


def melody_pitches(piece_or_notes, voice: int = 0) -> np.ndarray:
    """The melody as MIDI pitches in start order: the notes of ``voice``, and where several start
    together (a double stop in a fiddle tune) the highest. Voice 0 is the tune of an ABC corpus
    and the soprano of a chorale. Repeated notes are kept (ties are already merged by
    ``corpora``), so "A2" and "AA" differ: dropping repeats made 1,126 Essen tunes one group."""
    notes = _notes_of(piece_or_notes)
    notes = notes[notes[:, 3] == voice]
    notes = notes[np.lexsort((-notes[:, 2], notes[:, 0]))]  # by start, highest pitch first
    first_at_onset = np.diff(notes[:, 0], prepend=-np.inf) > 0
    return notes[first_at_onset, 2].astype(np.int64)


def pitch_ngrams(piece_or_notes, n: int = 8, voice: int = 0) -> np.ndarray:
    """The set of transposition-invariant pitch n-grams of a melody (notebooks 02, 04, 05, 07, 08)
    as a sorted array of unique uint64 codes.

    An n-gram is n consecutive melody notes (:func:`melody_pitches` of ``voice``: 0 = the tune,
    or the chorale soprano), described by its n - 1 successive intervals, so a transposed copy
    has the same n-grams. Each interval (-127..127) + 128 is one byte (1..255); the n - 1 bytes
    packed into one 64-bit integer are the code: exact, no hash collisions (hence n <= 9).
    A melody of fewer than n notes gets one code for its whole interval sequence; its top bytes
    are 0, so it can equal only the code of the same short melody, never a full n-gram.
    An empty melody has no n-grams.
    """
    if not 2 <= n <= MAX_N:
        raise ValueError(f"n must be 2..{MAX_N} (n - 1 intervals packed in 64 bits), got {n}")
    pitches = melody_pitches(piece_or_notes, voice)
    if len(pitches) == 0:
        return np.zeros(0, dtype=np.uint64)
    steps = (np.diff(pitches) + 128).astype(np.uint64)  # one byte per interval, never 0
    k = min(n - 1, len(steps))     # intervals per code (fewer for a short melody)
    windows = len(steps) - k + 1
    codes = np.zeros(windows, dtype=np.uint64)
    for i in range(k):             # byte i of each code is interval i of its window
        codes |= steps[i:i + windows] << np.uint64(8 * i)
    return np.unique(codes)


# ----------------------------------------------------------------------------- titles

def title_key(name: str) -> str:
    """A chorale's tune name, normalised so that the harmonisations of one melody match (05, 07).

    music21's names are "<Riemenschneider number> <title>": "100 Durch Adams Fall ist ganz
    verderbt". The key drops the number, case, apostrophes and hyphens ("Gott’s-Sohn" =
    "Gott’ssohn"), other punctuation ("Ach, lieben Christen" = "Ach lieben
    Christen") and doubled letters (music21 spells one title "AAch Gott, vom Himmel").
    Notebooks: 05.
    """
    text = unicodedata.normalize("NFC", name).casefold()
    text = re.sub(r"^\s*\d+[a-z]?\s+", "", text)       # the Riemenschneider number
    text = re.sub(r"['’‘`´\-]", "", text)               # apostrophes and hyphens join
    text = re.sub(r"[^\w]+|_", " ", text)               # other punctuation separates
    text = re.sub(r"(\w)\1+", r"\1", text)              # "aach" -> "ach", "herr" -> "her"
    return " ".join(text.split())


# ----------------------------------------------------------------------------- grouping

def _union_find_labels(n_items: int, pairs) -> np.ndarray:
    """Connected components of the pairs (union-find), labelled 0, 1, ... in order of first item."""
    parent = list(range(n_items))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([root(i) for i in range(n_items)], dtype=np.int64)
    return np.unique(roots, return_inverse=True)[1].reshape(-1)


@dataclass
class _Index:
    """Inverted index: for each distinct n-gram code, the pieces that contain it."""
    codes: np.ndarray    # sorted distinct codes
    starts: np.ndarray   # pieces of codes[j] are pieces[starts[j]:starts[j] + counts[j]]
    counts: np.ndarray   # document frequency: how many pieces hold codes[j]
    pieces: np.ndarray   # piece numbers, grouped by code


def _sizes(gram_sets) -> np.ndarray:
    return np.array([len(g) for g in gram_sets], dtype=np.int64)


def _build_index(gram_sets) -> _Index:
    """The inverted index of a list of n-gram sets (each sorted and unique)."""
    owner = np.repeat(np.arange(len(gram_sets)), _sizes(gram_sets))
    allcodes = np.concatenate([np.zeros(0, np.uint64), *gram_sets])
    order = np.argsort(allcodes, kind="stable")
    codes, starts, counts = np.unique(allcodes[order], return_index=True, return_counts=True)
    return _Index(codes, starts, counts, owner[order])


def _postings(index: _Index, query_owner, query_codes):
    """All (query owner, indexed piece) pairs that share one of the query codes."""
    if len(index.codes) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    j = np.searchsorted(index.codes, query_codes).clip(max=len(index.codes) - 1)
    found = index.codes[j] == query_codes
    j, owner = j[found], np.asarray(query_owner)[found]
    counts = index.counts[j]
    first = np.repeat(index.starts[j], counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(owner, counts), index.pieces[first + offset]


def _n_needed(size, threshold: float):
    """Fewest shared n-grams that make a set of ``size`` n-grams count as a copy: >= threshold."""
    return np.ceil(np.asarray(size) * threshold - 1e-9)  # 1e-9: 10 * 0.3 is 3.0000000000000004


def _candidate_pairs(gram_sets, index: _Index, threshold: float):
    """Pairs (a, b), b at least as long as a, that might share >= threshold of a's n-grams.

    Piece a looks up only its *rarest* len(a) - need + 1 n-grams (need = ceil(threshold *
    len(a))), so common n-grams (scale runs in hundreds of tunes) are rarely looked up. This
    cannot miss a pair: the n-grams a skips number need - 1, fewer than the need it shares with
    b, so at least one shared n-gram is among those it looks up. The overlap is then counted
    exactly by :func:`near_duplicate_groups`.
    """
    sizes = _sizes(gram_sets)
    owner = np.repeat(np.arange(len(gram_sets)), sizes)
    codes = np.concatenate([np.zeros(0, np.uint64), *gram_sets])
    freq = index.counts[np.searchsorted(index.codes, codes)]
    order = np.lexsort((freq, owner))                              # each piece's rarest first
    rank = np.arange(len(codes)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    n_probe = sizes - _n_needed(sizes, threshold) + 1
    probe = order[rank < n_probe[owner]]
    a, b = _postings(index, owner[probe], codes[probe])
    keep = (a != b) & ((sizes[b] > sizes[a]) | ((sizes[b] == sizes[a]) & (b > a)))
    pairs = np.unique(a[keep] * len(gram_sets) + b[keep])  # each pair once
    return np.stack(np.divmod(pairs, max(len(gram_sets), 1)), axis=1)


def _check_threshold(threshold: float) -> None:
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")


def near_duplicate_groups(pieces, n: int = 8, threshold: float = 0.5, same_title: bool = False,
                          voice: int = 0) -> np.ndarray:
    """A group label (0, 1, ...) per piece; pieces of one tune share a label (02, 04, 05, 07, 08).

    Two pieces are the same tune when one shares at least ``threshold`` of its
    :func:`pitch_ngrams` with the other, |A & B| / min(|A|, |B|) >= threshold; groups are the
    transitive closure (union-find), so A~B and B~C put A, B, C in one group. So a short piece
    whose few n-grams all occur in a longer one joins that one's group. Pieces of fewer than n
    notes match only the same short melody; pieces without notes stay alone.
    ``same_title=True`` also merges pieces with the same :func:`title_key` (chorales: the
    harmonisations of one tune). Candidates come from an inverted index (n-gram -> pieces),
    not all pairs, so all 11,582 folk tunes take seconds.
    """
    _check_threshold(threshold)
    gram_sets = [pitch_ngrams(p, n, voice) for p in pieces]
    index = _build_index(gram_sets)
    candidates = _candidate_pairs(gram_sets, index, threshold)
    as_sets = [set(g.tolist()) for g in gram_sets]
    need = _n_needed(_sizes(gram_sets), threshold).tolist()
    pairs = [(a, b) for a, b in candidates.tolist() if len(as_sets[a] & as_sets[b]) >= need[a]]
    if same_title:
        first = {}
        for i, p in enumerate(pieces):
            pairs.append((first.setdefault(title_key(_name_of(p, i)), i), i))
    return _union_find_labels(len(gram_sets), pairs)


# ----------------------------------------------------------------------------- splitting

SIDES = {2: ("train", "test"), 3: ("train", "val", "test")}


def split_groups(groups, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> dict:
    """Indices of the pieces of each side, {"train": ..., "val": ..., "test": ...}, keeping every
    group on one side (02, 04, 05, 07, 08).

    The groups are shuffled with ``seed`` (same seed, same split); each in turn goes to the side
    furthest below its target size (fraction x number of pieces). So no side exceeds its target
    by a whole group, nor falls short by two of the largest. Two fractions give "train", "test".
    """
    groups = np.asarray(groups).reshape(-1)
    fractions = np.asarray(fractions, dtype=float)
    if len(fractions) not in SIDES or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1):
        raise ValueError(f"fractions must be 2 or 3 numbers >= 0 that sum to 1, "
                         f"got {tuple(fractions)}")
    labels, sizes = np.unique(groups, return_counts=True)
    target = fractions * len(groups)
    filled = np.zeros(len(fractions))
    side_of_group = {}
    for g in np.random.default_rng(seed).permutation(len(labels)):
        side = int(np.argmax(target - filled))  # ties: the earlier side (train)
        side_of_group[labels[g]] = side
        filled[side] += sizes[g]
    side_of_piece = np.array([side_of_group[g] for g in groups], dtype=np.int64)
    names = SIDES[len(fractions)]
    return {name: np.flatnonzero(side_of_piece == k) for k, name in enumerate(names)}


@dataclass
class Split:
    """A leak-free split: ``split["train"]`` (or ``split.train``) are indices into the pieces;
    ``groups`` is the group label of every piece. Printing it says how much was merged."""
    indices: dict
    groups: np.ndarray

    def __getitem__(self, side: str) -> np.ndarray:
        return self.indices[side]

    train = property(lambda self: self.indices["train"])
    val = property(lambda self: self.indices.get("val", np.zeros(0, np.int64)))
    test = property(lambda self: self.indices["test"])

    @property
    def n_pieces(self) -> int:
        return len(self.groups)

    @property
    def group_sizes(self) -> np.ndarray:
        """How many pieces each group holds."""
        return np.unique(self.groups, return_counts=True)[1]

    @property
    def n_groups(self) -> int:
        return len(self.group_sizes)

    @property
    def n_merged(self) -> int:
        """Pieces that share their group with at least one other piece."""
        sizes = self.group_sizes
        return int(sizes[sizes > 1].sum())

    def subsample(self, sizes: dict, seed: int = 0) -> "Split":
        """A seeded random subset of each side, ``sizes`` pieces per side (quick mode in 04, 08,
        10). A subset of a leak-free split is still leak-free; sides not in ``sizes`` stay whole."""
        rng = np.random.default_rng(seed)
        indices = {side: np.sort(rng.choice(idx, min(sizes[side], len(idx)), replace=False))
                   if side in sizes else idx for side, idx in self.indices.items()}
        return Split(indices=indices, groups=self.groups)

    def take(self, pieces, side: str) -> list:
        """The pieces of one side, e.g. ``split.take(pieces, "train")``."""
        return [pieces[i] for i in self.indices[side]]

    def __str__(self) -> str:
        sides = " / ".join(f"{k} {len(v):,}" for k, v in self.indices.items())
        return (f"{self.n_pieces:,} pieces -> {self.n_groups:,} groups ({self.n_merged:,} pieces "
                f"in {int((self.group_sizes > 1).sum()):,} groups of 2 or more); {sides}")

    __repr__ = __str__


def split_pieces(pieces, fractions=(0.8, 0.1, 0.1), seed: int = 0, n: int = 8,
                 threshold: float = 0.5, same_title: bool = False, voice: int = 0) -> Split:
    """Group near-duplicates and split whole groups, in one line (02, 04, 05, 07, 08):
    ``split = split_pieces(pieces, same_title=True)`` for chorales; ``print(split)``.
    Notebooks: 02, 04, 05, 07, 10."""
    groups = near_duplicate_groups(pieces, n=n, threshold=threshold, same_title=same_title,
                                   voice=voice)
    return Split(indices=split_groups(groups, fractions, seed), groups=groups)


# ----------------------------------------------------------------------------- leak checks

def _best_matches(test_pieces, train_pieces, n: int, voice: int):
    """(sizes, shared, best): each test piece's number of n-grams, the most of them found in one
    training piece, and which one (-1 where none shares any)."""
    test_sets = [pitch_ngrams(p, n, voice) for p in test_pieces]
    n_train = max(len(train_pieces), 1)
    index = _build_index([pitch_ngrams(p, n, voice) for p in train_pieces])
    sizes = _sizes(test_sets)
    owner = np.repeat(np.arange(len(test_sets)), sizes)
    t, r = _postings(index, owner, np.concatenate([np.zeros(0, np.uint64), *test_sets]))
    pair, count = np.unique(t * n_train + r, return_counts=True)  # n-grams per (test, train)
    t, r = np.divmod(pair, n_train)
    order = np.lexsort((r, -count, t))  # per test piece: the most shared, then the lowest index
    first = order[np.unique(t[order], return_index=True)[1]]
    shared = np.zeros(len(test_sets), dtype=np.int64)
    best = np.full(len(test_sets), -1, dtype=np.int64)
    shared[t[first]], best[t[first]] = count[first], r[first]
    return sizes, shared, best


def max_shared_fraction(test_pieces, train_pieces, n: int = 8, voice: int = 0,
                        return_index: bool = False):
    """For each test piece, the largest share of its n-grams found in any one training piece
    (0..1; 0 for a piece without n-grams). Used by every training notebook (via
    :func:`assert_no_leak`) and by 08 to see whether generated tunes copy training tunes.
    ``return_index=True`` also returns which training piece that is (-1 where none shares any).
    Notebooks: 02, 04, 05, 07, 10.
    """
    sizes, shared, best = _best_matches(test_pieces, train_pieces, n, voice)
    share = shared / np.maximum(sizes, 1)
    return (share, best) if return_index else share


def assert_no_leak(train_pieces, test_pieces, n: int = 8, threshold: float = 0.5,
                   voice: int = 0) -> None:
    """Raise AssertionError, naming the worst pair, when a test piece shares >= ``threshold`` of
    its n-grams with one training piece (every training notebook: 02, 04, 05, 07).

    Never raised for a :func:`split_pieces` split with the same n and threshold: such a pair
    is the same tune by :func:`near_duplicate_groups`, hence in one group, hence on one side.
    Notebooks: 02, 04, 05, 07, 10, 11.
    """
    _check_threshold(threshold)
    sizes, shared, best = _best_matches(test_pieces, train_pieces, n, voice)
    share = shared / np.maximum(sizes, 1)
    leaks = np.flatnonzero((sizes > 0) & (shared >= _n_needed(sizes, threshold)))
    if len(leaks):
        worst = int(leaks[np.argmax(share[leaks])])
        test_name = _name_of(test_pieces[worst], worst)
        train_name = _name_of(train_pieces[best[worst]], best[worst])
        raise AssertionError(
            f"{len(leaks)} of {len(share)} test pieces share >= {threshold:.0%} of their {n}-note "
            f"n-grams with a training piece; worst: test {test_name!r} shares "
            f"{share[worst]:.0%} with training {train_name!r}")
