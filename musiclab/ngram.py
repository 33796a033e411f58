"""n-gram language models over tokens: the baseline a neural sequence model has to beat.

Used by 04_rnn_melody (perplexity of ABC tokens: unigram, add-k and Kneser-Ney n-grams vs an
LSTM) and 08_evaluation (n-gram tunes as a baseline generator).

An order-n model predicts each token from the n-1 tokens before it. Every sequence is
padded on the left with n-1 ``boundary`` tokens and gets one ``boundary`` token at its end, so
the model also learns where a sequence starts and stops (the ``.`` of Karpathy's makemore).

Two kinds of smoothing (Chen & Goodman 1999, "An empirical study of smoothing techniques"):

* add-k:  P(w | h) = (c(h w) + k) / (c(h) + k V)
* interpolated Kneser-Ney:
      P(w | h) = max(c(h w) - D, 0) / c(h)  +  D N1+(h .) / c(h) * P(w | h')
  where h' drops the oldest token of h, N1+(h .) is the number of different tokens seen after
  h, and lower orders count *continuations* (how many different tokens came before h' w)
  instead of occurrences. The unigram level is interpolated with the uniform distribution
  1/V, so every token of the vocabulary has a probability above zero. D = n1 / (n1 + 2 n2)
  per order (Ney et al. 1994), n_r = number of n-grams seen exactly r times.
"""
import math
from collections import Counter, defaultdict

import numpy as np
import torch

from .sampling import sample_bar_by_bar, sample_tokens

__all__ = ["NGramLM", "ngram_sweep"]

SMOOTHINGS = ("add-k", "kneser-ney")


class NGramLM:
    """An order-``order`` n-gram model over a fixed ``vocab`` (a list of tokens that must contain
    ``boundary``; map rare/unseen tokens to an ``<unk>`` token of the vocabulary first).

    >>> lm = NGramLM(3, vocab, smoothing="kneser-ney").fit(train_sequences)
    >>> lm.perplexity(test_sequences)
    Notebooks: 04, 08, 10.
    """

    def __init__(self, order: int, vocab, smoothing: str = "kneser-ney", k: float = 1.0,
                 boundary: str = "<s>"):
        if int(order) != order or order < 1:
            raise ValueError(f"order must be a positive integer, got {order!r}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"unknown smoothing {smoothing!r}; choose one of {SMOOTHINGS}")
        if k <= 0:
            raise ValueError(f"add-k smoothing needs k > 0, got {k}")
        self.vocab = list(dict.fromkeys(vocab))
        if boundary not in self.vocab:
            raise ValueError(f"the vocabulary must contain the boundary token {boundary!r}")
        self.order, self.smoothing, self.k, self.boundary = int(order), smoothing, float(k), boundary
        self.index = {token: i for i, token in enumerate(self.vocab)}
        self.counts = None  # counts[n][context] = Counter(next token -> count), n = 1..order

    def __repr__(self):
        name = f"add-{self.k:g}" if self.smoothing == "add-k" else "Kneser-Ney"
        return f"NGramLM(order={self.order}, {name}, V={len(self.vocab)})"

    # ---- counting -------------------------------------------------------------------------
    def padded(self, sequence) -> list:
        """``order - 1`` boundary tokens, the sequence, one boundary token (checked against the vocab)."""
        unknown = sorted({t for t in sequence if t not in self.index}, key=str)
        if unknown:
            raise ValueError(f"tokens not in the vocabulary: {unknown[:5]} (map them to <unk> first)")
        return [self.boundary] * (self.order - 1) + list(sequence) + [self.boundary]

    def ngrams(self, sequence, n: int):
        """All (context, token) pairs of length-n windows of the padded sequence."""
        seq = self.padded(sequence)
        for i in range(self.order - 1, len(seq)):
            yield tuple(seq[i - n + 1:i]), seq[i]

    def fit(self, sequences) -> "NGramLM":
        """Count the n-grams of ``sequences`` (lists of tokens); returns self."""
        sequences = [list(s) for s in sequences]
        if not sequences:
            raise ValueError("fit needs at least one sequence")
        raw = {n: defaultdict(Counter) for n in range(1, self.order + 1)}
        for seq in sequences:
            for n in range(1, self.order + 1):
                for context, token in self.ngrams(seq, n):
                    raw[n][context][token] += 1
        self.counts = raw if self.smoothing == "add-k" else self.continuation_counts(raw)
        self.totals = {n: {h: sum(c.values()) for h, c in self.counts[n].items()} for n in self.counts}
        self.discounts = {n: self.discount(self.counts[n]) for n in self.counts}
        return self

    def continuation_counts(self, raw) -> dict:
        """Kneser-Ney counts: the highest order keeps raw counts; a lower-order n-gram counts the
        different tokens seen before it, except n-grams starting at the boundary (nothing can come
        before them, so they keep raw counts, as in KenLM)."""
        counts = {self.order: raw[self.order]}
        for n in range(self.order - 1, 0, -1):
            cont = defaultdict(Counter)
            for context, following in raw[n + 1].items():
                for token in following:
                    cont[context[1:]][token] += 1  # one per distinct left neighbour context[0]
            for context, following in raw[n].items():
                if context and context[0] == self.boundary:
                    cont[context] = Counter(following)
            counts[n] = cont
        return counts

    @staticmethod
    def discount(counts) -> float:
        """Ney's absolute discount D = n1 / (n1 + 2 n2), kept inside [0.1, 0.95]."""
        seen = Counter(c for following in counts.values() for c in following.values())
        n1, n2 = seen[1], seen[2]
        return float(min(max(n1 / (n1 + 2 * n2), 0.1), 0.95)) if n1 + n2 else 0.75

    # ---- probabilities --------------------------------------------------------------------
    def prob(self, token, context=()) -> float:
        """P(token | the last order-1 tokens of ``context``); short contexts are padded with boundaries."""
        if self.counts is None:
            raise ValueError("call fit() before asking for probabilities")
        if token not in self.index:
            raise ValueError(f"token {token!r} is not in the vocabulary (map it to <unk> first)")
        context = ([self.boundary] * (self.order - 1) + list(context))[len(context):] if self.order > 1 else []
        return self.prob_at(tuple(context), token)

    def prob_at(self, context: tuple, token) -> float:
        n = len(context) + 1
        counts, total = self.counts[n].get(context), self.totals[n].get(context, 0)
        if self.smoothing == "add-k":
            c = counts[token] if counts else 0
            return (c + self.k) / (total + self.k * len(self.vocab))
        lower = 1.0 / len(self.vocab) if n == 1 else self.prob_at(context[1:], token)
        if total == 0:
            return lower
        D = self.discounts[n]
        return max(counts[token] - D, 0.0) / total + D * len(counts) / total * lower

    def distribution(self, context=()) -> np.ndarray:
        """P(w | context) for every w of the vocabulary (sums to 1): the same recursion as
        ``prob``, one numpy vector per order (fast enough for sampling)."""
        if self.counts is None:
            raise ValueError("call fit() before asking for probabilities")
        context = tuple(([self.boundary] * (self.order - 1) + list(context))[len(context):]) if self.order > 1 else ()
        V = len(self.vocab)
        if self.smoothing == "add-k":
            counts = self.counts[self.order].get(context, {})
            c = np.zeros(V)
            for token, n in counts.items():
                c[self.index[token]] = n
            return (c + self.k) / (self.totals[self.order].get(context, 0) + self.k * V)
        p = np.full(V, 1.0 / V)
        for n in range(1, self.order + 1):
            h = context[len(context) - n + 1:] if n > 1 else ()
            counts, total = self.counts[n].get(h), self.totals[n].get(h, 0)
            if total == 0:
                continue
            D = self.discounts[n]
            seen = np.zeros(V)
            for token, c in counts.items():
                seen[self.index[token]] = max(c - D, 0.0)
            p = seen / total + D * len(counts) / total * p
        return p

    def nll(self, sequences) -> tuple[float, int]:
        """Total negative log-likelihood (nats) of the sequences and the number of predicted tokens
        (each token plus the end boundary of each sequence)."""
        total, count = 0.0, 0
        for seq in sequences:
            for context, token in self.ngrams(seq, self.order):
                total -= math.log(self.prob_at(context, token))
                count += 1
        return total, count

    def perplexity(self, sequences) -> float:
        """exp(mean NLL per token)."""
        total, count = self.nll(sequences)
        return math.exp(total / count)

    def sample(self, rng: np.random.Generator, prefix=(), max_len: int = 1000, constrain=False) -> list:
        """Draw a sequence (without boundaries) that starts with ``prefix``; stops at the boundary or
        at ``max_len`` tokens: ``sample_many`` with one row, seeded from ``rng``."""
        return self.sample_many(1, prefix, int(rng.integers(2**31)), max_len, constrain)[0]

    def sample_many(self, n: int, prefix=(), seed: int = 0, max_len: int = 1000, constrain=False,
                    temperature: float = 1.0, retries: int = 0, counts: dict | None = None) -> list:
        """Draw ``n`` sequences by the one sampling loop, ``musiclab.sampling.sample_tokens`` (the
        model's ``distribution`` as logits; ``constrain=True`` or a ``TuneGrammar`` masks what would
        break a tune's grammar; the unknown token <unk> is never drawn). Each starts with ``prefix``
        and has at most ``max_len`` tokens. With ``constrain`` and ``retries`` > 0, each bar is drawn
        freely up to ``retries`` times until the grammar takes it, the mask only after that
        (``musiclab.sampling.sample_bar_by_bar``, which fills ``counts`` with what that cost)."""
        prefix = list(prefix)
        if max_len <= len(prefix):
            return [prefix[:] for _ in range(n)]
        if constrain and retries:
            new = sample_bar_by_bar(self.distribution, self.vocab, constrain, n, prefix, seed, max_len - len(prefix),
                                    retries, temperature, boundary=self.boundary, counts=counts)
            return [prefix + r for r in new]
        rows = [prefix[:] for _ in range(n)]

        def next_logits(ids, keep):
            if keep is not None:
                rows[:] = [rows[j] for j in keep]           # finished rows are no longer scored
            if ids.shape[1] == 1:
                for row, i in zip(rows, ids[:, 0].tolist()):
                    row.append(self.vocab[i])
            return torch.log(torch.as_tensor(np.stack([self.distribution(r) for r in rows]), dtype=torch.float32))
        new = sample_tokens(next_logits, self.vocab, n, prefix, temperature, None, None, seed, max_len - len(prefix),
                            constrain, boundary=self.boundary)
        return [prefix + r for r in new]


def ngram_sweep(train, val, vocab, add_k_orders, kn_orders, k_values=(1.0, 0.1, 0.01, 0.001)):
    """Fit add-k n-grams (k chosen on ``val`` per order) and Kneser-Ney n-grams of the given
    orders on ``train``; returns ({name: fitted model}, {name: validation perplexity}). The one
    with the lowest validation perplexity is the baseline (notebook 04; 08 when 04's checkpoint
    is missing).
    Notebooks: 04."""
    models, val_ppl = {}, {}
    for n in add_k_orders:
        lm = NGramLM(n, vocab, smoothing="add-k").fit(train)
        scores = {}
        for k in k_values:
            lm.k = k                     # k only enters at prediction time: one count, several k
            scores[k] = lm.perplexity(val)
        lm.k = min(scores, key=scores.get)
        name = "unigram (add-k)" if n == 1 else f"{n}-gram add-k"
        models[name], val_ppl[name] = lm, scores[lm.k]
    for n in kn_orders:
        lm = NGramLM(n, vocab, smoothing="kneser-ney").fit(train)
        models[f"{n}-gram Kneser-Ney"], val_ppl[f"{n}-gram Kneser-Ney"] = lm, lm.perplexity(val)
    return models, val_ppl
