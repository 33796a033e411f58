"""Tests for musiclab.baselines: the per-key Bernoulli and Markov frame models (05, 08)."""
import math

import numpy as np

from musiclab.baselines import (bernoulli_predictor, fit_bernoulli, fit_markov, frame_nll,
                                markov_continue, markov_predictor, mean_frame_nll)


def test_frame_nll_sums_the_log_loss_over_keys():
    p = np.array([[0.5, 0.5, 0.5]])
    assert np.allclose(frame_nll(p, np.array([[1, 0, 1]])), 3 * math.log(2))
    assert np.allclose(frame_nll(np.array([[0.9, 0.2]]), np.array([[1, 0]])), -math.log(0.9) - math.log(0.8))


def test_bernoulli_and_markov_counts_by_hand():
    # one key, frames 1 1 0 1 0 0: predicted frames 1..5 are 1 0 1 0 0
    roll = np.array([[1], [1], [0], [1], [0], [0]], dtype=np.float32)
    assert np.allclose(fit_bernoulli([roll], alpha=0.0), 2 / 5)
    after_off, after_on = fit_markov([roll], alpha=0.0)
    assert np.allclose(after_on, 1 / 3) and np.allclose(after_off, 1 / 2)   # down after down: 1 of 3; after up: 1 of 2
    nll, n = mean_frame_nll(markov_predictor((after_off, after_on)), [roll])
    expected = -(math.log(1 / 3) + math.log(2 / 3) + math.log(1 / 2) + math.log(2 / 3) + math.log(1 / 2)) / 5
    assert n == 5 and np.isclose(nll, expected)
    assert np.isclose(mean_frame_nll(bernoulli_predictor(np.array([0.4])), [roll])[0],
                      -(2 * math.log(0.4) + 3 * math.log(0.6)) / 5)


def test_markov_beats_bernoulli_on_held_notes_and_continues_primes():
    rng = np.random.default_rng(0)
    rolls = [np.repeat(rng.random((20, 5)) < 0.3, 4, axis=0).astype(np.float32) for _ in range(10)]
    markov, pi = fit_markov(rolls[:8], 0.5), fit_bernoulli(rolls[:8], 0.5)
    assert mean_frame_nll(markov_predictor(markov), rolls[8:])[0] < mean_frame_nll(bernoulli_predictor(pi), rolls[8:])[0]
    primes = np.stack([r[:4] for r in rolls[8:]])
    out = markov_continue(markov, primes, 6, np.random.default_rng(1))
    assert out.shape == (2, 10, 5) and np.array_equal(out[:, :4], primes) and set(np.unique(out)) <= {0.0, 1.0}
