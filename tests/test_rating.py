import multiprocessing
import stat

import numpy as np
import pytest
from scipy.stats import binom, binomtest

from musiclab.abc import tokenize_abc
from musiclab.audio import SR, to_audio
from musiclab.listen import normalize
from musiclab.rating import (FIELDS, REAL, ListeningTest, Pair, RatingStore, _content_hash, cluster_bootstrap,
                             check_clip, equal_length, tune_seconds, make_pairs, pair_sounding, preference_summary,
                             sounding_seconds, wilson_interval)

SECONDS = 0.5


def clips(n, freq, seconds=0.4):
    """n distinct sine clips (harmonics of freq), shorter than SECONDS unless told."""
    t = np.arange(round(seconds * SR)) / SR
    return [np.sin(2 * np.pi * freq * (i + 1) * t).astype(np.float32) * 0.5 for i in range(n)]


def prepared(waveforms):
    """What make_pairs turns a clip into: equal length, then a 0.9 peak."""
    return [normalize(y) for y in equal_length(waveforms, SECONDS)]


def index_of(y, candidates):
    hits = [i for i, c in enumerate(candidates) if np.array_equal(y, c)]
    assert len(hits) == 1
    return hits[0]


def real_and_generated(p):
    return (p.a, p.b) if p.a_source == REAL else (p.b, p.a)


def test_equal_length_cuts_pads_and_fades_every_clip_the_same_way():
    n = round(SECONDS * SR)
    long, short, empty = clips(1, 220, seconds=1.0)[0], clips(1, 330, seconds=0.05)[0], np.zeros(0, np.float32)
    out = equal_length([long, short, empty], SECONDS, fade=0.05)
    assert [len(y) for y in out] == [n, n, n] and all(y.dtype == np.float32 for y in out)
    n_fade = round(0.05 * SR)
    assert np.array_equal(out[0][:n - n_fade], long[:n - n_fade])             # untouched before the fade
    assert np.all(np.abs(out[0][n - n_fade:]) <= np.abs(long[n - n_fade:n]))    # quieter inside it
    assert out[0][-1] == 0                                                      # silent at the cut
    assert np.array_equal(out[1][:len(short)], short) and not out[1][len(short):].any()  # padded with silence
    assert not out[2].any()                                                     # silence stays a (silent) clip
    with pytest.raises(ValueError, match="nan"):
        equal_length([np.array([0.0, np.nan])], SECONDS)
    with pytest.raises(ValueError, match="1-D"):
        equal_length([np.zeros((2, 10))], SECONDS)
    with pytest.raises(ValueError, match="fade"):
        equal_length([long], 0.1, fade=0.5)


def test_pairs_hear_each_real_clip_once_and_match_styles():
    real = {"chorale": clips(6, 220), "irish": clips(5, 300)}
    generated = {"lstm": {"irish": clips(3, 400)}, "gan": {"chorale": clips(3, 500), "irish": clips(2, 600)},
                 "dic": {"chorale": clips(3, 700)}}
    pairs = make_pairs(real, generated, SECONDS, seed=1)
    assert len(pairs) == 11
    used = set()
    for p in pairs:
        assert sorted([p.a_source, p.b_source]) == sorted([REAL, p.model]) and p.model != REAL
        r, g = real_and_generated(p)
        used.add((p.style, index_of(r, prepared(real[p.style]))))       # a real clip of the pair's own style
        index_of(g, prepared(generated[p.model][p.style]))               # the model's clip of that style
        assert len(p.a) == len(p.b) == round(SECONDS * SR)
    assert len(used) == len(pairs)                                        # no real clip heard twice
    for model, styles in generated.items():                               # A in half of each model's pairs
        n = sum(map(len, styles.values()))
        assert abs(sum(p.a_source == model for p in pairs if p.model == model) - n / 2) <= 0.5
    assert len({p.a_source for p in pairs if p.model == "gan"}) == 2
    again = make_pairs(real, generated, SECONDS, seed=1)
    assert [(p.id, p.a_source) for p in again] == [(p.id, p.a_source) for p in pairs]
    other = make_pairs(real, generated, SECONDS, seed=2)
    assert [(p.id, p.a_source) for p in other] != [(p.id, p.a_source) for p in pairs]


def test_pairs_need_enough_distinct_real_clips_of_each_style():
    real = {"chorale": clips(3, 220)}
    with pytest.raises(ValueError, match=r"'chorale': 4 generated clips .* only 3"):
        make_pairs(real, {"gan": {"chorale": clips(2, 330)}, "dic": {"chorale": clips(2, 440)}}, SECONDS)
    with pytest.raises(ValueError, match=r"'german': 1 generated clips .* only 0"):
        make_pairs(real, {"gan": {"german": clips(1, 330)}}, SECONDS)
    with pytest.raises(ValueError, match="identical"):
        make_pairs({"chorale": clips(1, 220) * 2}, {"gan": {"chorale": clips(2, 330)}}, SECONDS)
    with pytest.raises(ValueError, match="reserved"):
        make_pairs(real, {REAL: {"chorale": clips(1, 330)}}, SECONDS)


def test_a_silent_or_short_clip_is_as_long_as_the_others_and_reported():
    roll = np.zeros((8, 88), dtype=bool)   # an empty piano roll: the model wrote nothing
    with pytest.warns(UserWarning, match="gan: 1"):
        pairs = make_pairs({"chorale": clips(2, 220, seconds=1.0)},
                           {"gan": {"chorale": [roll, clips(1, 330, seconds=0.01)[0]]}}, SECONDS)
    assert sorted(p.silent for p in pairs) == [False, True]
    assert len({len(y) for p in pairs for y in (p.a, p.b)}) == 1


def test_ids_follow_the_sound_of_both_clips():
    real, gen = {"irish": clips(4, 220)}, {"lstm": {"irish": clips(2, 330)}, "gan": {"irish": clips(2, 440)}}
    ids = {p.id for p in make_pairs(real, gen, SECONDS)}
    assert ids == {p.id for p in make_pairs(real, {m: {s: [c.copy() for c in v] for s, v in st.items()}
                                                   for m, st in gen.items()}, SECONDS)}  # same sound, same ids
    retrained = {"lstm": gen["lstm"], "gan": {"irish": clips(2, 450)}}
    new = {p.id for p in make_pairs(real, retrained, SECONDS)}
    assert {i for i in ids if i.startswith("lstm|")} <= new                  # the unchanged model keeps its ids
    assert not {i for i in ids if i.startswith("gan|")} & new                # the retrained one gets new ones
    y = clips(1, 220)[0]
    z = y.copy()
    z[100] += 1e-3
    assert _content_hash(y) == _content_hash(y.astype(np.float64)) != _content_hash(z)
    assert _content_hash(y, z) != _content_hash(z, y) and len(_content_hash(y)) == 10


def test_a_session_survives_a_restart_without_a_retrained_models_ratings(tmp_path):
    path = tmp_path / "ratings.csv"
    real, gen = {"irish": clips(6, 220)}, {"lstm": {"irish": clips(2, 330)}, "gan": {"irish": clips(2, 440)}}
    pairs = make_pairs(real, gen, SECONDS)
    test = ListeningTest(pairs, path, rater="ana")
    for answer in ["A", "B", "B"]:
        test.choose(answer, "same")
    restarted = ListeningTest(make_pairs(real, gen, SECONDS), path, rater="ana")  # new kernel: clips made again
    assert len(restarted.store) == 3 and restarted.current().id == pairs[3].id   # resumes at the 4th pair
    restarted.choose("A")
    assert restarted.current() is None and restarted.save.disabled
    assert {m: s["n"] for m, s in restarted.summary().items()} == {"lstm": 2, "gan": 2}

    retrained = {"lstm": gen["lstm"], "gan": {"irish": clips(2, 450)}}
    after = ListeningTest(make_pairs(real, retrained, SECONDS), path, rater="ana")
    todo = [p for p in after.pairs if p.id not in after.store.rated("ana")]
    assert {p.model for p in todo} == {"gan"} and len(todo) == 2 and after.current() in todo
    assert {m: s["n"] for m, s in after.summary().items()} == {"lstm": 2}    # the old GAN ratings do not count
    assert len(after.store) == 4                                             # but stay in the file
    after.choose("B")
    assert after.summary()["gan"]["n"] == 1


def test_rows_read_back_and_two_stores_do_not_lose_rows(tmp_path):
    path = tmp_path / "ratings.csv"
    pairs = make_pairs({"irish": clips(3, 220)}, {"lstm": {"irish": clips(3, 330)}}, SECONDS)
    first, second = RatingStore(path), RatingStore(path)
    written = [first.add(pairs[0], "A", rater="ana"), second.add(pairs[1], "B", "same", rater="bo")]
    assert RatingStore(path).rows == written
    assert RatingStore(path).rated("ana") == {pairs[0].id} and RatingStore(path).rated("cy") == set()
    with pytest.raises(ValueError, match="already rated"):
        second.add(pairs[0], "B", rater="ana")
    for bad in [dict(person="C"), dict(person="A", musical="maybe"), dict(person="A", rater="")]:
        with pytest.raises(ValueError):
            first.add(pairs[2], **{"rater": "ana", **bad})
    assert len(RatingStore(path)) == 2 and not list(tmp_path.glob(".tmp-*"))


N_ADDS = 100


def add_ratings(path, rater, start):
    """Worker: ``rater`` rates N_ADDS pairs into ``path``, as fast as it can once both have started."""
    start.wait()
    store, silence = RatingStore(path), np.zeros(1, np.float32)
    for i in range(N_ADDS):
        store.add(Pair(f"lstm|irish|{i:010x}", silence, silence, REAL, "lstm", "irish"), "A", rater=rater)


def test_two_processes_adding_at_once_lose_no_rows(tmp_path):
    path = tmp_path / "ratings.csv"
    context = multiprocessing.get_context()
    start = context.Barrier(2)
    workers = [context.Process(target=add_ratings, args=(path, rater, start)) for rater in ("ana", "bo")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    rows = RatingStore(path).rows                                # read back: checked, no duplicates
    assert len(rows) == 2 * N_ADDS
    assert {r["rater"] for r in rows} == {"ana", "bo"} and len({(r["rater"], r["pair"]) for r in rows}) == len(rows)


def test_a_read_only_ratings_file_is_never_replaced(tmp_path):
    path = tmp_path / "ratings.csv"
    pairs = make_pairs({"irish": clips(2, 220)}, {"lstm": {"irish": clips(2, 330)}}, SECONDS)
    store = RatingStore(path)
    store.add(pairs[0], "A", rater="ana")
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)       # mode bits, so the test holds as root too
    before, mode = path.read_bytes(), path.stat().st_mode
    with pytest.raises(PermissionError, match="ratings.csv is read-only"):
        store.add(pairs[1], "B", rater="ana")
    assert path.read_bytes() == before and path.stat().st_mode == mode
    assert len(RatingStore(path)) == 1                           # still readable for a summary


GOOD = "1.0,ana,lstm|irish|0123456789,irish,real,lstm,A,same"


@pytest.mark.parametrize("text, message", [
    ("name,score\nx,1\n", "line 1: not a ratings file"),
    ("time,rater,pair,a_source,b_source,choice,preferred\n1.0,ana,p,real,lstm,A,real\n", "line 1: not a ratings file"),
    (",".join(FIELDS) + "\n" + GOOD + "\n1.0,ana,lstm|irish|0123456789,irish,real,lstm,A\n", "line 3: 7 fields"),
    (",".join(FIELDS) + "\n" + GOOD.replace(",A,", ",C,") + "\n", "line 2: 'person' answer 'C'"),
    (",".join(FIELDS) + "\n" + GOOD.replace("same", "better") + "\n", "line 2: 'musical' answer 'better'"),
    (",".join(FIELDS) + "\n" + GOOD.replace("lstm,A", "real,A") + "\n", "line 2: sources"),
    (",".join(FIELDS) + "\n" + GOOD.replace("0123456789", "GAN #0") + "\n", "line 2: pair id"),
    (",".join(FIELDS) + "\n" + GOOD.replace("1.0", "yesterday") + "\n", "line 2: time 'yesterday'"),
    (",".join(FIELDS) + "\n" + GOOD + "\n" + GOOD + "\n", "line 3: rater 'ana' rated pair .* already on line 2"),
])
def test_a_corrupt_or_foreign_csv_is_named_and_never_overwritten(tmp_path, text, message):
    path = tmp_path / "ratings.csv"
    path.write_text(text)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=f"ratings.csv, {message}"):
        RatingStore(path)
    pairs = make_pairs({"irish": clips(1, 220)}, {"lstm": {"irish": clips(1, 330)}}, SECONDS)
    with pytest.raises(ValueError, match=message):
        ListeningTest(pairs, path, rater="ana")
    assert path.read_bytes() == before


def test_a_file_damaged_after_opening_is_not_overwritten_by_the_next_rating(tmp_path):
    path = tmp_path / "ratings.csv"
    pairs = make_pairs({"irish": clips(2, 220)}, {"lstm": {"irish": clips(2, 330)}}, SECONDS)
    test = ListeningTest(pairs, path, rater="ana")
    test.choose("A")
    path.write_bytes(path.read_bytes()[:-5] + b"\xff\xfe\n")   # damaged meanwhile (not even UTF-8 now)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="ratings.csv.*not UTF-8"):
        test.choose("B")
    assert path.read_bytes() == before


def test_wilson_interval_matches_scipy_and_its_definition():
    for k, n in [(0, 5), (3, 10), (8, 10), (10, 10), (37, 120)]:
        low, high = wilson_interval(k, n)
        ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert np.allclose([low, high], [ref.low, ref.high], atol=2e-4)  # scipy uses z = 1.95996...
        z = 1.96
        for p in (low, high):  # the endpoints solve (k/n - p)^2 = z^2 p (1 - p) / n
            if 0 < p < 1:
                assert np.isclose((k / n - p) ** 2, z * z * p * (1 - p) / n)
        assert 0 <= low <= k / n <= high <= 1
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_the_bootstrap_resamples_raters_not_ratings():
    # one rater always takes the model for the person, nine never do, ten ratings each: the pooled
    # rate is the share of that one rater among the drawn ones, Binomial(10, 1/10) / 10
    k, n = [10] + [0] * 9, [10] * 10
    low, high = cluster_bootstrap(k, n, n_boot=2000, seed=0)
    assert (low, high) == (binom.ppf(0.025, 10, 0.1) / 10, binom.ppf(0.975, 10, 0.1) / 10)
    w_low, w_high = wilson_interval(10, 100)
    assert high - low > w_high - w_low and low < w_low and high > w_high
    same = cluster_bootstrap([3] * 10, [10] * 10)   # raters who agree: nothing varies between them
    assert same == (0.3, 0.3)
    assert all(np.isnan(cluster_bootstrap([3], [10])))  # one rater: no spread between raters to resample
    with pytest.raises(ValueError):
        cluster_bootstrap([3, 11], [10, 10])


def test_summary_counts_the_model_side_per_rater(tmp_path):
    store = RatingStore(tmp_path / "r.csv")
    pairs = make_pairs({"irish": clips(10, 220)}, {"gan": {"irish": clips(10, 330)}}, SECONDS, seed=3)
    model_side = lambda p: "A" if p.a_source == "gan" else "B"
    real_side = lambda p: "B" if p.a_source == "gan" else "A"
    for r in range(10):   # rater 0 always takes the GAN's clip for the person-written one, the others never
        for p in pairs:
            store.add(p, model_side(p) if r == 0 else real_side(p), "same" if r else model_side(p), rater=f"r{r}")
    s = preference_summary(store.rows, n_boot=2000, seed=0)["gan"]
    assert (s["n"], s["raters"], s["fooled"], s["rate"]) == (100, 10, 10, 0.1)
    assert (s["wilson_low"], s["wilson_high"]) == wilson_interval(10, 100)
    assert (s["boot_low"], s["boot_high"]) == cluster_bootstrap([10] + [0] * 9, [10] * 10, n_boot=2000, seed=0)
    assert (s["musical_n"], s["musical_model"], s["musical_real"], s["musical_same"]) == (100, 10, 0, 90)
    assert preference_summary(store.rows, pairs=pairs[:3])["gan"]["n"] == 30


def test_the_widget_is_blind_and_its_buttons_record(tmp_path):
    path = tmp_path / "ratings.csv"
    pairs = make_pairs({"chorale": clips(3, 220, seconds=1.0)}, {"gan": {"chorale": clips(3, 330, seconds=0.05)}},
                       SECONDS)
    test = ListeningTest(pairs, path, rater="ana")
    labels = [box.children[0].value for box in test.players.children]
    assert labels == ["<b>A</b>", "<b>B</b>"]                     # no source, no duration
    sizes = set()
    for p in pairs:   # every clip's WAV has the same size, so the browser shows the same duration
        sizes |= {len(box.children[1].value) for box in ListeningTest([p], tmp_path / "x.csv", "x").players.children}
    assert len(sizes) == 1
    first = test.current()
    test.save.click()                                             # no answer yet: nothing is saved
    assert len(test.store) == 0 and "first" in test.message.value
    test.person.value, test.musical.value = "B", "same"
    test.save.click()                                             # the real button handler
    assert test.store.rows[0]["pair"] == first.id and test.store.rows[0]["person"] == "B"
    assert test.store.rows[0]["musical"] == "same" and test.person.value is None and test.current() is not first
    test.person.value = "A"
    test.save.click()                                             # the musical question is optional
    assert RatingStore(path).rows[1]["musical"] == ""
    with pytest.raises(ValueError, match="same length"):
        ListeningTest([pairs[0], type(pairs[0])("x|chorale|0000000000", pairs[0].a[:-1], pairs[0].b, REAL, "x",
                                                "chorale")], tmp_path / "y.csv", rater="ana")
    with pytest.raises(ValueError, match="rater"):
        ListeningTest(pairs, path, rater="")


def test_each_rater_hears_the_pairs_in_an_order_of_their_own(tmp_path):
    pairs = make_pairs({"irish": clips(8, 220)}, {"gan": {"irish": clips(8, 330)}}, SECONDS, seed=1)
    order = lambda rater: [p.id for p in ListeningTest(pairs, tmp_path / "r.csv", rater=rater, shuffle=True).pairs]
    assert [p.id for p in ListeningTest(pairs, tmp_path / "r.csv", rater="ana").pairs] == [p.id for p in pairs]
    assert order("ana") == order("ana")                              # the same order after a restart
    assert sorted(order("ana")) == sorted(p.id for p in pairs)       # every pair, once
    assert len({tuple(order(f"rater {i}")) for i in range(5)}) > 1   # raters differ


def test_sounding_seconds_and_pair_sounding_flag_a_clip_that_stops_early():
    tone = clips(3, 220.0, seconds=SECONDS)
    short = tone[1].copy()
    short[len(short) // 4:] = 0                                       # sounds for a quarter of the clip
    assert sounding_seconds(tone[0]) == pytest.approx(SECONDS, abs=0.01)
    assert sounding_seconds(short) == pytest.approx(SECONDS / 4, abs=0.01) and sounding_seconds(np.zeros(10)) == 0
    pairs = make_pairs({"s": tone[2:] + clips(1, 330.0, seconds=SECONDS)}, {"m": {"s": [short, tone[0]]}}, SECONDS,
                       fade=0.0)
    rows = pair_sounding(pairs, min_ratio=0.8)
    assert sorted(r["short"] for r in rows) == [False, True] and all(r["model"] == "m" for r in rows)
    flagged = next(r for r in rows if r["short"])
    assert flagged["generated"] < 0.8 * flagged["real"]


def test_check_clip_refuses_silent_clips_and_clips_far_from_the_real_length():
    tone = lambda seconds: np.sin(2 * np.pi * 440 * np.arange(int(seconds * SR)) / SR).astype(np.float32)
    clip = np.concatenate([tone(2.0), np.zeros(SR, np.float32)])      # sounds for 2 s, then 1 s of silence
    assert check_clip(clip, 2.5, "in range") == pytest.approx(sounding_seconds(clip)) == pytest.approx(2.0, abs=0.01)
    with pytest.raises(ValueError, match="silent"):
        check_clip(np.zeros(SR, np.float32), 2.0, "a silent clip")
    with pytest.raises(ValueError, match="too short: the clip sounds for 0.4 s, outside"):
        check_clip(tone(0.4), 2.0, "too short")                         # under half the real median
    with pytest.raises(ValueError, match="too long: the clip sounds for 3.5 s, outside"):
        check_clip(tone(3.5), 2.0, "too long")                          # over one and a half times it
    assert check_clip(tone(1.05), 2.0, "just over half") == pytest.approx(1.05, abs=0.01)   # still in range
    with pytest.raises(ValueError, match="real_seconds"):
        check_clip(clip, 0.0, "no real length")


def test_tune_seconds_keeps_the_tunes_music21_reads_and_times_them_at_the_tempo():
    tune = tokenize_abc("X:1\nM:4/4\nL:1/8\nK:D\nDEFG ABcd|d2c2 B2A2|]\n")   # two bars of 4/4: 8 quarters
    for bpm in (60, 120):
        rows = tune_seconds([tune, ["|", "M:4/4"], ["zz"]], "test", bpm=bpm)   # the two others are not tunes
        assert [r[0] for r in rows] == [tune]
        _, piece, seconds = rows[0]
        notes_seconds = piece.notes[:, 1].max() * 60 / bpm            # the last note's end, in seconds
        assert notes_seconds == pytest.approx(8 * 60 / bpm)
        assert notes_seconds <= seconds <= notes_seconds + 0.5          # plus the synth's release
        assert seconds == sounding_seconds(to_audio(piece, bpm=bpm))
