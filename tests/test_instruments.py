"""Every instrument offered by name plays the written note on every key of its range (issue 15)."""
import json
import re
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

import musiclab as ml
from musiclab import synth

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SR = 22050


def harmonic_tone(f, seconds=0.4, sr=synth.AUDIT_SR, amplitudes=(1.0, 0.5, 0.3)):
    """A steady tone with harmonics of f (Hz), as float32."""
    t = np.arange(int(seconds * sr)) / sr
    return sum(a * np.sin(2 * np.pi * (h + 1) * f * t) for h, a in enumerate(amplitudes)).astype(np.float32)


def level_db(y):
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(y, float) ** 2)) + 1e-12)


def test_the_pitch_estimate_is_accurate_and_sees_octave_errors():
    for key in [36, 48, 60, 72, 84, 96]:
        f = pretty_midi.note_number_to_hz(key)
        assert abs(synth.cents(synth.fundamental(harmonic_tone(f)), key)) < 6, key
        # the same tone plus a sub-octave as strong as the fundamental: heard an octave lower
        low = harmonic_tone(f) + harmonic_tone(f / 2, amplitudes=(1.0,))
        assert abs(synth.cents(synth.fundamental(low), key) + 1200) < 10, key


def test_every_instrument_plays_in_tune_on_every_key_of_its_range():
    audits = synth.audit_programs()
    print(f"\ninstrument audit (numpy SF2 player, {synth.AUDIT_CENTS:g} cents allowed):")
    print(f"{'name':<16}{'program':>8}  {'keys':<8}{'worst cents':>12}  silent keys")
    for name, a in audits.items():
        print(f"{name:<16}{a.program:>8}  {a.keys[0]}-{a.keys[-1]:<5}{a.worst_cents:>12.1f}  {a.silent or '-'}")
    failed = {name: (a.worst_cents, a.silent) for name, a in audits.items() if not a.passed}
    assert not failed, failed
    assert set(audits) == set(ml.GM_PROGRAMS)  # so the notebook 00 widget offers only these


def test_the_programs_left_out_fail_the_audit_for_the_reasons_given():
    whistle = synth.audit_instrument(78, 60, 84)  # TimGM6mb's "Whistle"
    assert whistle.cents[whistle.keys == 60][0] < -800  # C4 sounds about 9 semitones flat
    assert set(range(79, 85)) <= set(whistle.silent)  # and nothing sounds from G5 up
    organ = synth.audit_instrument(19, 60, 60)  # "Church Organ": an octave off at C4
    assert abs(abs(organ.cents[0]) - 1200) < 30
    accordion = synth.audit_instrument(21, 73, 84)
    assert accordion.worst_cents > synth.AUDIT_CENTS and np.all(accordion.cents < 0)  # flat
    for program in [65, 68, 22]:  # alto sax, oboe, harmonica over their usual ranges
        assert not synth.audit_instrument(program, 60, 84).passed, program


def notebook_instrument_names():
    """Instrument names the notebooks look up: GM_PROGRAMS["..."], lists of instruments, the widget."""
    names = set()
    for path in NOTEBOOKS.glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            code = "".join(cell["source"]) if cell["cell_type"] == "code" else ""
            names |= set(re.findall(r'GM_PROGRAMS\["([^"]+)"\]', code))
            names |= set(re.findall(r'instrument_menu\.value = "([^"]+)"', code))
            for listed in re.findall(r'(?i)instruments = \[([^\]]*)\]', code):
                names |= set(re.findall(r'"([^"]+)"', listed))
    return names


@pytest.mark.skipif(not NOTEBOOKS.exists(), reason="no notebooks next to the tests")
def test_every_instrument_a_notebook_uses_is_kept():
    names = notebook_instrument_names()
    assert {"organ", "fiddle", "flute", "piano", "strings", "trumpet", "choir"} <= names  # the parser works
    assert names <= set(ml.GM_PROGRAMS), names - set(ml.GM_PROGRAMS)


def test_every_note_of_every_oneill_tune_sounds_on_the_fiddle():
    """The numpy player mixes notes independently, so a note is silent in a tune exactly when it is
    silent alone: render each (pitch, duration) of the corpus once, at the notebooks' 100 bpm."""
    tunes = ml.load_corpus("oneills")
    seconds_per_quarter = 60 / 100
    kinds = {(int(p), round(float(e - s), 4)) for t in tunes for s, e, p, _ in t.notes}
    low, high = ml.GM_RANGES["fiddle"]
    assert all(low <= p <= high for p, _ in kinds)

    def silent(program):
        return {(p, d) for p, d in kinds
                if level_db(synth.render_key(program, p, d * seconds_per_quarter, sr=SR)) < synth.SILENT_DB}

    assert not silent(ml.GM_PROGRAMS["fiddle"])
    assert {p for p, _ in silent(78)} >= set(range(79, 89)) & {p for p, _ in kinds}  # the check bites


def test_a_rendered_oneill_tune_has_sound_in_every_note():
    tune = max(ml.load_corpus("oneills"), key=lambda t: t.notes[:, 2].max())  # reaches the highest key
    bpm = 100
    y = synth.render_midi(ml.notes_to_midi(tune.notes, programs=ml.GM_PROGRAMS["fiddle"], bpm=bpm),
                          sr=SR, backend="numpy")
    window = lambda s, e: y[int(s * 60 / bpm * SR):int(e * 60 / bpm * SR)]
    levels = np.array([level_db(window(s, e)) for s, e, _, _ in tune.notes])
    assert levels.min() > synth.SILENT_DB
    assert levels.min() > np.median(levels) - 20  # no note is much quieter than the tune
