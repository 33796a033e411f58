"""A blind A/B listening test whose only state is a CSV file. Used by 08_evaluation.

Blind means the listener can learn nothing from anything but the music:

* every pair holds one generated clip and its own real clip of the same style (a real clip is
  heard in one pair only), so a style or a clip heard before gives nothing away;
* every clip is cut or padded to the same length with the same fade-out (``equal_length``), so the
  duration the browser's player shows is the same number for all of them (a silent clip too);
* the generated clip lands on A or B at random (seeded; A in half of each model's pairs), and the
  order is stored in the CSV row; ``ListeningTest(shuffle=True)`` plays the pairs in an order of
  each rater's own (seeded by the rater's name);
* the pair id carries a hash of both clips' samples, so ratings belong to the sound that was
  heard: a retrained model (other audio) gets new ids and never inherits old ratings, while a
  restarted kernel (same audio) finds its ratings again.

The question is the Turing-test one, "Which one did a person write?" (A or B); a second, optional
one asks "Which is more musical?" (A, B or same). Every answer appends a row to the CSV (read the
file, add the row, write it back with ``atomic_write``) while holding a lock file beside it
(``.<name>.lock``), so listeners in several processes never lose each other's rows; a file that
is not a ratings file of this format raises ValueError naming the file and line, and a read-only
file raises PermissionError: neither is ever written over.

The summary per model is the rate at which listeners took its clip for the person-written one
(0.5: they cannot tell it from real music) with two 95% intervals: Wilson's (Wilson 1927), which
treats every rating as independent, and a bootstrap that resamples raters with replacement
(a cluster bootstrap), which is honest when raters differ: ten ratings by one listener are not ten
listeners.
"""
import contextlib
import csv
import hashlib
import io
import math
import re
import stat
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .abc import detokenize_abc
from .audio import SR, to_audio
from .corpora import parse_abc
from .files import atomic_write
from .listen import check_waveform, normalize, stereo_to_mono, wav_bytes

try:
    import fcntl
except ImportError:  # Windows: no lock (one listener per file)
    fcntl = None

__all__ = ["Pair", "equal_length", "make_pairs", "sounding_seconds", "check_clip", "tune_seconds", "pair_sounding", "RatingStore", "wilson_interval", "cluster_bootstrap",
           "preference_summary", "ListeningTest"]

FIELDS = ["time", "rater", "pair", "style", "a_source", "b_source", "person", "musical"]
PERSON = ("A", "B")              # "Which one did a person write?"
MUSICAL = ("A", "B", "same", "")  # "Which is more musical?" ("" = not answered)
REAL = "real"
SILENCE = 1e-4                   # a clip whose peak is below this (-80 dB) counts as silent
HASH = re.compile(r"[0-9a-f]{10}")


def _content_hash(*waveforms) -> str:
    """First 10 hex digits of the SHA-1 of the clips' float32 samples (length-prefixed, in order).
    (Private: ``musiclab.evaluation`` may grow a public ``content_id``; this one only names pairs.)"""
    h = hashlib.sha1()
    for y in waveforms:
        y = np.ascontiguousarray(y, dtype=np.float32)
        h.update(str(y.shape).encode())
        h.update(y.tobytes())
    return h.hexdigest()[:10]


def equal_length(waveforms, seconds: float, sr: int = SR, fade: float = 0.25) -> list:
    """Every waveform cut (or padded with silence) to exactly ``seconds``, with the same linear
    fade-out over the last ``fade`` seconds, so no clip's length or ending tells it apart."""
    n, n_fade = round(seconds * sr), round(fade * sr)
    if n <= 0 or not 0 <= n_fade <= n:
        raise ValueError(f"need seconds > 0 and 0 <= fade <= seconds, got seconds={seconds}, fade={fade}")
    ramp = np.ones(n, dtype=np.float32)
    ramp[n - n_fade:] = np.linspace(1, 0, n_fade, dtype=np.float32)
    out = []
    for i, y in enumerate(waveforms):
        y = check_waveform(y)
        if y.ndim != 1:
            raise ValueError(f"waveform {i} has shape {y.shape}; equal_length needs mono (1-D) waveforms")
        y = np.pad(y[:n], (0, max(0, n - len(y))))
        out.append(y * ramp)
    return out


@dataclass
class Pair:
    """One blind comparison of two equally long waveforms ``a`` and ``b``, one real and one from
    ``model``, in style ``style``; ``silent`` says the generated clip is silent (still a valid clip:
    a listener can tell, which is the model's fault)."""
    id: str
    a: np.ndarray
    b: np.ndarray
    a_source: str
    b_source: str
    style: str
    silent: bool = False

    @property
    def model(self) -> str:
        return self.b_source if self.a_source == REAL else self.a_source



def sounding_seconds(y, sr: int = SR, floor_db: float = -60.0) -> float:
    """How long a clip sounds: the time of its last sample within ``floor_db`` of its peak (0 for
    silence). Two clips cut to the same length can sound for very different times.
    Notebooks: 04, 05, 07, 08, 10, 11."""
    y = np.abs(np.asarray(y, dtype=float))
    if not y.size or y.max() <= 0:
        return 0.0
    return float(np.flatnonzero(y > y.max() * 10 ** (floor_db / 20)).max() / sr)


def check_clip(y, real_seconds: float, what: str, sr: int = SR, low: float = 0.5, high: float = 1.5) -> float:
    """The sounding seconds of a generated clip ``y`` (``sounding_seconds``), after checking what a
    learner is about to hear: ValueError naming ``what`` when the clip is silent, or sounds for less
    than ``low`` or more than ``high`` times ``real_seconds`` (the real median length of its kind,
    measured the same way). Issue 24: every clip a notebook plays goes through it.
    Notebooks: 04, 05, 07, 08, 10, 11."""
    if not real_seconds > 0:
        raise ValueError(f"real_seconds must be > 0 (the real median length), got {real_seconds!r}")
    seconds = sounding_seconds(y, sr)
    if seconds == 0:
        raise ValueError(f"{what}: the clip is silent")
    if not low * real_seconds <= seconds <= high * real_seconds:
        raise ValueError(f"{what}: the clip sounds for {seconds:.1f} s, outside {low}-{high} x the real median "
                         f"{real_seconds:.1f} s ({low * real_seconds:.1f}-{high * real_seconds:.1f} s)")
    return seconds


def tune_seconds(token_lists, title: str = "generated", program: int = 0, bpm: float = 100.0) -> list:
    """(tokens, Piece, seconds) of every token list that music21 reads as a tune (``detokenize_abc``,
    then ``parse_abc``; a list it cannot read is left out): ``seconds`` is how long the tune sounds
    when played with ``program`` at ``bpm`` (``sounding_seconds`` of ``to_audio``), the length a
    notebook sets beside the real tunes' median (``check_clip``).
    Notebooks: 10."""
    out = []
    for tokens in token_lists:
        try:
            piece = parse_abc(detokenize_abc(tokens, title=title))
        except ValueError:
            continue
        out.append((tokens, piece, sounding_seconds(to_audio(piece, program=program, bpm=bpm))))
    return out


def pair_sounding(pairs, min_ratio: float = 0.8, sr: int = SR) -> list:
    """For every ``Pair``: dict(model, style, real, generated, short): the sounding seconds of its
    real and generated clip (``sounding_seconds``), and ``short`` when the generated clip sounds
    for less than ``min_ratio`` of its real partner, a length a listener could pick it out by.
    Notebooks: 08."""
    rows = []
    for p in pairs:
        real, gen = (p.a, p.b) if p.a_source == REAL else (p.b, p.a)
        r, g = sounding_seconds(real, sr), sounding_seconds(gen, sr)
        rows.append(dict(model=p.model, style=p.style, real=r, generated=g, short=bool(g < min_ratio * r)))
    return rows

def make_pairs(real: dict, generated: dict, seconds: float, seed: int = 0, sr: int = SR, fade: float = 0.25,
               **render_options) -> list:
    """Blind pairs from ``real`` (style -> clips) and ``generated`` (model -> style -> clips).

    A clip is anything ``musiclab.to_audio`` renders (``render_options`` go to it; stereo audio is
    mixed down to mono, see ``musiclab.listen.stereo_to_mono``); each is rendered,
    cut to ``seconds`` by ``equal_length`` and scaled to a 0.9 peak. Every generated clip gets its
    own real clip of the same style, drawn at random, so a real clip is heard at most once: a style
    with fewer real clips than generated ones raises ValueError. The generated clip lands on A or B
    at random, on A in half of each model's pairs (one more or less when odd), and the pairs are
    shuffled. The same inputs and seed give the same pairs and ids.
    Notebooks: 08.
    """
    if not generated:
        raise ValueError("make_pairs needs at least one model's clips")
    if REAL in generated:
        raise ValueError(f"{REAL!r} is reserved for the real clips; rename that model")
    rng = np.random.default_rng(seed)
    prepare = lambda clips: [normalize(y) for y in equal_length(
        [to_audio(stereo_to_mono(x), sr=sr, **render_options) for x in clips], seconds, sr, fade)]
    needed = {}
    for model, styles in generated.items():
        for style, clips in styles.items():
            needed[style] = needed.get(style, 0) + len(clips)
    pools = {}
    for style, n in needed.items():
        have = len(real.get(style, []))
        if n > have:
            raise ValueError(f"style {style!r}: {n} generated clips need {n} distinct real clips, but only {have} "
                             f"real clips of that style were given (real styles: {sorted(real)})")
        clips = prepare([real[style][i] for i in rng.permutation(have)[:n]])   # render only those heard
        if len({_content_hash(y) for y in clips}) < n:
            raise ValueError(f"style {style!r}: some real clips sound identical; each real clip must be heard once")
        pools[style] = clips
    pairs, silent = [], {}
    for model, styles in generated.items():
        n = sum(len(clips) for clips in styles.values())
        real_first = np.arange(n) % 2 == 0          # half the model's pairs put the real clip on A
        if n % 2:
            real_first[-1] = rng.random() < 0.5
        real_first = iter(real_first[rng.permutation(n)])
        for style, clips in styles.items():
            for g in prepare(clips):
                r = pools[style].pop()
                quiet = bool(np.abs(g).max() <= SILENCE)
                silent[model] = silent.get(model, 0) + quiet
                pid = f"{model}|{style}|{_content_hash(r, g)}"
                if next(real_first):
                    pairs.append(Pair(pid, r, g, REAL, model, style, quiet))
                else:
                    pairs.append(Pair(pid, g, r, model, REAL, style, quiet))
    if not pairs:
        raise ValueError("make_pairs got no generated clips")
    if any(silent.values()):
        warnings.warn("silent generated clips (kept, a listener will hear it): "
                      + ", ".join(f"{m}: {k}" for m, k in silent.items() if k), stacklevel=2)
    return [pairs[i] for i in rng.permutation(len(pairs))]


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on the file ``.<name>.lock`` beside ``path`` (one process at a time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


class RatingStore:
    """Ratings kept in a CSV file with the columns ``FIELDS``; the file is the only state.

    >>> store = RatingStore("ratings.csv")             # reads earlier ratings if the file exists
    >>> store.add(pair, "A", "same", rater="ana")      # appends one row, atomically, under a lock
    """

    def __init__(self, path):
        self.path = Path(path)
        self.rows = self.read()

    def read(self) -> list:
        """All rows of the CSV (none if there is no file yet), checked; anything that is not a
        ratings file of this format raises ValueError naming the file and the line."""
        if not self.path.exists():
            return []
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{self.path} is not a ratings file (not UTF-8 text)") from None
        reader = csv.reader(io.StringIO(text))
        rows, seen = [], {}
        try:
            header = next(reader, None)
            if header != FIELDS:
                raise ValueError(f"{self.path}, line 1: not a ratings file of this format: header {header}, "
                                 f"expected {FIELDS}")
            for values in reader:
                if values:
                    row = self._check(values, f"{self.path}, line {reader.line_num}")
                    key = (row["rater"], row["pair"])
                    if key in seen:
                        raise ValueError(f"{self.path}, line {reader.line_num}: rater {key[0]!r} rated pair "
                                         f"{key[1]!r} already on line {seen[key]}")
                    seen[key] = reader.line_num
                    rows.append(row)
        except csv.Error as e:
            raise ValueError(f"{self.path}, line {reader.line_num}: not readable as CSV ({e})") from None
        return rows

    @staticmethod
    def _check(values, where) -> dict:
        if len(values) != len(FIELDS):
            raise ValueError(f"{where}: {len(values)} fields instead of {len(FIELDS)} (corrupt file?)")
        row = dict(zip(FIELDS, values))
        try:
            float(row["time"])
        except ValueError:
            raise ValueError(f"{where}: time {row['time']!r} is not a number") from None
        if not row["rater"]:
            raise ValueError(f"{where}: no rater")
        if sorted([row["a_source"] == REAL, row["b_source"] == REAL]) != [False, True]:
            raise ValueError(f"{where}: sources {row['a_source']!r}, {row['b_source']!r}: "
                             f"need one {REAL!r} and one model")
        model = row["b_source"] if row["a_source"] == REAL else row["a_source"]
        prefix = f"{model}|{row['style']}|"
        if not (row["pair"].startswith(prefix) and HASH.fullmatch(row["pair"][len(prefix):])):
            raise ValueError(f"{where}: pair id {row['pair']!r} is not '<model>|<style>|<10 hex digits>' "
                             f"for model {model!r}, style {row['style']!r}")
        if row["person"] not in PERSON:
            raise ValueError(f"{where}: 'person' answer {row['person']!r} is not one of {PERSON}")
        if row["musical"] not in MUSICAL:
            raise ValueError(f"{where}: 'musical' answer {row['musical']!r} is not one of {MUSICAL}")
        return row

    def add(self, pair: Pair, person: str, musical: str = "", *, rater: str) -> dict:
        """Record ``rater``'s answers for ``pair``: which clip a person wrote ("A" or "B") and,
        optionally, which is more musical ("A", "B", "same"; "" = no answer). Safe with several
        processes adding to the same file; a read-only file raises PermissionError."""
        if person not in PERSON:
            raise ValueError(f"'person' answer must be one of {PERSON}, got {person!r}")
        if musical not in MUSICAL:
            raise ValueError(f"'musical' answer must be one of {MUSICAL}, got {musical!r}")
        if not rater or not rater.strip():
            raise ValueError("a rating needs a rater's name (the summary is clustered by rater)")
        row = {"time": f"{time.time():.3f}", "rater": rater, "pair": pair.id, "style": pair.style,
               "a_source": pair.a_source, "b_source": pair.b_source, "person": person, "musical": musical}
        self._check([row[f] for f in FIELDS], f"new row for {self.path}")
        with _locked(self.path):
            if self.path.exists() and not self.path.stat().st_mode & stat.S_IWUSR:  # mode bits: root too
                raise PermissionError(f"{self.path} is read-only; ratings are not written to it")
            rows = self.read()  # the file may have grown meanwhile; a damaged file raises here, unwritten
            if any(r["rater"] == rater and r["pair"] == pair.id for r in rows):
                raise ValueError(f"rater {rater!r} has already rated pair {pair.id!r} in {self.path}")
            rows.append(row)
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            atomic_write(self.path, buffer.getvalue())
        self.rows = rows
        return row

    def rated(self, rater: str) -> set:
        """Ids of the pairs ``rater`` has already rated."""
        return {r["pair"] for r in self.rows if r["rater"] == rater}

    def __len__(self):
        return len(self.rows)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple:
    """Wilson score interval for a proportion k/n: the p with |k/n - p| <= z sqrt(p(1-p)/n).

        centre = (p^ + z^2/2n) / (1 + z^2/n),  half-width = z/(1 + z^2/n) sqrt(p^(1-p^)/n + z^2/4n^2)

    ``n = 0`` gives (0, 1): no ratings, no information.
        Notebooks: 07.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def cluster_bootstrap(k, n, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple:
    """Percentile bootstrap interval of the pooled rate sum(k) / sum(n), where ``k[r]`` of ``n[r]``
    ratings of rater r were hits: draw as many raters as there are, with replacement, keeping each
    drawn rater's ratings together. With fewer than two raters there is no spread between raters
    to resample, and the interval is (nan, nan)."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    if k.shape != n.shape or k.ndim != 1 or np.any(n <= 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError("need per-rater counts with 0 <= k <= n and n > 0")
    if len(n) < 2:
        return math.nan, math.nan
    draws = np.random.default_rng(seed).integers(0, len(n), size=(n_boot, len(n)))
    rates = k[draws].sum(1) / n[draws].sum(1)
    low, high = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def preference_summary(rows, pairs=None, n_boot: int = 2000, seed: int = 0) -> dict:
    """Per model, from rating rows (only those of ``pairs`` if given, so ratings of a retrained
    model's old clips do not count): ``n`` ratings, ``raters``, ``fooled`` (times its clip was taken
    for the person-written one), ``rate = fooled / n``, the Wilson interval ``wilson_low/high``
    (every rating independent), the rater-clustered bootstrap ``boot_low/high``, and the answers
    to "which is more musical?": ``musical_n`` answered, of which ``musical_model``,
    ``musical_real`` and ``musical_same``.

    Read the two intervals together: Wilson's is too narrow when raters differ (it counts one
    listener's ten ratings as ten listeners); the bootstrap is too narrow when there are few raters
    (with three it sees only three rates; when every rater gave 0 of n it is the point (0, 0)), and
    is nan with one rater. ``raters`` says which caveat applies."""
    keep = None if pairs is None else {p.id for p in pairs}
    per_rater, summary = {}, {}
    for row in rows:
        if keep is not None and row["pair"] not in keep:
            continue
        model_side = "A" if row["a_source"] != REAL else "B"
        model = row["a_source"] if model_side == "A" else row["b_source"]
        s = summary.setdefault(model, dict(n=0, fooled=0, musical_n=0, musical_model=0, musical_real=0, musical_same=0))
        s["n"] += 1
        s["fooled"] += row["person"] == model_side
        if row["musical"]:
            s["musical_n"] += 1
            side = {"same": "same", model_side: "model"}.get(row["musical"], "real")
            s[f"musical_{side}"] += 1
        counts = per_rater.setdefault(model, {}).setdefault(row["rater"], [0, 0])
        counts[0] += row["person"] == model_side
        counts[1] += 1
    out = {}
    for model, s in summary.items():
        k, n = np.array(list(per_rater[model].values())).T
        out[model] = dict(n=s["n"], raters=len(n), fooled=s["fooled"], rate=s["fooled"] / s["n"])
        out[model]["wilson_low"], out[model]["wilson_high"] = wilson_interval(s["fooled"], s["n"])
        out[model]["boot_low"], out[model]["boot_high"] = cluster_bootstrap(k, n, n_boot=n_boot, seed=seed)
        out[model].update({key: value for key, value in s.items() if key.startswith("musical")})
    return out


class ListeningTest:
    """The widget: one pair at a time, two players labelled only "A" and "B" (the clips are equally
    long, so the duration the browser shows is the same for all), the two questions, and a
    "save, next pair" button. ``choose("A", "same")`` is what the button calls (call it yourself
    to simulate a listener). Pairs this rater has rated (found in the CSV) are skipped, so a
    restarted kernel resumes where it stopped. ``shuffle=True``: each rater hears the pairs in an
    order of their own, seeded by the rater's name (the same order again after a restart), so no
    pair is always heard first or after the same other pair.
    Notebooks: 08."""

    def __init__(self, pairs, path, rater: str, shuffle: bool = False):
        import ipywidgets as widgets
        if not pairs:
            raise ValueError("a listening test needs at least one pair")
        if not rater or not rater.strip():
            raise ValueError("a listening test needs a rater's name (the summary is clustered by rater)")
        self.pairs, self.rater = list(pairs), rater
        if shuffle:
            seed = int(hashlib.sha1(rater.encode("utf-8")).hexdigest()[:8], 16)
            self.pairs = [self.pairs[i] for i in np.random.default_rng(seed).permutation(len(self.pairs))]
        if len({p.id for p in self.pairs}) < len(self.pairs):
            raise ValueError("two pairs have the same id (the same clips twice)")
        lengths = {len(y) for p in self.pairs for y in (p.a, p.b)}
        if len(lengths) != 1 or any(np.ndim(y) != 1 for p in self.pairs for y in (p.a, p.b)):
            raise ValueError(f"every clip must be a waveform of the same length (make_pairs does that), got "
                             f"lengths {sorted(lengths)}: a listener could tell clips apart by their duration")
        self.store = RatingStore(path)
        self.status, self.message = widgets.HTML(), widgets.HTML()
        self.players = widgets.HBox()
        self.person = widgets.ToggleButtons(options=list(PERSON), value=None)
        self.musical = widgets.ToggleButtons(options=["A", "B", "same"], value=None)
        self.save = widgets.Button(description="save, next pair", button_style="info")
        self.save.on_click(lambda _: self._submit())
        self.widget = widgets.VBox([
            self.status, self.players,
            widgets.HTML("<b>Which one did a person write?</b>"), self.person,
            widgets.HTML("Which is more musical? <small>(optional)</small>"), self.musical,
            self.save, self.message])
        self.show()

    def current(self):
        """The first pair this rater has not rated yet (None when all are done)."""
        done = self.store.rated(self.rater)
        return next((p for p in self.pairs if p.id not in done), None)

    def show(self):
        import ipywidgets as widgets
        pair = self.current()
        n_done = len(self.store.rated(self.rater) & {p.id for p in self.pairs})
        self.status.value = (f"<b>pair {n_done + 1} of {len(self.pairs)}</b>" if pair
                             else "<b>all pairs rated, thank you</b>")
        self.person.value = self.musical.value = None
        for w in (self.person, self.musical, self.save):
            w.disabled = pair is None
        audio = lambda y: widgets.Audio(value=wav_bytes(y), format="wav", autoplay=False, loop=False)
        self.players.children = [] if pair is None else [
            widgets.VBox([widgets.HTML(f"<b>{name}</b>"), audio(y)]) for name, y in (("A", pair.a), ("B", pair.b))]

    def _submit(self):
        """The button's handler: needs an answer to the first question."""
        if self.person.value is None:
            self.message.value = "Please answer <b>Which one did a person write?</b> first."
            return
        self.message.value = ""
        self.choose(self.person.value, self.musical.value or "")

    def choose(self, person: str, musical: str = "") -> dict:
        """Answer for the current pair (``person``: "A"/"B"; ``musical``: "A"/"B"/"same"/""), save it,
        show the next pair."""
        pair = self.current()
        if pair is None:
            raise ValueError("every pair has been rated already")
        row = self.store.add(pair, person, musical, rater=self.rater)
        self.show()
        return row

    def summary(self, n_boot: int = 2000, seed: int = 0) -> dict:
        """``preference_summary`` of every rater's ratings of these pairs (other pairs in the file,
        e.g. a retrained model's old clips, do not count)."""
        return preference_summary(self.store.rows, pairs=self.pairs, n_boot=n_boot, seed=seed)

    def _ipython_display_(self):
        import IPython.display
        IPython.display.display(self.widget)
