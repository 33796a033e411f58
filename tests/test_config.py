"""Size by machine: MUSICLAB_MODE = quick | full | auto, auto choosing by the device (config.py)."""
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient

import musiclab as ml
from musiclab import config
from musiclab.course import results

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture
def unset(monkeypatch):
    """No mode variable set, as on a learner's machine."""
    monkeypatch.delenv("MUSICLAB_MODE", raising=False)
    monkeypatch.delenv("MUSICLAB_QUICK", raising=False)
    return monkeypatch


def pretend_cuda(monkeypatch, available: bool):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Some GPU")


@pytest.mark.parametrize("cuda, expected", [(True, "full"), (False, "quick")])
def test_auto_is_full_on_a_cuda_gpu_and_quick_elsewhere(unset, cuda, expected):
    pretend_cuda(unset, cuda)
    chosen, why = config.mode_and_reason()
    assert chosen == expected and why.startswith("auto")
    assert ("Some GPU" in why) == cuda
    assert ml.is_quick() == (expected == "quick") and ml.by_mode("big", "small") == ("small" if expected == "quick" else "big")


def test_auto_on_apple_mps_is_quick(unset):
    pretend_cuda(unset, False)
    unset.setattr(torch.backends.mps, "is_available", lambda: True)
    assert ml.device().type == "mps" and config.mode_and_reason()[0] == "quick"


@pytest.mark.parametrize("setting", ["quick", "full", "QUICK ", "auto"])
def test_musiclab_mode_set_by_hand_wins_over_the_device_and_the_old_switch(unset, setting):
    pretend_cuda(unset, True)
    unset.setenv("MUSICLAB_MODE", setting)
    unset.setenv("MUSICLAB_QUICK", "1")
    expected = setting.strip().lower() if setting.strip().lower() != "auto" else "quick"  # auto defers to MUSICLAB_QUICK
    assert ml.mode() == expected


@pytest.mark.parametrize("value, expected", [("1", "quick"), ("yes", "quick"), ("0", "full"), ("false", "full")])
def test_the_old_switch_musiclab_quick_keeps_working(unset, value, expected):
    pretend_cuda(unset, False)
    unset.setenv("MUSICLAB_QUICK", value)
    chosen, why = config.mode_and_reason()
    assert chosen == expected and "MUSICLAB_QUICK" in why


@pytest.mark.parametrize("name, value", [("MUSICLAB_MODE", "fast"), ("MUSICLAB_QUICK", "maybe")])
def test_an_unknown_setting_is_an_error_naming_the_variable_and_its_values(unset, name, value):
    unset.setenv(name, value)
    with pytest.raises(ValueError, match=name) as raised:
        ml.mode()
    assert value in str(raised.value) and ("quick" in str(raised.value) or "1" in str(raised.value))


def test_the_mode_line_says_the_mode_why_and_how_to_change_it(unset):
    pretend_cuda(unset, False)
    line = config.mode_line()
    assert line.startswith("mode: quick (auto: no CUDA GPU")
    assert "MUSICLAB_MODE=full" in line and "meant for a GPU" in line   # how to get the other mode, and its cost


@pytest.mark.parametrize("notebook", ["01", "04"])
@pytest.mark.parametrize("cuda", [True, False])
def test_full_mode_says_what_the_recorded_full_run_of_the_notebook_took(unset, capsys, notebook, cuda):
    pretend_cuda(unset, cuda)
    unset.setattr(torch.backends.mps, "is_available", lambda: False)
    unset.setenv("MUSICLAB_MODE", "full")
    entry = results.full_results(notebook)
    ml.print_mode(notebook)
    out = capsys.readouterr().out
    if entry and entry["status"] == "passed":
        assert f"this notebook took {entry['seconds'] / 60:.1f} min on {results.device_label(entry)} ({entry['hardware']})" in out
    else:
        assert "has not yet been run to the end at full size" in out and "MUSICLAB_MODE=quick" in out
    assert ("full mode on a CPU" in out) == (not cuda)


def test_quick_mode_prints_one_line(unset, capsys):
    unset.setenv("MUSICLAB_MODE", "quick")
    ml.print_mode("04")
    assert capsys.readouterr().out == config.mode_line() + "\n"


def test_every_notebook_prints_its_mode_in_its_first_code_cell():
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert f'ml.print_mode("{path.name[:2]}")' in first.source, path.name


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto means full mode on a CUDA GPU")
def test_a_notebook_run_with_no_mode_set_on_a_cpu_runs_in_quick_mode(unset):
    path = NOTEBOOKS / "03_rnn_math.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    first = next(c for c in nb.cells if c.cell_type == "code")
    printed = "".join(o.get("text", "") for o in first.outputs)
    assert printed.startswith("mode: quick (auto: no CUDA GPU"), printed


@pytest.mark.parametrize("chosen", ["full", "quick"])
def test_a_training_in_full_mode_on_a_cpu_announces_its_duration_after_its_first_step(unset, capsys, chosen):
    unset.setenv("MUSICLAB_MODE", chosen)
    rng = np.random.default_rng(0)
    bars, styles = (rng.random((40, 16, 12)) < 0.2).astype(np.float32), np.arange(40) % 2
    ml.train_bar_gan(bars, styles, "cpu", steps=7, batch=8, hidden=8, z_dim=4, progress=False)
    lines = [l for l in capsys.readouterr().out.splitlines() if "full mode on a CPU" in l]
    if chosen == "quick":
        assert lines == []
    else:
        assert len(lines) == 1 and lines[0].startswith("GAN training: full mode on a CPU, 7 steps")
        assert re.search(r"at [\d.]+ s for the first -> about [\d.]+ (s|min|h)\b", lines[0]), lines[0]


@pytest.mark.parametrize("seconds, text", [(42, "42 s"), (600, "10 min"), (5 * 3600, "5.0 h")])
def test_durations_read_as_a_person_would_say_them(seconds, text):
    assert config.duration(seconds) == text


def test_fit_and_train_gpt_announce_their_duration_in_full_mode_on_a_cpu(unset, capsys):
    unset.setenv("MUSICLAB_MODE", "full")
    model = torch.nn.Linear(2, 1)
    data = [(torch.randn(4, 2), torch.randn(4, 1)) for _ in range(3)]
    ml.fit(model, lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1]), data,
           torch.optim.SGD(model.parameters(), lr=0.01), epochs=2, device="cpu", desc="regression")
    gpt = ml.GPT(vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=8)
    ml.train_gpt(gpt, torch.randint(0, 8, (200,)), steps=5, batch_size=2, lr=1e-3, device="cpu", desc="tiny GPT")
    out = capsys.readouterr().out
    assert "regression: full mode on a CPU, 6 steps" in out      # 2 epochs x 3 batches
    assert "tiny GPT: full mode on a CPU, 5 steps" in out


def test_fit_on_a_loader_without_a_length_announces_epochs(unset, capsys):
    unset.setenv("MUSICLAB_MODE", "full")

    class Batches:                                         # like rnn's reshuffled tune batches: no len()
        def __iter__(self):
            return iter([(torch.randn(4, 2), torch.randn(4, 1)) for _ in range(3)])

    model = torch.nn.Linear(2, 1)
    ml.fit(model, lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1]), Batches(),
           torch.optim.SGD(model.parameters(), lr=0.01), epochs=4, device="cpu", desc="regression")
    assert "regression: full mode on a CPU, 4 epochs" in capsys.readouterr().out


def test_progress_bar_redraws_about_a_hundred_times_however_long_the_loop():
    import io
    drawn = io.StringIO()
    for _ in ml.progress_bar(range(20_000), desc="steps", mininterval=0, file=drawn):
        pass
    assert 50 <= drawn.getvalue().count("\r") <= 110        # 20,000 steps, about 100 redraws
    unlimited = io.StringIO()
    for _ in ml.progress_bar(range(20_000), mininterval=0, miniters=1, file=unlimited):
        pass
    assert unlimited.getvalue().count("\r") > 10_000       # what the limit prevents


def test_a_long_loop_with_a_progress_bar_passes_under_nbval(tmp_path):
    """A notebook cell whose bar sent thousands of widget messages lost its end under nbval (CI run
    of stop 32: "Timeout of 5 seconds exceeded waiting for output"). The same loop, 20,000 steps
    drawn with no time limit, passes with ml.progress_bar."""
    import subprocess
    import sys
    code = ("import musiclab as ml\nbar = ml.progress_bar(range(20_000), desc='steps', mininterval=0)\n"
            "for i in bar:\n    bar.set_postfix(step=i, refresh=False)\nprint('done')")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "loop.ipynb")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env",
                          "-p", "no:cacheprovider", "loop.ipynb"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
