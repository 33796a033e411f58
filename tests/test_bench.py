import math

import pytest
import torch

from musiclab import bench


def test_core_benchmarks_give_positive_finite_rates_on_a_tiny_size():
    rows = bench.core_benchmarks("cpu", sizes=["tiny"], n_steps=2)
    assert [r["unit"] for r in rows] == ["tokens/s", "steps/s", "frames/s"]
    for r in rows:
        assert r["size"] == "tiny" and math.isfinite(r["rate"]) and r["rate"] > 0
    before = torch.get_num_threads()
    assert {r["threads"] for r in bench.core_benchmarks("cpu", ["tiny"], 1, threads=1)} == {1}
    assert torch.get_num_threads() == before  # restored
    with pytest.raises(ValueError, match="unknown size"):
        bench.core_benchmarks("cpu", sizes=["huge"])


def test_time_step_measures_the_calls():
    calls = []
    seconds = bench.time_step(lambda: calls.append(1) or sum(range(10_000)), n_steps=4, warmup=2)
    assert len(calls) == 6 and 0 < seconds < 1
    with pytest.raises(ValueError):
        bench.time_step(lambda: None, n_steps=0)


def test_main_writes_a_markdown_table(tmp_path, capsys):
    out = tmp_path / "timings.md"
    assert bench.main(["--no-notebooks", "--sizes", "tiny", "--steps", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.strip() in capsys.readouterr().out  # the same report on stdout and in the file
    lines = [l for l in text.splitlines() if l.startswith("|")]
    assert lines[0] == "| step | size | torch threads | rate | unit |" and lines[1] == "|---|---|---|---|---|"
    assert len(lines) == 5 and all(l.count("|") == 6 for l in lines)
    assert "tokens/s" in text and "steps/s" in text and "frames/s" in text
