"""Music corpora from music21's bundled corpus, offline, cached as small ``.npz`` files.

Four corpora (used from notebook 00 on):

* ``"chorales"``: Bach's 371 chorales (Riemenschneider numbering, ``music21.corpus.chorales``),
  four voices soprano, alto, tenor, bass -> voice 0..3 (notebooks 05, 07, 08).
* ``"oneills"``: *O'Neill's 1850 Melodies* (Francis O'Neill, *O'Neill's Music of Ireland: Eighteen
  Hundred and Fifty Melodies*, Chicago, 1903), ABC (notebook 04, folk-rnn style).
* ``"ryans"``: *Ryan's Mammoth Collection* (1883), ABC.
* ``"essen"``: the Essen folksong collection (Schaffrath), ABC; non-commercial use only.

Every piece becomes a :class:`Piece` whose ``notes`` array has one row per note,
``[start, end, pitch, voice]``, times in quarter notes and pitch as a MIDI number.
Parsing with music21 takes minutes, so ``load_corpus`` reads a cache built once by
``build_cache`` (``python -m musiclab.corpora --rebuild``). A corrupt, truncated or incomplete
cache raises ValueError naming the file and the command that rebuilds it.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import hashlib
import io
import json
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .abc import abc_field, abc_key, abc_meter, check_abc_text, normalize_abc
from .files import atomic_write
from .checks import check_counts
from .config import progress_bar

__all__ = [
    "CORPORA", "Piece", "load_corpus", "load_abc_tunes", "parse_abc", "build_cache",
    "cache_is_current", "cache_path", "read_meta",
]

CORPORA = ("chorales", "oneills", "ryans", "essen")
ABC_FOLDERS = {"oneills": "oneills1850", "ryans": "ryansMammoth", "essen": "essenFolksong"}
CACHE_FORMAT = 1  # bump when the cache layout or the note extraction changes
CACHE_ARRAYS = ("notes", "offsets", "names", "keys", "meters", "abc_bytes", "abc_offsets", "meta")


@dataclass(eq=False)
class Piece:
    """One piece of music: ``notes`` is float32 (N, 4) with columns [start, end, pitch, voice].

    Times are in quarter notes, counted from the first downbeat: a piece that starts with a
    pickup (anacrusis) of one beat in 4/4 has its first note at 3.0, so bar lines fall on
    multiples of the bar length. (Use ``notes[:, :2] -= notes[:, 0].min()`` to start at 0.)
    """
    name: str
    corpus: str
    key: str     # "G major", "E minor", "A dorian" ... (ABC modes are kept)
    meter: str   # "4/4", "6/8" or "none" (free meter)
    notes: np.ndarray = field(repr=False)
    abc: str | None = field(default=None, repr=False)
    id: str = ""  # "corpus:index" in the corpus cache: checkpoints store the ids they trained on


def _check_name(name: str) -> None:
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; valid names: {', '.join(CORPORA)}")


# ----------------------------------------------------------------------------- music21 -> notes

def _key_name(k) -> str:
    """music21 Key -> "Bb major" (music21 writes flats as '-')."""
    return f"{k.tonic.name.replace('-', 'b')} {k.mode}"


def score_notes(score) -> np.ndarray:
    """All notes of a music21 score as float32 (N, 4) [start, end, pitch, voice].

    Voice = part index. Tied notes of the same pitch are merged (music21's ``stripTies`` also
    merges ABC ties between *different* pitches, e.g. O'Neill's ``B-c``, and loses the second
    note, so we merge ourselves). Grace notes and chord symbols are skipped.
    """
    from music21 import chord, harmony

    parts = list(score.parts) or [score]
    first_measure = parts[0].getElementsByClass("Measure").first()
    pickup_pad = float(first_measure.paddingLeft) if first_measure is not None else 0.0
    rows = []
    for voice, part in enumerate(parts):
        open_ties = {}  # midi pitch -> row index of a note whose tie continues
        for el in part.flatten().notes:
            if isinstance(el, harmony.Harmony) or el.duration.isGrace or el.quarterLength == 0:
                continue
            start = float(el.offset) + pickup_pad
            end = start + float(el.quarterLength)
            for n in (el.notes if isinstance(el, chord.Chord) else [el]):
                pitch = n.pitch.midi
                tie = n.tie if n.tie is not None else el.tie
                i = open_ties.get(pitch)
                if i is not None and abs(rows[i][1] - start) < 1e-6:
                    rows[i][1] = end  # continue the tied note
                else:
                    i = len(rows)
                    rows.append([start, end, pitch, voice])
                if tie is not None and tie.type in ("start", "continue"):
                    open_ties[pitch] = i
                else:
                    open_ties.pop(pitch, None)
    notes = np.array(rows, dtype=np.float32).reshape(-1, 4)
    order = np.lexsort((notes[:, 2], notes[:, 3], notes[:, 0]))  # by start, then voice, pitch
    return notes[order]


def parse_abc(text: str, name: str | None = None, corpus: str = "abc") -> Piece:
    """Parse one ABC tune with music21 -> Piece (melody: voice 0). Used by notebooks 00 and 04.

    Raises ValueError with the reason on empty text, text longer than ``MAX_ABC_CHARS`` (checked
    before parsing: music21 would take minutes), an unknown key (``K:Zmaj``), text music21 cannot
    parse, or a tune without notes (music21 silently returns an empty score for much garbage).
    Notebooks: 00, 04, 08, 10.
    """
    from music21 import converter, stream

    tonic, mode = abc_key(abc_field(check_abc_text(text), "K") or "C")
    name = name or abc_field(text, "T") or "untitled"
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")   # and music21's own messages on stderr (e.g. "messed up beam pair")
            score = converter.parse(text, format="abc")
    except Exception as e:  # music21 raises many kinds of errors on bad ABC
        raise ValueError(f"music21 cannot parse ABC tune {name!r}: {type(e).__name__}: {e}") from e
    if isinstance(score, stream.Opus):
        if len(score.scores) != 1:
            raise ValueError(f"ABC text {name!r} holds {len(score.scores)} tunes; pass one tune")
        score = score.scores[0]
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            notes = score_notes(score)
    except Exception as e:
        raise ValueError(f"cannot read the notes of ABC tune {name!r}: {e}") from e
    if len(notes) == 0:
        raise ValueError(f"ABC tune {name!r} has no notes (corrupt or not ABC?)")
    return Piece(name=name, corpus=corpus, key=f"{tonic} {mode}",
                 meter=abc_meter(abc_field(text, "M")), notes=notes, abc=text.strip())


# ----------------------------------------------------------------------------- sources

def corpus_root() -> Path:
    """The folder of music21's bundled corpus (inside the installed music21 package)."""
    from music21 import common
    return Path(common.getCorpusFilePath())


def read_abc_file(path) -> list[str]:
    """The tunes of one ABC file: text split before each ``X:`` line. ValueError naming the file
    if it cannot be read as UTF-8 text or holds no tune."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read ABC file {path}: {e}") from e
    tunes = [t.strip() for t in re.split(r"(?m)^(?=X:)", text)[1:]]
    if not tunes:
        raise ValueError(f"ABC file {path} holds no tune (no 'X:' line)")
    return tunes


def source_files(name: str) -> list[Path]:
    """The music21 corpus files a corpus is built from (sorted)."""
    _check_name(name)
    root = corpus_root()
    if name == "chorales":
        return sorted({_chorale_file(f) for f in _chorale_list()[1]})
    files = sorted((root / ABC_FOLDERS[name]).glob("*.abc"))
    if not files:
        raise ValueError(f"no ABC files in {root / ABC_FOLDERS[name]}: is music21's corpus installed?")
    return files


def _chorale_list() -> tuple[list[str], list[str]]:
    """(titles, corpus names like 'bach/bwv269') in Riemenschneider order, from music21."""
    from music21.corpus import chorales
    files = list(chorales.Iterator(returnType="filename"))
    by_number = chorales.ChoraleListRKBWV().byRiemenschneider
    titles = [f"{i:03d} {by_number[i]['title']}" for i in range(1, len(files) + 1)]
    return titles, files


@functools.lru_cache(maxsize=None)
def _chorale_file(work: str) -> Path:
    """The file ``music21.corpus.parse(work)`` reads (the first match, as music21 does)."""
    from music21 import corpus
    found = corpus.getWork(work)
    return Path(found[0] if isinstance(found, list) else found)


def load_abc_tunes(name: str) -> list[str]:
    """Raw ABC text of every tune of an ABC corpus ("oneills", "ryans", "essen"), in file order."""
    _check_name(name)
    if name not in ABC_FOLDERS:
        raise ValueError(f"corpus {name!r} is not ABC; ABC corpora: {', '.join(ABC_FOLDERS)}")
    return [t for f in source_files(name) for t in read_abc_file(f)]


def source_hash(name: str) -> tuple[int, str]:
    """(number of source files, sha256 of their corpus-relative paths and sizes)."""
    files, root = source_files(name), corpus_root()
    lines = [f"{f.relative_to(root).as_posix()}:{f.stat().st_size}" for f in files]
    return len(files), hashlib.sha256("\n".join(lines).encode()).hexdigest()


# ----------------------------------------------------------------------------- parsing a corpus

def _parse_chorale(item):
    """Worker: (title, corpus name) -> ("ok", Piece) or ("skip", title, reason)."""
    from music21 import converter, key
    title, work = item
    path = _chorale_file(work)
    try:
        score = converter.parse(path)
    except Exception as e:
        return "skip", title, f"cannot parse {path}: {type(e).__name__}: {e}"
    if len(score.parts) != 4:
        return "skip", title, f"{len(score.parts)} parts, not 4 ({path.name})"
    k = score.parts[0].recurse().getElementsByClass(key.KeySignature).first()
    if not isinstance(k, key.Key):  # a bare key signature: ask music21's key analysis
        k = score.analyze("key")
    ts = score.parts[0].recurse().getElementsByClass("TimeSignature").first()
    piece = Piece(name=title, corpus="chorales", key=_key_name(k),
                  meter=ts.ratioString if ts is not None else "none", notes=score_notes(score))
    return "ok", piece


def _parse_tune(item):
    """Worker: (corpus name, label, tune text) -> ("ok", Piece) or ("skip", label, reason).

    music21 reads the tune as normalised by ``musiclab.abc.normalize_abc`` (it misreads some
    decorations and annotations of the raw text); ``Piece.abc`` keeps the raw text.
    """
    corpus, label, text = item
    try:
        piece = parse_abc(normalize_abc(text), name=abc_field(text, "T"), corpus=corpus)
    except ValueError as e:
        return "skip", label, str(e)
    piece.abc = text.strip()
    return "ok", piece


def _items(name: str, limit: int | None):
    if name == "chorales":
        return _parse_chorale, list(zip(*_chorale_list()))[:limit]
    items = []
    for f in source_files(name):
        for t in read_abc_file(f):
            x, title = abc_field(t, "X"), abc_field(t, "T") or ""
            items.append((name, f"{f.name} X:{x} {title}".strip(), t))
    return _parse_tune, items[:limit]


def parse_corpus(name: str, limit: int | None = None, workers: int | None = None,
                 progress: bool = True) -> tuple[list[Piece], list[tuple[str, str]]]:
    """Parse (the first ``limit`` sources of) a corpus with music21, no cache.

    Returns (pieces, skipped) with skipped = [(label, reason)]. ``workers`` processes
    (default: up to 2) share the work; a progress bar shows progress. ``limit``: None or a positive int.
    """
    _check_name(name)
    check_counts(limit=limit)
    fn, items = _items(name, limit)
    items, skipped = _drop_repeats(name, items)
    workers = workers or min(2, os.cpu_count() or 1)
    bar = dict(total=len(items), desc=f"parsing {name}", disable=not progress, unit="piece")
    if workers > 1 and len(items) > 20:
        import multiprocessing as mp
        with mp.get_context().Pool(workers) as pool:
            results = list(progress_bar(pool.imap(fn, items, chunksize=8), **bar))
    else:
        results = [fn(item) for item in progress_bar(items, **bar)]
    pieces = [r[1] for r in results if r[0] == "ok"]
    skipped += [(r[1], r[2]) for r in results if r[0] == "skip"]
    return pieces, skipped


def _drop_repeats(name: str, items: list) -> tuple[list, list[tuple[str, str]]]:
    """music21's Riemenschneider list points several numbers at the same file: keep the first
    (a repeated chorale in both a training and a test split would flatter the test score)."""
    if name != "chorales":
        return items, []
    first, kept, skipped = {}, [], []
    for title, work in items:
        path = _chorale_file(work)
        if path in first:
            skipped.append((title, f"same file as {first[path]} ({path.name})"))
        else:
            first[path] = title
            kept.append((title, work))
    return kept, skipped


# ----------------------------------------------------------------------------- the cache

def _repo_data_dir() -> Path | None:
    """<repo>/data when musiclab runs from a source checkout (editable install), else None."""
    root = Path(__file__).resolve().parent.parent
    data = root / "data"
    return data if data.is_dir() and (root / "pyproject.toml").exists() else None


def _package_data_dir() -> Path | None:
    """musiclab/corpus_data in an installed wheel (the build copies data/ there), else None."""
    folder = Path(__file__).resolve().parent / "corpus_data"
    return folder if folder.is_dir() else None


def _user_cache_dir() -> Path:
    try:
        import platformdirs
        return Path(platformdirs.user_cache_dir("musiclab"))
    except ImportError:
        return Path.home() / ".cache" / "musiclab"


def cache_path(name: str) -> Path:
    """Where the cache of a corpus is: the repo's data/ (a source checkout), the wheel's
    musiclab/corpus_data (an installed package), or the user cache dir, the first that has it.
    For a cache not yet built: data/ when writable, else the user cache dir.
    Notebooks: 00, 05."""
    _check_name(name)
    repo, user = _repo_data_dir(), _user_cache_dir()
    for d in (repo, _package_data_dir(), user):
        if d is not None and (d / f"{name}.npz").exists():
            return d / f"{name}.npz"
    if repo is not None and os.access(repo, os.W_OK):
        return repo / f"{name}.npz"
    return user / f"{name}.npz"


def _pack_text(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Many strings -> (uint8 UTF-8 bytes, int64 offsets): compact, no pickle needed."""
    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.cumsum([0] + [len(b) for b in encoded]).astype(np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _write_cache(path: Path, name: str, pieces: list[Piece], meta: dict) -> None:
    notes = np.concatenate([p.notes for p in pieces]) if pieces else np.zeros((0, 4), np.float32)
    offsets = np.cumsum([0] + [len(p.notes) for p in pieces]).astype(np.int64)
    abc_bytes, abc_offsets = _pack_text([p.abc or "" for p in pieces])
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, notes=notes.astype(np.float32), offsets=offsets,
        names=np.array([p.name for p in pieces], dtype=str),
        keys=np.array([p.key for p in pieces], dtype=str),
        meters=np.array([p.meter for p in pieces], dtype=str),
        abc_bytes=abc_bytes, abc_offsets=abc_offsets, meta=np.array(json.dumps(meta)))
    atomic_write(path, buffer.getvalue())


def build_cache(name: str, limit: int | None = None, path=None, workers: int | None = None,
                progress: bool = True) -> Path:
    """Parse a corpus with music21 and write its cache (atomically); returns the path.

    ``limit`` parses only the first sources (a partial cache: ``cache_is_current`` says False);
    ``path`` defaults to :func:`cache_path`. Tunes music21 cannot parse are skipped and counted.
    """
    _check_name(name)
    import music21
    path = Path(path) if path is not None else cache_path(name)
    t0 = time.time()
    pieces, skipped = parse_corpus(name, limit=limit, workers=workers, progress=progress)
    n_files, digest = source_hash(name)
    meta = dict(format=CACHE_FORMAT, corpus=name, music21=music21.__version__,
                n_source_files=n_files, source_hash=digest, limit=limit,
                build_date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                build_seconds=round(time.time() - t0, 1), n_pieces=len(pieces),
                n_notes=int(sum(len(p.notes) for p in pieces)),
                skipped=len(skipped), skipped_pieces=[f"{a}: {b}" for a, b in skipped])
    _write_cache(path, name, pieces, meta)
    return path


def _read_arrays(path, names) -> dict:
    """The arrays ``names`` of a cache file, "meta" decoded to a dict. A file that is not a complete
    cache (corrupt, truncated, an array missing) raises ValueError naming it and the rebuild command."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in names}
        d["meta"] = json.loads(str(d["meta"]))
    except (FileNotFoundError, PermissionError):
        raise
    except Exception as e:  # BadZipFile, numpy's pickle refusal, KeyError, bad JSON, zlib errors ...
        name = path.stem if path.stem in CORPORA else "NAME"
        raise ValueError(f"corrupt corpus cache {path} ({type(e).__name__}: {e}); rebuild it with "
                         f"`python -m musiclab.corpora --rebuild {name}`") from e
    return d


def read_meta(path) -> dict:
    """The metadata dict stored in a cache file (ValueError for a broken file, as ``read_cache``).
    Notebooks: 00, 05."""
    return _read_arrays(path, ["meta"])["meta"]


def read_cache(path, limit: int | None = None) -> list[Piece]:
    """The pieces stored in a cache file (the first ``limit`` of them: None or a positive int).
    A corrupt, truncated or incomplete file raises ValueError naming it and the command that
    rebuilds it, ``python -m musiclab.corpora --rebuild NAME``."""
    check_counts(limit=limit)
    d = _read_arrays(path, CACHE_ARRAYS)
    meta = d["meta"]
    off, aoff, raw = d["offsets"], d["abc_offsets"], d["abc_bytes"].tobytes()
    n = len(off) - 1 if limit is None else min(limit, len(off) - 1)
    pieces = []
    for i in range(n):
        abc = raw[aoff[i]:aoff[i + 1]].decode("utf-8") or None
        pieces.append(Piece(name=str(d["names"][i]), corpus=meta["corpus"], key=str(d["keys"][i]),
                            meter=str(d["meters"][i]), notes=d["notes"][off[i]:off[i + 1]], abc=abc,
                            id=f"{meta['corpus']}:{i}"))
    return pieces


def cache_is_current(name: str) -> bool:
    """True when the cache exists, is complete and was built from the current corpus files
    (same number of files, same paths and sizes) with the current cache format."""
    path = cache_path(name)
    if not path.exists():
        return False
    meta = read_meta(path)
    n_files, digest = source_hash(name)
    return (meta.get("format") == CACHE_FORMAT and meta.get("limit") is None
            and meta.get("n_source_files") == n_files and meta.get("source_hash") == digest)


def load_corpus(name: str, limit: int | None = None) -> list[Piece]:
    """The pieces of a corpus ("chorales", "oneills", "ryans", "essen"), from its cache.

    ``limit``: None (all) or a positive int, the number of pieces from the start. Builds the cache
    first when it is missing (minutes for "essen"); a broken cache raises ValueError (see
    ``read_cache``).
    Notebooks: 00, 01, 02, 03, 04, 05, 07, 10, 11.
    """
    _check_name(name)
    check_counts(limit=limit)
    path = cache_path(name)
    if not path.exists():
        print(f"musiclab: no cache for {name!r} yet; parsing the corpus once into {path}")
        build_cache(name, path=path)
    elif read_meta(path).get("limit") is not None and limit is None:
        build_cache(name, path=path)  # a partial cache cannot serve the whole corpus
    return read_cache(path, limit=limit)


# ----------------------------------------------------------------------------- command line

def main(argv=None) -> int:
    """``python -m musiclab.corpora --rebuild [names]`` or ``--check [names]``."""
    ap = argparse.ArgumentParser(prog="python -m musiclab.corpora", description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help=f"corpora (default: all of {', '.join(CORPORA)})")
    ap.add_argument("--rebuild", action="store_true", help="parse the corpora and write the caches")
    ap.add_argument("--check", action="store_true", help="say whether each cache is current")
    ap.add_argument("--workers", type=int, default=None, help="parallel processes (default 2)")
    args = ap.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        ap.error(f"--workers must be a positive integer, got {args.workers}")
    unknown = [n for n in args.names if n not in CORPORA]
    if unknown:
        ap.error(f"unknown corpus {unknown[0]!r}; choose from {', '.join(CORPORA)}")
    names = args.names or list(CORPORA)
    stale = 0
    for n in names:
        if args.rebuild:
            path = build_cache(n, workers=args.workers)
            m = read_meta(path)
            print(f"{n}: {m['n_pieces']} pieces, {m['n_notes']} notes, {m['skipped']} skipped, "
                  f"{m['build_seconds']} s -> {path} ({path.stat().st_size / 1e6:.2f} MB)")
        if args.check or not args.rebuild:
            ok = cache_is_current(n)
            stale += not ok
            print(f"{n}: {'current' if ok else 'MISSING OR STALE'} ({cache_path(n)})")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
