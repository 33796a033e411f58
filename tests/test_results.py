import json
import math

import numpy as np
import pytest
import torch

from musiclab.course import results


@pytest.fixture(autouse=True)
def fresh_record(monkeypatch):
    monkeypatch.setattr(results, "_recorded", {})
    monkeypatch.setattr(results, "_bounds", {})
    monkeypatch.delenv(results.ENV, raising=False)


def entry(**changes):
    return {"status": "passed", "error": None, "mode": "full", "device": "cuda", "hardware": "NVIDIA H200",
            "torch": "2.13.0", "peak_gpu_memory_gib": 3.25, "seconds": 150.0, "date": "2026-12-02 15:00 UTC",
            "commit": "1234abc", "metrics": {"test NLL (nats/frame): LSTM": 6.5, "only in full": 2000.0}, **changes}


def write(path, notebooks):
    path.write_text(json.dumps({"notebooks": notebooks}))
    return path


def test_record_keeps_numbers_in_order_and_returns_them():
    assert results.record("test NLL (nats/frame): LSTM", np.float32(7.25)) is None   # nothing echoed under a cell
    results.record("gain (nats/token)", 3)
    results.record("gain (nats/token)", 0.5)          # recording again replaces the value
    assert results.recorded() == {"test NLL (nats/frame): LSTM": 7.25, "gain (nats/token)": 0.5}
    results.recorded()["other"] = 1.0                  # a copy: the record is not changed from outside
    assert list(results.recorded()) == ["test NLL (nats/frame): LSTM", "gain (nats/token)"]


@pytest.mark.parametrize("name, value, problem", [
    ("", 1.0, "non-empty name"), ("   ", 1.0, "non-empty name"), (3, 1.0, "non-empty name"),
    ("x", math.nan, "finite number"), ("x", math.inf, "finite number"), ("x", "7", "finite number"),
    ("x", True, "finite number"), ("x", None, "finite number"), ("x", torch.tensor(1.0), r"\.item\(\)"),
])
def test_record_refuses_what_is_not_a_named_finite_number(name, value, problem):
    with pytest.raises(ValueError, match=problem):
        results.record(name, value)
    assert results.recorded() == {}


def test_record_under_the_runner_rewrites_the_results_file(tmp_path, monkeypatch):
    path = tmp_path / "nb.json"
    monkeypatch.setenv(results.ENV, str(path))
    results.record("a", 1.5)
    first = json.loads(path.read_text())
    assert first["metrics"] == {"a": 1.5} and first["device"] == "cpu" and first["torch"] == torch.__version__
    assert first["peak_gpu_memory_gib"] is None and "cores" in first["hardware"]
    results.record("b", 2)
    assert json.loads(path.read_text())["metrics"] == {"a": 1.5, "b": 2.0}
    assert [p.name for p in tmp_path.iterdir()] == ["nb.json"]   # no temporary file left behind


def test_save_needs_a_place():
    with pytest.raises(ValueError, match=results.ENV):
        results.save()


def test_compare_without_a_full_mode_run(tmp_path, capsys):
    results.record("test NLL (nats/frame): LSTM", 7.123456)
    results.record("tokens", 123456)
    assert results.compare("05", write(tmp_path / "r.json", {"02_dic_training": entry()})) is None
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("no full-mode run recorded yet for 05 (python -m musiclab.bench --full --notebooks 05")
    assert lines[1].split() == ["metric", "this", "run", "(quick", "mode)", "claim"]
    assert lines[2].split()[-1] == "7.123" and lines[3].split()[-1] == "123,456"
    results.compare("05", tmp_path / "missing.json")
    assert "no full-mode run recorded yet" in capsys.readouterr().out


def compared(capsys, *args) -> list:
    results.compare(*args)
    return capsys.readouterr().out.splitlines()


def test_compare_beside_a_full_mode_run(tmp_path, capsys):
    results.record("test NLL (nats/frame): LSTM", 7.0)
    results.record("only in quick", 0.25)
    path = write(tmp_path / "r.json", {"05_rnn_chorales": entry()})
    lines = compared(capsys, "05", path)
    assert lines[0] == ("full-mode run of 05_rnn_chorales: GPU (NVIDIA H200), torch 2.13.0, 2026-12-02 15:00 UTC, commit 1234abc, "
                        "wall time 2.5 min, peak GPU memory 3.25 GiB")
    assert lines[1].split()[-4:] == ["mode)", "claim", "full-mode", "run"]
    rows = {l.rsplit(None, 2)[0].strip(): l.split()[-2:] for l in lines[2:]}
    assert rows == {"test NLL (nats/frame): LSTM": ["7", "6.5"], "only in quick": ["0.25", "-"],
                    "only in full": ["-", "2,000"]}
    assert compared(capsys, "05_rnn_chorales", path) == lines


def test_compare_says_when_the_full_mode_run_recorded_none_of_these_metrics(tmp_path, capsys):
    results.record("only in quick", 0.25)
    lines = compared(capsys, "05", write(tmp_path / "r.json", {"05_rnn_chorales": entry(metrics={})}))
    assert lines[-1].startswith("(that full-mode run recorded none of these metrics")
    assert lines[-2].split()[-2:] == ["0.25", "-"]
    results.record("test NLL (nats/frame): LSTM", 7.0)     # one shared metric: no such line
    assert not compared(capsys, "05", write(tmp_path / "r.json", {"05_rnn_chorales": entry()}))[-1].startswith("(that")


def test_claim_records_and_checks_the_number():
    assert results.claim("test NLL: LSTM", 1.5, below=2.0) is None      # nothing echoed under a cell
    results.claim("valid tunes", np.float64(0.75), above=0.5, below=1.0)
    assert results.recorded() == {"test NLL: LSTM": 1.5, "valid tunes": 0.75}
    with pytest.raises(AssertionError, match=r"claim 'gain' does not hold in this run: -0.1 is not > 0"):
        results.claim("gain", -0.1, above=0)
    with pytest.raises(AssertionError, match=r"is not > 0.5 and < 1"):
        results.claim("rate", 1.0, above=0.5, below=1.0)     # the bounds are strict
    with pytest.raises(ValueError, match="needs a bound"):
        results.claim("no bound", 1.0)
    with pytest.raises(ValueError, match="finite number"):
        results.claim("nan", math.nan, above=0)


def test_compare_prints_each_claim_beside_its_bound(tmp_path, capsys):
    results.claim("test NLL (nats/frame): LSTM", 6.0, below=7.25)
    results.record("scaling exponent", 0.3)
    lines = compared(capsys, "05", write(tmp_path / "r.json", {"05_rnn_chorales": entry()}))
    assert lines[2].split()[-4:] == ["6", "<", "7.25", "6.5"]
    assert lines[3].split()[-2:] == ["0.3", "-"]        # a recorded number with no claim: no bound


def test_compare_says_when_the_full_mode_run_failed(tmp_path, capsys):
    path = write(tmp_path / "r.json", {"07_gan_music": entry(status="failed", error="AssertionError: Irish",
                                                              device="cpu", hardware="x86_64", metrics={})})
    first = compared(capsys, "07", path)[0]
    assert first.startswith("full-mode run of 07_gan_music: CPU (x86_64)") and first.endswith("FAILED: AssertionError: Irish")


def test_compare_says_unknown_for_what_an_entry_does_not_say(tmp_path, capsys):
    results.record("test NLL (nats/frame): LSTM", 7.0)
    bare = {k: v for k, v in entry().items() if k not in ("device", "hardware", "seconds", "metrics")}
    lines = compared(capsys, "05", write(tmp_path / "r.json", {"05_rnn_chorales": bare}))
    assert lines[0] == ("full-mode run of 05_rnn_chorales: unknown device (unknown), torch 2.13.0, 2026-12-02 15:00 UTC, "
                        "commit 1234abc, wall time unknown, peak GPU memory 3.25 GiB")
    assert lines[2].split()[-2:] == ["7", "-"]
    assert results.device_label({"device": "mps"}) == "MPS" and results.device_label({}) == "unknown device"


def test_load_results(tmp_path):
    assert results.load_results(tmp_path / "none.json") == {}
    path = write(tmp_path / "r.json", {"04_rnn_melody": entry()})
    assert results.full_results("04", path)["commit"] == "1234abc"
    assert results.full_results("4", path) is None and results.full_results("05", path) is None
    for bad in ("not json", "[1, 2]", '{"notebooks": [1]}', '{"notebooks": {"05": 3}}'):
        (tmp_path / "bad.json").write_text(bad)
        with pytest.raises(ValueError, match="not a musiclab results file"):
            results.load_results(tmp_path / "bad.json")


def test_the_committed_results_file_is_complete():
    path = results.results_path()
    if not path.exists():
        pytest.skip("no results file committed yet")
    data = json.loads(path.read_text())
    keys = {"status", "error", "device", "hardware", "torch", "peak_gpu_memory_gib", "seconds", "date", "commit",
            "metrics"}
    assert data["notebooks"], "the results file should hold at least one notebook"
    for name, e in data["notebooks"].items():
        assert keys <= set(e), (name, keys - set(e))
        assert e["status"] in ("passed", "failed") and (e["status"] == "passed") == (e["error"] is None), name
        assert e["seconds"] > 0 and all(math.isfinite(v) for v in e["metrics"].values()), name
    for device, rates in data.get("rates", {}).items():
        assert rates["rows"] and all(r["rate"] > 0 for r in rates["rows"]), device
