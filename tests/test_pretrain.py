"""Tests of the GPT training loop (musiclab.train.train_gpt), its command line (musiclab.pretrain) on
two CPU processes (torchrun, DistributedDataParallel over gloo) with resumption, and notebook 10's
measurements (musiclab.models.music_gpt)."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import musiclab as ml
from musiclab import evaluation, pretrain, train
from musiclab.models import music_gpt, transformer

torch.set_num_threads(1)

TINY = ["--quick", "--corpora", "oneills", "--limit", "40", "--n-layer", "1", "--n-head", "2", "--n-embd", "16",
        "--block-size", "32", "--batch-size", "4", "--dropout", "0", "--lr", "3e-3", "--steps", "6",
        "--save-every", "2", "--eval-every", "3"]


def tiny_gpt(vocab_size=11, block_size=16, seed=0, **changes):
    torch.manual_seed(seed)
    sizes = dict(vocab_size=vocab_size, block_size=block_size, n_layer=2, n_head=2, n_embd=16)
    return ml.GPT(ml.GPTConfig(**{**sizes, **changes}))


def run_torchrun(args, nproc=2):
    """``torchrun --standalone --nproc_per_node=nproc -m musiclab.pretrain args``; returns stdout."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "musiclab.pretrain", *args]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**env, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return run.stdout


def rank_lines(stdout):
    """{rank: (step, digest)} from the last line each process prints."""
    found = re.findall(r"rank (\d): step (\d+) of \d+, [^\n]*?weights (\w+)", stdout)
    return {int(r): (int(step), digest) for r, step, digest in found}


def test_two_processes_end_identical_resume_continues_and_match_one_process(tmp_path):
    out = tmp_path / "ddp.pt"
    first = run_torchrun(TINY + ["--out", str(out), "--stop-after", "3"])
    ranks = rank_lines(first)
    assert set(ranks) == {0, 1}, f"a process did not report its end; its output was:\n{first}"
    assert ranks[0] == ranks[1] and ranks[0][0] == 3  # interrupted after 3 of 6 steps
    meta = ml.read_checkpoint_meta(out)
    assert meta["step"] == 3 and meta["world_size"] == 2 and meta["history"]["step"] == [1, 2, 3]

    second = run_torchrun(TINY + ["--out", str(out), "--resume"])
    assert "resuming from" in second and "at step 3 of 6" in second
    ranks = rank_lines(second)
    assert set(ranks) == {0, 1}, f"a process did not report its end; its output was:\n{second}"
    assert ranks[0] == ranks[1] and ranks[0][0] == 6   # both processes, identical weights
    model, meta = ml.load_model(out, ml.GPT)
    assert meta["step"] == 6 and meta["history"]["step"] == [1, 2, 3, 4, 5, 6]   # the step count continued
    assert ml.weights_digest(model) == ranks[0][1]   # rank 0 wrote what the processes hold

    single = tmp_path / "single.pt"
    pretrain.main(TINY + ["--out", str(single)])    # one process, no interruption, same global batches
    alone, meta_alone = ml.load_model(single, ml.GPT)
    for (name, a), (_, b) in zip(model.state_dict().items(), alone.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert np.allclose(meta["history"]["train"], meta_alone["history"]["train"], atol=1e-5)


def test_stream_batch_depends_on_step_only_and_shards_the_global_batch():
    stream = torch.arange(200)
    x, y = train.stream_batch(stream, 6, 10, step=3, seed=1)
    assert torch.equal(y, x + 1)                      # targets are the next tokens
    again, _ = train.stream_batch(stream, 6, 10, step=3, seed=1)
    other, _ = train.stream_batch(stream, 6, 10, step=4, seed=1)
    assert torch.equal(x, again) and not torch.equal(x, other)
    shards = [train.stream_batch(stream, 6, 10, step=3, seed=1, rank=r, world_size=3)[0] for r in range(3)]
    assert torch.equal(torch.stack(shards, 1).reshape(6, 10), x)   # rows r, r + 3, ... of the same batch
    with pytest.raises(ValueError):
        train.stream_batch(stream, 5, 10, step=0, world_size=2)


def test_tune_stream_puts_prefixes_and_boundaries():
    stream = music_gpt.tune_stream([[5, 6], [7]], bos=0, prefixes=[[9], [8]])
    assert stream.tolist() == [0, 9, 5, 6, 0, 8, 7, 0]


def test_learning_rate_warms_up_then_decays_to_min():
    lrs = [train.learning_rate(s, 100, 1.0, 10, 0.1) for s in range(101)]
    assert np.isclose(lrs[9], 1.0) and np.all(np.diff(lrs[:10]) > 0) and np.all(np.diff(lrs[10:]) <= 0)
    assert np.isclose(lrs[100], 0.1)


def test_train_gpt_learns_a_repeating_pattern_and_keeps_the_best():
    stream = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 40)
    model = tiny_gpt()
    before = train.stream_loss(model, stream, 16)
    history = train.train_gpt(model, stream, 60, 8, 1e-2, val_stream=stream, eval_every=20, keep_best=True)
    assert before > 2.0 and history["val"][-1] < 0.5   # each token follows from the one before
    assert np.isclose(train.stream_loss(model, stream, 16), min(history["val"]))
    assert history["tokens"] == 60 * 8 * 16


def test_train_gpt_refuses_bad_settings_before_writing_a_checkpoint(tmp_path):
    path = tmp_path / "gpt.pt"
    stream = torch.arange(40) % 11
    for bad in (dict(steps=-5), dict(steps=0), dict(batch_size=0), dict(lr=0.0), dict(warmup=-1)):
        settings = {**dict(steps=3, batch_size=2, lr=1e-3), **bad}
        with pytest.raises(ValueError, match=list(bad)[0]):
            train.train_gpt(tiny_gpt(), stream, checkpoint=path, save_every=1, **settings)
        assert not path.exists()      # nothing written: a later --resume cannot pick up step -5


def test_train_gpt_resumes_only_from_its_own_checkpoints(tmp_path):
    path, stream = tmp_path / "gpt.pt", torch.arange(60) % 11
    ml.save_checkpoint(path, tiny_gpt())                   # weights only: no optimizer state, step, history
    with pytest.raises(ValueError, match=r"cannot resume from .*gpt\.pt: it has no optimizer, step, history"):
        train.train_gpt(tiny_gpt(), stream, 4, 2, 1e-3, checkpoint=path, resume=True)
    train.train_gpt(tiny_gpt(), stream, 4, 2, 1e-3, checkpoint=path)    # a finished run at step 4
    with pytest.raises(ValueError, match="at step 4, past steps=2"):
        train.train_gpt(tiny_gpt(), stream, 2, 2, 1e-3, checkpoint=path, resume=True)
    history = train.train_gpt(tiny_gpt(), stream, 6, 2, 1e-3, checkpoint=path, resume=True)
    assert history["step"] == [1, 2, 3, 4, 5, 6]


def test_command_line_refuses_bad_numbers_with_a_usage_error(tmp_path):
    out = tmp_path / "gpt.pt"
    run = subprocess.run([sys.executable, "-m", "musiclab.pretrain", "--quick", "--steps", "-5", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--steps must be a positive integer, got -5" in run.stderr, run.stderr
    assert "usage: python -m musiclab.pretrain" in run.stderr and not out.exists()


@pytest.mark.parametrize("args, words", [
    (["--steps", "0"], "--steps must be a positive integer"), (["--stop-after", "0"], "--stop-after must be a positive"),
    (["--batch-size", "0"], "--batch-size must be a positive integer"), (["--block-size", "-1"], "--block-size must be a positive"),
    (["--n-layer", "0"], "--n-layer must be a positive"), (["--n-embd", "0"], "--n-embd must be a positive"),
    (["--limit", "0"], "--limit must be a positive"), (["--eval-every", "-1"], "--eval-every must be an integer >= 0"),
    (["--save-every", "-1"], "--save-every must be an integer >= 0"), (["--seed", "-1"], "--seed must be an integer >= 0"),
    (["--lr", "0"], "--lr must be a positive finite number"), (["--lr", "nan"], "--lr must be a positive finite number"),
    (["--dropout", "1.5"], r"dropout must be a number in \[0, 1\)"), (["--n-embd", "10", "--n-head", "3"], "not divisible"),
    (["--n-embd", "100000", "--n-layer", "1000"], "MAX_PARAMS"),
])
def test_each_numeric_option_is_checked_before_any_data_is_read(args, words, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MUSICLAB_QUICK", "1")
    monkeypatch.setattr(pretrain, "_corpus_data", lambda *a: pytest.fail("the data was loaded"))
    out = tmp_path / "gpt.pt"
    with pytest.raises(SystemExit) as exit:
        pretrain.main(args + ["--out", str(out)])
    assert exit.value.code == 2 and re.search(words, capsys.readouterr().err) and not out.exists()


def test_windows_score_every_position_once_with_half_a_context():
    for n, block in [(5, 8), (8, 8), (9, 8), (37, 8), (100, 16)]:
        windows = music_gpt._windows(n, block)
        scored = []
        for i, (start, first) in enumerate(windows):
            end = min(start + block, n)
            assert first - start >= (block // 2 if i else 0)
            scored += list(range(first, end))
        assert scored == list(range(n))


def test_token_nll_matches_the_models_loss_and_lstm_tune_nll():
    model = tiny_gpt(block_size=64).eval()
    rng = np.random.default_rng(0)
    tunes = [list(rng.integers(1, 11, n)) for n in (5, 12, 30)]
    nlls = music_gpt.token_nll(model, tunes, bos=0)
    for tune, nll in zip(tunes, nlls):
        x, y = torch.tensor([[0] + tune]), torch.tensor([tune + [0]])
        assert np.isclose(nll.mean(), model(x, y)[1].item(), atol=1e-5) and len(nll) == len(tune) + 1
    short = tiny_gpt(block_size=8).eval()          # longer tunes than the context: windows
    long_nll = music_gpt.token_nll(short, [tunes[2]], bos=0)[0]
    x = torch.tensor([[0] + tunes[2]])
    direct = torch.nn.functional.cross_entropy(short(x[:, :8])[0][0], torch.tensor(tunes[2][:8]), reduction="none")
    assert len(long_nll) == 31 and np.allclose(long_nll[:8], direct.detach().numpy(), atol=1e-5)
    with_prefix = music_gpt.token_nll(model, tunes, bos=0, prefix=[7])
    assert [len(n) for n in with_prefix] == [len(n) for n in nlls]
    lstm = ml.TuneLSTM(11, hidden=8, layers=1, dropout=0.0)
    mean, count = ml.tune_nll(lstm, tunes, bos=0)
    per_token = np.concatenate(music_gpt.token_nll(lstm, tunes, bos=0))
    assert len(per_token) == count and np.isclose(per_token.mean(), mean, atol=1e-5)


def test_ngram_token_nll_adds_up_to_the_models_nll():
    vocab = ["<s>", "<unk>", "a", "b", "|"]
    tunes = [["a", "b", "|", "a"], ["b", "b", "|"]]
    lm = ml.NGramLM(3, vocab).fit(tunes)
    nlls = music_gpt.ngram_token_nll(lm, tunes)
    total, count = lm.nll(tunes)
    assert sum(len(n) for n in nlls) == count and np.isclose(np.concatenate(nlls).sum(), total)


def test_token_types_and_nll_by_type():
    tokens = ["M:6/8", "K:Dmaj", "<irish>", "^f", "c'", "2", "/2", "3/2", "|", ":|", "|1", "z", "(3", "-", "<unk>"]
    assert [music_gpt.token_type(t) for t in tokens] == (["header"] * 3 + ["pitch"] * 2 + ["duration"] * 3
                                                        + ["bar line"] * 3 + ["other"] * 4)
    nlls = [np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0])]
    by_type = music_gpt.nll_by_type(nlls, [["a", "|"], ["2"]])
    assert by_type == {"pitch": (1.0, 1), "duration": (4.0, 1), "bar line": (2.0, 1), "end of tune": (4.0, 2)}
    with pytest.raises(ValueError):
        music_gpt.nll_by_type(nlls, [["a"], ["2"]])


def test_fit_scaling_law_recovers_a_known_law():
    N = np.geomspace(1e4, 3e5, 6)
    E, A, alpha = 1.7, 40.0, 0.35
    fit = evaluation.fit_scaling_law(N, E + A / N ** alpha)
    assert np.isclose(fit["E"], E, atol=1e-3) and np.isclose(fit["alpha"], alpha, atol=1e-3)
    assert np.isclose(fit["A"], A, rtol=1e-2) and np.abs(fit["residuals"]).max() < 1e-6
    assert not fit["E_at_bound"]


def scaling_runs(E, A, alpha, noise, sizes, seeds=3, seed=0):
    rng = np.random.default_rng(seed)
    N = np.repeat(sizes, seeds)
    return N, E + A / N ** alpha + noise * rng.standard_normal(len(N)), np.tile(np.arange(seeds), len(sizes))


def test_bootstrap_scaling_law_recovers_alpha_and_E_from_noisy_seeds():
    E, A, alpha = 1.7, 40.0, 0.35
    N, L, seeds = scaling_runs(E, A, alpha, 0.005, np.geomspace(1e3, 1e6, 7))
    boot = evaluation.bootstrap_scaling_law(N, L, n_boot=100)
    assert boot["identified"] and boot["why"] == ""
    assert boot["alpha"].low < alpha < boot["alpha"].high and boot["E"].low < E < boot["E"].high
    assert abs(boot["alpha"].estimate - alpha) < 0.05 and abs(boot["E"].estimate - E) < 0.05
    assert list(boot["sizes"]) == sorted(set(N)) and len(boot["means"]) == 7
    errors = evaluation.heldout_seed_errors(N, L, seeds)
    assert errors["power law"] < errors["straight line in log N"]     # the bend is real here


def test_bootstrap_scaling_law_flags_an_unidentified_floor():
    # sizes far below the bend: the losses are close to a straight line in log N and do not place E
    N, L, seeds = scaling_runs(0.5, 3.0, 0.05, 0.02, np.geomspace(1e3, 3e4, 5), seeds=2)
    boot = evaluation.bootstrap_scaling_law(N, L, n_boot=100)
    assert not boot["identified"] and boot["why"]
    # a curve bent the other way (falling faster at the large end) pushes E onto a bound
    N = np.repeat(np.geomspace(1e3, 1e5, 5), 2)
    L = 3.0 - 0.05 * np.log(N) ** 1.5 + 0.001 * np.tile([1, -1], 5)
    fit = evaluation.fit_scaling_law(N, L)
    assert fit["E_at_bound"] and min(fit["E"], L.min() - fit["E"]) < 1e-4
    with pytest.raises(ValueError):
        evaluation.bootstrap_scaling_law(N[::2], L[::2])      # one run per size: nothing to resample


def test_sample_gpt_never_draws_unk_keeps_the_prompt_and_is_seeded():
    vocab = ["<s>", "<unk>", "M:6/8", "K:Dmaj", "a", "b", "|", "<irish>"]
    model = tiny_gpt(vocab_size=len(vocab), block_size=12).eval()
    with torch.no_grad():
        model.lm_head.weight[1] += 5.0          # make <unk> the most likely token
    tunes = music_gpt.sample_gpt(model, vocab, ["<irish>", "M:6/8", "K:Dmaj"], n=4, max_len=30, seed=1)
    assert len(tunes) == 4 and all(t[:2] == ["M:6/8", "K:Dmaj"] for t in tunes)
    assert all("<unk>" not in t and "<s>" not in t and "<irish>" not in t for t in tunes)
    assert all(len(t) <= 2 + 30 for t in tunes)
    assert tunes == music_gpt.sample_gpt(model, vocab, ["<irish>", "M:6/8", "K:Dmaj"], n=4, max_len=30, seed=1)
    greedy = music_gpt.sample_gpt(model, vocab, n=2, max_len=20, temperature=0)
    assert greedy[0] == greedy[1]


def test_attention_maps_are_the_weights_the_model_uses():
    model = tiny_gpt(block_size=16).double().eval()
    idx = torch.randint(0, 11, (2, 10))
    maps = transformer.attention_maps(model, idx)
    assert maps.shape == (2, 2, 2, 10, 10)
    assert torch.allclose(maps.sum(-1), torch.ones(2, 2, 2, 10, dtype=maps.dtype)) and torch.all(maps.triu(1) == 0)
    block, outputs = model.blocks[0], {}
    hook_in = block.ln_1.register_forward_hook(lambda m, i, o: outputs.__setitem__("x", o))
    hook_out = block.attn.register_forward_hook(lambda m, i, o: outputs.__setitem__("y", o))
    model(idx)
    hook_in.remove(), hook_out.remove()
    C = model.config.n_embd
    v = block.attn.c_attn(outputs["x"]).split(C, dim=2)[2].view(2, 10, 2, C // 2).transpose(1, 2)
    y = (maps[:, 0] @ v).transpose(1, 2).reshape(2, 10, C)
    assert torch.allclose(block.attn.c_proj(y), outputs["y"])


def test_weights_digest_sees_every_change():
    model = tiny_gpt()
    digest = ml.weights_digest(model)
    assert digest == ml.weights_digest(tiny_gpt())
    with torch.no_grad():
        model.blocks[0].mlp.c_fc.bias[0] += 1e-6
    assert digest != ml.weights_digest(model)
