import math

import numpy as np
import pytest

from musiclab.ngram import NGramLM

VOCAB = ["<s>", "<unk>", "a", "b", "c", "|"]
TRAIN = [list("abcab") + ["|"], list("abc") + ["|"], list("cab"), ["a", "<unk>", "b"]]


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("smoothing", ["add-k", "kneser-ney"])
def test_every_distribution_sums_to_one(order, smoothing):
    lm = NGramLM(order, VOCAB, smoothing=smoothing, k=0.5).fit(TRAIN)
    for context in [(), ("a",), ("a", "b"), ("c", "a", "b", "c"), ("b", "b", "b", "b"), ("<unk>",)]:
        p = lm.distribution(context)
        assert np.allclose(p, [lm.prob(w, context) for w in VOCAB])
        assert np.all(p > 0)
        assert np.isclose(p.sum(), 1.0)


def test_add_k_matches_the_formula_by_hand():
    lm = NGramLM(2, VOCAB, smoothing="add-k", k=1.0).fit(TRAIN)
    # after "a": "b" follows 4 times, "<unk>" once -> c(a) = 5
    assert math.isclose(lm.prob("b", ["a"]), (4 + 1) / (5 + 6))
    assert math.isclose(lm.prob("c", ["a"]), (0 + 1) / (5 + 6))
    # the start of a sequence is the boundary: "a" starts 3 of the 4 sequences
    assert math.isclose(lm.prob("a", []), (3 + 1) / (4 + 6))


def test_unigram_add_k_is_relative_frequency_with_pseudo_counts():
    lm = NGramLM(1, VOCAB, smoothing="add-k", k=1.0).fit(TRAIN)
    tokens = [t for s in TRAIN for t in s] + ["<s>"] * len(TRAIN)
    assert math.isclose(lm.prob("a"), (tokens.count("a") + 1) / (len(tokens) + 6))


def test_kneser_ney_lower_orders_count_continuations():
    # "b" comes only after "a" (ten times); "c" comes after three different tokens: a, <s>, c
    data = [list("ab")] * 10 + [list("ac"), list("cc")]
    lm = NGramLM(2, ["<s>", "a", "b", "c"], smoothing="kneser-ney").fit(data)
    unigram_counts = lm.counts[1][()]
    assert unigram_counts["b"] == 1 and unigram_counts["c"] == 3
    # so in an unseen context "c" is more likely than the frequent but one-context "b"
    assert lm.prob_at((), "c") > lm.prob_at((), "b")


def test_kneser_ney_beats_add_one_on_held_out_text():
    rng = np.random.default_rng(0)
    # a Markov chain over 4 symbols with strong structure
    P = np.array([[0.1, 0.8, 0.05, 0.05], [0.05, 0.1, 0.8, 0.05], [0.8, 0.05, 0.1, 0.05], [0.3, 0.3, 0.3, 0.1]])
    def chain(n):
        s, out = 0, []
        for _ in range(n):
            s = rng.choice(4, p=P[s])
            out.append("abcd"[s])
        return out
    train, test = [chain(60) for _ in range(40)], [chain(60) for _ in range(20)]
    vocab = ["<s>"] + list("abcd")
    kn = NGramLM(3, vocab, smoothing="kneser-ney").fit(train).perplexity(test)
    add1 = NGramLM(3, vocab, smoothing="add-k", k=1.0).fit(train).perplexity(test)
    uni = NGramLM(1, vocab, smoothing="add-k", k=1.0).fit(train).perplexity(test)
    assert kn < uni and add1 < uni
    assert kn < add1 + 0.05


def test_perplexity_is_exp_of_mean_nll():
    lm = NGramLM(2, VOCAB, smoothing="kneser-ney").fit(TRAIN)
    test = [list("abc"), list("ba")]
    total, count = lm.nll(test)
    assert count == 3 + 1 + 2 + 1  # every token plus one end boundary per sequence
    by_hand = -sum(math.log(lm.prob(s_ext[i], s_ext[:i])) for s in test for s_ext in [s + ["<s>"]]
                   for i in range(len(s_ext)))
    assert math.isclose(total, by_hand)
    assert math.isclose(lm.perplexity(test), math.exp(by_hand / count))


def test_sampling_stops_at_the_boundary_and_keeps_the_prefix():
    lm = NGramLM(3, VOCAB, smoothing="kneser-ney").fit(TRAIN)
    rng = np.random.default_rng(0)
    for _ in range(5):
        s = lm.sample(rng, prefix=["a"], max_len=50)
        assert s[0] == "a" and "<s>" not in s and len(s) <= 50


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="order"):
        NGramLM(0, VOCAB)
    with pytest.raises(ValueError, match="smoothing"):
        NGramLM(2, VOCAB, smoothing="good-turing")
    with pytest.raises(ValueError, match="boundary"):
        NGramLM(2, ["a", "b"])
    lm = NGramLM(2, VOCAB)
    with pytest.raises(ValueError, match="fit"):
        lm.prob("a")
    lm.fit(TRAIN)
    with pytest.raises(ValueError, match="<unk>"):
        lm.perplexity([["a", "z"]])


def test_ngram_sweep_chooses_k_on_validation_and_names_each_model():
    from musiclab.ngram import NGramLM, ngram_sweep
    train = [list("abcabcabd")] * 5
    val = [list("abcabd")]
    vocab = ["<s>"] + list("abcd")
    models, val_ppl = ngram_sweep(train, val, vocab, add_k_orders=[1, 2], kn_orders=[3], k_values=(1.0, 0.01))
    assert set(models) == {"unigram (add-k)", "2-gram add-k", "3-gram Kneser-Ney"} == set(val_ppl)
    bigram = models["2-gram add-k"]
    for k in (1.0, 0.01):
        other = NGramLM(2, vocab, smoothing="add-k", k=k).fit(train)
        assert other.perplexity(val) >= val_ppl["2-gram add-k"] - 1e-9   # the k it kept is the best of the two
    assert val_ppl["2-gram add-k"] == pytest.approx(bigram.perplexity(val))
