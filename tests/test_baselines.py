"""Tests for musiclab.baselines: the per-key Bernoulli and Markov frame models (05, 08)."""
import math

import numpy as np

from musiclab.baselines import (bernoulli_predictor, fit_bernoulli, fit_frame_logistic, fit_markov,
                                fit_markov_by_mode, frame_nll, logistic_predictor, markov_continue,
                                markov_continue_by_mode, markov_predictor, mean_frame_nll, roll_mode)


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
    four = markov_continue(markov, primes, 6, np.random.default_rng(1), voices=2)
    assert np.array_equal(four[:, :4], primes) and np.all(four[:, 4:].sum(-1) == 2)   # exactly 2 keys a frame
    sure = (np.full((1, 5), 1e-9), np.array([[1.0, 1.0, 1e-9, 1e-9, 1e-9]]))          # held keys go on
    held = markov_continue(sure, np.array([[[1, 1, 0, 0, 0]]], np.float32), 3, np.random.default_rng(0), voices=2)
    assert held[0, 1:].tolist() == [[1, 1, 0, 0, 0]] * 3
    odds = (np.full((1, 5), 0.5), np.array([[0.99, 0.5, 0.5, 0.5, 0.5]]))        # odds 99 against 1, 1, 1, 1
    one = markov_continue(odds, np.ones((400, 1, 5), np.float32), 1, np.random.default_rng(0), voices=1)
    assert 0.9 < one[:, 1, 0].mean() < 0.99          # 99/103 = 0.96 by odds; weights p would give 0.33


def _frames(pitches, low=21):
    roll = np.zeros((len(pitches), 88), dtype=np.float32)
    for t, chord in enumerate(pitches):
        roll[t, [m - low for m in chord]] = 1
    return roll


def test_roll_mode_reads_the_third_and_mode_models_keep_it():
    major = _frames([(60, 64, 67)] * 6)          # C E G
    minor = _frames([(60, 63, 67)] * 6)          # C Eb G
    assert roll_mode(major) == "major" and roll_mode(minor) == "minor"
    models = fit_markov_by_mode([major, major, minor], alpha=0.5)
    assert models["major"][1][64 - 21] > 0.5 > models["major"][0][63 - 21]   # E held in major, Eb never struck
    assert models["minor"][1][63 - 21] > 0.5 > models["minor"][0][64 - 21]
    out = markov_continue_by_mode(models, np.stack([major[:3], minor[:3]]), 20, np.random.default_rng(0))
    assert out.shape == (2, 23, 88) and np.array_equal(out[:, :3], np.stack([major[:3], minor[:3]]))
    assert out[0, 3:, 63 - 21].sum() < out[0, 3:, 64 - 21].sum()     # the major prime continues with E
    assert out[1, 3:, 64 - 21].sum() < out[1, 3:, 63 - 21].sum()     # the minor prime with Eb


def test_frame_logistic_uses_other_keys_of_the_previous_frame():
    # key 1 always sounds one frame after key 0 and never otherwise: a per-key Markov model cannot see it
    rng = np.random.default_rng(0)
    rolls = []
    for _ in range(20):
        a = (rng.random(30) < 0.5).astype(np.float32)
        roll = np.zeros((30, 2), dtype=np.float32)
        roll[:, 0], roll[1:, 1] = a, a[:-1]
        rolls.append(roll)
    params = fit_frame_logistic(rolls[:15], steps=300, lr=0.1)
    assert params[0].shape == (2, 2) and params[1].shape == (2,)
    logistic = mean_frame_nll(logistic_predictor(params), rolls[15:])[0]
    markov = mean_frame_nll(markov_predictor(fit_markov(rolls[:15], 0.5)), rolls[15:])[0]
    assert logistic < markov - 0.5      # key 1 is predicted (almost) exactly, key 0 is a coin toss for both
