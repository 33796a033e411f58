"""A blind A/B listening test whose only state is a CSV file. Used by 08_evaluation.

Each pair holds one real and one generated clip in random order (A or B); the listener sees
only "A" and "B" and clicks which is more musical. Every click appends one row to the CSV
(read the file, add the row, write it back atomically with ``atomic_write``), so a kernel
restart or a crash loses nothing: ``RatingStore(path)`` reads all earlier ratings back.

The summary is a preference rate per model -- how often its clip was preferred to the real
one (0.5 = listeners cannot tell them apart) -- with a Wilson 95% interval (Wilson 1927),
which, unlike the textbook p +- 1.96 sqrt(p(1-p)/n), stays inside [0, 1] and is sensible for
the handful of ratings a class collects.
"""
import csv
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .train import atomic_write

__all__ = ["Pair", "make_pairs", "RatingStore", "wilson_interval", "preference_summary", "ListeningTest"]

FIELDS = ["time", "rater", "pair", "a_source", "b_source", "choice", "preferred"]
CHOICES = ("A", "B")
REAL = "real"


@dataclass
class Pair:
    """One blind comparison: clips ``a`` and ``b`` (anything ``musiclab.player`` plays) and
    their hidden sources (``"real"`` or a model's name)."""
    id: str
    a: object
    b: object
    a_source: str
    b_source: str


def make_pairs(real: list, generated: dict, seed: int = 0) -> list:
    """Pair the i-th real clip with the i-th clip of every model (``generated``: name -> list of
    clips), put real and generated at random on A or B, and shuffle the pairs. The same inputs
    and seed give the same pairs and ids, so a restarted notebook finds its earlier ratings."""
    if not real or not generated:
        raise ValueError("make_pairs needs real clips and at least one model's clips")
    if REAL in generated:
        raise ValueError(f"{REAL!r} is reserved for the real clips; rename that model")
    rng = np.random.default_rng(seed)
    pairs = []
    for name, clips in generated.items():
        for i, (r, g) in enumerate(zip(real, clips)):
            pid = f"{name} #{i}"
            if rng.random() < 0.5:
                pairs.append(Pair(pid, r, g, REAL, name))
            else:
                pairs.append(Pair(pid, g, r, name, REAL))
    return [pairs[i] for i in rng.permutation(len(pairs))]


class RatingStore:
    """Ratings kept in a CSV file with the columns ``FIELDS``; the file is the only state.

    >>> store = RatingStore("ratings.csv")          # reads earlier ratings if the file exists
    >>> store.add(pair, "A", rater="ana")           # appends one row, atomically
    """

    def __init__(self, path):
        self.path = Path(path)
        self.rows = self.read() if self.path.exists() else []

    def read(self) -> list:
        """All rows of the CSV, checked; a damaged file raises ValueError naming the line."""
        text = self.path.read_text(encoding="utf-8")
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header != FIELDS:
            raise ValueError(f"{self.path} is not a ratings file: header {header} instead of {FIELDS}")
        rows = []
        for line, values in enumerate(reader, start=2):
            if not values:
                continue
            if len(values) != len(FIELDS):
                raise ValueError(f"{self.path}, line {line}: {len(values)} fields instead of {len(FIELDS)} (corrupt file?)")
            row = dict(zip(FIELDS, values))
            if row["choice"] not in CHOICES:
                raise ValueError(f"{self.path}, line {line}: choice {row['choice']!r} is not one of {CHOICES}")
            if row["preferred"] != row["a_source" if row["choice"] == "A" else "b_source"]:
                raise ValueError(f"{self.path}, line {line}: 'preferred' does not match the chosen clip")
            try:
                float(row["time"])
            except ValueError:
                raise ValueError(f"{self.path}, line {line}: time {row['time']!r} is not a number") from None
            rows.append(row)
        return rows

    def add(self, pair: Pair, choice: str, rater: str = "") -> dict:
        """Record that ``rater`` found clip ``choice`` ("A" or "B") of ``pair`` more musical."""
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {CHOICES}, got {choice!r}")
        row = {"time": f"{time.time():.3f}", "rater": rater, "pair": pair.id, "a_source": pair.a_source,
               "b_source": pair.b_source, "choice": choice,
               "preferred": pair.a_source if choice == "A" else pair.b_source}
        rows = (self.read() if self.path.exists() else []) + [row]  # the file may have grown meanwhile
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.path, buffer.getvalue())
        self.rows = rows
        return row

    def rated(self, rater: str = "") -> set:
        """Ids of the pairs ``rater`` has already rated."""
        return {r["pair"] for r in self.rows if r["rater"] == rater}

    def __len__(self):
        return len(self.rows)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple:
    """Wilson score interval for a proportion k/n: the p with |k/n - p| <= z sqrt(p(1-p)/n).

        centre = (p^ + z^2/2n) / (1 + z^2/n),  half-width = z/(1 + z^2/n) sqrt(p^(1-p^)/n + z^2/4n^2)

    ``n = 0`` gives (0, 1): no ratings, no information.
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


def preference_summary(rows) -> dict:
    """For every model: ``{"n": pairs rated, "preferred": times its clip beat the real one,
    "rate": preferred / n, "low", "high": Wilson 95% interval}``."""
    summary = {}
    for row in rows:
        model = row["b_source"] if row["a_source"] == REAL else row["a_source"]
        s = summary.setdefault(model, {"n": 0, "preferred": 0})
        s["n"] += 1
        s["preferred"] += row["preferred"] == model
    for s in summary.values():
        s["rate"] = s["preferred"] / s["n"]
        s["low"], s["high"] = wilson_interval(s["preferred"], s["n"])
    return summary


class ListeningTest:
    """The widget: one pair at a time, two players labelled only "A" and "B", two buttons.
    ``choose("A")`` is what a click calls (call it yourself to simulate a listener).
    Pairs already rated by this rater (found in the CSV) are skipped, so a restart resumes."""

    def __init__(self, pairs, path, rater: str = "", **render_options):
        import ipywidgets as widgets
        if not pairs:
            raise ValueError("a listening test needs at least one pair")
        self.pairs, self.rater, self.render_options = list(pairs), rater, render_options
        self.store = RatingStore(path)
        self.out = widgets.Output()
        self.status = widgets.HTML()
        self.buttons = [widgets.Button(description=f"{c} is more musical", button_style="info") for c in CHOICES]
        for button, choice in zip(self.buttons, CHOICES):
            button.on_click(lambda _, choice=choice: self.choose(choice))
        self.widget = widgets.VBox([self.status, self.out, widgets.HBox(self.buttons)])
        self.show()

    def current(self):
        """The first pair this rater has not rated yet (None when all are done)."""
        done = self.store.rated(self.rater)
        return next((p for p in self.pairs if p.id not in done), None)

    def show(self):
        from .listen import player
        pair = self.current()
        n_done = len(self.store.rated(self.rater) & {p.id for p in self.pairs})
        self.status.value = f"<b>pair {n_done + 1} of {len(self.pairs)}</b>" if pair else "<b>all pairs rated, thank you</b>"
        for button in self.buttons:
            button.disabled = pair is None
        self.out.clear_output(wait=True)
        if pair is not None:
            with self.out:
                import IPython.display
                import ipywidgets as widgets
                IPython.display.display(widgets.HBox([player(pair.a, title="A", **self.render_options),
                                                      player(pair.b, title="B", **self.render_options)]))

    def choose(self, choice: str) -> dict:
        """Rate the current pair ("A" or "B"), save it, show the next pair."""
        pair = self.current()
        if pair is None:
            raise ValueError("every pair has been rated already")
        row = self.store.add(pair, choice, self.rater)
        self.show()
        return row

    def _ipython_display_(self):
        import IPython.display
        IPython.display.display(self.widget)
