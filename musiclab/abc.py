"""ABC text as tokens, in the style of folk-rnn (Sturm et al. 2016). Used by notebook 04.

A tune becomes a list of tokens: the meter and the key first ("M:6/8", "K:Gmaj"), then the
music: notes with their accidental and octave ("=C", "^f", "c'", "C,"), durations ("2", "/2",
"3/2"), broken rhythm (">", "<"), rests ("z"), ties ("-"), bar lines ("|", "|:", ":|", "::",
"||", "|]", endings "|1", ":|2"), tuplets ("(3") and chords ("[", "]"), plus inline meter and
key changes ("M:3/4", "K:Dmaj").

Normalisations (so the same music gives the same tokens):

* durations are rewritten for a unit length ``L:1/8`` (folk-rnn's unit), so "L:1/16 ... c2"
  gives the token "c" with no duration token; there is no L: token;
* meters "C" -> "M:4/4", "C|" -> "M:2/2", missing or free meter -> "M:none";
* keys as tonic + three-letter mode: "K:G" -> "K:Gmaj", "K:Em" -> "K:Emin", "K:ADor" -> "K:Ador";
* octaves are written one way ("c'" not "C''"), "x" rests become "z", an ending after any
  bar line attaches to "|" or ":|".

Dropped: X:, T: and other information fields, comments, decorations ("!trill!", "~", "T",
".", bowings), grace notes ("{g}"), chord symbols and annotations ('"G"'), slurs "(" ")".
"""
from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["tokenize_abc", "detokenize_abc", "normalize_abc", "build_vocab",
           "encode_tokens", "decode_tokens", "MAX_ABC_CHARS"]

MAX_ABC_CHARS = 5000  # longest tune text accepted: twice the longest corpus tune (O'Neill's "The Fox
                      # Chase", 2,438 characters). music21's parse time grows faster than quadratically
                      # (1 s for that tune, ~10 s at this limit, minutes beyond), so longer text is refused.

BAR_TOKENS = ("|", "||", "|]", "|:", ":|", "::")
_MODE3 = {"major": "maj", "minor": "min", "dorian": "dor", "phrygian": "phr", "lydian": "lyd",
          "mixolydian": "mix", "locrian": "loc"}
_DUR = r"\d*/*\d*"
_BODY = re.compile(rf"""
    (?P<comment>%[^\n]*)
  | ^(?P<field>[H-Zh-y]):(?P<value>[^\n]*)            # a field line in the body (K:, M:, L:, w: ...)
  | \[(?P<ifield>[A-Za-z]):(?P<ivalue>[^\]\n]*)\]    # an inline field [K:D]
  | "[^"\n]*"?                                        # chord symbol or annotation
  | ![^!\n]*! | \+[^+\n]*\+                           # decoration
  | \{{[^}}]*\}}?                                     # grace notes
  | \[(?P<ending>\d+(?:[,-]\d+)*)                     # ending [1
  | (?P<bar>:*\[?\|+\]?:*|::+)(?P<bar_ending>\d+(?:[,-]\d+)*)?
  | (?P<tuplet>\(\d+(?::\d*)*)
  | (?P<note>(?:\^\^|\^|__|_|=)?[A-Ga-g][,']*)(?P<note_dur>{_DUR})
  | (?P<rest>[zxZ])(?P<rest_dur>{_DUR})
  | (?P<chord_open>\[)
  | (?P<chord_close>\])(?P<chord_dur>{_DUR})
  | (?P<tie>-)
  | (?P<broken>[<>]+)
""", re.VERBOSE | re.MULTILINE)


# ABC header fields (also read by musiclab.corpora)

_MODES = {"": "major", "maj": "major", "ion": "major", "m": "minor", "min": "minor",
          "aeo": "minor", "dor": "dorian", "phr": "phrygian", "lyd": "lydian",
          "mix": "mixolydian", "loc": "locrian"}


def check_abc_text(text) -> str:
    """``text`` if it is one ABC tune's text, else ValueError: empty text, or longer than MAX_ABC_CHARS."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty ABC text: no tune")
    if len(text) > MAX_ABC_CHARS:
        raise ValueError(f"ABC text of {len(text):,} characters is longer than MAX_ABC_CHARS = {MAX_ABC_CHARS:,} "
                         f"(one tune; music21 would take minutes or hours)")
    return text


def abc_key(value: str) -> tuple[str, str]:
    """ABC ``K:`` value -> (tonic, mode), e.g. "Gm" -> ("G", "minor"), "Ador" -> ("A", "dorian").

    Modes are case-insensitive as in the ABC standard ("EM" is E minor); German "H" is B;
    "none"/empty gives C major and unknown modes give major. A value that does not start with
    a tonic A-G (or H) raises ValueError naming the K: field and the value.
    """
    value = value.split("%")[0].strip()
    m = re.match(r"([A-Ha-h])([#b]?)\s*([A-Za-z]*)", value)
    if not value or value.lower().startswith("none"):
        return "C", "major"
    if m is None:
        raise ValueError(f"unknown key K:{value!r}: the K: field needs a tonic A-G (e.g. 'G', 'Em', 'Ador') or 'none'")
    letter, acc, word = m[1].upper().replace("H", "B"), m[2], m[3].lower()
    if word in ("s", "es"):  # German "Es" = E flat
        acc, word = "b", ""
    mode = _MODES.get(word[:3], "minor" if word.startswith("m") else "major")
    return letter + acc, mode


def abc_meter(value: str | None) -> str:
    """ABC ``M:`` value -> "6/8"; "C" -> "4/4", "C|" -> "2/2", missing/"none" -> "none"."""
    value = (value or "").split("%")[0].strip()
    if value.startswith("C|"):
        return "2/2"
    if value.startswith("C"):
        return "4/4"
    m = re.search(r"(\d+)\s*/\s*(\d+)", value)  # also "FREI4/4" (Essen) and "2/2]"
    return f"{m[1]}/{m[2]}" if m else "none"


def abc_field(text: str, letter: str) -> str | None:
    """Value of the first ``letter:`` field line of an ABC tune (None when absent)."""
    m = re.search(rf"(?m)^{letter}:[ \t]*(.*)$", text)
    return m[1].strip() if m else None


def key_token(value: str) -> str:
    """ABC K: value -> key token: "G" -> "K:Gmaj", "Em" -> "K:Emin", "ADor" -> "K:Ador"."""
    tonic, mode = abc_key(value)
    return f"K:{tonic}{_MODE3[mode]}"


def unit_length(value: str | None, meter: str) -> Fraction:
    """The unit note length L: (as a fraction of a whole note); ABC's default when missing is
    1/16 for meters below 3/4 and 1/8 otherwise."""
    m = re.match(r"\s*(\d+)\s*/\s*(\d+)", value or "")
    if m:
        return Fraction(int(m[1]), int(m[2]))
    if meter != "none" and Fraction(meter) < Fraction(3, 4):
        return Fraction(1, 16)
    return Fraction(1, 8)


def note_token(text: str) -> str:
    """One pitch, octave written canonically: "C''" -> "c'", "c," -> "C", "^f" -> "^f"."""
    acc, letter, marks = re.fullmatch(r"(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)", text).groups()
    octave = (5 if letter.islower() else 4) + marks.count("'") - marks.count(",")
    name = letter.lower() + "'" * (octave - 5) if octave >= 5 else letter.upper() + "," * (4 - octave)
    return (acc or "") + name


def length(text: str) -> Fraction:
    """ABC length suffix -> multiple of the unit: "" -> 1, "3" -> 3, "/" -> 1/2, "//" -> 1/4,
    "3/2" -> 3/2."""
    num, slashes, den = re.fullmatch(r"(\d*)(/*)(\d*)", text).groups()
    return Fraction(int(num) if num else 1, (int(den) if den else 2 ** len(slashes)) if slashes else 1)


def duration_token(length_: Fraction) -> str | None:
    """A length in eighths -> token: 2 -> "2", 1/2 -> "/2", 3/2 -> "3/2"; None for 1 (and 0)."""
    if length_ == 1 or length_ == 0:
        return None
    if length_.denominator == 1:
        return str(length_.numerator)
    if length_.numerator == 1:
        return f"/{length_.denominator}"
    return f"{length_.numerator}/{length_.denominator}"


def bar_token(text: str) -> str | None:
    """Any ABC bar line -> one of BAR_TOKENS ("||:" -> "|:", ":||" -> ":|", "[|" -> "||")."""
    left, right = text.startswith(":"), text.endswith(":")
    if left and right:
        return "::"
    if left:
        return ":|"
    if right:
        return "|:"
    if text.endswith("]"):
        return "|]"
    return "||" if text.count("|") > 1 or text.startswith("[") else "|"


def _split_header(lines: list[str]) -> tuple[list[str], list[str]]:
    """Header = the lines up to the first K: line (or the leading field lines); body = the rest."""
    for i, line in enumerate(lines):
        if line.startswith("K:"):
            return lines[:i + 1], lines[i + 1:]
    i = 0
    while i < len(lines) and re.match(r"[A-Za-z]:|%", lines[i]):
        i += 1
    return lines[:i], lines[i:]


def _is_duration(token: str) -> bool:
    return re.fullmatch(r"\d+|\d*/\d+", token) is not None


def _chord_notes(tokens: list[str], factor: Fraction) -> list[str]:
    """Notes of a chord with the chord's length factor moved inside: [CE]2 -> [C2E2]."""
    notes = []  # [token, length or None]
    for tok in tokens:
        if _is_duration(tok) and notes:
            notes[-1][1] = length(tok)
        else:
            notes.append([tok, Fraction(1) if re.match(r"[_=^]*[A-Ga-g]", tok) else None])
    out = []
    for tok, len_ in notes:
        out += [tok] + ([duration_token(len_ * factor)] if len_ is not None else [])
    return [t for t in out if t]


def tokenize_abc(text: str) -> list[str]:
    """One ABC tune -> tokens: ["M:6/8", "K:Gmaj", "G", "A", "B", "|", ...].

    ValueError for empty text, text longer than MAX_ABC_CHARS or an unknown key (``abc_key``).
    Notebooks: 00, 04, 11."""
    head, body = _split_header(check_abc_text(text).splitlines())
    fields = {}
    for line in head:
        m = re.match(r"([A-Za-z]):(.*)", line)
        if m:
            fields[m[1]] = m[2].strip()
    meter = abc_meter(fields.get("M"))
    scale = unit_length(fields.get("L"), meter) * 8  # durations in units of 1/8
    tokens = [f"M:{meter}", key_token(fields.get("K", "C"))]
    chord_at = -1
    for m in _BODY.finditer("\n".join(body)):
        field, value = (m["field"], m["value"]) if m["field"] else (m["ifield"], m["ivalue"])
        if field in ("M", "K", "L"):
            if field == "M":
                meter = abc_meter(value)
                tokens.append(f"M:{meter}")
            elif field == "K":
                tokens.append(key_token(value))
            else:
                scale = unit_length(value, meter) * 8
        elif m["ending"] or m["bar_ending"]:
            if m["bar"]:
                tokens.append(bar_token(m["bar"]))
            number = m["ending"] or m["bar_ending"]
            if tokens[-1] in BAR_TOKENS:  # "|1", ":|2": the ending belongs to the bar before it
                tokens[-1] = (":|" if tokens[-1] in (":|", "::") else "|") + number
            else:
                tokens.append("[" + number)
        elif m["bar"]:
            tokens.append(bar_token(m["bar"]))
        elif m["tuplet"]:
            tokens.append(m["tuplet"].rstrip(":"))
        elif m["note"] or m["rest"]:
            tokens.append(note_token(m["note"]) if m["note"] else "z")
            dur = duration_token(length(m["note_dur"] if m["note"] else m["rest_dur"]) * scale)
            tokens += [dur] if dur else []
        elif m["chord_open"]:
            chord_at = len(tokens)
            tokens.append("[")
        elif m["chord_close"]:
            if tokens[chord_at:chord_at + 1] == ["["]:
                tokens[chord_at + 1:] = _chord_notes(tokens[chord_at + 1:], length(m["chord_dur"]))
            chord_at = -1  # closed: a stray "]" later must not rewrite it again
            tokens.append("]")
        elif m["tie"] or m["broken"]:
            tokens.append(m[0])
    return tokens


def _is_bar(token: str) -> bool:
    """A bar line or an ending ("|1", ":|2", "[2")."""
    return token in BAR_TOKENS or re.fullmatch(r"(:?\||\[)\d+([,-]\d+)*", token) is not None


def detokenize_abc(tokens, title: str = "generated") -> str:
    """Tokens -> a complete ABC tune (X:, T:, L:1/8, M:, K: header, then the body).

    The first two tokens give the header when they are "M:..." and "K:..." (as tokenize_abc
    makes them); later M:/K: tokens become field lines in the body. ``tokens`` must be a list of
    strings (TypeError otherwise: integer ids go through ``decode_tokens`` first).
    Notebooks: 00, 04, 08, 10.
    """
    if isinstance(tokens, str):
        raise TypeError("detokenize_abc needs a list of tokens, not one string (tokenize_abc makes the list)")
    tokens = list(tokens)
    bad = [tok for tok in tokens if not isinstance(tok, str)]
    if bad:
        raise TypeError(f"tokens must be strings, got {type(bad[0]).__name__} {bad[0]!r} (ids? decode_tokens first)")
    meter, key = "M:none", "K:Cmaj"
    if tokens and tokens[0].startswith("M:"):
        meter, tokens = tokens[0], tokens[1:]
    if tokens and tokens[0].startswith("K:"):
        key, tokens = tokens[0], tokens[1:]
    title = " ".join(str(title).split()) or "generated"
    lines, line, bars = [], "", 0
    for tok in tokens:
        if tok.startswith(("M:", "K:")):  # a field line: music21 ignores inline [K:...] fields
            lines += [line.strip(), tok]
            line = ""
        elif _is_bar(tok):
            line += f" {tok} "
            bars += 1
            if bars % 8 == 0:
                lines.append(line.strip())
                line = ""
        else:
            line += tok
    lines = [x for x in lines + [line.strip()] if x]  # a blank line would end the tune
    return "\n".join([f"X:1\nT:{title}\nL:1/8\n{meter}\n{key}"] + lines) + "\n"


def normalize_abc(text: str) -> str:
    """The tune rewritten from its tokens: L:1/8, no decorations, annotations or grace notes.

    music21 misreads some decorated ABC (it drops the note after an annotation like '">"c2',
    ignores '>' before a staccato dot as in "(a>.g)" and ignores inline [K:] fields), so the
    corpora parse this normalised text (see musiclab.corpora).
    """
    return detokenize_abc(tokenize_abc(text), title=abc_field(text, "T") or "untitled")


def build_vocab(token_lists, specials=("<s>", "</s>")) -> list[str]:
    """The vocabulary: special tokens first, then every distinct token, sorted."""
    seen = {tok for tokens in token_lists for tok in tokens}
    return list(specials) + sorted(seen - set(specials))


def encode_tokens(tokens, vocab) -> list[int]:
    """Tokens -> integer ids in ``vocab`` (ValueError naming an unknown token).
    Notebooks: 10."""
    index = {tok: i for i, tok in enumerate(vocab)}
    try:
        return [index[tok] for tok in tokens]
    except KeyError as e:
        raise ValueError(f"token {e.args[0]!r} is not in the vocabulary") from None


def decode_tokens(ids, vocab) -> list[str]:
    """Integer ids -> tokens; every id must be in 0..len(vocab)-1 (ValueError naming the first that is not)."""
    ids = [int(i) for i in ids]
    bad = [i for i in ids if not 0 <= i < len(vocab)]
    if bad:
        raise ValueError(f"token id {bad[0]} is outside the vocabulary's ids 0..{len(vocab) - 1}")
    return [vocab[i] for i in ids]
