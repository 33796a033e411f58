"""The two LSTMs of notebooks 04 and 05: initialisation, causality, padding, checkpoints, training."""
import math

import numpy as np
import pytest
import torch

import musiclab as ml
from musiclab.data import BOUNDARY, UNK, TokenData


def toy_tokens(n_tunes, seed):
    """Tunes with structure an LSTM can learn: a header, then bars of a scale run from a random start."""
    rng = np.random.default_rng(seed)
    notes = ["C", "D", "E", "F", "G", "A", "B", "c"]
    tunes = []
    for _ in range(n_tunes):
        tune = ["M:4/4", "K:Cmaj"]
        for _ in range(rng.integers(3, 7)):
            start = int(rng.integers(0, 4))
            tune += notes[start:start + 4] + ["|"]
        tunes.append(tune)
    return tunes


def toy_data():
    vocab = [BOUNDARY, UNK, "M:4/4", "K:Cmaj", "|", "C", "D", "E", "F", "G", "A", "B", "c"]
    return TokenData(vocab=vocab, train=toy_tokens(48, 0), val=toy_tokens(12, 1), test=toy_tokens(12, 2))


def toy_rolls(n, seed, n_keys=88):
    """Chorale-like rolls: four held voices moving by step every two frames."""
    rng = np.random.default_rng(seed)
    rolls = []
    for _ in range(n):
        T = int(rng.integers(12, 24))
        roll = np.zeros((T, n_keys), np.float32)
        voices = np.array([40, 47, 52, 56])
        for t in range(T):
            if t % 2 == 0:
                voices = voices + rng.integers(-1, 2, 4)
            roll[t, voices] = 1
        rolls.append(roll)
    return rolls


@pytest.mark.parametrize("make", [lambda fb: ml.TuneLSTM(20, 16, 2, 0.0, forget_bias=fb),
                                  lambda fb: ml.ChoraleLSTM(88, 16, 2, 0.0, forget_bias=fb)])
def test_forget_gate_bias_is_set_in_every_layer(make):
    torch.manual_seed(0)
    model = make(2.0)
    H = model.lstm.hidden_size
    for layer in range(model.lstm.num_layers):
        b_ih, b_hh = getattr(model.lstm, f"bias_ih_l{layer}"), getattr(model.lstm, f"bias_hh_l{layer}")
        total = (b_ih + b_hh).detach()
        assert torch.allclose(total[H:2 * H], torch.full((H,), 2.0))      # gate order i, f, g, o
        assert total[:H].abs().max() < 1.0 and total[2 * H:].abs().max() < 1.0  # other gates keep the default
    assert model.config["forget_bias"] == 2.0


def test_forget_gate_bias_opens_the_gate():
    # one LSTM step from a zero state with zero input: f = sigmoid(bias), so c_1 = i * g and c_2 = f c_1 + i g
    torch.manual_seed(0)
    for fb in (0.0, 3.0):
        model = ml.ChoraleLSTM(4, 8, 1, 0.0, forget_bias=fb)
        with torch.no_grad():
            model.lstm.weight_ih_l0.zero_()
            model.lstm.weight_hh_l0.zero_()
            _, (_, c1) = model(torch.zeros(1, 1, 4))
            _, (_, c2) = model(torch.zeros(1, 1, 4), (torch.zeros_like(c1), c1))
        assert torch.allclose(c2 - c1, torch.sigmoid(torch.tensor(fb)) * c1, atol=1e-6)


def test_tune_lstm_is_causal():
    torch.manual_seed(0)
    model = ml.TuneLSTM(20, 16, 2, 0.0).eval()
    x = torch.randint(0, 20, (3, 30))
    changed = x.clone()
    changed[:, 12:] = torch.randint(0, 20, (3, 18))
    with torch.no_grad():
        a, b = model(x)[0], model(changed)[0]
    assert torch.allclose(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_chorale_lstm_is_causal():
    torch.manual_seed(0)
    model = ml.ChoraleLSTM(88, 16).eval()
    x, _ = ml.pad_rolls(toy_rolls(3, 0))
    changed = x.clone()
    changed[:, 10:] = torch.rand_like(changed[:, 10:]).round()
    with torch.no_grad():
        a, b = model(x)[0], model(changed)[0]
    assert torch.allclose(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_padding_does_not_change_the_tune_nll():
    torch.manual_seed(0)
    data = toy_data()
    model = ml.TuneLSTM(len(data.vocab), 16, 1, 0.0)
    bos, tunes = data.vocab.index(BOUNDARY), data.ids("val")[:5]
    assert len({len(t) for t in tunes}) > 1                       # the batch really is padded
    together, n = ml.tune_nll(model, tunes, bos)
    alone = [ml.tune_nll(model, [t], bos) for t in tunes]
    assert n == sum(len(t) + 1 for t in tunes) == sum(k for _, k in alone)
    assert together == pytest.approx(sum(v * k for v, k in alone) / n, rel=1e-5)


def test_padding_does_not_change_the_frame_losses():
    torch.manual_seed(0)
    model = ml.ChoraleLSTM(88, 16).eval()
    rolls = toy_rolls(4, 1)
    assert len({len(r) for r in rolls}) > 1
    with torch.no_grad():
        together = ml.frame_losses(model, ml.pad_rolls(rolls))
        alone = torch.cat([ml.frame_losses(model, ml.pad_rolls([r])) for r in rolls])
    assert len(together) == sum(len(r) - 1 for r in rolls)
    assert torch.allclose(together, alone, atol=1e-5)
    assert ml.chorale_nll(model, rolls, batch_size=3) == pytest.approx((alone.mean().item(), len(alone)), rel=1e-5)
    per = ml.chorale_nll(model, rolls, batch_size=3, per_roll=True)   # each roll's frames, in order
    assert [len(x) for x in per] == [len(r) - 1 for r in rolls]
    assert np.allclose(np.concatenate(per), alone.numpy(), atol=1e-5)


class _SayLastFrame(torch.nn.Module):
    """A 'model' whose logits for the next frame say: the frame just read, again (+S down, -S up)."""

    def __init__(self, scale: float = 20.0):
        super().__init__()
        self.scale = scale

    def forward(self, x, state=None):
        return self.scale * (2 * x - 1), state


def test_frame_losses_score_each_frame_against_the_next_one():
    rolls = toy_rolls(4, 2)
    x, mask = ml.pad_rolls(rolls)
    copier = _SayLastFrame(20.0)
    losses = ml.frame_losses(copier, (x, mask))
    changed = (x[:, 1:] != x[:, :-1]).sum(-1)[mask]          # keys that differ from the frame before
    s = torch.tensor(20.0)
    expected = changed * torch.nn.functional.softplus(s) + (88 - changed) * torch.nn.functional.softplus(-s)
    assert torch.allclose(losses, expected, rtol=1e-4, atol=1e-4)
    assert losses.max() > 20                                    # the toy frames change: copying costs
    # a loss that compared each prediction with the frame it was computed from would be ~0 here
    leaked = torch.nn.functional.binary_cross_entropy_with_logits(copier(x[:, 1:])[0], x[:, 1:], reduction="none")
    assert leaked.sum(-1)[mask].max() < 1e-6


def test_frame_losses_of_earlier_frames_ignore_later_frames():
    torch.manual_seed(0)
    model = ml.ChoraleLSTM(88, 16).eval()
    roll = toy_rolls(1, 3)[0]
    t = len(roll) // 2
    later = roll.copy()
    later[t + 1:] = 1 - later[t + 1:]                       # change every frame after frame t
    with torch.no_grad():
        a = ml.frame_losses(model, ml.pad_rolls([roll]))
        b = ml.frame_losses(model, ml.pad_rolls([later]))
    assert torch.allclose(a[:t], b[:t])                      # losses of frames 1..t
    assert not torch.allclose(a[t], b[t])                    # frame t + 1 is a target that changed


@pytest.mark.parametrize("cls, config, x", [
    (ml.TuneLSTM, dict(vocab_size=20, hidden=16, layers=2, dropout=0.3, forget_bias=1.5), torch.randint(0, 20, (2, 9))),
    (ml.ChoraleLSTM, dict(n_keys=88, hidden=16, layers=1, dropout=0.5, forget_bias=2.0), torch.rand(2, 9, 88).round()),
])
def test_checkpoint_round_trip_gives_the_same_outputs(tmp_path, cls, config, x):
    torch.manual_seed(0)
    model = cls(**config).eval()
    path = tmp_path / "model.pt"
    ml.save_checkpoint(path, model, train_ids=["a:0", "a:1"], split_seed=0)
    loaded, meta = ml.load_model(path, cls)
    assert meta["config"] == config and meta["train_ids"] == ["a:0", "a:1"]
    with torch.no_grad():
        assert torch.equal(model(x)[0], loaded(x)[0])
    other = ml.ChoraleLSTM if cls is ml.TuneLSTM else ml.TuneLSTM
    with pytest.raises(ValueError):
        ml.load_model(path, other)


def test_train_tune_lstm_lowers_the_loss_and_keeps_the_best_epoch():
    data = toy_data()
    bos = data.vocab.index(BOUNDARY)
    model, history = ml.train_tune_lstm(data, seed=0, hidden=24, layers=1, dropout=0.0, epochs=4, lr=2e-2)
    assert len(history["val"]) == 4 and history["train"][-1] < history["train"][0]
    val_nll, _ = ml.tune_nll(model, data.ids("val"), bos)
    assert val_nll == pytest.approx(min(history["val"]), rel=1e-4)   # the best epoch's weights are kept
    assert val_nll < 0.6 * math.log(len(data.vocab))                 # far better than uniform guessing
    with pytest.raises(ValueError):
        ml.train_tune_lstm(data, hiden=8)


def test_train_chorale_lstm_lowers_the_loss_and_keeps_the_best_epoch():
    train, val = toy_rolls(32, 2), toy_rolls(6, 3)
    model, history = ml.train_chorale_lstm(train, val, seed=0, hidden=24, epochs=6, lr=2e-2)
    assert history["train"][-1] < history["train"][0] and history["val"][-1] < history["val"][0]
    assert ml.chorale_nll(model, val)[0] == pytest.approx(min(history["val"]), rel=1e-4)
    assert min(history["val"]) < 88 * math.log(2) / 4           # a quarter of a coin toss per key


def test_sample_tune_keeps_the_prefix_and_never_writes_unk():
    data = toy_data()
    torch.manual_seed(0)
    model = ml.TuneLSTM(len(data.vocab), 16, 1, 0.0)
    with torch.no_grad():
        model.out.bias[data.vocab.index(UNK)] = 20.0    # the model would pick <unk> almost always
    tokens = ml.sample_tune(model, data.vocab, ["M:4/4", "K:Cmaj"], seed=3, max_len=40)
    assert tokens[:2] == ["M:4/4", "K:Cmaj"] and len(tokens) <= 40 and UNK not in tokens
    assert tokens == ml.sample_tune(model, data.vocab, ["M:4/4", "K:Cmaj"], seed=3, max_len=40)
    top1 = ml.sample_tune(model, data.vocab, ["M:4/4"], top_k=1, seed=0, max_len=30)
    assert top1 == ml.sample_tune(model, data.vocab, ["M:4/4"], top_k=1, seed=1, max_len=30)  # top-1 is greedy


def test_sample_tunes_draws_a_batch_by_the_rules_of_sample_tune():
    data = toy_data()
    model = ml.train_tune_lstm(data, seed=0, hidden=16, epochs=3, lr=2e-2, batch_size=8)[0]
    greedy = ml.sample_tune(model, data.vocab, ["M:4/4"], temperature=0, max_len=30)
    assert ml.sample_tunes(model, data.vocab, 5, ["M:4/4"], temperature=0, max_len=30, batch_size=2) == [greedy] * 5
    tunes = ml.sample_tunes(model, data.vocab, 40, ["M:4/4"], seed=3, max_len=60, batch_size=16)
    assert len(tunes) == 40 and tunes == ml.sample_tunes(model, data.vocab, 40, ["M:4/4"], seed=3, max_len=60,
                                                         batch_size=16)
    assert all(t[0] == "M:4/4" and len(t) <= 60 and UNK not in t and BOUNDARY not in t for t in tunes)
    assert len({len(t) for t in tunes}) > 1           # each row ends at its own <s>
    with torch.no_grad():                             # the first token is drawn from the model's distribution
        model.out.bias[data.vocab.index(UNK)] = 20.0  # (<unk> excluded), row by row
        model.out.bias[data.vocab.index(BOUNDARY)] = -20.0
        logits, _ = model(torch.tensor([[data.vocab.index(BOUNDARY)]]))
    p = torch.softmax(torch.cat([logits[0, -1, :1], logits[0, -1, 2:]]), -1).numpy()   # vocab[1] is <unk>
    first = [t[0] for t in ml.sample_tunes(model, data.vocab, 4000, seed=0, max_len=1, batch_size=1000)]
    freq = np.array([first.count(t) for t in [data.vocab[0]] + data.vocab[2:]]) / 4000
    assert np.abs(freq - p).max() < 0.03


def test_continue_rolls_keeps_the_prime_and_caps_the_voices():
    torch.manual_seed(0)
    model = ml.ChoraleLSTM(88, 16)
    with torch.no_grad():
        model.out.bias.fill_(0.0)           # p = 1/2 per key: about 44 keys drawn per frame
    primes = np.stack([r[:6] for r in toy_rolls(3, 4)])
    capped = ml.continue_rolls(model, primes, 5, max_voices=4, generator=torch.Generator().manual_seed(0))
    free = ml.continue_rolls(model, primes, 5, generator=torch.Generator().manual_seed(0))
    assert capped.shape == free.shape == (3, 11, 88)
    assert np.array_equal(capped[:, :6], primes) and np.array_equal(free[:, :6], primes)
    assert capped[:, 6:].sum(-1).max() <= 4 < free[:, 6:].sum(-1).min()


def test_continue_rolls_with_voices_draws_exactly_that_many_keys_by_their_probabilities():
    torch.manual_seed(0)
    model = ml.ChoraleLSTM(88, 16)
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.fill_(-8.0)
        model.out.bias[[40, 44, 47, 52]] = 6.0   # four likely keys, and a fifth of middling probability
        model.out.bias[30] = 4.0             # odds e^4 against e^6: drawn in about a third of the frames
    primes = np.stack([r[:6] for r in toy_rolls(40, 4)])
    out = ml.continue_rolls(model, primes, 5, voices=4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (40, 11, 88) and np.array_equal(out[:, :6], primes)
    assert np.all(out[:, 6:].sum(-1) == 4)                          # exactly four keys in every frame
    counts = out[:, 6:].sum((0, 1))
    assert counts[[40, 44, 47, 52]].min() > counts[30] > 0           # likelier keys drawn more often
    assert counts.sum() - counts[[30, 40, 44, 47, 52]].sum() < 0.01 * counts.sum()
    with torch.no_grad():                    # one key with p = 0.99 (odds 99) among nine with p = 1/2 (odds 1)
        model.out.bias.fill_(-30.0)
        model.out.bias[0] = math.log(99.0)
        model.out.bias[1:10] = 0.0
    one = ml.continue_rolls(model, primes, 5, voices=1, generator=torch.Generator().manual_seed(0))[:, 6:]
    share = one[..., 0].mean()                # odds weights: 99/108 = 0.92; weights p would give 0.99/5.49 = 0.18
    assert 0.85 < share < 0.97
    with pytest.raises(ValueError, match="not both"):
        ml.continue_rolls(model, primes, 1, max_voices=4, voices=4)
    with pytest.raises(ValueError, match="voices"):
        ml.continue_rolls(model, primes, 1, voices=0)


def test_reshuffled_tune_batches_know_how_many_batches_an_epoch_has():
    from musiclab.models.rnn import _Reshuffled
    tunes = [[1, 2, 3][: 1 + i % 3] for i in range(11)]
    for batch_size in (1, 4, 11, 20):
        batches = _Reshuffled(tunes, batch_size, bos=0, seed=0)
        assert len(batches) == len(list(batches))
