"""The two models that ship trained: their files match their provenance, their held-out losses
are what the provenance says, and the recipe that made them runs, resumes and writes the files.

The recomputed loss uses the fixed subset of ``QUICK_HELDOUT`` pieces in quick mode (every
held-out piece with MUSICLAB_MODE=full), each to within 1e-3 of the recorded value.
"""
import json
import math
import time

import numpy as np
import pytest
import torch

import musiclab as ml
from musiclab.course import pretrained as pt


@pytest.mark.parametrize("name", pt.PRETRAINED)
def test_each_shipped_model_has_its_hash_and_its_recorded_validation_loss(name):
    path = pt.pretrained_path(name)
    provenance = json.loads(path.with_suffix(".json").read_text())
    assert pt.sha256_of(path) == provenance["sha256"]
    for key in ("command", "commit", "ids", "steps", "tokens", "device", "wall_seconds", "val_loss", "test_loss"):
        assert provenance[key] not in (None, "", [], {}), key
    assert provenance["command"].startswith(f"python -m musiclab.pretrain --recipe {name}")
    model, provenance = ml.load_pretrained(name)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    quick = ml.is_quick()
    recorded = provenance["val_loss_quick" if quick else "val_loss"]
    assert abs(ml.heldout_loss(model, provenance, "val", quick=quick) - recorded) < 1e-3
    # fp16 kept the numbers: the shipped weights score as the float32 weights did
    assert abs(provenance["val_loss"] - provenance["val_loss_fp32"]) < 1e-2


@pytest.mark.parametrize("name", pt.PRETRAINED)
def test_the_shipped_models_training_pieces_are_not_held_out(name):
    provenance = json.loads(pt.pretrained_path(name).with_suffix(".json").read_text())
    train = set(provenance["ids"]["train"])
    assert not train & set(provenance["ids"]["val"]) and not train & set(provenance["ids"]["test"])
    if name == "folk-pretrained":    # 04's test tunes, in either mode, are outside its training side
        pieces, split = ml.tune_split()
        assert not {pieces[i].id for i in split.test} & train
        full = ml.split_pieces(pieces, fractions=(0.8, 0.1, 0.1), seed=0)
        assert {pieces[i].id for i in full.test} <= set(provenance["ids"]["test"])


@pytest.mark.parametrize("name", pt.PRETRAINED)
def test_loading_and_evaluating_a_shipped_model_takes_under_20_seconds(name):
    t0 = time.perf_counter()
    model, provenance = ml.load_pretrained(name)
    ml.heldout_loss(model, provenance, "test", quick=True)
    seconds = time.perf_counter() - t0
    print(f"{name}: loaded and scored {pt.QUICK_HELDOUT} test pieces in {seconds:.1f} s")
    assert seconds < 20


def test_the_pretraining_split_keeps_04s_irish_sides_and_drops_essen_copies_of_irish_tunes():
    quick = dict(essen_sizes={"train": 50, "val": 10, "test": 10}, irish_sizes=ml.TUNE_QUICK_SIZES)
    pieces, split = ml.folk_pretraining_split(0, **quick)
    irish = ml.load_corpus("oneills") + ml.load_corpus("ryans")
    irish_split = ml.split_pieces(irish, fractions=(0.8, 0.1, 0.1), seed=0).subsample(ml.TUNE_QUICK_SIZES, seed=0)
    for side in ("train", "val", "test"):
        taken = [pieces[i] for i in split[side]]
        assert [p.id for p in taken if p.corpus != "essen"] == [irish[i].id for i in irish_split[side]]
    essen_groups = {g for p, g in zip(pieces, split.groups) if p.corpus == "essen"}
    assert not essen_groups & {g for p, g in zip(pieces, split.groups) if p.corpus != "essen"}


def test_a_changed_byte_is_refused(tmp_path):
    name = "chorale-pretrained"
    source = pt.pretrained_path(name)
    data = bytearray(source.read_bytes())
    data[-10] ^= 1
    (tmp_path / f"{name}.pt").write_bytes(bytes(data))
    (tmp_path / f"{name}.json").write_text(source.with_suffix(".json").read_text())
    with pytest.raises(ValueError, match="sha256"):
        ml.load_pretrained(name, folder=tmp_path)


def test_an_unknown_recipe_is_named():
    with pytest.raises(ValueError, match="no pretrained recipe 'folk'"):
        ml.pretrained_recipe("folk")


def test_the_recipe_runs_resumes_and_writes_weights_with_their_provenance(tmp_path):
    tiny = dict(steps=4, n_layer=1, n_head=2, n_embd=16, save_every=2, eval_every=2, eval_tokens=2000)
    first = ml.train_pretrained("chorale-pretrained", workdir=tmp_path / "work", out=tmp_path / "ship", stop_after=2, **tiny)
    assert first is None and not (tmp_path / "ship").exists()          # interrupted: nothing shipped
    assert ml.read_checkpoint_meta(tmp_path / "work" / "chorale-pretrained.train.pt")["step"] == 2
    provenance = ml.train_pretrained("chorale-pretrained", workdir=tmp_path / "work", out=tmp_path / "ship", resume=True, **tiny)
    assert provenance["steps"] == 4 and provenance["tokens"] == 4 * 32 * 256
    model, loaded = ml.load_pretrained("chorale-pretrained", folder=tmp_path / "ship")
    assert loaded == provenance and model.config.n_embd == 16
    assert math.isclose(ml.heldout_loss(model, loaded, "test"), provenance["test_loss"], abs_tol=1e-6)
    assert np.isfinite(provenance["val_loss"]) and provenance["val_loss"] > 0


def test_a_vocab_view_folds_the_models_extra_tokens_into_unk():
    torch.manual_seed(0)
    model_vocab = ["<s>", "<unk>", "a", "b", "c", "<irish>"]
    model = ml.GPT(vocab_size=len(model_vocab), block_size=8, n_layer=1, n_head=1, n_embd=8)
    view = ml.VocabView(model, model_vocab, ["<s>", "<unk>", "b", "a"])
    x = torch.tensor([[0, 3, 2, 1]])                       # <s> a b <unk> in the view's ids
    logp = view(x)[0]
    assert torch.allclose(logp.exp().sum(-1), torch.ones(1, 4), atol=1e-5)
    full = model(torch.tensor([[0, 2, 3, 1]]))[0].log_softmax(-1)   # the same tokens in the model's ids
    assert torch.allclose(logp[..., 3], full[..., 2], atol=1e-5)     # "a"
    assert torch.allclose(logp[..., 1].exp(), full[..., [1, 4, 5]].exp().sum(-1), atol=1e-5)   # <unk> + c + <irish>
    with pytest.raises(ValueError, match="not the model's"):
        ml.VocabView(model, model_vocab, ["<s>", "<unk>", "d"])
