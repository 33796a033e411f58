import json
import math

import nbformat
import pytest
import torch

from musiclab.course import bench
from musiclab.models.rnn import TuneLSTM
from musiclab.train import save_checkpoint
from musiclab.models.music_gpt import music_gpt_recipe


def test_core_benchmarks_give_positive_finite_rates_on_a_tiny_size():
    rows = bench.core_benchmarks("cpu", sizes=["tiny"], n_steps=2)
    assert [r["unit"] for r in rows] == ["tokens/s", "tokens/s", "steps/s", "frames/s"]
    assert rows[1]["what"].startswith("GPT step")
    for r in rows:
        assert r["size"] == "tiny" and math.isfinite(r["rate"]) and r["rate"] > 0
    before = torch.get_num_threads()
    assert {r["threads"] for r in bench.core_benchmarks("cpu", ["tiny"], 1, threads=1)} == {1}
    assert torch.get_num_threads() == before  # restored
    with pytest.raises(ValueError, match="unknown size"):
        bench.core_benchmarks("cpu", sizes=["huge"])


@pytest.mark.parametrize("size", ["quick", "full"])
def test_gpt_sizes_are_the_music_gpt_recipe_of_each_mode(size, monkeypatch):
    monkeypatch.setenv("MUSICLAB_MODE", size)
    recipe, gpt = music_gpt_recipe(), bench.SIZES[size]["gpt"]
    assert {k: recipe[k] for k in ("n_layer", "n_head", "n_embd", "block_size")} == \
        {k: gpt[k] for k in ("n_layer", "n_head", "n_embd", "block_size")}
    assert gpt["batch"] == recipe["batch_size"]


def test_time_step_measures_the_calls():
    calls = []
    seconds = bench.time_step(lambda: calls.append(1) or sum(range(10_000)), n_steps=4, warmup=2)
    assert len(calls) == 6 and 0 < seconds < 1
    with pytest.raises(ValueError):
        bench.time_step(lambda: None, n_steps=0)


def test_main_writes_a_markdown_table(tmp_path, capsys):
    out = tmp_path / "timings.md"
    assert bench.main(["--no-notebooks", "--no-sampling", "--sizes", "tiny", "--steps", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.strip() in capsys.readouterr().out  # the same report on stdout and in the file
    lines = [l for l in text.splitlines() if l.startswith("|")]
    assert lines[0] == "| step | size | torch threads | rate | unit |" and lines[1] == "|---|---|---|---|---|"
    assert len(lines) == 6 and all(l.count("|") == 6 for l in lines)
    assert "tokens/s" in text and "steps/s" in text and "frames/s" in text


def test_sampling_rows_time_each_checkpoint_free_and_constrained(tmp_path):
    vocab = ["<s>", "M:4/4", "K:Cmaj", "C", "E", "G", "c", "2", "/2", "z", "|", "||", ":|", "|:", "|]"]
    torch.manual_seed(0)
    model = TuneLSTM(len(vocab), hidden=8, layers=1, dropout=0.0)
    assert "no checkpoint of 04 or 10" in bench.sampling_report(tmp_path, n=2)
    save_checkpoint(tmp_path / "04_rnn_melody.pt", model, vocab=vocab)
    rows = bench.sampling_rows(tmp_path, n=2, max_len=60)
    assert [r["model"] for r in rows] == ["tune LSTM (04)"]         # 10's checkpoint is absent: no row
    assert all(math.isfinite(rows[0][k]) and rows[0][k] > 0 for k in ("free", "constrained", "ratio", "token_ratio"))
    assert rows[0]["ratio"] == pytest.approx(rows[0]["free"] / rows[0]["constrained"])


def write_notebook(path, *cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_full_mode_runner_records_passing_and_failing_notebooks(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICLAB_MODE", "quick")   # as under pytest: the runner must set full mode for the kernel
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "01_ok.ipynb",
                   "import musiclab as ml\nassert ml.mode() == 'full', 'full mode expected'",
                   "import musiclab as ml\nml.record('answer (units)', 6 * 7)\nml.record('ratio', 0.5)")
    write_notebook(folder / "02_broken.ipynb", "raise ValueError('boom: the model diverged')")
    write_notebook(folder / "03_skipped.ipynb", "1 + 1")
    results_file = tmp_path / "full_results.json"
    old = {"status": "passed", "error": None, "mode": "full", "device": "cuda", "hardware": "some GPU",
           "torch": "2.0", "peak_gpu_memory_gib": 1.5, "seconds": 60.0, "date": "2026-01-01", "commit": "abc",
           "metrics": {"x": 1.0}}
    results_file.write_text(json.dumps({"notebooks": {"00_old": old}}))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:full-results -->\nold table\n<!-- /bench:full-results -->\n"
                      "<!-- bench:rates -->\n<!-- /bench:rates -->\nend\n")

    assert bench.main(["--full", "--folder", str(folder), "--notebooks", "01", "02_broken", "--parallel", "2",
                       "--results", str(results_file), "--readme", str(readme), "--no-core",
                       "--workdir", str(tmp_path / "work")]) == 0

    entries = json.loads(results_file.read_text())["notebooks"]
    assert sorted(entries) == ["00_old", "01_ok", "02_broken"]       # merged, 03 not run
    assert entries["00_old"] == old
    ok, broken = entries["01_ok"], entries["02_broken"]
    assert ok["status"] == "passed" and ok["error"] is None and ok["mode"] == "full"
    assert ok["metrics"] == {"answer (units)": 42.0, "ratio": 0.5}
    assert ok["device"] == "cpu" and ok["torch"] == torch.__version__ and ok["peak_gpu_memory_gib"] is None
    assert 0 < ok["seconds"] < 120 and ok["commit"] and ok["date"].endswith("UTC")
    assert broken["status"] == "failed" and broken["metrics"] == {}
    assert broken["error"] == "ValueError: boom: the model diverged"
    assert (tmp_path / "work" / "executed" / "01_ok.ipynb").exists()   # the executed copy is kept
    text = readme.read_text()
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("end\n")
    rows = [l for l in text.splitlines() if l.startswith("| 0")]
    assert [r.split(" | ")[0] for r in rows] == ["| 00_old", "| 01_ok", "| 02_broken"]
    assert "answer (units) 42" in rows[1] and "failed: ValueError: boom" in rows[2] and "1.50 GiB" in rows[0]
    assert "no rates measured yet" in text


def test_full_mode_time_limits(tmp_path):
    write_notebook(tmp_path / "01_slow.ipynb", "import time\ntime.sleep(120)")
    write_notebook(tmp_path / "02_next.ipynb", "1 + 1")
    results_file = tmp_path / "r.json"
    done = bench.run_full(bench.find_notebooks(tmp_path), tmp_path / "work", results_file=results_file,
                          max_total_seconds=2, log=lambda *a: None)
    assert list(done) == ["01_slow"] and 2 <= done["01_slow"]["seconds"] < 30   # stopped at the limit
    assert done["01_slow"]["status"] == "failed" and done["01_slow"]["error"] == "stopped after 2 s (time limit)"
    assert list(json.loads(results_file.read_text())["notebooks"]) == ["01_slow"]   # 02 never started: left out


def test_find_notebooks_by_number_stem_or_name(tmp_path):
    for name in ("01_a.ipynb", "02_b.ipynb", "notes.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in bench.find_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb"]
    assert [p.name for p in bench.find_notebooks(tmp_path, ["02", "01_a", "02_b.ipynb"])] == ["02_b.ipynb", "01_a.ipynb"]
    with pytest.raises(ValueError, match="no notebook '07'"):
        bench.find_notebooks(tmp_path, ["07"])
    with pytest.raises(ValueError, match="parallel"):
        bench.run_full([], parallel=0)


def test_rates_table_has_a_column_per_device_and_says_what_was_not_measured():
    rows = bench.core_benchmarks("cpu", sizes=["tiny"], n_steps=1)
    table = bench.rates_table({"cpu": bench.rates_entry(rows, "cpu")})
    lines = table.splitlines()
    assert lines[0].startswith("| step | size | unit | CPU (") and lines[0].endswith("| GPU |")
    assert len(lines) == 2 + len(rows)
    assert all(l.endswith("| not measured |") for l in lines[2:])
    assert lines[2].split(" | ")[3] == bench.fmt_rate(rows[0]["rate"])
    assert bench.rates_table({}) == "no rates measured yet"


def test_error_line_and_replace_block():
    log = "[NbConvertApp] Executing\n\x1b[0;31mValueError\x1b[0m: bad\nTraceback\nKeyError: 'x'\n"
    assert bench.error_line(log) == "KeyError: 'x'"
    assert bench.error_line("") == "failed without a message"
    assert bench.replace_block("a<!-- bench:t -->x<!-- /bench:t -->b", "t", "new") == \
        "a<!-- bench:t -->\nnew\n<!-- /bench:t -->b"
    with pytest.raises(ValueError, match="markers"):
        bench.replace_block("no markers", "t", "new")


def test_gpu_speed_settings_change_nothing_on_cpu():
    from musiclab.train import autocast, to_device
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    with autocast("cpu"):
        product = a @ b
    assert product.dtype == torch.float32 and torch.equal(product, a @ b)   # exact: no bf16 on CPU
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == tf32
    batch = (a, {"y": b})
    moved = to_device(batch, "cpu")
    assert moved[0] is a and moved[1]["y"] is b and not a.is_pinned()


@pytest.mark.parametrize("capability, bf16", [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_autocast_uses_bf16_only_on_gpus_with_bf16_tensor_cores(capability, bf16, monkeypatch):
    import contextlib
    import warnings
    from musiclab.train import autocast
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    # the TF32 flags are properties of torch.backends modules, which monkeypatch cannot restore: by hand
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # "CUDA is not available": this only builds the context
            context = autocast("cuda")
        tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    if bf16:
        assert isinstance(context, torch.autocast) and context.fast_dtype == torch.bfloat16
        assert tf32 == (True, True)
    else:
        assert isinstance(context, contextlib.nullcontext) and tf32 == (False, False)


@pytest.mark.parametrize("args, words", [
    (["--parallel", "0"], "--parallel must be a positive integer"),
    (["--steps", "-3"], "--steps must be a positive integer"),
    (["--timeout", "0"], "--timeout must be a positive integer"),
    (["--max-seconds", "-5"], "--max-seconds must be a positive"),
    (["--threads", "0"], "--threads takes positive whole numbers"),
    (["--threads", "1,x"], "--threads takes positive whole numbers"),
    (["--sizes", "quick,huge"], "unknown size 'huge'"),
])
def test_the_command_line_refuses_options_out_of_range_before_running(args, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(args + ["--no-notebooks"])
    assert exit_.value.code == 2 and words in capsys.readouterr().err
