"""Tests for musiclab.corpora: music21's corpora, parsed once and cached."""
import json
import re

import numpy as np
import pytest

from musiclab import corpora
from musiclab.corpora import (CORPORA, build_cache, cache_is_current, load_abc_tunes, load_corpus,
                              parse_abc)

KEY = re.compile(r"[A-G][#b]? (major|minor|dorian|phrygian|lydian|mixolydian|locrian)")
METER = re.compile(r"\d+/\d+|none")
ABC = ("oneills", "ryans", "essen")


def check_piece(p, corpus):
    assert p.corpus == corpus and p.name
    assert KEY.fullmatch(p.key), p.key
    assert METER.fullmatch(p.meter), p.meter
    n = p.notes
    assert n.dtype == np.float32 and n.ndim == 2 and n.shape[1] == 4 and len(n) > 0
    assert np.all(n[:, 1] > n[:, 0]) and np.all(n[:, 0] >= 0)
    assert np.all((n[:, 2] >= 21) & (n[:, 2] <= 108)) and np.all(n[:, 2] == np.round(n[:, 2]))
    assert np.all(np.diff(n[:, 0]) >= 0)  # sorted by start


def test_unknown_corpus_names_the_valid_ones():
    with pytest.raises(ValueError, match="chorales.*oneills.*ryans.*essen"):
        load_corpus("bach")
    with pytest.raises(ValueError, match="unknown corpus"):
        build_cache("nottingham")
    with pytest.raises(ValueError, match="not ABC"):
        load_abc_tunes("chorales")


def test_chorales_have_four_voices_in_order():
    pieces = load_corpus("chorales")
    assert len(pieces) >= 300
    for p in pieces:
        check_piece(p, "chorales")
        assert set(np.unique(p.notes[:, 3])) == {0, 1, 2, 3}
        assert p.abc is None
    # soprano above alto above tenor above bass, on average
    means = [np.mean(np.concatenate([p.notes[p.notes[:, 3] == v, 2] for p in pieces]))
             for v in range(4)]
    assert means[0] > means[1] > means[2] > means[3]
    assert len({p.name for p in pieces}) == len(pieces)


@pytest.mark.parametrize("name,at_least", [("oneills", 1800), ("ryans", 950), ("essen", 8000)])
def test_abc_corpora_are_melodies_with_their_text(name, at_least):
    pieces = load_corpus(name)
    assert len(pieces) >= at_least
    for p in pieces[::10]:
        check_piece(p, name)
        assert np.all(p.notes[:, 3] == 0)
        assert p.abc.startswith("X:") and "K:" in p.abc


def test_load_abc_tunes_splits_every_x_field():
    for name, folder in corpora.ABC_FOLDERS.items():
        tunes = load_abc_tunes(name)
        files = sorted((corpora.corpus_root() / folder).glob("*.abc"))
        n_x = sum(len(re.findall(r"(?m)^X:", f.read_text(encoding="utf-8"))) for f in files)
        assert len(tunes) == n_x > 500
        assert all(t.startswith("X:") for t in tunes)


def test_limit_gives_the_first_pieces():
    first = load_corpus("oneills", limit=5)
    assert len(first) == 5
    assert [p.name for p in first] == [p.name for p in load_corpus("oneills")[:5]]


def test_loading_uses_the_cache_not_music21(monkeypatch):
    def no_parsing(*args, **kwargs):
        raise AssertionError("load_corpus parsed with music21 instead of reading the cache")
    monkeypatch.setattr(corpora, "parse_corpus", no_parsing)
    for name in CORPORA:
        assert len(load_corpus(name, limit=3)) == 3


@pytest.mark.parametrize("name", CORPORA)
def test_caches_are_current(name):
    assert cache_is_current(name)
    meta = corpora.read_meta(corpora.cache_path(name))
    assert meta["limit"] is None and meta["n_pieces"] == len(load_corpus(name))
    if name == "chorales":
        from music21.corpus import chorales
        n_sources = len(list(chorales.Iterator(returnType="filename")))
    else:
        n_sources = len(load_abc_tunes(name))
    assert meta["n_pieces"] + meta["skipped"] == n_sources  # every source is a piece or counted


@pytest.mark.parametrize("name", CORPORA)
def test_rebuilding_a_few_pieces_gives_the_cached_pieces(name, tmp_path, monkeypatch):
    path = build_cache(name, limit=4, path=tmp_path / f"{name}.npz", workers=1, progress=False)
    rebuilt = corpora.read_cache(path)
    cached = load_corpus(name, limit=len(rebuilt))
    assert len(rebuilt) >= 3
    for a, b in zip(rebuilt, cached):
        assert (a.name, a.corpus, a.key, a.meter, a.abc) == (b.name, b.corpus, b.key, b.meter, b.abc)
        np.testing.assert_array_equal(a.notes, b.notes)
    # a partial cache is never "current"; neither is one built from other source files
    monkeypatch.setattr(corpora, "cache_path", lambda n: path)
    assert not cache_is_current(name)


def test_stale_source_hash_is_noticed(tmp_path, monkeypatch):
    path = tmp_path / "ryans.npz"
    pieces = load_corpus("ryans", limit=2)
    meta = corpora.read_meta(corpora.cache_path("ryans"))
    corpora._write_cache(path, "ryans", pieces, dict(meta, source_hash="0" * 64))
    monkeypatch.setattr(corpora, "cache_path", lambda n: path)
    assert not cache_is_current("ryans")
    corpora._write_cache(path, "ryans", pieces, meta)
    assert cache_is_current("ryans")  # the same file with the true hash is current
    assert json.loads(json.dumps(corpora.read_meta(path))) == meta


def test_corrupt_cache_file_is_named(tmp_path):
    path = tmp_path / "oneills.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="oneills.npz"):
        corpora.read_cache(path)


def test_parse_abc_notes_key_meter():
    p = parse_abc("X:1\nT:Scale\nM:4/4\nL:1/4\nK:G\nG A B c|d e f g|\n")
    assert (p.name, p.key, p.meter) == ("Scale", "G major", "4/4")
    np.testing.assert_array_equal(p.notes[:, 2], [67, 69, 71, 72, 74, 76, 78, 79])  # F# from K:G
    np.testing.assert_array_equal(p.notes[:, 0], np.arange(8))
    np.testing.assert_array_equal(p.notes[:, 1] - p.notes[:, 0], np.ones(8))


def test_parse_abc_ties_and_pickup():
    # a tie joins equal pitches only (music21's stripTies would swallow the c in "B-c")
    p = parse_abc("X:1\nM:4/4\nL:1/4\nK:C\nc2- c2 | B- c d2 |\n")
    np.testing.assert_array_equal(p.notes[:, :3], [[0, 4, 72], [4, 5, 71], [5, 6, 72], [6, 8, 74]])
    # a one-beat pickup in 3/4 starts on beat 3, so bar lines fall on multiples of 3
    p = parse_abc("X:1\nM:3/4\nL:1/4\nK:C\nC | E F G | c3 |]\n")
    np.testing.assert_array_equal(p.notes[:, 0], [2, 3, 4, 5, 6])


def test_parse_abc_modes_and_free_meter():
    p = parse_abc("X:1\nL:1/8\nK:Ador\nABcd efga|\n")
    assert (p.key, p.meter) == ("A dorian", "none")


@pytest.mark.parametrize("text,reason", [
    ("", "empty"),
    ("   \n", "empty"),
    ("X:1\nT:nothing\nK:C\n", "no notes"),
    ("this is not music at all", "cannot parse"),
    ("X:1\nT:x\nM:4/4\nK:C\n[[[[", "cannot parse.*chord"),
])
def test_parse_abc_rejects_bad_text(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_abc(text)


def test_corrupt_abc_file_is_named(tmp_path):
    bad = tmp_path / "broken.abc"
    bad.write_bytes(b"X:1\nT:\xff\xfe bad bytes\nK:C\nCDE|\n")
    with pytest.raises(ValueError, match="broken.abc"):
        corpora.read_abc_file(bad)
    empty = tmp_path / "empty.abc"
    empty.write_text("% just a comment\n")
    with pytest.raises(ValueError, match="empty.abc"):
        corpora.read_abc_file(empty)


def test_command_line_check(capsys):
    assert corpora.main(["--check", "oneills", "ryans"]) == 0
    out = capsys.readouterr().out
    assert "oneills: current" in out and "ryans: current" in out


def test_a_corrupt_truncated_or_incomplete_cache_names_the_file_and_the_rebuild(tmp_path, monkeypatch):
    real = corpora.cache_path("oneills").read_bytes()              # read only: data/ is never written
    arrays = dict(np.load(corpora.cache_path("oneills"), allow_pickle=False))
    broken = {"corrupt": lambda p: p.write_bytes(np.random.default_rng(0).bytes(1000)),
              "truncated": lambda p: p.write_bytes(real[:len(real) // 2]),
              "no meta": lambda p: np.savez(p, **{k: v for k, v in arrays.items() if k != "meta"}),
              "no notes": lambda p: np.savez(p, **{k: v for k, v in arrays.items() if k != "notes"})}
    for what, write in broken.items():
        path = tmp_path / what / "oneills.npz"
        path.parent.mkdir()
        write(path)
        monkeypatch.setattr(corpora, "cache_path", lambda name: path)
        readers = [corpora.read_cache, lambda p: load_corpus("oneills")] + [corpora.read_meta] * (what != "no notes")
        for read in readers:
            with pytest.raises(ValueError, match=rf"corrupt corpus cache .*{re.escape(str(path))}.*"
                                                 rf"`python -m musiclab.corpora --rebuild oneills`"):
                read(path)
    assert corpora.read_meta(path)["corpus"] == "oneills"       # meta alone is fine when only notes are missing
    with pytest.raises(FileNotFoundError):                        # missing is not corrupt
        corpora.read_cache(tmp_path / "oneills.npz")
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        corpora.read_cache(path, limit=0)


@pytest.mark.parametrize("args, words", [(["--check", "nosuch"], "unknown corpus 'nosuch'; choose from chorales"),
                                         (["--rebuild", "--workers", "0", "chorales"], "--workers must be a positive integer")])
def test_the_command_line_refuses_bad_options_before_touching_a_cache(args, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        corpora.main(args)
    assert exit_.value.code == 2 and words in capsys.readouterr().err
