import numpy as np
import pytest
from scipy.stats import binomtest

from musiclab.rating import FIELDS, ListeningTest, RatingStore, make_pairs, preference_summary, wilson_interval


def clips(n, freq):
    t = np.arange(2205) / 22050
    return [np.sin(2 * np.pi * freq * (i + 1) * t).astype(np.float32) * 0.5 for i in range(n)]


def test_pairs_are_blind_shuffled_and_reproducible():
    real, gen = clips(6, 220), {"lstm": clips(6, 330), "gan": clips(6, 440)}
    pairs = make_pairs(real, gen, seed=1)
    assert len(pairs) == 12
    for p in pairs:
        assert sorted([p.a_source, p.b_source]) == sorted(["real", p.id.split(" #")[0]])
    assert {p.a_source for p in pairs} == {"real", "lstm", "gan"}  # real lands on A and on B
    again = make_pairs(real, gen, seed=1)
    assert [p.id for p in again] == [p.id for p in pairs] and [p.a_source for p in again] == [p.a_source for p in pairs]
    with pytest.raises(ValueError, match="reserved"):
        make_pairs(real, {"real": real})


def test_ratings_survive_a_restart(tmp_path):
    path = tmp_path / "ratings.csv"
    pairs = make_pairs(clips(4, 220), {"lstm": clips(4, 330)}, seed=0)
    store = RatingStore(path)
    assert len(store) == 0
    written = [store.add(p, c, rater="ana") for p, c in zip(pairs, ["A", "B", "B"])]
    restarted = RatingStore(path)  # a new kernel: only the file remains
    assert restarted.rows == written
    assert restarted.rated("ana") == {p.id for p in pairs[:3]} and restarted.rated("bo") == set()
    restarted.add(pairs[3], "A", rater="bo")
    assert len(RatingStore(path)) == 4
    assert not list(tmp_path.glob(".tmp-*"))  # the atomic write left no temporary file


def test_a_second_store_does_not_lose_the_first_ones_rows(tmp_path):
    path = tmp_path / "ratings.csv"
    pairs = make_pairs(clips(2, 220), {"lstm": clips(2, 330)})
    first, second = RatingStore(path), RatingStore(path)
    first.add(pairs[0], "A")
    second.add(pairs[1], "B")  # reads the file before appending
    assert [r["pair"] for r in RatingStore(path).rows] == [pairs[0].id, pairs[1].id]


@pytest.mark.parametrize("text, message", [
    ("name,score\nx,1\n", "not a ratings file"),
    (",".join(FIELDS) + "\n1.0,ana,p,real,lstm,A\n", "6 fields"),
    (",".join(FIELDS) + "\n1.0,ana,p,real,lstm,C,real\n", "choice 'C'"),
    (",".join(FIELDS) + "\n1.0,ana,p,real,lstm,A,lstm\n", "does not match"),
    (",".join(FIELDS) + "\nyesterday,ana,p,real,lstm,A,real\n", "not a number"),
])
def test_a_corrupt_csv_gives_a_clear_error(tmp_path, text, message):
    path = tmp_path / "ratings.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        RatingStore(path)


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


def test_preference_summary_counts_the_model_side(tmp_path):
    store = RatingStore(tmp_path / "r.csv")
    pairs = make_pairs(clips(5, 220), {"lstm": clips(5, 330)}, seed=3)
    for p in pairs:  # a listener who always prefers the real clip, except once
        store.add(p, "A" if p.a_source == "real" else "B")
    p = pairs[0]
    store.add(p, "A" if p.a_source == "lstm" else "B", rater="other")
    s = preference_summary(store.rows)["lstm"]
    assert (s["n"], s["preferred"]) == (6, 1) and np.isclose(s["rate"], 1 / 6)
    assert (s["low"], s["high"]) == wilson_interval(1, 6)


def test_widget_handler_records_and_resumes(tmp_path):
    path = tmp_path / "ratings.csv"
    pairs = make_pairs(clips(3, 220), {"gan": clips(3, 330)}, seed=0)
    test = ListeningTest(pairs, path, rater="ana")
    first = test.current()
    row = test.choose("B")
    assert row["pair"] == first.id and row["preferred"] == first.b_source
    assert test.current() is not first
    test.buttons[0].click()  # the real button handler
    resumed = ListeningTest(pairs, path, rater="ana")  # after a kernel restart
    assert len(resumed.store) == 2 and resumed.current() is pairs[2]
    resumed.choose("A")
    assert resumed.current() is None and resumed.buttons[0].disabled
    with pytest.raises(ValueError, match="already"):
        resumed.choose("A")
    with pytest.raises(ValueError, match="choice"):
        ListeningTest(pairs, tmp_path / "new.csv").choose("maybe")
