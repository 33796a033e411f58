"""Tests for musiclab.synth: soundfont rendering of MIDI (numpy SF2 player, tinysoundfont, sine)."""
import sys
import time

import librosa
import numpy as np
import pretty_midi
import pytest

from musiclab import synth

SR = 22050
HAS_TSF = synth.has_tinysoundfont()


def make_midi(program=0, pitches=(69,), dur=0.5, velocity=100, is_drum=False):
    """One instrument playing `pitches` one after another, each `dur` seconds."""
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
    for i, p in enumerate(pitches):
        inst.notes.append(pretty_midi.Note(velocity, p, start=i * dur, end=(i + 1) * dur))
    pm.instruments.append(inst)
    return pm


def chorale(program=0, seconds=60.0, seed=0):
    """A 4-voice texture like a Bach chorale: one instrument per voice, ~90 notes per voice."""
    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI()
    for low in (67, 60, 53, 45):
        inst, t = pretty_midi.Instrument(program=program), 0.0
        while t < seconds:
            d = float(rng.choice([0.5, 0.5, 1.0]))
            inst.notes.append(pretty_midi.Note(80, int(low + rng.integers(0, 8)), t, t + d))
            t += d
        pm.instruments.append(inst)
    return pm


def f0(y, t0=0.1, t1=0.6, sr=SR):
    """Median YIN fundamental frequency (Hz) of y[t0:t1] seconds."""
    seg = y[int(t0 * sr):int(t1 * sr)]
    return float(np.median(librosa.yin(seg, fmin=60, fmax=2000, sr=sr, frame_length=2048)))


BACKENDS = ["numpy"] + (["tinysoundfont"] if HAS_TSF else [])


def test_soundfont_is_parsed_once_and_has_all_gm_programs():
    sf = synth.load_soundfont()
    assert sf is synth.load_soundfont()  # cached
    assert sf.samples.dtype == np.float32 and np.abs(sf.samples).max() <= 1.0
    for program in range(128):
        zones = sf.presets[0, program]
        assert any(z.lokey <= 60 <= z.hikey for z in zones), sf.names[0, program]
    assert sf.names[0, 0].lower().startswith("piano") and "flute" in sf.names[0, 73].lower()
    assert (128, 0) in sf.presets  # the standard drum kit


def test_gm_programs_names_match_the_soundfont_presets():
    names = synth.load_soundfont().names
    preset = lambda name: names[0, synth.GM_PROGRAMS[name]].lower()
    for name in ["piano", "harpsichord", "organ", "guitar", "bass", "violin", "viola", "cello",
                 "strings", "choir", "trumpet", "tuba", "clarinet", "flute", "recorder", "fiddle"]:
        assert name in preset(name), (name, preset(name))
    assert preset("tin whistle") == "recorder"  # TimGM6mb's own whistle fails the audit
    assert synth.GM_PROGRAMS.keys() == synth.GM_RANGES.keys() == synth.INSTRUMENTS.keys()
    for name, (program, low, high) in synth.INSTRUMENTS.items():
        assert 0 <= program <= 127 and 0 <= low <= high <= 127, name
        assert synth.GM_PROGRAMS[name] == program and synth.GM_RANGES[name] == (low, high)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["piano", "flute", "strings"])
def test_render_few_notes(name, backend):
    pm = make_midi(synth.GM_PROGRAMS[name], [60, 64, 67], dur=0.4)
    y = synth.render_midi(pm, sr=SR, backend=backend)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == round((pm.get_end_time() + synth.RELEASE_TAIL) * SR)
    assert np.all(np.isfinite(y))
    assert np.sqrt(np.mean(y ** 2)) > 0.005  # audible
    assert np.abs(y).max() < 1.0  # not clipped


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("program", [0, 40, 48, 71, 73])
def test_pitch_of_a4_and_octave(program, backend):
    # (not program 19: TimGM6mb's "Church Organ" sounds an octave off, in both synths)
    a4 = f0(synth.render_midi(make_midi(program, [69], dur=1.0), backend=backend))
    a5 = f0(synth.render_midi(make_midi(program, [81], dur=1.0), backend=backend))
    c4 = f0(synth.render_midi(make_midi(program, [60], dur=1.0), backend=backend))
    assert a4 == pytest.approx(440.0, rel=0.01)  # within ~17 cents
    assert a5 / a4 == pytest.approx(2.0, rel=0.01)
    assert c4 == pytest.approx(440.0 * 2 ** (-9 / 12), rel=0.01)


def harmonics(y, f=440.0, k=10, t0=0.05, t1=0.55):
    """Levels (dB re the strongest) of the first k harmonics of a note of frequency f."""
    seg = y[int(t0 * SR):int(t1 * SR)]
    s = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), 1 / SR)
    h = np.array([s[np.abs(freqs - i * f) < 0.03 * i * f].max() for i in range(1, k + 1)])
    return 20 * np.log10(h / h.max())


@pytest.mark.parametrize("sr", [16000, 44100.0])
def test_other_sample_rates(sr):
    pm = make_midi(73, [69], dur=1.0)
    y = synth.render_midi(pm, sr=sr, backend="numpy")
    assert len(y) == round(2.0 * sr)
    assert f0(y, sr=int(sr)) == pytest.approx(440.0, rel=0.01)


def test_programs_have_different_timbres():
    render = lambda name, velocity=100: synth.render_midi(
        make_midi(synth.GM_PROGRAMS[name], [69], 1.0, velocity), backend="numpy")
    names = ["piano", "flute", "strings", "organ", "clarinet", "trumpet"]
    h = {name: harmonics(render(name)) for name in names}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.mean(np.abs(h[a] - h[b])) > 5, (a, b)  # harmonic profiles differ by > 5 dB
    assert np.mean(np.abs(harmonics(render("piano", velocity=60)) - h["piano"])) < 1  # control
    clarinet = h["clarinet"]  # a closed pipe: weak even harmonics
    assert clarinet[1] < clarinet[0] - 10 and clarinet[1] < clarinet[2] - 10


def test_velocity_scales_level_and_mixing_is_linear():
    soft = synth.render_midi(make_midi(0, [60, 64], velocity=50), backend="numpy")
    loud = synth.render_midi(make_midi(0, [60, 64], velocity=100), backend="numpy")
    assert np.sqrt(np.mean(loud ** 2)) / np.sqrt(np.mean(soft ** 2)) == pytest.approx(2.0, rel=0.01)
    # two instruments with their own programs: the mix is the sum of the two renders
    piano, flute = make_midi(0, [60, 62]), make_midi(73, [67, 69])
    both = pretty_midi.PrettyMIDI()
    both.instruments = piano.instruments + flute.instruments
    y = synth.render_midi(both, backend="numpy")
    expected = synth.render_midi(piano, backend="numpy") + synth.render_midi(flute, backend="numpy")
    assert np.abs(y).max() < 0.9  # no normalisation happened, so the sum must match
    np.testing.assert_allclose(y, expected, atol=1e-6)


def test_loud_mix_is_normalised_not_clipped_and_silence_stays_silent():
    pm = pretty_midi.PrettyMIDI()
    for program in (0, 19, 48, 52):
        inst = pretty_midi.Instrument(program)
        inst.notes = [pretty_midi.Note(127, p, 0.0, 1.0) for p in range(48, 84, 3)]
        pm.instruments.append(inst)
    for backend in BACKENDS + ["sine"]:
        y = synth.render_midi(pm, backend=backend)
        assert np.abs(y).max() == pytest.approx(0.9, abs=1e-6), backend
    empty = pretty_midi.PrettyMIDI()
    empty.instruments.append(pretty_midi.Instrument(0))
    for backend in BACKENDS + ["sine"]:
        y = synth.render_midi(empty, backend=backend)
        assert len(y) == round(synth.RELEASE_TAIL * SR) and not np.any(y), backend


def test_drums_render_from_the_percussion_bank():
    y = synth.render_midi(make_midi(0, [36, 38, 42], dur=0.3, is_drum=True), backend="numpy")
    assert np.sqrt(np.mean(y ** 2)) > 0.005 and np.abs(y).max() < 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_listening_by_proxy(backend):
    """What an ear would check: silence before the first note, a sensible loudness, no DC,
    a release that rings briefly after note-off and then fades to silence."""
    pm = make_midi(0, [60, 62, 64, 65, 67], dur=0.4)
    for inst in pm.instruments:
        for note in inst.notes:
            note.start += 0.5
            note.end += 0.5
    y = synth.render_midi(pm, backend=backend)
    end = int(pm.get_end_time() * SR)
    notes = y[int(0.5 * SR):end]
    rms_db = 20 * np.log10(np.sqrt(np.mean(notes ** 2)))
    print(f"\nlistening proxy ({backend}): RMS {rms_db:.1f} dBFS, peak {np.abs(y).max():.3f}, "
          f"mean {y.mean():.2e}")
    assert not np.any(y[:int(0.49 * SR)])  # nothing before the first note
    assert -35 < rms_db < -6
    assert 0.02 < np.abs(y).max() < 1.0
    assert abs(notes.mean()) < 1e-3
    ring = np.sqrt(np.mean(y[end:end + int(0.05 * SR)] ** 2))
    last = np.sqrt(np.mean(y[-int(0.05 * SR):] ** 2))
    assert ring > 0.05 * np.sqrt(np.mean(notes ** 2))  # a release, not an abrupt stop
    assert last < 1e-3 * ring  # ... that has died away by the end of the tail


@pytest.mark.skipif(not HAS_TSF, reason="tinysoundfont is not installed")
def test_numpy_player_matches_tinysoundfont():
    pm = make_midi(0, [57, 60, 64, 69], dur=0.5)
    pm.instruments += make_midi(73, [72, 74], dur=1.0).instruments
    a = synth.render_midi(pm, backend="numpy")
    b = synth.render_midi(pm, backend="tinysoundfont")
    assert len(a) == len(b)
    rms_a, rms_b = np.sqrt(np.mean(a ** 2)), np.sqrt(np.mean(b ** 2))
    assert rms_a > 0.005 and rms_b > 0.005
    assert 0.7 < rms_a / rms_b < 1.4
    Sa = np.abs(librosa.stft(a, n_fft=2048)).mean(axis=1)
    Sb = np.abs(librosa.stft(b, n_fft=2048)).mean(axis=1)
    assert Sa @ Sb / np.linalg.norm(Sa) / np.linalg.norm(Sb) > 0.9


def test_sine_backend():
    pm = make_midi(0, [69], dur=1.0)
    y = synth.render_midi(pm, backend="sine")
    assert len(y) == round(2.0 * SR) and y.dtype == np.float32
    assert f0(y) == pytest.approx(440.0, rel=0.01)
    assert synth.synth_name("sine").startswith("sine")


def test_synth_name_and_fallback_without_tinysoundfont(monkeypatch):
    assert synth.synth_name() == ("tinysoundfont" if HAS_TSF else synth.NUMPY_NAME)
    assert synth.synth_name("numpy") == "numpy SF2 player (TimGM6mb)"
    monkeypatch.setitem(sys.modules, "tinysoundfont", None)  # makes `import tinysoundfont` fail
    assert synth.synth_name() == synth.NUMPY_NAME
    assert np.any(synth.render_midi(make_midi(), backend="auto"))
    with pytest.raises(ValueError, match="tinysoundfont"):
        synth.render_midi(make_midi(), backend="tinysoundfont")


def test_bad_midi_notes_raise_instead_of_allocating_or_crashing():
    cases = {"nan": (float("nan"), 1.0, 60), "infinite": (0.0, float("inf"), 60),
             ">= 0": (-1.0, 1.0, 60), "0..127": (0.0, 1.0, 128),
             "MAX_SECONDS": (0.0, synth.MAX_SECONDS + 1, 60)}
    for message, (start, end, pitch) in cases.items():
        pm = make_midi()
        pm.instruments[0].notes.append(pretty_midi.Note(90, pitch, start, end))
        for backend in BACKENDS + ["sine"]:
            with pytest.raises(ValueError, match=message):
                synth.render_midi(pm, backend=backend)


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="numpy"):
        synth.render_midi(make_midi(), backend="fluidsynth")
    with pytest.raises(ValueError, match="fluidsynth"):
        synth.synth_name("fluidsynth")
    with pytest.raises(ValueError, match="PrettyMIDI"):
        synth.render_midi(np.zeros(10))
    for sr in [0, 22050.5, "22050"]:
        with pytest.raises(ValueError, match="sample rate"):
            synth.render_midi(make_midi(), sr=sr)
    garbage = tmp_path / "garbage.sf2"
    garbage.write_bytes(b"this is not a soundfont" * 10)
    truncated = tmp_path / "truncated.sf2"
    with open(synth.soundfont_path(), "rb") as f:
        truncated.write_bytes(f.read(200_000))
    for path in [garbage, truncated, tmp_path / "missing.sf2"]:
        with pytest.raises(ValueError, match=path.name):
            synth.render_midi(make_midi(), backend="numpy", soundfont=path)
        if HAS_TSF:
            with pytest.raises(ValueError, match=path.name):
                synth.render_midi(make_midi(), backend="tinysoundfont", soundfont=path)


def test_render_speed():
    pm = chorale(program=0)
    synth.load_soundfont()  # parsing is a one-off cost
    t = time.perf_counter()
    y = synth.render_midi(pm, backend="numpy")
    dt = time.perf_counter() - t
    speed = len(y) / SR / dt
    print(f"\nnumpy SF2 player: {sum(len(i.notes) for i in pm.instruments)} notes, "
          f"{len(y) / SR:.0f} s of audio in {dt:.2f} s ({speed:.0f}x real time)")
    assert np.abs(y).max() < 1.0 and np.sqrt(np.mean(y ** 2)) > 0.005
    assert speed > 20  # ~300x on a free core; generous for a loaded CI machine


def test_render_scales_a_loud_mix_instead_of_clipping_it():
    chord = pretty_midi.PrettyMIDI()
    for _ in range(4):   # four loud instruments, each a 12-note chord: the mix goes past 1
        inst = pretty_midi.Instrument(program=synth.GM_PROGRAMS["piano"])
        inst.notes += [pretty_midi.Note(127, p, start=0.0, end=1.0) for p in range(48, 72, 2)]
        chord.instruments.append(inst)
    raw = synth.render_midi(chord, sr=SR, backend="numpy", rescale=False)
    played = synth.render_midi(chord, sr=SR, backend="numpy")
    assert np.abs(raw).max() >= 1.0                      # the raw mix would clip
    assert np.abs(played).max() == pytest.approx(0.9, abs=1e-6)
    assert np.allclose(played, raw * (0.9 / np.abs(raw).max()), atol=1e-6)   # scaled, every sample alike


def test_velocities_and_programs_outside_midi_raise_instead_of_playing_wrong():
    # velocity 300 matched no soundfont zone (silence); program 500 fell back to the piano
    for message, pm in {"velocity must be a MIDI number 0..127, got 300": make_midi(velocity=300),
                        "velocity must be a MIDI number 0..127, got -1": make_midi(velocity=-1),
                        "program must be a MIDI number 0..127, got 500": make_midi(program=500)}.items():
        for backend in BACKENDS + ["sine"]:
            with pytest.raises(ValueError, match=message):
                synth.render_midi(pm, backend=backend)
    loud, soft = (np.abs(synth.render_midi(make_midi(velocity=v), backend="numpy", rescale=False)).max()
                  for v in (127, 1))
    assert loud > soft > 0                                  # the ends of the range play
