"""Render MIDI to audio with the General MIDI soundfont that ships inside pretty_midi.

Used by every notebook that plays music (00, 02, 04, 05, 07, 08) through `render_midi`.

A SoundFont 2 file (SF2) is a RIFF file holding 16-bit recorded samples plus a small
database that says which sample to play for each (program, key, velocity), how to
re-pitch it, where its sustain loop is, and its volume envelope (attack, hold, decay,
sustain, release). Three backends turn a `pretty_midi.PrettyMIDI` into a waveform:

* "numpy": the small SF2 player below (pure numpy; always available),
* "tinysoundfont": the compiled TinySoundFont synth, used when `import tinysoundfont`
  works (an optional extra: `pip install --no-deps tinysoundfont`),
* "sine": pretty_midi's sine-wave synthesis, the last fallback.

Every backend returns `round((pm.get_end_time() + RELEASE_TAIL) * sr)` samples: the
notes plus one second in which they ring out (the same tail as `pm.synthesize`).
The numpy player ignores pan, LFOs, modulators, pitch bends and controllers, and keeps
each low-pass filter fixed (see `lowpass`).

Not every TimGM6mb preset plays the note written (its church organ sounds an octave off, its
whistle 9 semitones flat). `audit_instrument` measures that, key by key (YIN pitch and level);
INSTRUMENTS / GM_PROGRAMS name only programs that pass it over their stated range.
Reference: SoundFont 2.04 specification (E-mu / Creative Technology, 2006).
"""
import functools
import os
import struct
from dataclasses import dataclass

import numpy as np
import pretty_midi
from scipy.signal import lfilter

from .music import check_midi_number

__all__ = ["GM_PROGRAMS", "GM_RANGES", "INSTRUMENTS", "SYNTH_BACKENDS", "RELEASE_TAIL", "MAX_SECONDS",
           "soundfont_path", "load_soundfont", "render_midi", "synth_name", "audit_instrument",
           "audit_programs"]

# The instruments offered by name: (General MIDI program, 0-based as in pretty_midi; lowest and
# highest key, both included). Every entry passes `audit_instrument` over its keys with the numpy
# player: each key sounds, within AUDIT_CENTS of the written pitch (tests/test_instruments.py).
# 36..96 (C2..C7) is the range the notebooks use; a narrower range is stated where TimGM6mb
# plays out of tune there, still covering the real instrument's usual range. Left out because
# they fail within their usual range: church organ (19) and the other organs (16-18), which
# sound an octave off; celesta (8), glockenspiel (9) and timpani (47), off by an octave or more;
# harmonica (22, 35 cents flat at B4-C#5); alto sax (65, E4 silent); oboe (68, an octave high
# at D5-F#5); whistle (78, 867 cents flat, silent from G5 up).
INSTRUMENTS = {
    "piano": (0, 36, 96), "bright piano": (1, 36, 96), "electric piano": (4, 36, 96),
    "harpsichord": (6, 36, 96), "music box": (10, 36, 96), "vibraphone": (11, 36, 96),
    "marimba": (12, 36, 96), "xylophone": (13, 41, 96),
    "organ": (20, 36, 96),        # reed organ: TimGM6mb's pipe and drawbar organs fail
    "accordion": (20, 36, 96),    # reed organ: its accordion (21) is 50-66 cents flat from C#5 up
    "guitar": (24, 36, 96), "steel guitar": (25, 36, 96), "electric guitar": (27, 36, 96),
    "bass": (32, 36, 96), "electric bass": (33, 36, 96), "violin": (40, 36, 96),
    "viola": (41, 36, 96), "cello": (42, 36, 96), "contrabass": (43, 36, 96),
    "pizzicato": (45, 36, 96), "harp": (46, 36, 96), "strings": (48, 36, 96),
    "choir": (52, 36, 96), "trumpet": (56, 36, 96), "trombone": (57, 36, 84),
    "tuba": (58, 36, 96), "horn": (60, 36, 96), "brass": (61, 36, 84), "soprano sax": (64, 36, 96),
    "tenor sax": (66, 36, 96), "english horn": (69, 36, 96), "bassoon": (70, 36, 96),
    "clarinet": (71, 36, 96), "piccolo": (72, 60, 96), "flute": (73, 36, 96),
    "recorder": (74, 60, 96), "pan flute": (75, 36, 96), "ocarina": (79, 36, 96),
    "bagpipe": (109, 36, 96), "fiddle": (110, 36, 96),
    "tin whistle": (74, 60, 96),  # recorder: TimGM6mb's whistle (78) fails
}
GM_PROGRAMS = {name: program for name, (program, _, _) in INSTRUMENTS.items()}  # name -> program
GM_RANGES = {name: (low, high) for name, (_, low, high) in INSTRUMENTS.items()}  # name -> keys
SYNTH_BACKENDS = ("auto", "tinysoundfont", "numpy", "sine")
RELEASE_TAIL = 1.0  # seconds of ring-out after the last note ends (release times are capped to it)
MAX_SECONDS = 3600.0  # longest MIDI render_midi accepts (an hour: 318 MB of float32 at 22050 Hz)
NUMPY_NAME = "numpy SF2 player (TimGM6mb)"
ENV_BLOCK = 32  # samples between two computed points of a volume envelope
MIX_GAIN = 0.5 ** 0.5  # a centre-panned voice's level in the mean of the L and R channels of a
                       # stereo synth (equal-power pan), so the numpy and tinysoundfont levels match


def soundfont_path():
    """Path of the General MIDI soundfont TimGM6mb.sf2 inside the pretty_midi package."""
    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


# ----------------------------------------------------------------------------------------------
# Parsing the SF2 file

@dataclass(frozen=True)
class Zone:
    """One sample region of a preset: play sample[start:end] for keys lokey..hikey."""
    lokey: int
    hikey: int
    lovel: int
    hivel: int
    start: int            # indices into SoundFont.samples
    end: int
    loop_start: int
    loop_end: int
    loop: bool            # sampleModes 1 or 3: repeat [loop_start, loop_end) while sounding
    root: int             # MIDI key at which the sample plays at its recorded pitch
    tune: float           # cents: coarse*100 + fine + the sample's pitch correction
    scale: float          # cents per key (100 = ordinary keyboard)
    sample_rate: int
    gain: float           # linear gain from initialAttenuation
    cutoff: float         # low-pass filter cutoff in Hz (see lowpass) and its resonance in dB
    q_db: float
    delay: float          # volume envelope times in seconds...
    attack: float
    hold: float
    decay: float          # ...time to fall by 100 dB
    sustain_db: float     # sustain level in dB (<= 0)
    release: float        # time to fall by 100 dB after note-off


@dataclass
class SoundFont:
    path: str
    samples: np.ndarray   # float32 in [-1, 1)
    presets: dict         # (bank, program) -> list[Zone]
    names: dict           # (bank, program) -> preset name


# generator numbers of the SF2 spec (section 8.1.2)
KEY_RANGE, VEL_RANGE, INSTRUMENT, SAMPLE_ID = 43, 44, 41, 53
START, END, LOOP_START, LOOP_END = 0, 1, 2, 3
START_COARSE, END_COARSE, LOOP_START_COARSE, LOOP_END_COARSE = 4, 12, 45, 50
DELAY, ATTACK, HOLD, DECAY, SUSTAIN, RELEASE = 33, 34, 35, 36, 37, 38
ATTENUATION, COARSE_TUNE, FINE_TUNE, SAMPLE_MODES, SCALE_TUNING, ROOT_KEY = 48, 51, 52, 54, 56, 58
FILTER_FC, FILTER_Q, MOD_ENV_TO_FC = 8, 9, 11
DEFAULTS = {DELAY: -12000, ATTACK: -12000, HOLD: -12000, DECAY: -12000, RELEASE: -12000,
            SUSTAIN: 0, ATTENUATION: 0, COARSE_TUNE: 0, FINE_TUNE: 0, SCALE_TUNING: 100,
            FILTER_FC: 13500, FILTER_Q: 0, MOD_ENV_TO_FC: 0}


def riff_chunks(data, start, end):
    """Yield (chunk id, body start, body size) for the RIFF chunks in data[start:end]."""
    while start + 8 <= end:
        cid, size = struct.unpack_from("<4sI", data, start)
        yield cid.decode("latin-1"), start + 8, size
        start += 8 + size + (size & 1)  # chunks are padded to an even size


def zones_of(bags, gens, first, last):
    """Generator dicts {operator: amount} of bags first..last-1; the first may be a global zone."""
    return [dict(gens[bags[b][0]:bags[b + 1][0]]) for b in range(first, last)]


def split_global(zones, terminal):
    """(global zone, local zones): a first zone without the terminal generator is global."""
    if zones and terminal not in zones[0]:
        return zones[0], zones[1:]
    return {}, zones


def byte_range(amount):
    """keyRange/velRange amounts pack (low, high) into two bytes."""
    return amount & 0xFF, (amount >> 8) & 0xFF


def seconds(timecents):
    """SF2 times are in timecents: 1200 * log2(seconds)."""
    return 2.0 ** (timecents / 1200.0)


def make_zone(g, p, shdr):
    """Zone from instrument generators g (global+local) and preset generators p (added on top)."""
    _, start, end, loop_start, loop_end, rate, orig_pitch, correction, _, _ = shdr[g[SAMPLE_ID]]
    lokey, hikey = byte_range(g.get(KEY_RANGE, 0x7F00))
    plo, phi = byte_range(p.get(KEY_RANGE, 0x7F00))
    lovel, hivel = byte_range(g.get(VEL_RANGE, 0x7F00))
    pvlo, pvhi = byte_range(p.get(VEL_RANGE, 0x7F00))
    v = {op: g.get(op, DEFAULTS[op]) + p.get(op, 0) for op in DEFAULTS}  # preset values are offsets
    addr = lambda fine, coarse: g.get(fine, 0) + 32768 * g.get(coarse, 0)
    root = g.get(ROOT_KEY, -1)
    loop_start += addr(LOOP_START, LOOP_START_COARSE)
    loop_end += addr(LOOP_END, LOOP_END_COARSE)
    return Zone(
        lokey=max(lokey, plo), hikey=min(hikey, phi),  # preset and instrument ranges intersect
        lovel=max(lovel, pvlo), hivel=min(hivel, pvhi),
        start=start + addr(START, START_COARSE), end=end + addr(END, END_COARSE),
        loop_start=loop_start, loop_end=loop_end,
        loop=g.get(SAMPLE_MODES, 0) in (1, 3) and loop_end > loop_start,
        root=root if 0 <= root <= 127 else (orig_pitch if orig_pitch <= 127 else 60),
        tune=100.0 * v[COARSE_TUNE] + v[FINE_TUNE] + correction, scale=float(v[SCALE_TUNING]),
        sample_rate=rate, gain=10.0 ** (-min(max(v[ATTENUATION], 0), 1440) / 200.0),
        cutoff=8.176 * 2.0 ** (min(v[FILTER_FC] + max(v[MOD_ENV_TO_FC], 0), 13500) / 1200.0),
        q_db=min(max(v[FILTER_Q], 0), 960) / 10.0,
        delay=seconds(v[DELAY]), attack=seconds(v[ATTACK]), hold=seconds(v[HOLD]),
        decay=seconds(v[DECAY]), sustain_db=-min(max(v[SUSTAIN], 0), 1440) / 10.0,
        release=min(seconds(v[RELEASE]), RELEASE_TAIL))


@functools.lru_cache(maxsize=4)
def load_soundfont(path=None):
    """Parse an SF2 file (once per process): samples plus the zones of every preset."""
    path = soundfont_path() if path is None else str(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"cannot read soundfont {path!r}: {e}") from e
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError(f"{path!r} is not a SoundFont 2 file (no RIFF 'sfbk' header)")
    chunks = {}
    for cid, start, size in riff_chunks(data, 12, len(data)):
        if cid == "LIST":  # sub-chunks of LIST 'INFO', 'sdta' (smpl) and 'pdta' (the database)
            for sub, s, n in riff_chunks(data, start + 4, start + size):
                chunks[sub] = data[s:s + n]
    records = {"phdr": "<20sHHHIII", "pbag": "<HH", "pgen": "<Hh", "inst": "<20sH",
               "ibag": "<HH", "igen": "<Hh", "shdr": "<20sIIIIIBbHH"}
    missing = [name for name in ["smpl", *records] if name not in chunks]
    if missing:
        raise ValueError(f"soundfont {path!r} is corrupt: missing chunks {missing}")
    try:
        t = {name: list(struct.iter_unpack(fmt, chunks[name])) for name, fmt in records.items()}
        samples = np.frombuffer(chunks["smpl"], dtype="<i2", count=len(chunks["smpl"]) // 2)
        presets, names = {}, {}
        for i, (name, program, bank, bag, *_) in enumerate(t["phdr"][:-1]):  # last record: "EOP"
            pzones = zones_of(t["pbag"], t["pgen"], bag, t["phdr"][i + 1][3])
            pglobal, pzones = split_global(pzones, INSTRUMENT)
            zones = []
            for pz in pzones:
                p = {**pglobal, **pz}
                if INSTRUMENT not in p:
                    continue
                inst = p[INSTRUMENT]
                izones = zones_of(t["ibag"], t["igen"], t["inst"][inst][1], t["inst"][inst + 1][1])
                iglobal, izones = split_global(izones, SAMPLE_ID)
                zones += [make_zone({**iglobal, **iz}, p, t["shdr"])
                          for iz in izones if SAMPLE_ID in iz]
            presets[bank, program] = [
                z for z in zones if z.lokey <= z.hikey and z.lovel <= z.hivel
                and 0 <= z.start < z.end < len(samples) and z.loop_end < len(samples)]
            names[bank, program] = name.split(b"\0")[0].decode("latin-1")
    except (IndexError, KeyError, struct.error) as e:
        raise ValueError(f"soundfont {path!r} is corrupt: {e!r}") from e
    return SoundFont(path, (samples / 32768.0).astype(np.float32), presets, names)


# ----------------------------------------------------------------------------------------------
# The numpy player

def held_level(z, t):
    """Envelope while the key is held, at times t (s): delay, linear attack, hold, then a
    decay that is linear in dB (100 dB per `decay` seconds) down to the sustain level."""
    t = t - z.delay
    db = np.clip(-100.0 * (t - z.attack - z.hold) / z.decay, z.sustain_db, 0.0)
    return np.where(t < z.attack, np.clip(t / z.attack, 0.0, 1.0), 10.0 ** (db / 20.0))


def envelope(z, n_on, n, sr):
    """Volume envelope of a note held for n_on samples, n samples long: held_level, then a
    release of 100 dB per `release` seconds. Computed every ENV_BLOCK samples (a control
    rate, as hardware synths do) and linearly interpolated in between."""
    t = np.arange(0, n + ENV_BLOCK, ENV_BLOCK) / sr
    t_off = n_on / sr
    amp = held_level(z, t)
    off = t >= t_off
    amp[off] = held_level(z, t_off) * 10.0 ** (-5.0 * (t[off] - t_off) / z.release)
    amp = amp.astype(np.float32)
    ramp = np.arange(ENV_BLOCK, dtype=np.float32) / ENV_BLOCK  # block k: amp[k] -> amp[k+1]
    return (amp[:-1, None] + np.diff(amp)[:, None] * ramp).ravel()[:n]


def resample(sf, z, pitch, n, sr):
    """The zone's sample re-pitched to `pitch`, n output samples (fewer if an unlooped
    sample ends): read it with step 2^(cents/1200), interpolate linearly, wrap into the loop."""
    cents = (pitch - z.root) * z.scale + z.tune
    step = 2.0 ** (cents / 1200.0) * z.sample_rate / sr  # sample frames per output frame
    if not z.loop:
        n = min(n, int((z.end - 1 - z.start) / step))
    pos = z.start + step * np.arange(max(n, 0))
    if z.loop:
        over = pos >= z.loop_end
        pos[over] = z.loop_start + np.mod(pos[over] - z.loop_start, z.loop_end - z.loop_start)
    i = pos.astype(np.int64)
    frac = (pos - i).astype(np.float32)
    return sf.samples[i] * (1 - frac) + sf.samples[i + 1] * frac


def lowpass(x, cutoff, q_db, sr):
    """Resonant 2-pole low-pass (biquad, as in TinySoundFont). SF2 sweeps the cutoff with a
    modulation envelope; we keep it fixed where that envelope peaks (the note's onset)."""
    if cutoff >= 0.45 * sr:
        return x
    k = np.tan(np.pi * cutoff / sr)
    q_inv = 10.0 ** (-q_db / 20.0)
    norm = 1.0 / (1.0 + k * q_inv + k * k)
    b = np.array([1.0, 2.0, 1.0]) * k * k * norm
    a = np.array([1.0, 2.0 * (k * k - 1.0) * norm, (1.0 - k * q_inv + k * k) * norm])
    return lfilter(b, a, x).astype(np.float32)


def preset_zones(sf, program, is_drum):
    """Zones of a GM program (bank 0), or of a drum kit (bank 128, falling back to kit 0)."""
    bank = 128 if is_drum else 0
    for key in [(bank, program), (bank, 0), (0, 0)]:
        if key in sf.presets:
            return sf.presets[key]
    return []


def render_numpy(pm, sr, n_out, soundfont=None):
    """Mix every note of every instrument with the numpy SF2 player."""
    sf = load_soundfont(soundfont)

    @functools.lru_cache(maxsize=None)
    def wave(z, pitch, n_sec):  # notes of the same pitch share the re-pitched, filtered sample
        return lowpass(resample(sf, z, pitch, n_sec * sr, sr), z.cutoff, z.q_db, sr)

    @functools.lru_cache(maxsize=None)
    def env(z, n_on, n):  # notes of the same length share an envelope
        return envelope(z, n_on, n, sr)

    out = np.zeros(n_out, dtype=np.float32)
    for inst in pm.instruments:
        zones = preset_zones(sf, inst.program, inst.is_drum)
        for note in inst.notes:
            start = int(round(note.start * sr))
            n_on = max(int(round(note.end * sr)) - start, 1)
            for z in zones:
                if not (z.lokey <= note.pitch <= z.hikey and z.lovel <= note.velocity <= z.hivel):
                    continue
                n = min(n_on + int(z.release * sr), n_out - start)
                x = wave(z, note.pitch, int(np.ceil(n / sr)))[:n]
                gain = MIX_GAIN * z.gain * note.velocity / 127.0
                out[start:start + len(x)] += gain * x * env(z, n_on, len(x))
    return out


# ----------------------------------------------------------------------------------------------
# The other backends

def has_tinysoundfont():
    """True if the optional compiled synth can be imported."""
    try:
        import tinysoundfont  # noqa: F401
        return True
    except ImportError:
        return False


def render_tinysoundfont(pm, sr, n_out, soundfont=None):
    """TinySoundFont: one MIDI channel per instrument (16 at a time), events in time order.
    Its releases are not capped, so the last 0.1 s fades out."""
    import tinysoundfont
    out = np.zeros(n_out, dtype=np.float32)
    for first in range(0, len(pm.instruments), 16):
        synth = tinysoundfont.Synth(samplerate=sr)
        sfid = synth.sfload(str(soundfont or soundfont_path()))
        events = []  # (sample, is_note_on, channel, pitch, velocity); note-offs sort first
        for chan, inst in enumerate(pm.instruments[first:first + 16]):
            synth.program_select(chan, sfid, 0, inst.program, is_drums=inst.is_drum)
            for note in inst.notes:
                events.append((int(round(note.start * sr)), 1, chan, note.pitch, note.velocity))
                events.append((int(round(note.end * sr)), 0, chan, note.pitch, 0))
        chunks, done = [], 0
        for k, is_on, chan, pitch, velocity in sorted(events) + [(n_out, 0, None, 0, 0)]:
            if k > done:
                chunks.append(synth.generate_simple(min(k, n_out) - done))
                done = min(k, n_out)
            if chan is not None and is_on:
                synth.noteon(chan, pitch, velocity)
            elif chan is not None:
                synth.noteoff(chan, pitch)
        stereo = np.frombuffer(b"".join(chunks), dtype=np.float32).reshape(-1, 2)
        out += stereo.mean(axis=1)[:n_out]
    fade = np.linspace(1.0, 0.0, min(n_out, int(0.1 * sr)), dtype=np.float32)
    out[n_out - len(fade):] *= fade
    return out


def render_sine(pm, sr, n_out):
    """pretty_midi's sine-wave synthesis (it normalises the peak to 1)."""
    if not any(inst.notes for inst in pm.instruments):
        return np.zeros(n_out, dtype=np.float32)
    return pm.synthesize(fs=sr).astype(np.float32)


def resolve_backend(backend):
    """The backend that will play: "auto" -> tinysoundfont if importable, else numpy."""
    if backend not in SYNTH_BACKENDS:
        valid = ", ".join(SYNTH_BACKENDS)
        raise ValueError(f"unknown synth backend {backend!r}; valid backends: {valid}")
    if backend == "auto":
        return "tinysoundfont" if has_tinysoundfont() else "numpy"
    if backend == "tinysoundfont" and not has_tinysoundfont():
        raise ValueError("backend 'tinysoundfont' needs `pip install --no-deps tinysoundfont`; "
                         "backend 'numpy' always works")
    return backend


def synth_name(backend="auto"):
    """Name of the synth that `render_midi(..., backend=backend)` uses (say it in the notebook).
    Notebooks: 00, 01, 02, 03, 04, 05, 07, 08, 10."""
    return {"tinysoundfont": "tinysoundfont", "numpy": NUMPY_NAME,
            "sine": "sine waves (pretty_midi)"}[resolve_backend(backend)]


def check_midi(pm):
    """Raise ValueError for notes with nan, infinite or negative times, pitches or velocities outside
    0..127, programs outside 0..127 (which would play as piano), or an end time beyond MAX_SECONDS
    (which would allocate gigabytes)."""
    notes = [n for inst in pm.instruments for n in inst.notes]
    times = np.array([(n.start, n.end) for n in notes], dtype=float).reshape(-1, 2)
    if not np.all(np.isfinite(times)):
        raise ValueError("the MIDI has notes with nan or infinite times")
    if len(times) and times.min() < 0:
        raise ValueError(f"the MIDI has a note at {times.min():g} s: times must be >= 0")
    for n in notes:
        check_midi_number("pitch", n.pitch)
        check_midi_number("velocity", n.velocity)
    for inst in pm.instruments:
        check_midi_number("program", inst.program)
    end = pm.get_end_time()
    if end > MAX_SECONDS:
        raise ValueError(f"the MIDI lasts {end:g} s, more than MAX_SECONDS = {MAX_SECONDS:g}")


def render_midi(pm, sr=22050, backend="auto", soundfont=None, rescale=True):
    """Render a PrettyMIDI to a mono float32 waveform at sample rate sr.

    Length: round((pm.get_end_time() + RELEASE_TAIL) * sr) samples. The result is scaled
    down to a peak of 0.9 only if it would clip (|x| >= 1); silence stays silent.
    ``rescale=False`` returns the raw mix, so a check can see whether it would have clipped.
    `soundfont`: another SF2 file instead of TimGM6mb (not used by the "sine" backend).
    Bad notes, velocities and programs (see `check_midi`) raise ValueError.
    Notebooks: 00, 02.
    """
    if not isinstance(pm, pretty_midi.PrettyMIDI):
        raise ValueError(f"render_midi needs a pretty_midi.PrettyMIDI, got {type(pm).__name__}")
    if not isinstance(sr, (int, float, np.number)) or sr != int(sr) or not 1000 <= sr <= 192000:
        raise ValueError(f"sample rate must be a whole number of Hz in 1000..192000, got {sr!r}")
    sr = int(sr)
    check_midi(pm)
    backend = resolve_backend(backend)
    n_out = int(round((pm.get_end_time() + RELEASE_TAIL) * sr))
    if backend == "numpy":
        y = render_numpy(pm, sr, n_out, soundfont)
    elif backend == "tinysoundfont":
        load_soundfont(soundfont)  # same clear ValueError for a bad file
        y = render_tinysoundfont(pm, sr, n_out, soundfont)
    else:
        y = render_sine(pm, sr, n_out)
    y = np.pad(y[:n_out], (0, max(n_out - len(y), 0))).astype(np.float32)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    return y * np.float32(0.9 / peak) if rescale and peak >= 1.0 else y


# ----------------------------------------------------------------------------------------------
# Instrument audit: does each key sound, and at the pitch written?

AUDIT_CENTS = 30.0   # largest pitch error (cents) an instrument may have on any key of its range
SILENT_DB = -60.0    # a held note quieter than this (RMS, dBFS) counts as silent
AUDIT_SR = 44100     # the audit renders at 44.1 kHz so that YIN resolves periods up to C7


def cents(f, pitch):
    """Pitch error in cents of frequency f (Hz) against MIDI pitch `pitch` (> 0: sharp)."""
    return 1200.0 * np.log2(f / pretty_midi.note_number_to_hz(pitch))


def fundamental(y, sr=AUDIT_SR):
    """Median YIN estimate (de Cheveigne & Kawahara 2002) of y's fundamental frequency in Hz,
    searched over 30..5000 Hz, so that a note an octave (or more) off is found off."""
    import librosa
    return float(np.median(librosa.yin(y, fmin=30.0, fmax=5000.0, sr=sr, frame_length=4096)))


def render_key(program, key, seconds=0.5, sr=AUDIT_SR, backend="numpy"):
    """One key of a program held for `seconds` (velocity 90), without the release tail."""
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=int(program))
    inst.notes.append(pretty_midi.Note(velocity=90, pitch=int(key), start=0.0, end=seconds))
    pm.instruments.append(inst)
    return render_midi(pm, sr=sr, backend=backend)[:int(seconds * sr)]


@dataclass
class Audit:
    """What `audit_instrument` measured on each key: its level and its pitch error."""
    program: int
    keys: np.ndarray
    level_db: np.ndarray  # RMS of the held note, dBFS
    cents: np.ndarray     # estimated fundamental minus the written pitch (nan for silent keys)

    @property
    def silent(self):
        return [int(k) for k in self.keys[self.level_db < SILENT_DB]]

    @property
    def worst_cents(self):
        """Largest |pitch error| over the keys that sound (inf when none does)."""
        heard = self.cents[np.isfinite(self.cents)]
        return float(np.abs(heard).max()) if len(heard) else float("inf")

    @property
    def passed(self):
        return not self.silent and self.worst_cents <= AUDIT_CENTS


def audit_instrument(program, low=36, high=96, seconds=0.5, backend="numpy"):
    """Render every key low..high (both included) of a GM program as a held note and measure
    its level and, from 0.1 s on (after the attack), its fundamental against the written pitch."""
    keys = np.arange(low, high + 1)
    level, error = [], []
    for key in keys:
        y = render_key(program, key, seconds, AUDIT_SR, backend)
        level.append(20 * np.log10(np.sqrt(np.mean(y.astype(float) ** 2)) + 1e-12))
        held = y[int(0.1 * AUDIT_SR):]
        error.append(cents(fundamental(held), key) if level[-1] >= SILENT_DB else np.nan)
    return Audit(int(program), keys, np.array(level), np.array(error))


def audit_programs(names=None, backend="numpy"):
    """`audit_instrument` for each named instrument of INSTRUMENTS (all by default), over its range."""
    names = list(INSTRUMENTS) if names is None else names
    return {name: audit_instrument(INSTRUMENTS[name][0], *INSTRUMENTS[name][1:], backend=backend)
            for name in names}
