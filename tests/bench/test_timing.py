"""Runs sized by time, repeats and their spread, the load warning, and the tie rule of a sweep's best batch."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import genet.bench.sweep as sweep_module
import genet.core.load as load_module
from genet.bench.config import BenchConfig
from genet.bench.sweep import search_best
from genet.bench.sweep_figures import Sweep, SweepPoint, sweep_csv, sweep_lines
from genet.cli.benchmark import main
from genet.core.stats import spread
from tests.runner_helpers import tiny_onnx


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("models") / "genet_gpu.onnx")


def _perf(out, bs=2):
    return json.loads((out / f"perf_vision_batchsize_{bs}_device_0.json").read_text())


def test_pure_inference_runs_for_the_minimum_time_with_round_as_a_lower_bound(tmp_path, model, capsys):
    out = tmp_path / "r"
    assert main([f"-om_path={model}", "-round=2", "-batch_size=2", "--min-seconds", "0.2", "--repeats", "3",
                 "--output-dir", str(out), "--quiet"]) == 0
    perf = _perf(out)
    timing, repeats = perf["timing"], perf["interface_repeats"]
    assert timing["rounds_asked"] == 2 and timing["calls"] >= 10 and perf["images"] == 2 * timing["calls"]
    assert timing["timed_seconds"] > 0.1            # the calibration aims at 0.2 s; a slow call may overshoot
    assert repeats["repeats"] == 3 and repeats["q1"] <= repeats["median"] <= repeats["q3"]
    assert f"{timing['calls']} calls (-round=2)" in capsys.readouterr().out


def test_min_seconds_zero_runs_exactly_round_calls(tmp_path, model, capsys):
    out = tmp_path / "r"
    assert main([f"-om_path={model}", "-round=3", "-batch_size=2", "--min-seconds", "0", "--repeats", "1",
                 "--output-dir", str(out), "--quiet"]) == 0
    assert _perf(out)["timing"]["calls"] == 3 and _perf(out)["interface_repeats"]["repeats"] == 1
    assert "p99 n<100" in capsys.readouterr().out


def test_a_busy_machine_is_said_and_recorded(tmp_path, model, monkeypatch, capsys):
    monkeypatch.setattr(load_module.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    monkeypatch.setattr(load_module.os, "cpu_count", lambda: 2)
    out = tmp_path / "r"
    assert main([f"-om_path={model}", "-round=3", "-batch_size=2", "--output-dir", str(out), "--quiet"]) == 0
    stability = _perf(out)["stability"]
    assert stability["high_load"] and stability["load_before"] == 9.0 and stability["cores"] == 2
    lines = [line for line in capsys.readouterr().out.splitlines() if "WARNING" in line]
    assert len(lines) == 1 and "load average 9.00/9.00" in lines[0]


def test_a_sweep_interleaves_its_repeats_and_writes_their_spread(tmp_path, model, monkeypatch):
    order = []
    run_one = sweep_module._run_one

    def recording(models, config, batch_size, log):
        order.append(batch_size)
        return run_one(models, config, batch_size, log)

    monkeypatch.setattr(sweep_module, "_run_one", recording)
    out = tmp_path / "r"
    assert main([f"-om_path={model}", "-round=6", "-batch_size=1,4", "--repeats", "3", "--min-seconds", "0",
                 "--output-dir", str(out), "--quiet"]) == 0
    assert order == [1, 4, 1, 4, 1, 4]
    sweep = json.loads((out / "sweep_device_0.json").read_text())
    assert sweep["repeats"] == 3 and "stability" in sweep and "tied_batches" in sweep
    for point in sweep["points"]:
        assert point["interface_spread"]["repeats"] == 3 and point["calls"] == 6      # -round=6 over 3 repeats
        assert point["interface_throughput"] == point["interface_spread"]["median"]
        assert point["device_latency_ms"]["count"] == 6


def _result(fps: float, bs: int) -> SimpleNamespace:
    return SimpleNamespace(report=SimpleNamespace(interface_throughput=fps, e2e_throughput=fps / 2),
                           calls=[{"compute": 0.001}], details={"timing": {"calls": 1}, "non_finite_outputs": 0},
                           perf_json=f"perf_{bs}.json")


def _sweep(figures: dict[int, list[float]]) -> Sweep:
    points = []
    for bs, values in figures.items():
        point = SweepPoint(bs)
        for value in values:
            point.add(_result(value, bs))
        points.append(point)
    config = BenchConfig(model_path=Path("model.onnx"), batch_size=1, rounds=1)
    details = {"backend": "onnxruntime", "device": "CPU", "precision": "fp32", "mode": "pure inference",
               "versions": {}}
    return Sweep(config, points, details, 0.0, repeats=len(next(iter(figures.values()))))


def test_a_best_batch_is_marked_only_when_it_beats_every_other_size_beyond_the_spreads():
    clear = _sweep({1: [100, 101, 102, 103, 104], 4: [200, 202, 204, 206, 208], 8: [150, 151, 152, 153, 154]})
    assert clear.clear_best.batch_size == 4 and clear.to_json()["best_batch"] == 4 and clear.tied_sizes == []
    tied = _sweep({1: [100, 101, 102, 103, 104], 4: [190, 200, 204, 210, 220], 8: [180, 195, 199, 205, 215]})
    data = tied.to_json()
    assert data["best_batch"] is None and data["tied_batches"] == [4, 8] and data["highest_median_batch"] == 4
    assert "no best batch: batch 4, 8 tie" in "\n".join(sweep_lines(tied))
    assert [row.rsplit(",", 1)[1] for row in sweep_csv(tied).splitlines()[1:]] == ["", "tie", "tie"]


def test_best_doubling_stops_when_the_gain_is_within_the_spread():
    # batch 4's median gains 12 % on batch 2's, but its interquartile range (145–185) reaches below batch 2's top
    figures = {1: spread([100, 101, 102]), 2: spread([150, 151, 152]), 4: spread([120, 170, 200])}
    search = search_best(lambda bs: figures.get(bs, spread([1.0])), limit=64)
    assert search.reason.startswith("plateau: batch 4") and "within the spread" in search.reason
    assert search.best == 4 and search.tried[4] == 170


def test_a_sweep_on_a_busy_machine_warns_once_and_records_it(tmp_path, model, monkeypatch, capsys):
    monkeypatch.setattr(load_module.os, "getloadavg", lambda: (5.0, 5.0, 5.0))
    monkeypatch.setattr(load_module.os, "cpu_count", lambda: 2)
    out = tmp_path / "r"
    assert main([f"-om_path={model}", "-round=2", "-batch_size=1,2", "--repeats", "2", "--min-seconds", "0",
                 "--output-dir", str(out)]) == 0
    stability = json.loads((out / "sweep_device_0.json").read_text())["stability"]
    assert stability["high_load"] and "load average 5.00/5.00 (before/after) on 2 cores" in stability["warning"]
    captured = capsys.readouterr()
    assert captured.out.count("WARNING:") == 1 and captured.err.count("warning:") == 1
    assert _perf(out, 1)["stability"]["high_load"]      # each run's perf JSON records it too, without a warning
