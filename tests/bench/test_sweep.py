"""Batch sweeps (genet.bench.sweep): one model load, a perf report per batch size, the sweep files, --best, timings."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import genet.bench.sweep as sweep_module
from genet.bench.sweep import is_out_of_memory, search_best
from genet.cli.benchmark import main
from genet.core.errors import run_cli
from genet.formats.sweep_file import SweepFile, sweep_stem
from genet.reports.perf_table import load_devices
from genet.reports.read import read_report
from tests.conftest import REPO
from tests.runner_helpers import direct_onnx, read_dumps, tiny_onnx, write_bins


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"dynamic": tiny_onnx(folder / "genet_gpu.onnx"), "static4": tiny_onnx(folder / "m_bs4.onnx", 4),
            "static8": tiny_onnx(folder / "m_bs8.onnx", 8)}


def _count_loads(monkeypatch) -> list[str]:
    loads: list[str] = []
    real = sweep_module.open_runner

    def counting(path, *args, **kwargs):
        loads.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(sweep_module, "open_runner", counting)
    return loads


def test_pure_inference_sweep_loads_once_and_writes_every_report(tmp_path, models, monkeypatch, capsys):
    loads = _count_loads(monkeypatch)
    out = tmp_path / "result"
    assert main([f"-om_path={models['dynamic']}", "-round=3", "-batch_size=1,4,8", "--output-dir", str(out),
                 "--quiet"]) == 0
    assert loads == [str(models["dynamic"])]
    names = set(os.listdir(out))
    for bs in (1, 4, 8):
        assert {f"perf_vision_batchsize_{bs}_device_0.txt", f"perf_vision_batchsize_{bs}_device_0.json"} <= names
    assert {"sweep_device_0.json", "sweep_device_0.csv", "sweep_device_0.png"} <= names
    sweep = json.loads((out / "sweep_device_0.json").read_text())
    fps = {p["batch_size"]: p["interface_throughput"] for p in sweep["points"]}
    assert sorted(fps) == [1, 4, 8] and sweep["best_batch"] == max(fps, key=fps.get)
    for p in sweep["points"]:
        perf = json.loads((out / f"perf_vision_batchsize_{p['batch_size']}_device_0.json").read_text())
        assert perf["interface_throughput"] == p["interface_throughput"] and perf["images"] == 3 * p["batch_size"]
    rows = (out / "sweep_device_0.csv").read_text().splitlines()
    assert rows[0].startswith("batch_size,") and [r.endswith(",best") for r in rows[1:]].count(True) == 1
    assert "<- best" in capsys.readouterr().out


def test_dataset_sweep_keeps_each_batch_size_dumps_apart(tmp_path, models):
    info, data = write_bins(tmp_path / "data", 10)
    out = tmp_path / "result"
    assert main([f"-om_path={models['dynamic']}", f"-input_text_path={info}", "-batch_size=4,8",
                 "--output-dir", str(out), "--quiet"]) == 0
    expected = direct_onnx(models["dynamic"], data, 4)
    for bs in (4, 8):
        folder = out / f"dumpOutput_device0_bs{bs}"
        assert len(os.listdir(folder)) == 10
        np.testing.assert_allclose(read_dumps(folder, 10), expected, atol=1e-5)
    assert not (out / "dumpOutput_device0").exists()


def test_one_static_model_per_batch_size_by_pattern(tmp_path, models):
    pattern = models["static4"].parent / "m_bs{bs}.onnx"
    out = tmp_path / "result"
    assert main([f"-om_path={pattern}", "-round=2", "-batch_size=4,8", "--output-dir", str(out), "--quiet"]) == 0
    sweep = json.loads((out / "sweep_device_0.json").read_text())
    assert [p["batch_size"] for p in sweep["points"]] == [4, 8]


BAD_SWEEPS = [
    ("zero", ["-batch_size=1,0"], "batch size 0 must be ≥ 1"),
    ("duplicate", ["-batch_size=4,8,4"], "batch size 4 is given twice"),
    ("not_integer", ["-batch_size=4,x"], "'x' is not an integer"),
    ("empty_item", ["-batch_size=4,,8"], "'' is not an integer"),
    ("static_list", ["-batch_size=4,8", "static4"], "fixed batch of 4"),
    ("static_best", ["-batch_size=4", "--best", "static4"], "--best needs a dynamic-batch model"),
    ("pattern_missing", ["-batch_size=4,16", "pattern"], "m_bs16.onnx: model file not found"),
    ("list_and_devices", ["-batch_size=4,8", "-device_id=0,1"], "not both"),
]


@pytest.mark.parametrize("case, flags, message", BAD_SWEEPS, ids=[c for c, _, _ in BAD_SWEEPS])
def test_bad_sweep_is_one_line_exit_2_and_writes_nothing(tmp_path, models, capsys, case, flags, message):
    model = models["dynamic"]
    if flags[-1] == "static4":
        model, flags = models["static4"], flags[:-1]
    elif flags[-1] == "pattern":
        model, flags = models["static4"].parent / "m_bs{bs}.onnx", flags[:-1]
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={model}", "-round=2", *flags, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def _curve(table: dict[int, float], oom_from: int | None = None):
    def measure(batch: int) -> float:
        if oom_from is not None and batch >= oom_from:
            raise MemoryError("out of memory")
        return table.get(batch, table[max(b for b in table if b <= batch)])
    return measure


def test_search_stops_on_a_plateau_then_looks_around_the_best():
    search = search_best(_curve({1: 100, 2: 190, 4: 350, 8: 600, 16: 620, 24: 640, 6: 500, 12: 610}))
    assert search.reason.startswith("plateau: batch 16")
    assert list(search.tried)[:5] == [1, 2, 4, 8, 16]
    assert 24 in search.tried and 6 not in search.tried     # the local step: 16 ± half a step
    assert search.best == 24


def test_search_stops_on_memory_and_keeps_the_last_batch_that_fitted():
    search = search_best(_curve({1: 100, 2: 200, 4: 400, 8: 800}, oom_from=16))
    assert search.reason == "memory: batch 16 does not fit" and search.best == 8
    assert list(search.tried) == [1, 2, 4, 8, 12, 6]


def test_search_stops_at_the_limit():
    search = search_best(lambda batch: float(batch), limit=32)
    assert search.reason.startswith("limit") and search.best == max(search.tried) <= 32


def test_search_treats_nan_as_no_gain():
    search = search_best(_curve({1: 100, 2: float("nan"), 4: 400}))
    assert search.reason.startswith("plateau: batch 2")


@pytest.mark.parametrize("text, oom", [("CUDA out of memory. Tried to allocate 2 GiB", True),
                                       ("Failed to allocate memory for requested buffer", True),
                                       ("shape mismatch", False)])
def test_out_of_memory_is_recognised_from_the_backend_message(text, oom):
    assert is_out_of_memory(RuntimeError(text)) is oom


def test_best_through_the_command_line_says_why_it_stopped(tmp_path, models, monkeypatch):
    monkeypatch.setattr(sweep_module, "BEST_LIMIT", 8)
    out = tmp_path / "result"
    assert main([f"-om_path={models['dynamic']}", "-round=2", "--best", "--output-dir", str(out), "--quiet"]) == 0
    search = json.loads((out / "sweep_device_0.json").read_text())["search"]
    assert search["stop_reason"].split(":")[0] in ("plateau", "limit") and "1" in search["tried"]
    assert max(int(b) for b in search["tried"]) <= 8


def test_sweep_file_is_one_column_of_perf_compare(tmp_path, models):
    out = tmp_path / "result"
    assert main([f"-om_path={models['dynamic']}", "-round=2", "-batch_size=1,4", "--output-dir", str(out),
                 "--quiet"]) == 0
    (device,) = load_devices([f"cpu:{out / 'sweep_device_0.json'}"])
    sweep = json.loads((out / "sweep_device_0.json").read_text())
    assert device.fps == {p["batch_size"]: p["interface_throughput"] for p in sweep["points"]}
    found = read_report(out / f"{sweep_stem(0)}.json", accept=(SweepFile,))       # what the demo's summary reads
    assert found.best_batch == sweep["best_batch"] and not found.per_chip
    assert {bs: found.p99_ms(bs) for bs in (1, 4)} == {p["batch_size"]: p["device_latency_ms"]["p99"]
                                                        for p in sweep["points"]}


def test_perf_json_timing_breakdown_and_export_times(tmp_path, models):
    out, times = tmp_path / "result", tmp_path / "times.json"
    assert main([f"-om_path={models['dynamic']}", "-round=5", "-batch_size=2", "--output-dir", str(out),
                 "--export-times", str(times), "--quiet"]) == 0
    perf = json.loads((out / "perf_vision_batchsize_2_device_0.json").read_text())
    device = perf["batch_latency_ms"]["device"]
    assert device["count"] == 5 and device["median"] == device["p50"]
    assert device["min"] <= device["median"] <= device["p90"] <= device["p95"] <= device["p99"] <= device["max"]
    assert device["std"] >= 0
    seconds = perf["seconds"]
    assert seconds["model_load"] > 0 and seconds["warmup"] >= seconds["first_call"] > 0
    calls = json.loads(times.read_text())["calls"]
    assert len(calls) == 5 and calls[0]["start"] == 0.0
    assert all(c["end"] >= c["start"] and c["compute"] > 0 and c["h2d"] is None for c in calls)
    assert sorted(c["compute"] * 1000 for c in calls)[0] == pytest.approx(device["min"])


def test_export_times_to_a_folder_is_refused_before_the_run(tmp_path, models, capsys):
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={models['dynamic']}", "-round=2", "--output-dir", str(out),
                          "--export-times", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err and not out.exists()


@pytest.mark.slow
def test_scripts_run_a_sweep_and_an_ais_bench_command_line(tmp_path, models):
    from tests.conftest import run_script

    done = run_script("benchmark.py", f"-om_path={models['dynamic']}", "-round=2", "-batch_size=1,2", "--quiet",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "result" / "sweep_device_0.json").is_file()
    compare = run_script("test/perf_compare.py", "cpu:result/sweep_device_0.json", "--no-plot", cwd=tmp_path)
    assert compare.returncode == 0, compare.stderr
    out = tmp_path / "out"
    out.mkdir()
    ais = run_script("benchmark.py", "--model", str(models["dynamic"]), "--loop", "3", "--batchsize", "2",
                     "--output", str(out), "--output_dirname", "p", cwd=tmp_path)
    assert ais.returncode == 0, ais.stderr
    parsed = run_script("test/parse.py", str(out / "p_summary.json"), cwd=tmp_path)
    assert parsed.returncode == 0 and " bs2 fps:" in parsed.stdout
    bad = run_script("benchmark.py", f"-om_path={models['static4']}", "-round=2", "-batch_size=4,8", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def ais_bench_modules() -> list[str]:
    return [name for name in sys.modules if name == "ais_bench" or name.startswith("ais_bench.")]


@pytest.fixture
def stub_ais_bench(monkeypatch):
    """The stub ais_bench package importable in this process; gone from sys.modules afterwards, so that a later
    test that hides ais_bench (sys.modules["ais_bench"] = None) does not find its submodules still loaded."""
    monkeypatch.syspath_prepend(str(REPO / "tests" / "stubs" / "python"))
    for name in ais_bench_modules():
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in ais_bench_modules():
        del sys.modules[name]


def test_static_om_per_batch_size_with_the_stub_ascend_runtime(tmp_path, monkeypatch, stub_ais_bench):
    """The guide's section-7 row of an NPU: one static .om per batch size (stub ais_bench runs them)."""
    import shutil

    monkeypatch.setenv("GENET_STUB_LOG", str(tmp_path / "stub.log"))
    for bs in (1, 4):
        shutil.copy(tiny_onnx(tmp_path / f"static{bs}.onnx", bs), tmp_path / f"genet_bs{bs}_tuned.om")
    out = tmp_path / "result"
    assert main([f"-om_path={tmp_path / 'genet_bs{bs}_tuned.om'}", "-round=2", "-batch_size=1,4",
                 "--output-dir", str(out), "--quiet"]) == 0
    sweep = json.loads((out / "sweep_device_0.json").read_text())
    assert sweep["backend"] == "ascend" and [p["batch_size"] for p in sweep["points"]] == [1, 4]
    (card,) = load_devices([f"310:{out / 'sweep_device_0.json'}"])
    assert card.fps == {p["batch_size"]: 4 * p["interface_throughput"] for p in sweep["points"]}   # 4 chips
