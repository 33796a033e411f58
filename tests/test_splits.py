"""Tests for musiclab.splits: near-duplicates grouped, whole groups split, leaks detected."""
import time
from itertools import combinations

import numpy as np
import pytest

from musiclab.corpora import Piece, load_corpus, parse_abc
from musiclab.course.recipes import TUNE_QUICK_SIZES, tune_split
from musiclab.splits import (assert_no_leak, max_shared_fraction, melody_pitches,
                             near_duplicate_groups, pitch_ngrams, split_groups, split_pieces,
                             title_key)

JIG = """X:1
T:Test Jig
M:6/8
L:1/8
K:D
A|dfa afd|gfe fdB|AFA dFA|BGB AFD|
dfa afd|gfe fed|cBc ABc|d3 d2:|
|:e|fga afd|gbg efg|fga agf|e3 e2f|
gfg agf|gfe fed|cBc ABc|d3 d2:|
"""


def tune(pitches, name="tune", voice=0):
    """A monophonic Piece of eighth notes with these MIDI pitches."""
    start = np.arange(len(pitches)) * 0.5
    notes = np.stack([start, start + 0.5, pitches, np.full(len(pitches), voice)], axis=1)
    return Piece(name=name, corpus="test", key="C major", meter="4/4",
                 notes=notes.astype(np.float32).reshape(-1, 4))


def walk(seed, length, start=62):
    """A random melody (steps of up to a fifth): two walks share no 8-note n-gram by chance."""
    steps = np.random.default_rng(seed).integers(-7, 8, length - 1)
    return list(np.clip(start + np.concatenate([[0], np.cumsum(steps)]), 40, 90))


def same_group(groups, i, j):
    return groups[i] == groups[j]


def canonical(groups):
    """Group labels renamed by first appearance, to compare two partitions."""
    first = {}
    return np.array([first.setdefault(g, len(first)) for g in groups])


def brute_force_groups(pieces, n=8, threshold=0.5):
    """The grouping rule over all pairs, written as plainly as possible."""
    sets = [set(pitch_ngrams(p, n).tolist()) for p in pieces]
    label = list(range(len(pieces)))
    for a, b in combinations(range(len(pieces)), 2):
        small = min(len(sets[a]), len(sets[b]))
        if small and len(sets[a] & sets[b]) >= threshold * small:
            old, new = label[b], label[a]
            label = [new if x == old else x for x in label]
    return np.array(label)


@pytest.fixture(scope="module")
def jigs():
    """The jig, a copy with one more bar line, a copy with one ornament note, transposed copy."""
    original = parse_abc(JIG)
    bar_line = parse_abc(JIG.replace("AFD|\ndfa", "AFD||\ndfa"), name="bar line")
    ornament = parse_abc(JIG.replace("A|dfa afd|", "A|dfa a/g/fd|"), name="ornament")
    transposed = Piece("transposed", "test", "F major", "6/8", original.notes + [0, 0, 3, 0])
    return original, bar_line, ornament, transposed


@pytest.fixture(scope="module")
def oneills():
    return load_corpus("oneills")


@pytest.fixture(scope="module")
def chorales():
    return load_corpus("chorales")


# ----------------------------------------------------------------------------- n-grams

def test_ngrams_ignore_transposition_and_count_windows():
    melody = walk(1, 30)
    grams = pitch_ngrams(tune(melody))
    assert np.array_equal(grams, pitch_ngrams(tune([p + 5 for p in melody])))
    assert grams.dtype == np.uint64 and np.all(np.diff(grams.astype(np.float64)) > 0)
    assert len(grams) == 30 - 8 + 1  # a random walk repeats no 8-note window
    assert len(pitch_ngrams(tune(melody), n=4)) <= 30 - 4 + 1
    with pytest.raises(ValueError, match="n must be"):
        pitch_ngrams(tune(melody), n=12)


def test_ngrams_keep_repeated_notes():
    assert not np.array_equal(pitch_ngrams(tune([60, 62, 64, 65, 67, 69, 71, 72])),
                              pitch_ngrams(tune([60, 62, 62, 64, 65, 67, 69, 71, 72])))


def test_melody_is_the_chosen_voice_and_the_top_of_a_chord(chorales):
    chorale = chorales[0]
    soprano = chorale.notes[chorale.notes[:, 3] == 0]
    assert np.array_equal(melody_pitches(chorale), soprano[:, 2])
    assert not np.array_equal(pitch_ngrams(chorale), pitch_ngrams(chorale, voice=3))
    double_stop = tune([60, 62, 64]).notes
    double_stop = np.concatenate([double_stop, [[0.5, 1.0, 55, 0]]]).astype(np.float32)
    assert list(melody_pitches(double_stop)) == [60, 62, 64]


def test_short_melodies_match_only_the_same_short_melody():
    short = [60, 62, 64, 60, 67]
    pieces = [tune(short, "short"), tune([p - 2 for p in short], "short transposed"),
              tune(walk(2, 20)[:10] + short + walk(3, 20), "contains it"), tune([], "empty"),
              tune([], "empty too")]
    groups = near_duplicate_groups(pieces)
    assert same_group(groups, 0, 1)
    assert not same_group(groups, 0, 2)
    assert len(set(groups[2:])) == 3  # pieces without notes stay alone
    assert len(pitch_ngrams(pieces[3])) == 0


# ----------------------------------------------------------------------------- grouping

def test_copies_merge_and_a_shared_scale_run_does_not(jigs):
    original, bar_line, ornament, transposed = jigs
    assert np.array_equal(bar_line.notes, original.notes)  # only the bar line differs
    assert len(ornament.notes) == len(original.notes) + 1
    run = list(range(60, 73)) + list(range(72, 59, -1))  # two octaves of scale, up and down
    run_a, run_b = tune(run + walk(4, 30), "run a"), tune(walk(5, 30) + run, "run b")
    pieces = [original, bar_line, ornament, transposed, run_a, run_b]
    groups = near_duplicate_groups(pieces)
    assert len(set(groups[:4])) == 1
    assert len(set(groups)) == 3
    share = max_shared_fraction([run_a], [run_b])[0]
    assert 0 < share < 0.5


def test_merging_is_transitive():
    s1, s2, s3, s4 = walk(6, 10), walk(7, 30), walk(8, 30), walk(9, 10)
    a, b, c = tune(s1 + s2, "a"), tune(s2 + s3, "b"), tune(s3 + s4, "c")
    assert max_shared_fraction([a], [c])[0] == 0
    assert len(set(near_duplicate_groups([a, b, c]))) == 1
    assert len(set(near_duplicate_groups([a, c]))) == 2


def test_common_ngrams_cannot_hide_a_pair():
    """A and B share exactly half of A's n-grams, and those are the commonest of all (each in
    dozens of other tunes): skipping common n-grams when looking up candidates must not lose
    the pair."""
    common = walk(10, 27)                      # 20 n-grams
    others = []
    for k in range(200):                       # each holds 2 of those n-grams
        at = k % 19
        others.append(tune(walk(100 + k, 30) + common[at:at + 9] + walk(400 + k, 30), f"other {k}"))
    a = tune(common + walk(11, 20), "a")       # 20 common + 13 boundary and own n-grams
    b = tune(walk(12, 40) + common, "b")
    sa, sb = set(pitch_ngrams(a).tolist()), set(pitch_ngrams(b).tolist())
    assert len(sa & sb) == np.ceil(0.5 * len(sa))
    groups = near_duplicate_groups([a, b] + others)
    assert same_group(groups, 0, 1)
    assert np.array_equal(canonical(groups), canonical(brute_force_groups([a, b] + others)))


def test_grouping_equals_all_pairs_on_real_tunes(oneills):
    pieces = load_corpus("essen")[:400] + oneills[:400]
    assert np.array_equal(canonical(near_duplicate_groups(pieces)),
                          canonical(brute_force_groups(pieces)))


def test_known_duplicates_in_the_real_corpora(oneills, chorales):
    groups = near_duplicate_groups(oneills)
    owen_roe = [i for i, p in enumerate(oneills) if "Lamentation of Owen Roe" in p.name]
    assert len(owen_roe) == 2 and same_group(groups, *owen_roe)
    adams = [i for i, p in enumerate(chorales) if p.name[4:].startswith("Durch Adams Fall")]
    assert [chorales[i].name[:3] for i in adams] == ["100", "126"]
    for same_title in (False, True):
        assert same_group(near_duplicate_groups(chorales, same_title=same_title), *adams)


def test_title_key_matches_spellings_of_one_chorale_title():
    same = [("262 AAch Gott, vom Himmel sieh’ darein", "003 Ach Gott, vom Himmel sieh’ darein"),
            ("301 Ach, lieben Christen, seid getrost", "031 Ach lieben Christen, seid getrost"),
            ("101 Herr Christ, der ein’ge Gott’s-Sohn", "303 Herr Christ, der ein’ge Gott’ssohn")]
    for a, b in same:
        assert title_key(a) == title_key(b)
    assert title_key("030 Jesus Christus, unser Heiland") != title_key(
        "174 Jesus Christus, unser Heiland, der den Tod überwand")


def test_same_title_merges_chorales_whose_titles_match(chorales):
    by_melody = near_duplicate_groups(chorales)
    by_title = near_duplicate_groups(chorales, same_title=True)
    keys = [title_key(p.name) for p in chorales]
    for key in set(keys):
        assert len({g for g, k in zip(by_title, keys) if k == key}) == 1
    for g in set(by_melody):  # titles only add merges
        assert len(set(by_title[by_melody == g])) == 1
    assert len(set(by_title)) < len(set(by_melody))


def test_grouping_all_folk_tunes_is_fast():
    pieces = load_corpus("essen") + load_corpus("oneills") + load_corpus("ryans")
    assert len(pieces) > 11_000
    cpu, wall = time.process_time(), time.perf_counter()
    groups = near_duplicate_groups(pieces)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"grouped {len(pieces):,} folk tunes into {len(set(groups)):,} groups: "
          f"{cpu:.1f} s CPU, {wall:.1f} s wall")
    assert cpu < 10
    assert np.bincount(groups).max() < 100  # no giant group glued by common phrases


# ----------------------------------------------------------------------------- splitting

def test_whole_groups_go_to_one_side():
    groups = np.repeat(np.arange(300), np.random.default_rng(0).integers(1, 6, 300))
    split = split_groups(groups, (0.8, 0.1, 0.1), seed=3)
    sides = [set(groups[split[k]]) for k in ("train", "val", "test")]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert np.array_equal(np.sort(np.concatenate(list(split.values()))), np.arange(len(groups)))


def test_split_sizes_follow_the_fractions():
    groups = np.repeat(np.arange(500), np.random.default_rng(1).integers(1, 8, 500))
    largest = np.bincount(groups).max()
    for fractions in [(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.9, 0.1)]:
        split = split_groups(groups, fractions, seed=0)
        assert len(split) == len(fractions)
        for side, f in zip(split.values(), fractions):
            assert abs(len(side) - f * len(groups)) < 2 * largest
    with pytest.raises(ValueError, match="sum to 1"):
        split_groups(groups, (0.8, 0.1))


def test_split_is_deterministic_from_the_seed():
    groups = np.repeat(np.arange(200), 2)
    first, again, other = (split_groups(groups, seed=s) for s in (0, 0, 1))
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["test"], other["test"])


def test_split_pieces_reports_and_has_no_leak(oneills):
    split = split_pieces(oneills, seed=0)
    assert split.n_pieces == len(oneills)
    assert split.n_groups == len(set(split.groups)) < len(oneills)
    text = str(split)
    assert f"{len(oneills):,} pieces -> {split.n_groups:,} groups" in text
    assert f"train {len(split['train']):,}" in text and f"{split.n_merged:,} pieces" in text
    assert np.array_equal(split.train, split["train"])
    train = split.take(oneills, "train")
    assert_no_leak(train, split.take(oneills, "test"))
    assert_no_leak(train, split.take(oneills, "val"))


def test_chorale_split_with_titles_has_no_leak(chorales):
    split = split_pieces(chorales, same_title=True, seed=1)
    keys = [title_key(p.name) for p in chorales]
    train_titles = {keys[i] for i in split.train}
    assert not train_titles & {keys[i] for i in split.test}
    assert_no_leak(split.take(chorales, "train"), split.take(chorales, "test"))


# ----------------------------------------------------------------------------- leak checks

def test_max_shared_fraction_finds_the_copy(jigs):
    original, bar_line, ornament, transposed = jigs
    train = [tune(walk(20, 40), "other"), original]
    share, best = max_shared_fraction([transposed, ornament, tune(walk(21, 40))], train,
                                      return_index=True)
    assert share[0] == 1 and best[0] == 1
    assert 0.5 < share[1] < 1 and best[1] == 1
    assert share[2] == 0 and best[2] == -1


def test_assert_no_leak_names_the_worst_pair(oneills):
    owen_roe = [p for p in oneills if "Lamentation of Owen Roe" in p.name]
    others = [p for p in oneills if "Lamentation of Owen Roe" not in p.name]
    with pytest.raises(AssertionError, match=r"1 of 11 .*Lamentation of Owen Roe O'Neill.*"
                                             r"shares \d+% with training .*Lamentation"):
        assert_no_leak(others[:50] + owen_roe[:1], others[50:60] + owen_roe[1:])
    assert_no_leak(others[:50], others[50:60])


def test_subsample_keeps_each_side_inside_itself_and_repeats_from_the_seed(oneills):
    split = split_pieces(oneills, seed=0)
    small = split.subsample({"train": 10, "test": 2}, seed=1)
    assert len(small.train) == 10 and len(small.test) == 2 and np.array_equal(small.val, split.val)
    assert set(small.train) <= set(split.train) and set(small.test) <= set(split.test)
    again = split.subsample({"train": 10, "test": 2}, seed=1)
    assert np.array_equal(small.train, again.train) and np.array_equal(small.test, again.test)


def test_tune_split_in_quick_mode_keeps_every_training_tune_and_takes_other_sizes(monkeypatch):
    monkeypatch.setenv("MUSICLAB_MODE", "quick")
    pieces, split = tune_split(seed=0)
    _, study = tune_split(seed=0, sizes={"train": 30, "val": 5, "test": 5})
    for side in ("val", "test"):
        assert len(split[side]) == TUNE_QUICK_SIZES[side] and len(study[side]) == 5
    whole = split_pieces(pieces, fractions=(0.8, 0.1, 0.1), seed=0)
    assert "train" not in TUNE_QUICK_SIZES and np.array_equal(split.train, whole.train)   # 04 trains on every tune
    assert len(study.train) == 30 and set(study.train) <= set(whole.train)
