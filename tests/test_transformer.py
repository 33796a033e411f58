"""Tests of musiclab.models.transformer: the music GPT of notebooks 09 and 10."""
import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import musiclab as ml
from musiclab.models import (GPT, GPTConfig, KVCache, flops_per_token, forward_flops_per_token, param_count,
                             sinusoidal_positions)
from musiclab.sampling import apply_temperature, check_sampling, sample_next, top_k_filter, top_p_filter

torch.set_num_threads(1)


def small_config(**changes):
    sizes = dict(vocab_size=23, block_size=16, n_layer=2, n_head=2, n_embd=16)
    return GPTConfig(**{**sizes, **changes})


def small_gpt(seed=0, **changes):
    torch.manual_seed(seed)
    return GPT(small_config(**changes)).eval()


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_shapes_and_mean_cross_entropy(positions):
    model = small_gpt(positions=positions)
    idx = torch.randint(0, 23, (3, 10))
    logits, loss = model(idx)
    assert logits.shape == (3, 10, 23) and loss is None
    targets = torch.randint(0, 23, (3, 10))
    logits, loss = model(idx, targets)
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 23), targets.reshape(-1))
    assert torch.allclose(loss, expected)
    targets[:, :5] = -1  # ignored positions
    _, loss_ignored = model(idx, targets)
    assert torch.allclose(loss_ignored, torch.nn.functional.cross_entropy(logits[:, 5:].reshape(-1, 23),
                                                                          targets[:, 5:].reshape(-1)))


def test_weights_are_tied():
    model = small_gpt()
    assert model.wte.weight is model.lm_head.weight


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_causal_future_tokens_never_change_past_logits(positions):
    model = small_gpt(positions=positions).double()
    idx = torch.randint(0, 23, (2, 16))
    changed = idx.clone()
    changed[:, 9:] = (idx[:, 9:] + 1 + torch.randint(0, 21, (2, 7))) % 23  # every future token differs
    a, b = model(idx)[0], model(changed)[0]
    assert torch.equal(a[:, :9], b[:, :9])
    assert (a[:, 9:] - b[:, 9:]).abs().amax() > 1e-6


def test_kv_cache_logits_equal_full_forward():
    model = small_gpt().double()
    idx = torch.randint(0, 23, (2, 12))
    full = model(idx)[0]
    cache = KVCache(model.config.n_layer)
    parts = [model(idx[:, :5], cache=cache)[0], model(idx[:, 5:9], cache=cache)[0]]  # a chunk of 4 after 5
    parts += [model(idx[:, t:t + 1], cache=cache)[0] for t in range(9, 12)]  # then one token at a time
    assert len(cache) == 12
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-12)


def copy_trained_gpt():
    """A small GPT trained for a few Adam steps to copy a repeated random sequence (sharp attention), float64."""
    model = small_gpt(seed=2).double().train()
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        half = torch.randint(0, 23, (8, 8), generator=g)
        x = torch.cat([half, half], dim=1)
        loss = model(x[:, :-1], x[:, 1:])[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_cache_logit_gap_is_zero_for_a_trained_model_past_the_context():
    model = copy_trained_gpt()
    idx = torch.randint(0, 23, (2, 40))   # past block_size = 16: both paths of next_logits
    assert ml.cache_logit_gap(model, idx) < 1e-9
    with pytest.raises(ValueError, match="batch, time"):
        ml.cache_logit_gap(model, torch.zeros(3, dtype=torch.long))


def test_cache_logit_gap_sees_a_cache_that_drops_its_oldest_key(monkeypatch):
    model = copy_trained_gpt()
    idx = torch.randint(0, 23, (2, 12))
    right = KVCache.append

    def forgetful(self, layer, k, v):   # a bug: the oldest cached key is lost once the cache holds 4 tokens
        k, v = right(self, layer, k, v)
        if k.size(2) > 4:
            k = torch.cat([k[:, :, 1:2], k[:, :, 1:]], dim=2)
        return k, v

    monkeypatch.setattr(KVCache, "append", forgetful)
    assert ml.cache_logit_gap(model, idx) > 1e-3


@pytest.mark.parametrize("prompt_len, n_new", [(3, 30), (16, 5)])  # 30 runs past block_size = 16
def test_cached_generation_equals_full_recomputation(prompt_len, n_new):
    model = small_gpt(seed=1).double()
    prompt = torch.randint(0, 23, (3, prompt_len))
    cached = model.generate(prompt, n_new, temperature=0)
    full = model.generate(prompt, n_new, temperature=0, use_cache=False)
    assert cached.shape == (3, prompt_len + n_new)
    assert torch.equal(cached[:, :prompt_len], prompt)
    assert torch.equal(cached, full)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    sampled = model.generate(prompt, n_new, top_k=5, generator=g1)
    assert torch.equal(sampled, model.generate(prompt, n_new, top_k=5, use_cache=False, generator=g2))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_param_count_matches_the_model(bias, positions):
    config = small_config(bias=bias, positions=positions, n_layer=3)
    model = GPT(config)
    assert param_count(config) == model.num_params() == sum(p.numel() for p in model.parameters())
    assert param_count(config, non_embedding=True) == model.num_params(non_embedding=True)
    n_position = config.block_size * config.n_embd if positions == "learned" else 0
    assert param_count(config) - param_count(config, non_embedding=True) == n_position
    kaplan = param_count(config, non_embedding=True, token_table=False)   # no embedding table at all
    blocks = sum(p.numel() for name, p in model.named_parameters() if not name.startswith(("wte.", "wpe.")))
    assert kaplan == blocks == param_count(config, non_embedding=True) - config.vocab_size * config.n_embd


def test_flop_formula_equals_flop_counter():
    config = small_config(n_layer=3, vocab_size=37)
    model = GPT(config)
    B, T = 2, 12
    idx = torch.randint(0, 37, (B, T))
    with sdpa_kernel(SDPBackend.MATH):  # the CPU's fused attention kernel is invisible to the counter
        with FlopCounterMode(display=False) as forward_count:
            model(idx)
        with FlopCounterMode(display=False) as train_count:
            model(idx, idx)[1].backward()
    assert forward_count.get_total_flops() == B * T * forward_flops_per_token(config, T)
    assert train_count.get_total_flops() == 3 * forward_count.get_total_flops()  # backward = 2 x forward
    # 6N + 12 L T C counts LayerNorm gains and biases as 6 FLOPs each: a little above the matmuls
    estimate = B * T * flops_per_token(config, T)
    assert train_count.get_total_flops() < estimate < 1.1 * train_count.get_total_flops()


def test_sinusoidal_positions():
    pe = sinusoidal_positions(50, 8)
    assert pe.shape == (50, 8)
    assert torch.allclose(pe[0, 0::2], torch.zeros(4)) and torch.allclose(pe[0, 1::2], torch.ones(4))
    assert torch.allclose(pe[7, 2], torch.sin(torch.tensor(7 / 10000 ** (2 / 8))))
    gram = pe.double() @ pe.double().T  # PE(p) . PE(q) depends only on p - q
    assert torch.allclose(gram[3, 10], gram[20, 27], atol=1e-5)


def test_temperature():
    logits = torch.tensor([[1.0, 2.0, 4.0]])
    assert torch.allclose(apply_temperature(logits, 2.0), logits / 2)
    with pytest.raises(ValueError):
        apply_temperature(logits, 0.0)
    assert torch.equal(sample_next(logits, temperature=0), torch.tensor([[2]]))


def test_top_k_keeps_exactly_k():
    torch.manual_seed(0)
    logits = torch.randn(4, 30)
    logits[0, :10] = 3.0  # ties
    for k in [1, 5, 30, 100]:
        kept = torch.isfinite(top_k_filter(logits, k))
        assert torch.all(kept.sum(dim=-1) == min(k, 30))
        for row, mask in zip(logits, kept):
            assert row[mask].min() >= row[~mask].max() if (~mask).any() else True
    filtered = top_k_filter(logits, 5)
    assert torch.equal(filtered[torch.isfinite(filtered)], logits[torch.isfinite(filtered)])


def test_top_p_keeps_the_smallest_set_with_enough_mass():
    probs = torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]])
    logits = probs.log()[:, torch.tensor([3, 0, 4, 2, 1])]  # shuffled order
    for p, n_kept in [(0.4, 1), (0.5, 1), (0.6, 2), (0.8, 3), (0.9, 4), (1.0, 5)]:
        kept = torch.isfinite(top_p_filter(logits, p))
        assert kept.sum() == n_kept, p
        mass = logits.softmax(-1)[kept].sum()
        assert mass >= p - 1e-6  # enough mass ...
        assert mass - logits.softmax(-1)[kept].min() < p  # ... and no token could be dropped
    torch.manual_seed(1)
    many = torch.randn(8, 50)
    for p in [0.1, 0.5, 0.9]:
        kept = torch.isfinite(top_p_filter(many, p))
        probs = many.softmax(-1)
        for row, mask in zip(probs, kept):
            assert row[mask].sum() >= p - 1e-6 and row[mask].sum() - row[mask].min() < p
            assert row[mask].min() >= row[~mask].max() if (~mask).any() else True


def test_sampling_stays_inside_the_filters():
    torch.manual_seed(0)
    logits = torch.randn(1, 40).expand(500, 40)
    allowed = torch.isfinite(top_k_filter(logits[:1], 3))[0]
    draws = sample_next(logits, top_k=3, generator=torch.Generator().manual_seed(0))[:, 0]
    assert allowed[draws].all() and len(draws.unique()) > 1


def test_config_errors():
    with pytest.raises(ValueError, match="divisible"):
        small_config(n_embd=10, n_head=3)
    with pytest.raises(ValueError, match="positive integer"):
        small_config(n_layer=0)
    with pytest.raises(ValueError, match="dropout"):
        small_config(dropout=1.0)
    with pytest.raises(ValueError, match="positions"):
        small_config(positions="rotary")
    with pytest.raises(ValueError, match="even"):
        small_config(positions="sinusoidal", n_embd=9, n_head=3)
    with pytest.raises(ValueError, match="either"):
        GPT(small_config(), n_layer=3)


def test_input_errors():
    model = small_gpt()
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 23\)"):
        model(torch.full((1, 4), 23))
    with pytest.raises(ValueError, match=r"\[0, 23\)"):
        model(torch.full((1, 4), -1))
    with pytest.raises(ValueError, match="token ids"):
        model(torch.zeros(4))
    with pytest.raises(ValueError, match="targets"):
        model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long))
    cache = KVCache(2)
    model(torch.zeros(1, 10, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="longer than block_size"):
        model(torch.zeros(1, 7, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(torch.zeros(1, 2, dtype=torch.long), 3, top_k=0)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(torch.zeros(1, 2, dtype=torch.long), 3, top_p=1.5)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(torch.zeros(1, 2, dtype=torch.long), 3, temperature=-1)
    with pytest.raises(ValueError, match="prompt"):
        model.generate(torch.zeros(1, 0, dtype=torch.long), 3)


def test_checkpoint_round_trip(tmp_path):
    model = small_gpt(positions="sinusoidal", bias=False)
    ml.save_checkpoint(tmp_path / "gpt.pt", model)
    loaded, meta = ml.load_model(tmp_path / "gpt.pt", GPT)
    assert meta["config"] == dict(model.config) and loaded.config == model.config
    idx = torch.randint(0, 23, (2, 8))
    assert torch.equal(loaded(idx)[0], model(idx)[0])


def test_dropout_only_in_training():
    model = small_gpt(dropout=0.5)
    idx = torch.randint(0, 23, (2, 8))
    assert torch.equal(model(idx)[0], model(idx)[0])  # eval mode: deterministic
    model.train()
    assert not torch.equal(model(idx)[0], model(idx)[0])


def test_sampling_settings_at_their_limits_are_accepted():
    check_sampling(0, np.int64(1), 1.0)                  # greedy, one token, the whole distribution
    check_sampling(np.float32(1e-3), 10**6, 1e-9)
    model, prompt = small_gpt(), torch.zeros(1, 2, dtype=torch.long)
    assert torch.equal(model.generate(prompt, 0), prompt)   # nothing to add: the prompt itself
    greedy = model.generate(prompt, 3, temperature=0)
    assert torch.equal(greedy, model.generate(prompt, 3, temperature=0, top_k=np.int64(5), top_p=0.5))


def test_the_parameter_cap_counts_the_position_table_either_way():
    from musiclab.checks import MAX_PARAMS
    T = MAX_PARAMS // 16                               # n_embd 16: a position table of MAX_PARAMS numbers
    small_config(block_size=T - 10**5)                 # just under the cap: allowed (a config allocates nothing)
    for positions in ("learned", "sinusoidal"):        # the sinusoidal table is a buffer, but as large
        with pytest.raises(ValueError, match="block_size=.*MAX_PARAMS"):
            small_config(block_size=T + 10**5, positions=positions)


# ----------------------------------------------------------------------------- position in bar (notebook 10)

ABC_VOCAB = ["<s>", "<unk>", "M:6/8", "K:Dmaj", "A", "B", "c", "d", "2", "/2", "3", "|", "(3", ">"]


def bar_gpt(seed=0):
    """A small float64 GPT that reads bar positions, with a loud bar-position table so that a wrong
    position changes its logits."""
    torch.manual_seed(seed)
    model = GPT(small_config(vocab_size=len(ABC_VOCAB), bar_vocab=ABC_VOCAB)).double().eval()
    torch.nn.init.normal_(model.wbe.weight, std=1.0)
    return model


def abc_ids(n_rows, length, seed=0):
    """Rows of <s> followed by random ABC tokens of ``ABC_VOCAB`` (notes, lengths, bar lines, tuplets)."""
    g = torch.Generator().manual_seed(seed)
    body = torch.randint(2, len(ABC_VOCAB), (n_rows, length - 1), generator=g)
    return torch.cat([torch.zeros(n_rows, 1, dtype=torch.long), body], dim=1)


def test_bar_positions_count_each_bar_of_real_tunes_as_the_validity_reader_does():
    from musiclab.abc import tokenize_abc
    from musiclab.corpora import load_corpus
    from musiclab.models.transformer import BAR_SLOTS, bar_positions
    from musiclab.validity import _is_bar, _Reader
    checked = 0
    for piece in load_corpus("oneills")[:40]:
        tokens = ["<s>"] + tokenize_abc(piece.abc)
        vocab = sorted(set(tokens), key=tokens.index)
        pos = bar_positions(torch.tensor([[vocab.index(t) for t in tokens]]), vocab)[0].tolist()
        reader = _Reader()
        for t in tokens[1:]:
            reader.read(t)
        lengths = [sum(e.duration for e in events) for _, events, _ in reader.bars]   # one per bar line
        ends = [i - 1 for i, t in enumerate(tokens) if _is_bar(t)]                  # the token before it
        assert [pos[i] for i in ends] == [min(round(x * 6), BAR_SLOTS) for x in lengths]
        assert all(pos[i + 1] == 0 for i in ends)                  # a bar line starts the count again
        checked += len(ends)
    assert checked > 500                                           # the bars of 40 tunes


def test_a_window_that_starts_inside_a_bar_knows_its_bar_position_from_its_first_bar_line_on():
    from musiclab.models.transformer import BAR_UNKNOWN, bar_positions
    idx = abc_ids(3, 60)
    idx[idx == ABC_VOCAB.index("(3")] = ABC_VOCAB.index("A")       # no triplet running across the window's start
    whole = bar_positions(idx, ABC_VOCAB)
    window = bar_positions(idx[:, 20:], ABC_VOCAB)
    for row in range(3):
        bar = ABC_VOCAB.index("|")
        first = (idx[row, 20:] == bar).nonzero()[0, 0].item()
        assert (window[row, :first] == BAR_UNKNOWN).all()
        assert torch.equal(window[row, first:], whole[row, 20 + first:])
    assert (whole != BAR_UNKNOWN).all()                           # after <s> it is always known


def test_a_bar_reading_gpt_steps_with_its_cache_as_it_reads_afresh():
    model = bar_gpt()
    idx = abc_ids(2, 40)                         # past block_size = 16: both paths of next_logits
    assert ml.cache_logit_gap(model, idx) < 1e-9
    cached = model.generate(idx[:, :5], 30, temperature=0)
    assert torch.equal(cached, model.generate(idx[:, :5], 30, temperature=0, use_cache=False))


def test_a_cache_that_forgets_its_bar_clocks_shows_in_the_logits(monkeypatch):
    model = bar_gpt()
    idx = abc_ids(2, 12)
    right = GPT._bar_positions

    def forgetful(self, idx, cache):             # a bug: each cached step starts its clocks afresh
        if cache is not None:
            cache.clocks = None
        return right(self, idx, cache)

    monkeypatch.setattr(GPT, "_bar_positions", forgetful)
    assert ml.cache_logit_gap(model, idx) > 1e-3


def test_bar_positions_change_the_model_and_its_parameter_count():
    model = bar_gpt()
    assert model.num_params() == param_count(model.config)
    assert model.num_params() - small_gpt(vocab_size=len(ABC_VOCAB)).num_params() == model.wbe.weight.numel()
    with pytest.raises(ValueError, match="bar_vocab holds 3 tokens"):
        small_config(bar_vocab=["<s>", "a", "b"])
    with pytest.raises(ValueError, match="list of strings"):
        small_config(vocab_size=3, bar_vocab="abc")


def test_a_bar_reading_gpt_survives_a_checkpoint(tmp_path):
    model = bar_gpt().float()
    ml.save_checkpoint(tmp_path / "bar.pt", model)
    loaded, _ = ml.load_model(tmp_path / "bar.pt", GPT)
    assert loaded.config.bar_vocab == ABC_VOCAB
    idx = abc_ids(2, 12)
    assert torch.allclose(loaded(idx)[0], model(idx)[0])


def test_the_music_gpt_recipe_trains_and_samples_a_bar_reading_gpt():
    pieces, split = ml.tune_split()
    data = ml.token_data(pieces, split)
    model, history = ml.train_music_gpt(data, bar_positions=True, steps=3, eval_every=3, n_layer=1, n_embd=16)
    assert model.config.bar_vocab == data.vocab and history["step"][-1] == 3
    tunes = ml.sample_gpt(model, data.vocab, ["M:6/8"], n=2, max_len=20, seed=0)
    assert len(tunes) == 2 and all(t[0] == "M:6/8" for t in tunes)
    with pytest.raises(ValueError, match="needs the vocabulary"):
        ml.gpt_config(dict(ml.music_gpt_recipe(), bar_positions=True), len(data.vocab))
