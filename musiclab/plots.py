"""Pictures of music and training: piano rolls, spectrograms, loss curves.

Each function takes an optional matplotlib ``ax`` and returns the Figure. Used by every notebook.
"""
from itertools import cycle

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FormatStrFormatter, MaxNLocator

from .evaluation import bootstrap_interval, kl_floor_share, point_mass, proportion_interval
from .metrics import LENGTH_BIN_LABELS, bar_set_stats, corpus_summary, key_mode, tonic_class
from .music import HIGHEST, LOWEST

__all__ = [
    "plot_piano_roll", "plot_spectrogram", "moving_average", "plot_losses", "plot_gpt_history",
    "score_text", "corpus_table", "plot_corpus_stats", "plot_pitch_class_shares",
    "shared_pitch_range", "plot_roll_panels", "plot_bar_sets", "bar_stats_table", "plot_code_map",
    "print_table", "plot_influence_maps", "plot_gradient_reach", "plot_next_note_training",
    "plot_hidden_states", "plot_melodies", "plot_ngram_sweep", "plot_losses_vs_baselines",
    "plot_tune_statistics", "print_tune_statistics", "validity_table", "rating_table", "plot_key_statistics", "plot_lines",
    "plot_discriminator",
    "plot_value_by_shift", "plot_discriminator_runs", "plot_histogram_snapshots",
    "plot_ring_snapshots", "plot_shares", "plot_bar_snapshots", "value_table", "plot_metric_path",
    "interval_table", "overlap_table", "plot_overlap_densities", "plot_copied_run",
    "plot_accuracy_by_position", "plot_loglog", "plot_bits_per_note", "plot_val_curves",
    "plot_data_sweep", "plot_scaling_fit", "plot_attention_heads",
]

NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def plot_piano_roll(roll, ax=None, steps_per_quarter: int = 4, low: int = 21, title: str = "",
                    crop: bool = True, pitch_range=None):
    """Draw a piano roll (time, pitch): time in beats across, pitch up, C's labelled.

    ``crop`` zooms onto the pitch range actually used; ``pitch_range=(lo, hi)`` shows exactly
    MIDI lo..hi-1 instead (the same range for panels you compare, with their C's labelled).
    Float rolls (probabilities) are shown as grey levels.
    Notebooks: 00, 01, 02, 04, 05, 07.
    """
    roll = np.asarray(roll, dtype=np.float32)
    if roll.ndim != 2:
        raise ValueError(f"a piano roll must be 2-D (time, pitch), got shape {roll.shape}")
    fig, ax = _axes(ax, (10, 3))
    used = np.flatnonzero(roll.max(axis=0) > 0)
    lo, hi = (used.min(), used.max() + 1) if crop and len(used) else (0, roll.shape[1])
    lo, hi = max(lo - 2, 0), min(hi + 2, roll.shape[1])
    if pitch_range is not None:
        lo, hi = max(int(pitch_range[0]) - low, 0), min(int(pitch_range[1]) - low, roll.shape[1])
        if hi <= lo:
            raise ValueError(f"pitch_range {pitch_range} lies outside the roll's MIDI {low}..{low + roll.shape[1] - 1}")
    ax.imshow(roll[:, lo:hi].T, origin="lower", aspect="auto", cmap="gray_r", vmin=0, vmax=1,
              interpolation="nearest", extent=(0, len(roll) / steps_per_quarter, low + lo - 0.5, low + hi - 0.5))
    cs = [p for p in range(low + lo, low + hi) if p % 12 == 0]
    ax.set_yticks(cs, [f"C{p // 12 - 1}" for p in cs])
    ax.set_xlabel("beats (quarter notes)")
    ax.set_ylabel("pitch")
    ax.set_title(title)
    return fig


def plot_spectrogram(S_db, sr: int = 22050, hop_length: int = 256, ax=None, title: str = "",
                     hz: bool = False, vmin=None, vmax=None):
    """Draw a log-mel spectrogram (mels, frames) in dB against time in seconds.

    ``hz=True`` labels the mel axis with the centre frequencies of the bands in Hz (librosa's
    mel bands from 0 to sr/2); ``vmin``/``vmax`` fix the colour scale in dB, so that panels you
    compare share one.
    Notebooks: 00, 02."""
    S_db = np.asarray(S_db)
    fig, ax = _axes(ax, (10, 3))
    image = ax.imshow(S_db, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                      extent=(0, S_db.shape[1] * hop_length / sr, 0, S_db.shape[0]))
    fig.colorbar(image, ax=ax, label="dB")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    if hz:
        import librosa
        centres = librosa.mel_frequencies(S_db.shape[0] + 2, fmin=0.0, fmax=sr / 2)[1:-1]
        ticks = [f for f in (250, 500, 1000, 2000, 4000, 8000) if centres[0] <= f <= centres[-1]]
        ax.set_yticks(np.interp(ticks, centres, np.arange(S_db.shape[0]) + 0.5),
                      [f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
        ax.set_ylabel("frequency (Hz)")
    ax.set_title(title)
    return fig


def moving_average(values, width: int) -> np.ndarray:
    """The mean of every ``width`` consecutive values (``len(values) - width + 1`` of them): a
    noisy per-step loss made readable."""
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be an integer >= 1, got {width!r}")
    return np.convolve(np.asarray(values, dtype=float), np.ones(width) / width, mode="valid")


def plot_losses(history: dict, ax=None, title: str = "loss", logy: bool = False, smooth: int = 1):
    """Draw loss curves: ``history`` maps a name ("train", "val", ...) to a list of values per
    epoch/step (integer ticks); ``ml.fit``'s "best_epoch" is drawn as a dotted line. With
    ``smooth`` > 1 each curve is its :func:`moving_average` over that many steps, drawn at the
    step that ends each window.
    Notebooks: 01, 02, 07, 09."""
    fig, ax = _axes(ax, (6, 3.5))
    for name, values in history.items():
        if np.ndim(values) == 1 and len(values):  # skip scalars such as ml.fit's "best_epoch"
            values = moving_average(values, smooth) if smooth > 1 else values
            ax.plot(np.arange(smooth, smooth + len(values)), values, label=name,
                    marker="." if len(values) < 50 else None)
    if history.get("best_epoch") is not None:
        ax.axvline(history["best_epoch"], color="0.5", ls=":", label=f"best epoch ({history['best_epoch']})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch" if smooth == 1 else f"training step (moving average of {smooth})")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.set_title(title)
    return fig


def plot_gpt_history(history: dict, ax=None, title: str = "", smooth: int = 20):
    """Draw a ``train_gpt`` history: the training loss of each step as its :func:`moving_average`
    over ``smooth`` steps, the validation loss where it was measured (``val_step``).
    Notebooks: 10, 11."""
    fig, ax = _axes(ax, (7, 3.5))
    smooth = max(1, min(smooth, len(history["train"])))
    ax.plot(np.asarray(history["step"])[smooth - 1:], moving_average(history["train"], smooth),
            label=f"training (mean of {smooth} steps)")
    if history["val"]:
        ax.plot(history["val_step"], history["val"], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("NLL per token (nats)")
    ax.legend()
    ax.set_title(title)
    return fig


# ----------------------------------------------------------------------------- notebooks 00-02
def score_text(notes, voice: int, bar: float, n_bars: int = 4) -> str:
    """The first ``n_bars`` bars of one voice of ``notes`` [start, end, pitch, voice] as text: "G4:1"
    is the G above middle C for one quarter note, "|" a bar line every ``bar`` quarter notes
    (counted from time 0, the start of a pickup bar padded to full length).
    Notebooks: 00."""
    import pretty_midi
    notes = np.asarray(notes)
    words, current = [], 0
    for start, end, pitch, _ in notes[notes[:, 3] == voice]:
        if start >= n_bars * bar:
            break
        while start >= (current + 1) * bar:
            words.append("|")
            current += 1
        words.append(f"{pretty_midi.note_number_to_name(int(pitch))}:{end - start:g}")
    return " ".join(words)


def corpus_table(corpora: dict) -> dict:
    """Print one line of ``corpus_summary`` per corpus ({name: pieces}) with :func:`print_table`:
    pieces, notes, median length, shares of major, minor and modal keys, the commonest metres.
    Returns the summaries.
    Notebooks: 00."""
    table = {name: corpus_summary(pieces) for name, pieces in corpora.items()}
    print_table({name: {**{k: t[k] for k in ("pieces", "notes", "major", "minor", "modal")},
                        "median length": f"{t['median length']:.0f} qn",
                        "most common metres": ", ".join(f"{m} ({c})" for m, c in t["metres"])}
                 for name, t in table.items()},
                formats={"pieces": "d", "notes": "d", "major": ".0%", "minor": ".0%", "modal": ".0%"},
                columns={k: k for k in ("pieces", "notes", "median length", "major", "minor", "modal",
                                        "most common metres")}, label="corpus")
    return table


def plot_corpus_stats(corpora: dict):
    """Four panels over corpora ({name: pieces}): the pitch histogram (share of notes per MIDI
    pitch), piece lengths, the shares of major, minor and other modes, and the tonic of the key.
    Notebooks: 00."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    pitches, width, x = np.arange(LOWEST, HIGHEST), 0.8 / len(corpora), np.arange(len(corpora))
    for name, pieces in corpora.items():
        all_pitches = np.concatenate([p.notes[:, 2] for p in pieces]).astype(int)
        hist = np.bincount(all_pitches - LOWEST, minlength=len(pitches))[: len(pitches)]
        axes[0, 0].plot(pitches, hist / hist.sum(), label=name)
        axes[0, 1].hist([p.notes[:, 1].max() for p in pieces], bins=np.linspace(0, 200, 41), histtype="step",
                        density=True, label=name)
    axes[0, 0].set(xlabel="MIDI pitch (60 = middle C)", ylabel="share of notes", title="pitch histogram", xlim=(30, 100))
    axes[0, 1].set(xlabel="length (quarter notes)", ylabel="density", title="piece lengths (cut at 200)")
    bottom = np.zeros(len(corpora))
    for mode, style in [("major", dict(color="C0")), ("minor", dict(color="w", hatch="//")), ("modal", dict(color="C2"))]:
        share = np.array([np.mean([key_mode(p.key) == mode if mode != "modal" else key_mode(p.key) not in ("major", "minor")
                                   for p in pieces]) for pieces in corpora.values()])
        axes[1, 0].bar(x, share, bottom=bottom, label=mode, edgecolor="k", **style)
        bottom += share
    axes[1, 0].set(xticks=x, xticklabels=list(corpora), ylabel="share of pieces", title="major, minor, other modes")
    for i, (name, pieces) in enumerate(corpora.items()):
        tonics = np.bincount([tonic_class(p.key) for p in pieces], minlength=12) / len(pieces)
        axes[1, 1].bar(np.arange(12) + i * width, tonics, width, label=name)
    axes[1, 1].set(xticks=np.arange(12) + (len(corpora) - 1) * width / 2, xticklabels=NOTE_NAMES,  # under each group's centre
                   ylabel="share of pieces", title="tonic of the key")
    for ax in axes.flat:
        ax.legend()
    fig.tight_layout()
    return fig


def plot_pitch_class_shares(panels: dict, ylabel: str = "share of notes"):
    """Grouped bars of 12 pitch-class shares (C ... B), one panel per entry of ``panels``
    ({panel title: {label: 12 shares}}), side by side on one y scale.
    Notebooks: 00."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3), sharey=True, squeeze=False)
    width = 0.8 / max(len(bars) for bars in panels.values())
    for ax, (title, bars) in zip(axes[0], panels.items()):
        for i, (label, shares) in enumerate(bars.items()):
            ax.bar(np.arange(12) + i * width, shares, width, label=label)
        ax.set(xticks=np.arange(12) + (len(bars) - 1) * width / 2, xticklabels=NOTE_NAMES, title=title)  # group centres
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel(ylabel)
    return fig


def shared_pitch_range(*rolls, low: int = 21, pad: int = 2) -> tuple:
    """One MIDI range (lo, hi) that holds every note (value > 0.5) of all ``rolls`` (each (T, P) or
    (n, S, P), column 0 = MIDI ``low``), ``pad`` keys wider on each side: pass it as
    ``pitch_range`` to the panels you compare. Without a note: the whole roll.
    Notebooks: 02, 04."""
    n_keys = np.shape(rolls[0])[-1]
    on = np.any([(np.asarray(r) > 0.5).reshape(-1, n_keys).any(axis=0) for r in rolls], axis=0)
    used = low + np.flatnonzero(on)
    return (int(used.min()) - pad, int(used.max()) + 1 + pad) if len(used) else (low, low + n_keys)


def plot_roll_panels(rolls: dict, steps_per_quarter: int = 4, low: int = 21, pitch_range=None,
                     bar_steps: int | None = None, side_by_side: bool = False, title: str = "",
                     colorbar: str = ""):
    """One piano-roll panel per entry of ``rolls`` ({title: roll (T, P)}), all on one pitch range
    (``shared_pitch_range`` of the rolls unless given), stacked on one time axis or
    ``side_by_side``; ``bar_steps`` draws a red line every that many steps (bar lines);
    ``colorbar``: the label of one colour bar (grey level 0..1) beside all panels, for rolls of
    probabilities.
    Notebooks: 02, 04, 05, 07, 08, 11."""
    pitch_range = shared_pitch_range(*rolls.values(), low=low) if pitch_range is None else pitch_range
    shape = (1, len(rolls)) if side_by_side else (len(rolls), 1)
    figsize = (4 * len(rolls), 2.8) if side_by_side else (14, 2.3 * len(rolls) + 0.4)
    fig, axes = plt.subplots(*shape, figsize=figsize, sharex=not side_by_side, sharey=side_by_side, squeeze=False)
    for ax, (name, roll) in zip(axes.flat, rolls.items()):
        plot_piano_roll(roll, ax=ax, steps_per_quarter=steps_per_quarter, low=low, title=name, pitch_range=pitch_range)
        for k in range(1, -(-len(roll) // bar_steps) if bar_steps else 0):
            ax.axvline(k * bar_steps / steps_per_quarter, color="C3", lw=0.8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if colorbar:
        grey = plt.cm.ScalarMappable(norm=plt.Normalize(0, 1), cmap="gray_r")
        fig.colorbar(grey, ax=axes.ravel().tolist(), label=colorbar, fraction=0.02, pad=0.01)
    return fig


def plot_bar_sets(sets: dict, n: int = 8, steps_per_quarter: int = 4, low: int = 21):
    """The first ``n`` bars of each set of bars ({title: bars (m, S, P)}) in a row, one set per
    panel, with bar lines and one pitch range for all.
    Notebooks: 02."""
    steps_per_bar = np.shape(next(iter(sets.values())))[1]
    return plot_roll_panels({name: np.concatenate(b[:n]) for name, b in sets.items()},
                            steps_per_quarter=steps_per_quarter, low=low, bar_steps=steps_per_bar)


def bar_stats_table(sets: dict, low: int = 21, steps_per_bar: int = 16) -> dict:
    """Print ``bar_set_stats`` of every set of bars ({title: bars}) as one row each
    (:func:`print_table`), and return them ({title: stats}).
    Notebooks: 02."""
    table = {title: bar_set_stats(b, low=low, steps_per_bar=steps_per_bar) for title, b in sets.items()}
    print_table(table, formats=".3f")
    return table


def plot_code_map(xy, labels, names, ax=None, title: str = "", s: float = 3, alpha: float = 0.5):
    """A 2-D map of codes ``xy`` (n, 2), one colour per group: ``labels[i]`` is the index in
    ``names`` of point i's group (an instrument, a corpus).
    Notebooks: 02."""
    fig, ax = _axes(ax, (6, 5))
    for j, name in enumerate(names):
        mine = np.asarray(labels) == j
        ax.scatter(xy[mine, 0], xy[mine, 1], s=s, alpha=alpha, label=name)
    ax.legend(markerscale=4)
    ax.set(title=title, xlabel="PC 1 of the codes", ylabel="PC 2 of the codes")
    return fig


# ----------------------------------------------------------------------------- notebooks 03-05


def print_table(rows: dict, formats=".3f", columns: dict | None = None, label: str = "") -> None:
    """Print {row name: {column: value}} as an aligned text table. ``columns`` ({key: heading})
    picks, orders and names the columns (default: the first row's keys); ``formats`` is one format
    for every number or {key: format} (".3f" for keys it leaves out); numbers align right, a column
    of strings aligns left; ``label`` heads the column of row names.
    Notebooks: 03, 04, 05, 10."""
    if not rows:
        raise ValueError("print_table needs at least one row")
    columns = columns or {key: key for key in next(iter(rows.values()))}
    form = (lambda key: formats.get(key, ".3f")) if isinstance(formats, dict) else (lambda key: formats)
    cells = {str(name): [v if isinstance(v, str) else format(v, form(key)) for key, v in ((k, row[k]) for k in columns)]
             for name, row in rows.items()}
    align = ["<" if all(isinstance(row[k], str) for row in rows.values()) else ">" for k in columns]
    widths = [max(len(h), *(len(c[j]) for c in cells.values())) for j, h in enumerate(columns.values())]
    first = max(len(label), *map(len, cells))
    line = lambda name, values: f"{name:<{first}}" + "".join(f"  {v:{a}{w}}" for v, a, w in zip(values, align, widths))
    print(line(label, columns.values()).rstrip())
    for name, values in cells.items():
        print(line(name, values).rstrip())


def plot_influence_maps(maps: dict, vmin: float = -6, vmax: float = 0):
    """One heat map per {title: (T, T) matrix} of how much output step t (down) depends on input
    step s (across), ||d y_t / d x_s||, on one shared log10 colour scale, steps numbered from 1.
    A model without memory fills only the diagonal; a causal recurrent one the lower triangle.
    Notebooks: 03."""
    fig, axes = plt.subplots(1, len(maps), figsize=(4.5 * len(maps), 3.8), squeeze=False)
    for ax, (title, J) in zip(axes[0], maps.items()):
        J = np.asarray(J, dtype=float)
        ticks, names = range(len(J)), range(1, len(J) + 1)
        image = ax.imshow(np.log10(J + 1e-12), cmap="magma", vmin=vmin, vmax=vmax)
        ax.set(title=title, xlabel="input step s", ylabel="output step t",
               xticks=ticks, xticklabels=names, yticks=ticks, yticklabels=names)
    fig.colorbar(image, ax=list(axes[0]), label=r"$\log_{10}\|\partial y_t/\partial x_s\|_F$")
    return fig


def plot_gradient_reach(curves: dict, bounds: dict | None = None, styles: dict | None = None, ax=None,
                        ylabel: str = "gradient norm", title: str = "", ylim=None, legend_outside: bool = False):
    """Gradient norm against the lag T - t on a log scale, one line per {label: values by lag}.
    ``bounds`` ({label: values}) draws a bound dashed and thin in the colour of the line with the
    same label, named "label: bound" in the legend's second column; ``styles`` ({label:
    matplotlib keywords}) restyles single lines; ``legend_outside`` puts the legend to the right of
    the axes, where it covers no curve.
    Notebooks: 03."""
    fig, ax = _axes(ax, (7, 4.2))
    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        (line,) = ax.semilogy(np.arange(len(values)), values, label=label, zorder=3, **(styles or {}).get(label, {}))
        if bounds and label in bounds:  # named in the legend: a bound can run over another curve
            bound = np.asarray(bounds[label], dtype=float)
            ax.semilogy(np.arange(len(bound)), bound, color=line.get_color(), ls="--", lw=0.8, zorder=2,
                        label=f"{label}: bound")
    ax.set(xlabel="lag $T-t$", ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    handles, names = ax.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda i: names[i].endswith(": bound"))  # curves, then bounds
    where = dict(loc="upper left", bbox_to_anchor=(1.02, 1.0)) if legend_outside else {}
    ax.legend([handles[i] for i in order], [names[i] for i in order], fontsize=8, ncol=2 if bounds else 1, **where)
    return fig


def plot_next_note_training(histories: dict, baselines: dict, clip: float = 1.0):
    """Two panels for models whose training recorded "loss" and "grad_norm" (before clipping) at
    every step ({name: history}): the loss on a log scale against horizontal lines at
    {label: baseline in nats}, and the gradient norms against the clipping threshold ``clip``.
    Notebooks: 03."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, history in histories.items():
        axes[0].plot(history["loss"], label=name)
        axes[1].semilogy(history["grad_norm"], label=name)
    for (label, value), style in zip(baselines.items(), cycle([":", "--", "-."])):
        axes[0].axhline(value, color="k" if style == "--" else "gray", ls=style, label=f"{label} {value:.2f}")
    axes[1].axhline(clip, color="k", ls="--", label="clip threshold")
    axes[0].set(xlabel="training step", ylabel="cross-entropy (nats/note)", title="Training loss", yscale="log")
    axes[1].set(xlabel="training step", ylabel="gradient norm before clipping", title="Gradient norms")
    for ax in axes:
        ax.legend(fontsize=8)
    return fig


def plot_hidden_states(states, labels, ax=None, title: str = "Hidden state $h_t$"):
    """A hidden-state trajectory (T, H) as a heat map: one column per step, labelled with that
    step's input (``labels``, e.g. note names), one row per unit, from -1 (blue) to +1 (red), the
    range of tanh, with a colour bar.
    Notebooks: 03."""
    states = np.asarray(states, dtype=float)
    if len(labels) != len(states):
        raise ValueError(f"{len(labels)} labels for {len(states)} steps")
    fig, ax = _axes(ax, (11, 3.6))
    image = ax.imshow(states.T, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set(xticks=range(len(labels)), xticklabels=labels, xlabel="input note", ylabel="hidden unit", title=title)
    fig.colorbar(image, ax=ax, label="$h_{t,j}$ (tanh: -1 .. +1)", pad=0.01)
    return fig


def plot_melodies(reference, lines: dict, reference_label: str = "reference", note_names: dict | None = None,
                  ax=None, title: str = ""):
    """Melodies as steps, MIDI pitch against note index: ``reference`` as a thick grey band and
    each of ``lines`` ({label: pitches}) on top, so a melody that follows the reference hides
    inside the band. ``note_names`` ({MIDI pitch: name}) labels the pitch axis.
    Notebooks: 03."""
    fig, ax = _axes(ax, (11, 3))
    ax.step(range(len(reference)), reference, where="mid", color="lightgray", lw=6, label=reference_label)
    for label, pitches in lines.items():
        ax.step(range(len(pitches)), pitches, where="mid", lw=1.2, label=label)
    if note_names:
        ax.set_yticks(sorted(note_names), [note_names[p] for p in sorted(note_names)])
    ax.set(xlabel="note", ylabel="pitch" if note_names else "MIDI pitch", title=title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: the melodies fill the panel
    fig.tight_layout()
    return fig


def plot_ngram_sweep(models: dict, val_ppl: dict, ax=None):
    """Validation perplexity against the order n of fitted ``NGramLM``s ({name: model}, with
    {name: perplexity}), one line per smoothing: where each one stops improving.
    Notebooks: 04."""
    fig, ax = _axes(ax, (6, 3.5))
    by_smoothing = {}
    for name, lm in models.items():
        by_smoothing.setdefault(lm.smoothing, []).append((lm.order, val_ppl[name]))
    names = {"add-k": "add-k (best k per order)", "kneser-ney": "Kneser-Ney"}
    for (smoothing, points), marker in zip(by_smoothing.items(), cycle("os^v")):
        ax.plot(*zip(*sorted(points)), marker + "-", label=names.get(smoothing, smoothing))
    ax.set_xticks(sorted({lm.order for lm in models.values()}))
    ax.set(xlabel="order n (the last n - 1 tokens are the history)", ylabel="validation perplexity",
           title="n-gram models on ABC tokens")
    ax.legend()
    return fig


def plot_losses_vs_baselines(history: dict, baselines: dict, ylabel: str = "NLL (nats)", title: str = "",
                             ax=None, top=None):
    """:func:`plot_losses` of a ``fit`` history with each baseline's validation loss
    ({label: value}, the same unit) as a purple horizontal line: where the validation curve runs
    below a line, the model predicts the held-out music better than that baseline. ``top`` caps
    the y axis (an untrained model's first loss can dwarf the rest).
    Notebooks: 04, 05."""
    fig, ax = _axes(ax, (7, 3.5))
    plot_losses(history, ax=ax, title=title)
    for (label, value), style in zip(baselines.items(), cycle([":", "--", "-."])):
        ax.axhline(value, color="tab:purple", ls=style, lw=1.2, label=label)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()   # a little room, so no line lies on the frame
    ax.set_xlim(x0, x1 + 0.03 * (x1 - x0))
    ax.set_ylim(y0, y1 + 0.04 * (y1 - y0))
    ax.set_ylabel(ylabel)
    if top is not None:
        ax.set_ylim(top=top)
    ax.legend(fontsize=8)
    return fig


def plot_tune_statistics(stats: dict):
    """Three panels comparing sets of tunes ({name: ``tune_statistics`` dict}): the pitch-class
    histogram, the note-length histogram (bars side by side) and the scale consistency per tune
    (box plots, means as triangles).
    Notebooks: 04."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    width = 0.8 / len(stats)
    for j, (name, s) in enumerate(stats.items()):
        axes[0].bar(np.arange(12) + j * width, s["pitch_classes"], width, label=name)
        axes[1].bar(np.arange(len(LENGTH_BIN_LABELS)) + j * width, s["lengths"], width, label=name)
    axes[0].set_xticks(np.arange(12) + 0.4 - width / 2, NOTE_NAMES)
    axes[0].set(title="pitch-class histogram", ylabel="share of notes")
    axes[0].legend(fontsize=8)
    axes[1].set_xticks(np.arange(len(LENGTH_BIN_LABELS)) + 0.4 - width / 2, LENGTH_BIN_LABELS, fontsize=8)
    axes[1].set(title="note lengths", ylabel="share of notes")
    axes[2].boxplot([s["scale"] for s in stats.values()], showmeans=True)
    axes[2].set_xticks(range(1, len(stats) + 1), [name.split(" (")[0] for name in stats], fontsize=8)
    axes[2].set_title("scale consistency per tune")
    fig.tight_layout()
    return fig


def print_tune_statistics(stats: dict, seconds: dict, real: str = "real (test)", bpm: float = 110) -> None:
    """The table of notebook 04's parsed tunes ({name: ``tune_statistics`` dict}, ``seconds`` per
    tune at ``bpm``): notes and seconds per tune, the shares of 16ths and 8ths, the L1 distances of
    the note-length and pitch-class histograms to the ``real`` set's, the mean scale consistency;
    then one line per other set against the real tunes (notes, seconds, 16ths: more or fewer).
    Notebooks: 04."""
    ref, i16, i8 = stats[real], LENGTH_BIN_LABELS.index("16th"), LENGTH_BIN_LABELS.index("8th")
    print_table({name: {"notes/tune": s["notes"], "seconds/tune": seconds[name], "16ths": s["lengths"][i16],
                        "8ths": s["lengths"][i8], "length L1 to real": np.abs(s["lengths"] - ref["lengths"]).sum(),
                        "pitch-class L1 to real": np.abs(s["pitch_classes"] - ref["pitch_classes"]).sum(),
                        "scale consistency": s["scale"].mean()} for name, s in stats.items()},
                formats={"notes/tune": ".0f", "seconds/tune": ".1f", "16ths": ".0%", "8ths": ".0%"})
    for name, s in stats.items():
        if name != real:
            more = "more" if s["lengths"][i16] > ref["lengths"][i16] else "fewer"
            print(f"{name}: {s['notes'] / ref['notes']:.1f}x the real tunes' notes per tune, "
                  f"{seconds[name] / seconds[real]:.1f}x their seconds at {bpm:g} BPM; 16ths {s['lengths'][i16]:.0%} "
                  f"of its notes, {more} than the real tunes' {ref['lengths'][i16]:.0%}")


VALIDITY_COLUMNS = {"header": "header", "bars": "bars add up", "chords": "chords ok", "tonic": "on tonic",
                    "valid": "all four"}


def validity_table(intervals: dict) -> None:
    """Print the validity of several sets of tunes ({set: ``validity_intervals``}) as one table:
    the number of tunes and of inner bars, then each rate in percent with its 95% bootstrap
    interval, "97% [94, 99]" ("bars add up" pools the inner bars, the others count tunes).
    Notebooks: 04, 08."""
    def percent(i):
        return "-" if np.isnan(i.estimate) else f"{i.estimate:.0%} [{100 * i.low:.0f}, {100 * i.high:.0f}]"

    print_table({name: {"tunes": v["n_tunes"], "inner bars": v["n_bars"]}
                 | {heading: percent(v[key]) for key, heading in VALIDITY_COLUMNS.items()}
                 for name, v in intervals.items()}, formats={"tunes": "d", "inner bars": "d"}, label="set")


def plot_key_statistics(bernoulli, markov, low: int = 21, min_p: float = 0.01, ax=None):
    """The per-key baselines of a piano-roll corpus against MIDI pitch, for the keys down in more
    than ``min_p`` of the frames: the Bernoulli probability pi_k, and the two Markov probabilities
    (``markov`` = (after a frame with the key up, after a frame with it down)).
    Notebooks: 05."""
    bernoulli = np.asarray(bernoulli)
    used = np.flatnonzero(bernoulli > min_p)
    keys = np.arange(len(bernoulli))[used] + low
    fig, ax = _axes(ax, (11, 3))
    ax.plot(keys, bernoulli[used], "k.-", label=r"Bernoulli $\pi_k$ (key down)")
    ax.plot(keys, np.asarray(markov[1])[used], "b.-", label=r"Markov $P(\mathrm{down}\mid\mathrm{down\ before})$")
    ax.plot(keys, np.asarray(markov[0])[used], "r.-", label=r"Markov $P(\mathrm{down}\mid\mathrm{up\ before})$")
    ax.set(xlabel="MIDI pitch", ylabel="probability", title="Per-key statistics of the training chorales (in C)")
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- notebooks 06-08
def _array(values) -> np.ndarray:
    values = values.detach().cpu() if hasattr(values, "detach") else values
    return np.asarray(values, dtype=float)


def plot_lines(curves: dict, levels: dict | None = None, ax=None, title: str = "", xlabel: str = "step",
               ylabel: str = "", log: bool = False, lw: float = 1.0, marker=None):
    """Draw curves beside horizontal reference levels. ``curves`` maps a label to its values
    (drawn at 0, 1, 2, ...) or to an ``(x, values)`` pair; ``levels`` maps a label to a height drawn
    as a grey line (an equilibrium, a baseline, a bound). ``log=True`` puts both axes on log scales.
    Notebooks: 06."""
    fig, ax = _axes(ax, (6.5, 3.5))
    for label, values in curves.items():
        x, y = values if isinstance(values, tuple) else (np.arange(len(values)), values)
        ax.plot(_array(x), _array(y), lw=lw, marker=marker, label=label)
    styles = ["--", ":", "-.", (0, (5, 1, 1, 1))]
    for j, (label, height) in enumerate((levels or {}).items()):
        ax.axhline(height, color="0.3", ls=styles[j % len(styles)], lw=0.9, label=label)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def plot_discriminator(x, p_data, p_g, D_star, D_trained=None, ax=None, xlim=(-7, 7), title: str = ""):
    """The two densities (shaded), the optimal discriminator D* = p_data / (p_data + p_g) (dashed)
    and, if given, a trained discriminator's D(x) (red), on one axis: D is a probability, the
    densities share its scale only for the picture.
    Notebooks: 06."""
    fig, ax = _axes(ax, (6.5, 3.8))
    x = _array(x)
    ax.fill_between(x, _array(p_data), alpha=0.25, label="$p_{data}$")
    ax.fill_between(x, _array(p_g), alpha=0.25, label="$p_g$")
    ax.plot(x, _array(D_star), "k--", label="$D^* = p_{data}/(p_{data}+p_g)$")
    if D_trained is not None:
        ax.plot(x, _array(D_trained), "r", label="trained $D$")
    ax.set_xlim(*xlim)
    ax.set_xlabel("x")
    ax.set_ylabel("density, or D(x)")
    ax.legend(fontsize=8)
    ax.set_title(title or "densities and the optimal discriminator")
    return fig


def plot_value_by_shift(shifts, V, identity, flat_from=None, ax=None):
    """The generator's objective against the optimal discriminator, V(D*, G_mu), for a generator
    shifted by mu: by integration (thick, pale) and from the identity -log 4 + 2 JSD (dashed), which
    should lie on top of it; grey lines at the floor -log 4 and the ceiling 0, grey bands where the
    curve is flat (|mu| >= ``flat_from``).
    Notebooks: 06."""
    fig, ax = _axes(ax, (6.5, 3.8))
    shifts = _array(shifts)
    ax.plot(shifts, _array(V), lw=3, alpha=0.5, label="$V(D^*, G_\\mu)$ by integration")
    ax.plot(shifts, _array(identity), "k--", label="$-\\log 4 + 2\\,\\mathrm{JSD}$")
    for height in (-np.log(4), 0.0):
        ax.axhline(height, color="gray", lw=0.8)
    if flat_from is not None:
        ax.axvspan(flat_from, shifts.max(), color="gray", alpha=0.15)
        ax.axvspan(shifts.min(), -flat_from, color="gray", alpha=0.15)
    ax.set_xlabel("shift $\\mu$ of the generator's density")
    ax.set_ylabel("V (nats)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("the generator's objective against $D^*$" + (" (grey: flat)" if flat_from is not None else ""))
    return fig


def plot_discriminator_runs(runs: dict, keys=("loss", "D(real)", "D(fake)", "accuracy")):
    """One panel per statistic of discriminator training runs, every run in each panel: ``runs``
    maps a name to a history with a "loss" per step and the other ``keys`` measured at the steps
    listed under "stats at step".
    Notebooks: 06."""
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, h in runs.items():
            steps = np.arange(1, len(h[key]) + 1) if key == "loss" else h["stats at step"]
            ax.plot(steps, h[key], label=name)
        ax.set_title(key)
        ax.set_xlabel("step")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_histogram_snapshots(snapshots: dict, bins, grid, density, titles: dict | None = None, ymax: float = 0.8):
    """Histograms of 1-D samples at a few training steps (``snapshots``: step -> samples), each
    over the true density (``density`` on ``grid``, black), all on one density scale up to ``ymax``.
    ``titles`` maps a step to its panel's title (default "step N").
    Notebooks: 06."""
    fig, axes = plt.subplots(1, len(snapshots), figsize=(3.2 * len(snapshots), 2.8), sharey=True, squeeze=False)
    bins = _array(bins)
    for ax, (step, samples) in zip(axes[0], snapshots.items()):
        ax.hist(_array(samples).ravel(), bins=bins, density=True, alpha=0.6, label="generated")
        ax.plot(_array(grid), _array(density), "k", lw=1, label="$p_{data}$")
        ax.set_title((titles or {}).get(step, f"step {step}"))
        ax.set_xlim(bins[0], bins[-1])
        ax.set_ylim(0, ymax)
    axes[0, 0].set_ylabel("density")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_ring_snapshots(snapshots: dict, centers, titles: dict | None = None, axes=None, n: int = 1000,
                        lim: float = 3.5):
    """Scatter plots of 2-D samples at a few training steps (``snapshots``: step -> (m, 2)), the
    first ``n`` of each, with the modes ``centers`` as red crosses; ``titles`` maps a step to its
    panel's title. Pass a row of ``axes`` to draw two runs one above the other.
    Notebooks: 06."""
    if axes is None:
        fig, axes = plt.subplots(1, len(snapshots), figsize=(3 * len(snapshots), 3.4), squeeze=False)
        axes = axes[0]
    centers = _array(centers)
    for ax, (step, samples) in zip(axes, snapshots.items()):
        samples = _array(samples)
        ax.scatter(samples[:n, 0], samples[:n, 1], s=2, alpha=0.5)
        ax.scatter(centers[:, 0], centers[:, 1], s=12, c="red", marker="x")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title((titles or {}).get(step, f"step {step}"), fontsize=9)
    return axes[0].figure


def plot_shares(shares: dict, threshold=None, ax=None, xlabel: str = "mode", ylabel: str = "share of all samples",
                title: str = "", threshold_label: str = "threshold"):
    """Grouped bars: ``shares`` maps a label to one value per category (each mode's share of the
    samples, say), the labels side by side in each category; ``threshold`` draws a dotted line
    labelled ``threshold_label``.
    Notebooks: 06."""
    fig, ax = _axes(ax, (7, 3))
    width = 0.8 / max(len(shares), 1)
    for j, (label, values) in enumerate(shares.items()):
        values = _array(values)
        ax.bar(np.arange(len(values)) + width * (j - (len(shares) - 1) / 2), values, width=width, label=label)
    if threshold is not None:
        ax.axhline(threshold, color="k", ls=":", lw=0.8, label=threshold_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def plot_bar_snapshots(snapshots: dict, names, low: int = 36):
    """A GAN's fixed-noise samples during training: ``snapshots`` maps a step to bar probabilities
    (n_styles, n_noise, steps, keys); one row per step, one column per style and noise vector,
    every panel on one grey scale from 0 (white) to 1 (black), C's labelled.
    Notebooks: 07."""
    steps = sorted(snapshots)
    n_styles, n_noise, n_steps, n_keys = np.shape(snapshots[steps[0]])
    fig, axes = plt.subplots(len(steps), n_styles * n_noise, figsize=(2 * n_styles * n_noise, 1.8 * len(steps)),
                             sharex=True, sharey=True, squeeze=False)
    cs = [p for p in range(n_keys) if (low + p) % 12 == 0]
    for row, step in enumerate(steps):
        for s in range(n_styles):
            for k in range(n_noise):
                ax = axes[row, n_noise * s + k]
                ax.imshow(np.asarray(snapshots[step][s, k]).T, origin="lower", aspect="auto", cmap="gray_r",
                          vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks(range(0, n_steps, 4))
                ax.set_yticks(cs, [f"C{(low + p) // 12 - 1}" for p in cs])
                if row == 0:
                    ax.set_title(f"{names[s]} z{k}", fontsize=9)
        axes[row, 0].set_ylabel(f"step {step}")
    for ax in axes[-1]:
        ax.set_xlabel("16th step")
    fig.suptitle("fixed-noise samples during training (probabilities)")
    fig.tight_layout()
    return fig


def value_table(rows: dict, index=("",), digits: int = 3) -> str:
    """A Markdown table of numbers: ``rows`` maps a row label (a string, or a tuple of strings for
    several label columns named by ``index``) to {column: value}; the columns are those of the
    first row, each value printed with ``digits`` decimals. Show it with
    ``display(Markdown(...))``.
    Notebooks: 07."""
    if not rows:
        raise ValueError("a table needs at least one row")
    columns = list(next(iter(rows.values())))
    lines = ["| " + " | ".join(list(index) + columns) + " |", "|" + "---|" * (len(index) + len(columns))]
    for label, values in rows.items():
        label = label if isinstance(label, tuple) else (label,)
        if len(label) != len(index):
            raise ValueError(f"row {label} has {len(label)} labels for the {len(index)} label columns {index}")
        lines.append("| " + " | ".join(list(label) + [f"{values[c]:.{digits}f}" for c in columns]) + " |")
    return "\n".join(lines)


def plot_metric_path(path, curves, references: dict, names, xlabel: str = "alpha"):
    """How metrics move along a path: ``curves`` holds one metrics dict per point of ``path``
    (``bar_metrics`` of the bars made there); one panel per metric in ``names``, with each
    reference set's value ({label: metrics dict}) as a dotted line.
    Notebooks: 07."""
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.plot(_array(path), [c[name] for c in curves], marker="o", label="generated")
        for j, (label, values) in enumerate(references.items()):
            ax.axhline(values[name], color=f"C{j + 1}", ls=":", label=label)
        ax.set_xlabel(xlabel)
        ax.set_title(name)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- notebooks 08, 09 and 11
def _binary(v) -> bool:
    """Whether every non-nan value is 0 or 1 (a per-item hit, e.g. an empty bar)."""
    v = np.asarray(v, dtype=float)
    v = v[~np.isnan(v)]
    return len(v) > 0 and bool(np.isin(v, (0.0, 1.0)).all())


def interval_table(values: dict, title: str = "", clusters: dict | None = None) -> dict:
    """Every metric with its spread: ``values`` maps a row (a set of samples) to {metric: one value
    per sample} (e.g. ``per_bar_metrics``). Prints ``title`` and a table of "mean [low, high]" per
    metric with each row's number of samples, then notes and a blank line, and returns the
    intervals, stats[row][metric]. The interval is the 95% percentile bootstrap of
    ``bootstrap_interval`` (nan values dropped; a cell whose n is smaller says "n=..."), resampling
    whole clusters where ``clusters`` gives a row one label per sample (the piece of each real bar:
    bars of one piece are not independent). A 0/1 metric (EB) gets ``proportion_interval`` (Wilson's,
    or by piece the wider of Wilson's and the bootstrap's: never a point at 0 of n); a metric on
    which every sample of a row agrees (to 1e-9: a share computed two ways can differ in the last
    bit) prints "all n equal" instead of a point interval.
    Notebooks: 08, 11."""
    clusters = clusters or {}
    stats, cells = {}, {}
    binary = {m for m in next(iter(values.values())) if all(_binary(metrics[m]) for metrics in values.values())}
    for row, metrics in values.items():
        n = len(next(iter(metrics.values())))
        stats[row], cells[row] = {}, {"n": str(n)}
        for m, v in metrics.items():
            v = np.asarray(v, dtype=float)
            if m in binary:
                i = stats[row][m] = proportion_interval(v, clusters=clusters.get(row))
            else:
                i = stats[row][m] = bootstrap_interval(v, clusters=clusters.get(row))
            kept = v[~np.isnan(v)]
            digits = 2   # more where two decimals would print a real interval as a point
            while digits < 4 and i.low < i.high and f"{i.low:.{digits}f}" == f"{i.high:.{digits}f}":
                digits += 1
            text = (f"{i.estimate:.2f} (all {i.n} equal)" if m not in binary and len(kept) and np.allclose(kept, kept[0], rtol=0, atol=1e-9)
                    else f"{i.estimate:.{digits}f} [{i.low:.{digits}f}, {i.high:.{digits}f}]")
            cells[row][m] = text + (f" n={i.n}" if i.n != n else "")
    if title:
        print(title)
    print_table(cells, label="set")
    if binary:
        print(f"{', '.join(sorted(binary))}: a share of 0/1 values, with Wilson's interval (by piece: the wider of "
              "Wilson's and the bootstrap's)")
    if clusters:
        print(f"resampled by piece: {', '.join(clusters)}")
    print()
    return stats


def overlap_table(overlaps, title: str = "") -> None:
    """Print Yang & Lerch's overlapping area (OA) and KL divergence of ``overlaps`` ((set, feature,
    d) triples, d a ``DistanceOverlap``) after ``title``: one row per set, "OA (KL ...)" per feature
    ("-" where a set lacks one), with the number of the set's samples used (those with the feature:
    an empty bar has no pitch-class histogram) where it is below the row's largest, then a blank
    line. A KL whose value comes from the numerical floor (``kl_floor_share`` > 0: part of the real
    density lies where the set's density is 0) is infinite: it prints "KL inf", with the share of
    the real density that no distance of the set reaches, instead of the floor's large finite number.
    Where all real distances are equal (``point_mass``: e.g. the polyphony of melodies, every bar
    one key) the real density is a point mass and KL is undefined: "KL undefined" is printed.
    Notebooks: 08."""
    rows, features = {}, list(dict.fromkeys(feature for _, feature, _ in overlaps))
    used = {}
    for name, feature, d in overlaps:
        n_real = int(round((1 + np.sqrt(1 + 8 * len(d.intra))) / 2))
        used[name, feature] = len(d.inter) // max(n_real, 1)
    floored = massed = False
    for name, feature, d in overlaps:
        share = kl_floor_share(d.intra_density, d.inter_density, d.grid)
        apart = f"{share:.0%}" if share >= 0.01 else f"{share:.1%}" if share >= 0.0005 else "<0.1%"
        kl = f"KL inf, {apart} apart" if share > 0 else f"KL {d.kl:.3g}"
        if point_mass(d.intra):
            kl, share = "KL undefined", 0.0
            massed = True
        floored |= share > 0
        most = max(n for (r, _), n in used.items() if r == name)
        n = f" n={used[name, feature]}" if used[name, feature] < most else ""
        rows.setdefault(name, {"n": "-"} | dict.fromkeys(features, "-"))[feature] = f"{d.oa:.3f} ({kl}){n}"
        rows[name]["n"] = str(most)
    if title:
        print(title)
    print_table(rows, label="set")
    if floored:
        print("KL inf: that share of the real pairs' distance density lies where the set's density is 0 (no distance "
              "to the set within 40 bandwidths): KL(intra || inter) is infinite, the floor would print ~708 x share")
    if massed:
        print("KL undefined: every distance between two real training bars is the same (a point mass, e.g. one key "
              "per bar in every bar), so the real density has no spread to compare; read the OA")
    print()


def plot_overlap_densities(overlaps, title: str = "", xlabel: str = "distance", ax=None):
    """The KDEs behind :func:`overlap_table` for one feature of one table: the intra-set density
    of the real training samples (black) and the inter-set density of each set in ``overlaps``
    ((set, d) pairs, d a ``DistanceOverlap``), each labelled with its overlapping area.
    Notebooks: 08."""
    fig, ax = _axes(ax, (7, 3.2))
    _, first = overlaps[0]
    ax.plot(first.grid, first.intra_density, "k", lw=2, label="intra-set, real training samples")
    for name, d in overlaps:
        ax.plot(d.grid, d.inter_density, lw=1.2, label=f"inter-set, {name} (OA {d.oa:.2f})")
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.set_xlim(left=0)   # a distance is never negative; the KDE tails below 0 are smoothing only
    ax.legend(fontsize=8)
    return fig


def plot_copied_run(query, source, match, labels=("sample", "training piece"), ax=None):
    """Two pitch sequences aligned at the run they share (``match``: a ``RunMatch`` of
    ``longest_common_run(query, corpus)``, ``source`` = corpus[match.index]), the run shaded.
    Notebooks: 08."""
    fig, ax = _axes(ax, (10, 2.8))
    ax.plot(np.arange(len(query)) - match.start, query, ".-", lw=0.8, label=labels[0])
    ax.plot(np.arange(len(source)) - match.corpus_start, source, ".-", lw=0.8, alpha=0.7, label=labels[1])
    ax.axvspan(-0.5, match.length - 0.5, color="gold", alpha=0.3, label=f"shared run: {match.length} notes")
    ax.set(xlabel="note (aligned at the shared run)", ylabel="MIDI pitch", title="the longest shared run")
    ax.legend(fontsize=8)
    return fig


def rating_table(summary: dict) -> None:
    """Print a listening test's ``preference_summary`` (or ``ListeningTest.summary()``), one line per
    model: how often its clip was taken for the person's (k/n ratings, raters), the Wilson interval,
    and the rater bootstrap only where it is not narrower than Wilson's on the same counts (with a
    few raters it sees only a few rates and can be too narrow; then the line says so).
    Notebooks: 08."""
    for model, s in summary.items():
        width = lambda kind: s[f"{kind}_high"] - s[f"{kind}_low"]
        boot = (f"rater bootstrap [{s['boot_low']:.2f}, {s['boot_high']:.2f}]"
                if np.isfinite(s["boot_low"]) and width("boot") >= width("wilson")
                else f"rater bootstrap not shown (narrower than Wilson's with {s['raters']} raters)")
        print(f"{model:<18} taken for the person's in {s['fooled']}/{s['n']} ratings ({s['raters']} raters): "
              f"{s['rate']:.2f}, Wilson [{s['wilson_low']:.2f}, {s['wilson_high']:.2f}], {boot}")


def plot_accuracy_by_position(accuracy: dict, positions, parts: dict, shaded=(), chance=None, title: str = "",
                              ax=None):
    """Accuracy per predicted position, one curve per model (``accuracy``: name -> values; a curve's
    label may carry a summary). ``parts``: {position: label} ticks where the parts of a piece begin;
    ``shaded``: (start, stop) spans of positions to shade (the repeats); ``chance``: a dotted line.
    Notebooks: 09."""
    fig, ax = _axes(ax, (10, 3.6))
    for start, stop in shaded:
        ax.axvspan(start - 0.5, stop - 0.5, color="gold", alpha=0.25, lw=0)
    for name, acc in accuracy.items():
        ax.plot(np.asarray(positions), np.asarray(acc), marker=".", label=name)
    if chance is not None:
        ax.axhline(chance, color="gray", ls=":", label="chance")
    ax.set_xticks(list(parts), list(parts.values()), ha="left")
    ax.set(xlabel="position of the predicted note", ylabel="accuracy", ylim=(-0.02, 1.02), title=title)
    ax.legend(fontsize=8, loc="center left")
    return fig


def plot_loglog(x, measured: dict, references: dict = None, xlabel: str = "", ylabel: str = "", title: str = "",
                ax=None):
    """Measured curves (name -> values at ``x``, with markers) against reference curves (label ->
    values, dotted and dashed black lines) on log-log axes, ``x`` labelled as given: a slope of 1
    is linear growth, 2 quadratic.
    Notebooks: 09."""
    fig, ax = _axes(ax, (6.5, 4))
    for (name, values), marker in zip(measured.items(), "s^oDv<>"):
        ax.loglog(x, values, marker=marker, label=f"{name} (measured)")
    for (label, values), style in zip((references or {}).items(), ["k:", "k--", "k-."]):
        ax.loglog(x, values, style, label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.set_xticks(list(x), [str(v) for v in x])
    ax.minorticks_off()
    ax.legend(fontsize=8)
    return fig


def plot_bits_per_note(rows, title: str = "", highlight: str = "ABC", ax=None, intervals=None):
    """The tokenizer study (``tokenizer_study`` rows): test bits per note per tokenizer, each bar
    labelled with its tokens per note; ``highlight`` (folk-rnn's ABC) in another colour, named in the legend.
    ``intervals`` ({tokenizer: Interval}, e.g. ``study_intervals``): drawn as error bars, and each
    seed's value (a row's "seed_bits") as a black dot.
    Notebooks: 11."""
    fig, ax = _axes(ax, (8, 3.2))
    names = [r["tokenizer"] for r in rows]
    ax.bar(names, [r["bits_per_note"] for r in rows], color=["C1" if n == highlight else "C0" for n in names])
    for i, r in enumerate(rows):
        top = r["bits_per_note"]
        if intervals is not None:
            iv = intervals[r["tokenizer"]]
            ax.errorbar(i, iv.estimate, yerr=[[iv.estimate - iv.low], [iv.high - iv.estimate]], color="k", capsize=4)
            ax.plot([i] * len(r.get("seed_bits", [])), r.get("seed_bits", []), "k.", ms=4)
            top = max(top, iv.high, *r.get("seed_bits", []))   # above the interval and every seed's dot
        ax.text(i, top, f"{r['tokens_per_note']:.2f} tok/note", ha="center", va="bottom", fontsize=8)
    ax.set(ylabel="test bits per note", title=title)
    ax.tick_params(axis="x", labelrotation=20)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in ("C1", "C0")]
    ax.legend(handles, [highlight, "the other tokenizations"], fontsize=8, loc="upper left", bbox_to_anchor=(1, 1),
              title="number on a bar:\ntokens per note", title_fontsize=8)
    return fig


# ----------------------------------------------------------------------------- notebooks 10
def plot_val_curves(curves: dict, ax=None, title: str = "", xlabel: str = "step",
                    ylabel: str = "validation NLL per token (nats)"):
    """Draw loss curves measured every few steps: ``curves`` maps a label to (steps, losses), each
    drawn as points joined by lines (e.g. a fine-tuned and a from-scratch model on the same
    validation tunes).
    Notebooks: 10."""
    fig, ax = _axes(ax, (7, 3.8))
    for label, (steps, losses) in curves.items():
        ax.plot(steps, losses, "o-", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def plot_data_sweep(histories: dict, title: str = ""):
    """A data-size sweep of one model: ``histories`` maps the number of training tokens to a
    ``train_gpt`` history. Left, each run's validation curve; right, each run's best validation
    loss against its training tokens (log scale). Returns the Figure.
    Notebooks: 10."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    plot_val_curves({f"{int(n):,} tokens": (h["val_step"], h["val"]) for n, h in histories.items()},
                    ax=left, title=title)
    tokens = np.array(list(histories), dtype=float)
    best = np.array([min(h["val"]) for h in histories.values()])
    order = np.argsort(tokens)
    right.semilogx(tokens[order], best[order], "o-")
    right.set_xlabel("training tokens")
    right.set_ylabel("best validation NLL per token (nats)")
    right.set_title("best validation loss against training tokens")
    fig.tight_layout()
    return fig


def plot_scaling_fit(n_params, losses, fit: dict, ax=None,
                     title: str = "scaling with model size at a fixed token budget",
                     subtract_floor: bool = False, runs=None):
    """Draw measured losses against parameter counts on log-log axes, the fitted curve
    L(N) = E + A / N^alpha (``fit``: ``fit_scaling_law``'s dict) from half the smallest to four
    times the largest N, and the fitted floor E as a dotted line. With ``subtract_floor`` the
    y axis is L - E instead, where the law is the straight line A N^-alpha (Kaplan et al. 2020
    read their exponents as slopes of such lines); points at or below E (within 1e-6 nats) cannot
    be drawn on a log axis and are counted in the legend. ``runs``: optional (N, L) of the single runs (seeds),
    drawn as small dots behind the points.
    Notebooks: 10."""
    n_params, losses = np.asarray(n_params, dtype=float), np.asarray(losses, dtype=float)
    fig, ax = _axes(ax, (6, 4))
    grid = np.geomspace(n_params.min() / 2, n_params.max() * 4, 100)
    floor = fit["E"] if subtract_floor else 0.0
    if runs is not None:
        run_n, run_l = (np.asarray(v, dtype=float) for v in runs)
        keep = run_l - floor > 1e-6                      # within 1e-6 nats of E: on the floor
        ax.loglog(run_n[keep], run_l[keep] - floor, ".", c="gray", alpha=0.6, label="single runs (seeds)"
                  + (f"; {int(np.sum(~keep))} at or below E, not drawn" if not keep.all() else ""))
    shown = losses - floor > 1e-6
    hidden = int(np.sum(~shown))
    ax.loglog(n_params[shown], losses[shown] - floor, "o",
              label="measured (validation)" + (f"; {hidden} at or below E, not drawn" if hidden else ""))
    ax.loglog(grid, fit["E"] - floor + fit["A"] * grid ** -fit["alpha"], "-",
              label=f"fit: {fit['E']:.2f} + {fit['A']:.0f} N^-{fit['alpha']:.2f}")
    if not subtract_floor:
        ax.axhline(fit["E"], ls=":", c="gray", label=f"E = {fit['E']:.2f} (the fitted floor)")
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("validation NLL minus E (nats)" if subtract_floor else "validation NLL per token (nats)")
    if not subtract_floor:
        for set_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):   # 2.2, not 2.2 x 10^0
            set_formatter(FormatStrFormatter("%.1f"))
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def plot_attention_heads(maps, marks=(), layer: int | None = None, gamma: float = 0.5):
    """Draw one layer's attention weights ``maps`` (heads, T, T), one panel per head: rows are the
    positions that predict (queries), columns the tokens they read (keys). Weights are shown to
    the power ``gamma`` (0.5: the square root, so weak links stay visible); ``marks`` (positions,
    e.g. bar lines) become thin cyan grid lines. Returns the Figure.
    Notebooks: 09, 10."""
    maps = np.asarray(maps.detach().cpu() if hasattr(maps, "detach") else maps, dtype=float)
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"expected one layer's maps (heads, T, T), got shape {maps.shape}")
    fig, axes = plt.subplots(1, len(maps), figsize=(3.4 * len(maps), 3.4), squeeze=False)
    for head, ax in enumerate(axes[0]):
        ax.imshow(maps[head] ** gamma, cmap="magma")
        for b in marks:
            ax.axvline(b, c="cyan", lw=0.5, alpha=0.6)
            ax.axhline(b, c="cyan", lw=0.5, alpha=0.6)
        ax.set_title(f"{'' if layer is None else f'layer {layer}, '}head {head}")
        ax.set_xlabel("key (read)")
        ax.set_ylabel("query (writing)")
    fig.tight_layout()
    return fig
