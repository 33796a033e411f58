"""Validity of ABC token lists: every rule on hand-made tunes, then real O'Neill and Ryan's tunes."""
import numpy as np
import pytest

from musiclab.abc import tokenize_abc
from musiclab.corpora import load_corpus
from musiclab.validity import key_signature, token_pitches, tune_validity, validity_rates

MAJOR_STEPS = [0, 2, 4, 5, 7, 9, 11]
MODES = ["maj", "dor", "phr", "lyd", "mix", "min", "loc"]   # the major scale's rotations, in order
LETTERS = "CDEFGAB"
LETTER_PC = dict(zip(LETTERS, MAJOR_STEPS))


def tune(body: str, meter="M:2/4", key="K:Cmaj") -> list:
    """A token list from space-separated tokens, with a header."""
    return [meter, key] + body.split()


def bars_ok(tokens) -> tuple:
    report = tune_validity(tokens)
    return report.bars_ok, report.bars


# header

def test_header_needs_meter_then_key():
    body = "C | D E F G | c 4 |]"
    assert tune_validity(tune(body)).header
    assert not tune_validity(["K:Cmaj", "M:2/4"] + body.split()).header
    assert not tune_validity(body.split()).header
    assert not tune_validity(["M:2/4"] + body.split()).header
    assert tune_validity(["<s>"] + tune(body) + ["<s>"]).header   # the boundary token is skipped


# bars add up

def test_plain_bars_add_up_in_eighths():
    assert bars_ok(tune("C | D E F G | A 2 B 2 | c 3 /2 | c 4 |]")) == (2, 3)   # a stray "/2" adds nothing
    assert bars_ok(tune("C | D E F G | A 2 B 2 | c 4 |]")) == (2, 2)
    assert bars_ok(tune("C | D E F | A 2 B 2 | c 4 |]")) == (1, 2)             # 3 eighths of 4
    assert bars_ok(tune("D | G A B c d e | d 3 B 3 | G 6 |]", meter="M:6/8")) == (2, 2)


def test_first_and_last_bar_may_be_partial():
    assert bars_ok(tune("G | c d e f | g 3")) == (1, 1)            # pickup of 1, last bar of 3
    assert bars_ok(tune("G | c d e f | g 3 | c 4 |]")) == (1, 2)   # the same bar of 3 inside the tune fails


def test_a_partial_bar_at_a_section_line_completes_with_the_next_pickup():
    # section A ends with 3.5 eighths, section B starts with a pickup of 0.5: together one bar of 2/4
    assert bars_ok(tune("G | c d e f | G G G z /2 || G /2 | c d e f | c 4 |]")) == (4, 4)
    # the same short bar without a section line is wrong
    assert bars_ok(tune("G | c d e f | G G G z /2 | G /2 | c d e f | c 4 |]")) == (2, 4)
    # first and second ending both complete the opening pickup of 1
    assert bars_ok(tune("G | c d e f |1 g f e :|2 g f d || c 4 |]")) == (3, 3)


def test_tuplet_plays_its_notes_in_two_thirds():
    assert bars_ok(tune("C | (3 A B c d e | (3 A 2 B 2 c 2 | c 4 |]")) == (2, 2)   # 3 x 2/3 = 2
    assert bars_ok(tune("C | A B c d e | c 4 |]")) == (0, 1)                      # without (3: 5 eighths
    # (p:q:r: three notes in the time of two, read explicitly
    assert bars_ok(tune("C | (3:2:3 A B c d e | c 4 |]")) == (1, 1)
    # (5 is five in the time of three in compound meter, of two otherwise
    assert bars_ok(tune("C | (5 A B c d e d 2 B | G 6 |]", meter="M:6/8")) == (1, 1)
    assert bars_ok(tune("C | (5 A B c d e d 2 | c 4 |]")) == (1, 1)


def test_broken_rhythm_dots_the_first_and_halves_the_second():
    assert bars_ok(tune("C | A > B c d | A 2 > B 2 | A < B 3 | c 4 |]")) == (2, 3)   # last one: 1/2 + 3/2 * 3
    assert bars_ok(tune("C | A < B c d | A >> B c d | c 4 |]")) == (2, 2)             # 7/4 + 1/4
    report = tune_validity(tune("C | A 2 > B 2 | c 4 |]"))
    assert report.bar_lengths == [(4, 4)]


def test_chord_lasts_as_long_as_its_first_note():
    tokens = tokenize_abc("X:1\nM:2/4\nL:1/8\nK:C\nC|[CE]2GA|[CEG]4|]")
    assert tokens[4:10] == ["[", "C", "2", "E", "2", "]"]      # the tokenizer moves the length inside
    assert bars_ok(tokens) == (1, 1)
    assert tune_validity(tokens).chords_balanced
    # a length after "]" multiplies the chord, as in ABC: [CE]2 written that way
    assert bars_ok(tune("C | [ C E ] 2 G A | c 4 |]")) == (1, 1)


def test_inline_meter_change_holds_from_its_bar_on():
    tokens = tune("C | D E F G | M:3/4 A B c d e f | g 2 a 2 b 2 | c 4 |]")
    assert bars_ok(tokens) == (3, 3)
    assert bars_ok(tune("C | D E F G | A B c d e f | g 2 a 2 b 2 | c 4 |]")) == (1, 3)
    assert bars_ok(tune("C | D E F G | M:none A B c | c 4 |]")) == (1, 1)   # free meter: not checked


# balanced chords

def test_unbalanced_chords_are_found():
    assert tune_validity(tune("C | [ C E G ] D E F | c 4 |]")).chords_balanced
    assert not tune_validity(tune("C | [ C E G D E | c 4 |]")).chords_balanced      # bar line in a chord
    assert not tune_validity(tune("C | C E G ] D E F | c 4 |]")).chords_balanced    # ] without [
    assert not tune_validity(tune("C | [ C [ E G ] D | c 4 |]")).chords_balanced    # nested
    assert not tune_validity(tune("C | D E F G | [ c e")).chords_balanced           # still open at the end
    assert not tune_validity(tune("C | [ ] D E F G | c 4 |]")).chords_balanced      # empty chord


# ends on the tonic

def test_ends_on_the_tonic_of_the_key():
    assert tune_validity(tune("D | G A B c | G 4 |]", key="K:Gmaj")).ends_on_tonic
    assert not tune_validity(tune("D | G A B c | D 4 |]", key="K:Gmaj")).ends_on_tonic
    assert tune_validity(tune("D | G A B c | g 4 z |]", key="K:Gmaj")).ends_on_tonic      # a rest after it
    assert tune_validity(tune("F | B c d e | B 4 |]", key="K:Bbmaj")).ends_on_tonic       # B means Bb here
    assert not tune_validity(tune("F | B c d e | =B 4 |]", key="K:Bbmaj")).ends_on_tonic
    assert tune_validity(tune("A | d e f g | [ D F A ] 4 |]", key="K:Dmaj")).ends_on_tonic  # lowest note
    assert not tune_validity(tune("A | d e f g | [ F A d ] 4 |]", key="K:Dmaj")).ends_on_tonic
    assert tune_validity(tune("C | G A B c | K:Dmaj d 4 |]")).ends_on_tonic               # the key in force
    assert not tune_validity(tune("C | G A B c | K:Dmaj c 4 |]")).ends_on_tonic
    assert not tune_validity(tune("z | z 4 |]")).ends_on_tonic                            # no note at all


def test_key_signatures_spell_the_scale_of_every_mode():
    for tonic in ["C", "G", "D", "A", "E", "B", "F", "Bb", "F#"]:     # every mode in at most 7 sharps/flats
        for shift, mode in enumerate(MODES):
            pc, signature = key_signature(f"K:{tonic}{mode}")
            assert pc == (LETTER_PC[tonic[0]] + {"#": 1, "b": -1}.get(tonic[1:], 0)) % 12
            start = LETTERS.index(tonic[0])
            letters = [LETTERS[(start + k) % 7] for k in range(7)]
            spelled = sorted((LETTER_PC[x] + signature.get(x, 0)) % 12 for x in letters)
            mode_steps = [(s - MAJOR_STEPS[shift]) % 12 for s in MAJOR_STEPS]  # the rotation of major
            assert spelled == sorted((pc + s) % 12 for s in mode_steps), (tonic, mode)
    with pytest.raises(ValueError, match="not a key token"):
        key_signature("K:H")


# pitches

def test_accidentals_hold_until_the_bar_line():
    tokens = tune("d =B c B | B 4 |]", key="K:Gmin")        # G minor: B is Bb
    assert token_pitches(tokens) == [74, 71, 72, 71, 70]    # both B of bar 1 natural, bar 2 back to Bb
    assert token_pitches(tokens, carry_accidentals=False) == [74, 71, 72, 70, 70]


def test_tied_notes_of_one_pitch_count_once():
    tokens = tune("G 2 - G 2 | G - A B c |]", key="K:Gmaj")
    assert token_pitches(tokens) == [67, 67, 69, 71, 72]     # G2-G2 is one note; the G tied to A is not merged
    assert token_pitches(tokens, merge_ties=False) == [67, 67, 67, 69, 71, 72]


# rates over a set

def test_rates_pool_the_reports():
    tunes = [tune("C | D E F G | c 4 |]"), tune("C | D E F | E 4 |]"), ["C", "|", "[", "C", "E", "|", "c", "4"]]
    reports = [tune_validity(t) for t in tunes]
    rates = validity_rates(tunes)
    assert rates["n_tunes"] == 3
    assert rates["header"] == pytest.approx(np.mean([r.header for r in reports]))
    assert rates["n_bars"] == sum(r.bars for r in reports)
    assert rates["bars"] == pytest.approx(sum(r.bars_ok for r in reports) / rates["n_bars"])
    assert rates["chords"] == pytest.approx(np.mean([r.chords_balanced for r in reports]))
    assert rates["tonic"] == pytest.approx(np.mean([r.ends_on_tonic for r in reports]))
    assert rates["valid"] == pytest.approx(np.mean([r.valid for r in reports]))
    assert [r.valid for r in reports] == [True, False, False]
    assert np.isnan(validity_rates([])["header"])


# real tunes

@pytest.fixture(scope="module")
def real_tokens():
    return {name: [tokenize_abc(p.abc) for p in load_corpus(name)] for name in ("oneills", "ryans")}


def test_real_tunes_are_valid(real_tokens):
    for name, tunes in real_tokens.items():
        rates = validity_rates(tunes)
        print(name, rates)
        assert rates["header"] == 1.0
        assert rates["bars"] >= 0.95, (name, rates)     # transcription slips remain (a 9-eighth bar in 4/4)
        assert rates["chords"] >= 0.99, (name, rates)
        assert rates["tonic"] >= 0.7, (name, rates)      # D.C./segno tunes and modal endings end elsewhere
        # the same tokens in a random order: the checks do tell music from token soup
        rng = np.random.default_rng(0)
        shuffled = validity_rates([list(rng.permutation(t)) for t in tunes[:300]])
        assert shuffled["bars"] < 0.3 and shuffled["header"] < 0.05, (name, shuffled)


def test_pitches_agree_with_the_corpus_notes(real_tokens):
    # music21 (the corpus notes) applies an accidental to its own note only: read the tokens that way
    pieces = load_corpus("oneills")
    same = [token_pitches(t, carry_accidentals=False) == [int(x) for x in p.notes[np.lexsort(p.notes[:, [2, 0]].T), 2]]
            for t, p in zip(real_tokens["oneills"], pieces)]
    assert np.mean(same) >= 0.99
