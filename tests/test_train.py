import os

import pytest
import torch

from musiclab.config import device, seed_everything
from musiclab.files import atomic_write
from musiclab.train import fit, load_checkpoint, save_checkpoint


def test_device_is_usable():
    d = device()
    assert d.type in {"cuda", "mps", "cpu"}
    assert (torch.ones(2, device=d) * 2).sum().item() == 4


def test_seed_everything_repeats_random_numbers():
    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    assert torch.equal(a, torch.randn(5))


def test_fit_lowers_the_loss_of_a_linear_regression():
    seed_everything(0)
    x = torch.randn(256, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    data = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)]
    model = torch.nn.Linear(3, 1)

    def loss_fn(m, batch):
        xb, yb = batch
        return torch.nn.functional.mse_loss(m(xb).squeeze(-1), yb)

    history = fit(model, loss_fn, data, torch.optim.SGD(model.parameters(), lr=0.1), epochs=20,
                  device=device(), val_loader=data[:2], clip=10.0)
    assert len(history["train"]) == 20 and len(history["val"]) == 20
    assert history["train"][-1] < 0.01 * history["train"][0]


def test_fit_stops_on_a_nan_loss():
    model = torch.nn.Linear(1, 1)
    with pytest.raises(ValueError, match="loss became"):
        fit(model, lambda m, b: m(b).sum() * float("nan"), [torch.ones(2, 1)],
            torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, device="cpu")


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    path = tmp_path / "sub" / "model.pt"
    save_checkpoint(path, model, epoch=7, losses=[1.0, 0.5])
    other = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    meta = load_checkpoint(path, other)
    assert meta == {"epoch": 7, "losses": [1.0, 0.5]}
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)
    assert os.listdir(path.parent) == ["model.pt"]  # no temporary files left behind


def test_bad_checkpoints_raise_clear_errors(tmp_path):
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="not found"):
        load_checkpoint(tmp_path / "none.pt", model)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt.pt"):
        load_checkpoint(corrupt, model)


def test_atomic_write_replaces_whole_file_and_cleans_up_on_error(tmp_path):
    path = tmp_path / "ratings.csv"
    atomic_write(path, "a,b\n1,2\n")
    atomic_write(path, "a,b\n1,2\n3,4\n")
    assert path.read_text() == "a,b\n1,2\n3,4\n"
    with pytest.raises(TypeError):
        atomic_write(path, 12345)  # neither str nor bytes
    assert path.read_text() == "a,b\n1,2\n3,4\n"
    assert sorted(os.listdir(tmp_path)) == ["ratings.csv"]


def test_atomic_write_gives_the_usual_file_rights_not_private_ones(tmp_path):
    path = tmp_path / "cache.npz"
    atomic_write(path, b"data")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


class Affine(torch.nn.Module):
    """A model with a ``config``, as the package models have."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.config = {"n_in": n_in, "n_out": n_out}
        self.linear = torch.nn.Linear(n_in, n_out)

    def forward(self, x):
        return self.linear(x)


def test_evaluate_weights_batches_by_their_size():
    model = torch.nn.Linear(1, 1)
    batches = [torch.zeros(3, 1), torch.ones(1, 1)]
    loss_fn = lambda m, b: b.mean()   # the mean of each batch: 0 and 1
    from musiclab.train import evaluate
    assert evaluate(model, loss_fn, batches, "cpu") == pytest.approx(1 / 4)  # not (0 + 1) / 2


def rising_weight():
    """A one-weight model at 0 whose training pushes the weight up by 0.1 an epoch (SGD, lr 0.1),
    with a validation loss that is best when the weight is 0.3 (epoch 3) and worse after:
    (model, batches, loss_fn)."""
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    loss_fn = lambda m, b: -m(b).mean() if m.training else ((m(b) - 0.3) ** 2).mean()
    return model, [torch.ones(4, 1)], loss_fn


def test_fit_keeps_the_weights_of_the_best_validation_epoch():
    seed_everything(0)
    model, train, loss_fn = rising_weight()
    history = fit(model, loss_fn, train, torch.optim.SGD(model.parameters(), lr=0.1), epochs=8,
                  device="cpu", val_loader=train)
    assert history["best_epoch"] == 3
    assert model.weight.item() == pytest.approx(0.3)
    assert min(history["val"]) == history["val"][history["best_epoch"] - 1]


def test_fit_with_patience_stops_once_validation_has_turned_and_keeps_the_best_epoch():
    model, train, loss_fn = rising_weight()
    history = fit(model, loss_fn, train, torch.optim.SGD(model.parameters(), lr=0.1), epochs=50,
                  device="cpu", val_loader=train, patience=2)
    assert history["best_epoch"] == 3 and len(history["val"]) == 5 and history["stopped"]
    assert model.weight.item() == pytest.approx(0.3)
    # a loss that keeps falling runs every epoch and says it did not stop early
    model, _, _ = rising_weight()
    falling = lambda m, b: -m(b).mean() if m.training else ((m(b) - 10.0) ** 2).mean()
    history = fit(model, falling, train, torch.optim.SGD(model.parameters(), lr=0.1), epochs=6,
                  device="cpu", val_loader=train, patience=2)
    assert len(history["val"]) == 6 and history["best_epoch"] == 6 and not history["stopped"]


def test_load_model_rebuilds_a_package_model_from_its_config(tmp_path):
    from musiclab.train import load_model
    model = Affine(3, 2)
    path = tmp_path / "affine.pt"
    save_checkpoint(path, model, train_ids=["oneills:1", "oneills:5"])
    again, meta = load_model(path, Affine)
    x = torch.randn(4, 3)
    assert torch.equal(again(x), model(x)) and not again.training
    assert meta["train_ids"] == ["oneills:1", "oneills:5"] and meta["config"] == model.config
    with pytest.raises(ValueError, match="not Linear"):
        load_model(path, torch.nn.Linear)
    with pytest.raises(ValueError, match="not found"):
        load_model(tmp_path / "missing.pt", Affine)


def test_load_or_train_loads_a_matching_checkpoint_and_trains_otherwise(tmp_path, capsys):
    from musiclab.train import load_or_train
    path = tmp_path / "affine.pt"
    trained = []

    def train():
        trained.append(1)
        return Affine(3, 2), {"quick": True}

    _, _, how = load_or_train(path, Affine, train, quick=True)
    assert how == "trained here" and "not found" in capsys.readouterr().out
    save_checkpoint(path, Affine(3, 2), quick=True)
    _, meta, how = load_or_train(path, Affine, train, quick=True)
    assert how == "checkpoint" and meta["quick"] is True and len(trained) == 1
    _, _, how = load_or_train(path, Affine, train, quick=False)   # made in the other mode
    assert how == "trained here" and "quick mode" in capsys.readouterr().out
    path.write_bytes(b"corrupt")
    _, _, how = load_or_train(path, Affine, train, quick=True)
    assert how == "trained here" and len(trained) == 3


def test_with_overrides_changes_known_settings_and_names_unknown_ones():
    from musiclab.config import with_overrides
    assert with_overrides({"lr": 1e-3, "epochs": 5}, {"epochs": 2}) == {"lr": 1e-3, "epochs": 2}
    with pytest.raises(ValueError, match="unknown settings \\['epoch'\\]"):
        with_overrides({"lr": 1e-3, "epochs": 5}, {"epoch": 2})


TINY_GPT = {"vocab_size": 8, "block_size": 8, "n_layer": 1, "n_head": 1, "n_embd": 8}


def write_checkpoint(path, cls_name, config, state=None):
    """A checkpoint as save_checkpoint writes it, with any config: what a damaged or foreign file may hold."""
    torch.save({"model": Affine(3, 2).state_dict() if state is None else state,
                "meta": {"class": cls_name, "config": config, "quick": True}}, path)
    return path


def unusable_checkpoints(tmp_path):
    """(what is wrong, path) for checkpoints load_model must refuse with a ValueError."""
    from musiclab.models import GPT
    no_model = tmp_path / "no_model.pt"
    torch.save({"meta": {"class": "Affine", "config": {"n_in": 3, "n_out": 2}, "quick": True}}, no_model)
    meta_list = tmp_path / "meta_list.pt"
    torch.save({"model": {}, "meta": [1, 2]}, meta_list)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    return [
        ("an unknown key", Affine, write_checkpoint(tmp_path / "a.pt", "Affine", {"n_in": 3, "n_out": 2, "bogus": 1}), "bogus"),
        ("a missing key", Affine, write_checkpoint(tmp_path / "b.pt", "Affine", {"n_in": 3}), "n_out"),
        ("a huge Affine", Affine, write_checkpoint(tmp_path / "c.pt", "Affine", {"n_in": 10**6, "n_out": 10**4}), "MAX_PARAMS"),
        ("vocab_size 1e10", GPT, write_checkpoint(tmp_path / "d.pt", "GPT", {**TINY_GPT, "vocab_size": 1e10}), "vocab_size"),
        ("vocab_size 10**10", GPT, write_checkpoint(tmp_path / "e.pt", "GPT", {**TINY_GPT, "vocab_size": 10**10}), "MAX_PARAMS"),
        ("weights of other shapes", Affine, write_checkpoint(tmp_path / "f.pt", "Affine", {"n_in": 4, "n_out": 2}), "does not fit"),
        ("no weights", Affine, no_model, "does not fit"),
        ("meta not a dict", Affine, meta_list, "not a readable"),
        ("a corrupt file", Affine, corrupt, "not a readable"),
    ]


def test_load_model_checks_the_stored_config_before_building_the_model(tmp_path):
    from musiclab.train import load_model
    for what, cls, path, words in unusable_checkpoints(tmp_path):
        with pytest.raises(ValueError, match=words):   # vocab_size 10**10 is refused, not allocated (40 GB)
            load_model(path, cls)


def test_load_or_train_trains_instead_of_any_unusable_checkpoint(tmp_path, capsys):
    from musiclab.train import load_or_train
    trained = []

    def train():
        trained.append(1)
        return Affine(3, 2), {"quick": True}

    for what, _, path, words in unusable_checkpoints(tmp_path):
        model, meta, how = load_or_train(path, Affine, train, quick=True)
        out = capsys.readouterr().out
        assert how == "trained here" and isinstance(model, Affine), what
        assert "training here" in out and path.name in out, (what, out)   # says why
    assert len(trained) == len(unusable_checkpoints(tmp_path))
