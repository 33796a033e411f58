"""The joint chorale model of notebook 11: serialisation, grammar, frame-NLL accounting, training."""
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import musiclab as ml
from musiclab.models.chorale_gpt import (CHORALE_BOS, CHORALE_VOCAB, FRAME_END, N_KEYS, ChoraleGPT,
                                         chorale_gpt_nll, continue_chorales, frame_nlls, frame_tokens,
                                         grammar_mask, roll_from_tokens, train_chorale_gpt, transpose_roll)


def tiny_gpt(block_size=64, seed=0):
    torch.manual_seed(seed)
    return ChoraleGPT(vocab_size=CHORALE_VOCAB, block_size=block_size, n_layer=1, n_head=2, n_embd=16)


def random_rolls(n, seed, frames=(3, 12)):
    rng = np.random.default_rng(seed)
    rolls = []
    for _ in range(n):
        roll = np.zeros((int(rng.integers(*frames)), N_KEYS), np.float32)
        for frame in roll:
            frame[rng.choice(N_KEYS, int(rng.integers(0, 5)), replace=False)] = 1
        rolls.append(roll)
    return rolls


def test_serialisation_round_trips_real_chorales_and_edge_cases():
    pieces = ml.load_corpus("chorales", limit=5)
    rolls = [ml.chorale_beat_roll(p) for p in pieces] + random_rolls(20, 0)
    rolls.append(np.zeros((3, N_KEYS), np.float32))   # silent frames are a frame end alone
    for roll in rolls:
        ids = frame_tokens(roll)
        assert ids.count(FRAME_END) == len(roll) and len(ids) == roll.sum() + len(roll)
        assert np.array_equal(roll_from_tokens(ids), roll)
        assert np.array_equal(roll_from_tokens([CHORALE_BOS] + ids + [CHORALE_BOS]), roll)
    roll = np.zeros((1, N_KEYS)); roll[0, [60, 43, 52]] = 1
    assert frame_tokens(roll) == [43, 52, 60, FRAME_END]            # bass to soprano


def test_bad_rolls_and_tokens_are_refused():
    with pytest.raises(ValueError, match="88"):
        frame_tokens(np.zeros((4, 60)))
    with pytest.raises(ValueError, match="0 and 1"):
        frame_tokens(np.full((2, N_KEYS), 0.5))
    with pytest.raises(ValueError, match="not a chorale token"):
        roll_from_tokens([3, FRAME_END, 95])


def test_grammar_allows_only_rising_keys_within_a_frame():
    idx = torch.tensor([[CHORALE_BOS, 40, 47, FRAME_END]])
    banned = grammar_mask(idx)[0]
    assert not banned[0].any() and not banned[3].any()             # after <s> or a frame end: anything
    assert banned[1, :41].all() and not banned[1, 41:N_KEYS].any()  # after key 40: keys 41..87
    assert not banned[1, FRAME_END] and banned[1, CHORALE_BOS]      # ... or the end, never <s>
    assert banned[2, :48].all() and not banned[2, 48:N_KEYS].any()
    model = tiny_gpt()
    probs = model(idx)[0].softmax(-1)
    assert torch.allclose(probs.sum(-1), torch.ones(1, 4)) and (probs[banned[None]] == 0).all()


def test_frame_nll_of_two_frames_by_hand():
    """A model with all logits 0 is uniform over the legal tokens, so every token's NLL is the log
    of the number of choices the grammar leaves: frame 1 = {b, c} after frame 0 = {a} costs
    log(90) for b (after a frame end any of 88 keys, the end or <s>), log(88 - b) for c (keys
    above b or the end) and log(88 - c) for the end (keys above c or the end)."""
    model = tiny_gpt()
    with torch.no_grad():
        model.lm_head.weight.zero_()       # tied: the token embeddings are zero too
    a, b, c = 50, 43, 55
    roll = np.zeros((2, N_KEYS), np.float32)
    roll[0, a] = roll[1, [b, c]] = 1
    mean, n = chorale_gpt_nll(model, [roll])
    assert n == 1   # frame 0 has no past: 05's chorale_nll leaves it out too
    assert math.isclose(mean, math.log(90) + math.log(88 - b) + math.log(88 - c), rel_tol=1e-5)
    per_frame = frame_nlls(ml.token_nll(model, [frame_tokens(roll)], CHORALE_BOS)[0], roll)
    assert np.allclose(per_frame, [math.log(CHORALE_VOCAB) + math.log(88 - a),
                                   math.log(90) + math.log(88 - b) + math.log(88 - c)], rtol=1e-5)


def test_frame_nll_is_the_sum_of_the_token_log_probabilities():
    model = tiny_gpt(block_size=128, seed=1).eval()
    rolls = random_rolls(3, 2)
    total, count = 0.0, 0
    for roll in rolls:
        ids = [CHORALE_BOS] + frame_tokens(roll)
        logp = F.log_softmax(model(torch.tensor([ids]))[0][0].double(), -1)
        token = -logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
        ends = [i for i, t in enumerate(ids[1:]) if t == FRAME_END]
        total += (token[ends[0] + 1:ends[-1] + 1]).sum().item()       # frames 1..T-1
        count += len(roll) - 1
    mean, n = chorale_gpt_nll(model, rolls)
    assert n == count and math.isclose(mean, total / count, rel_tol=1e-5)
    per = chorale_gpt_nll(model, rolls, per_roll=True)   # one array per roll, frames 1..T-1
    assert [len(x) for x in per] == [len(r) - 1 for r in rolls]
    assert math.isclose(float(np.concatenate(per).mean()), mean, rel_tol=1e-9)


def test_frame_nll_past_the_context_is_read_in_windows():
    rolls = random_rolls(2, 3, frames=(30, 40))   # ~100 tokens, a 32-token context
    model = tiny_gpt(block_size=32, seed=2)
    mean, n = chorale_gpt_nll(model, rolls)
    assert n == sum(len(r) - 1 for r in rolls) and math.isfinite(mean) and mean > 0


def test_frame_nlls_checks_the_token_count():
    roll = random_rolls(1, 4)[0]
    with pytest.raises(ValueError, match="token NLLs"):
        frame_nlls(np.zeros(3), roll)


def test_transposition_keeps_notes_on_the_keyboard():
    roll = np.zeros((2, N_KEYS), np.float32)
    roll[0, [2, 80]] = 1
    assert np.array_equal(np.flatnonzero(transpose_roll(roll, 5)[0]), [7, 85])
    assert transpose_roll(roll, 8) is None and transpose_roll(roll, -3) is None


def test_training_beats_the_untrained_model_and_sampling_follows_the_grammar():
    from test_models_rnn import toy_rolls
    train, val = toy_rolls(24, 0), toy_rolls(6, 1)
    before = chorale_gpt_nll(tiny_gpt(), val)[0]
    model, history = train_chorale_gpt(train, val, n_layer=1, n_head=2, n_embd=32, block_size=64, steps=120,
                                       batch_size=16, lr=1e-2, warmup=10, eval_every=40, transpose=1)
    after = chorale_gpt_nll(model, val)[0]
    assert isinstance(model, ChoraleGPT) and after < 0.5 * before
    primes = np.stack([r[:4] for r in val[:3]])
    out = continue_chorales(model, primes, 6, max_voices=4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 10, N_KEYS) and np.array_equal(out[:, :4], primes)
    assert out[:, 4:].sum(-1).max() <= 4
    exact = continue_chorales(model, primes, 6, voices=4, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(exact[:, :4], primes) and np.all(exact[:, 4:].sum(-1) == 4)   # four keys every frame
    with pytest.raises(ValueError, match="not both"):
        continue_chorales(model, primes, 1, max_voices=4, voices=4)


def test_checkpoint_round_trip_with_load_model(tmp_path):
    model = tiny_gpt()
    path = tmp_path / "chorale_gpt.pt"
    ml.save_checkpoint(path, model, quick=True)
    loaded, meta = ml.load_model(path, ChoraleGPT)
    roll = random_rolls(1, 5)[0]
    assert meta["class"] == "ChoraleGPT"
    assert chorale_gpt_nll(loaded, [roll]) == chorale_gpt_nll(model.eval(), [roll])


def test_bad_targets_are_refused():
    model = tiny_gpt()
    idx = torch.tensor([[CHORALE_BOS, 40, FRAME_END]])
    with pytest.raises(ValueError, match="targets"):
        model(idx, torch.tensor([[40, FRAME_END]]))
    with pytest.raises(ValueError, match="targets"):
        model(idx, torch.tensor([[40, FRAME_END, 200]]))


def test_continuing_by_zero_frames_gives_back_the_primes_and_bad_settings_are_refused():
    primes = np.stack(random_rolls(2, 3, frames=(4, 5)))
    assert np.array_equal(continue_chorales(tiny_gpt(), primes, 0), primes)
    for bad, words in [(dict(n_frames=-1), "n_frames"), (dict(max_voices=0), "max_voices"),
                       (dict(temperature=float("nan")), "temperature must be a finite number")]:
        with pytest.raises(ValueError, match=words):
            continue_chorales(tiny_gpt(), primes, **{"n_frames": 2, **bad})


def test_chorale_gpt_width_gives_the_nearest_parameter_count():
    from musiclab.models.chorale_gpt import chorale_gpt_width
    from musiclab.models.music_gpt import gpt_config
    recipe = dict(ml.chorale_gpt_recipe(), n_layer=1, n_head=2, block_size=32)
    count = lambda width: ChoraleGPT(gpt_config(dict(recipe, n_embd=width), CHORALE_VOCAB)).num_params()
    target = count(24) + 100                                   # just above a width-24 model
    width = chorale_gpt_width(target, n_layer=1, n_head=2, block_size=32)
    assert width % 2 == 0
    assert all(abs(count(width) - target) <= abs(count(w) - target) for w in range(2, 64, 2))
    assert chorale_gpt_width(count(40), n_layer=1, n_head=2, block_size=32) == 40
