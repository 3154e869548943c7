"""Fault injection for benchmark.py: signals, a full disk and concurrent runs at seeded random points.

The invariant after every fault: the output folder holds either the previous run's outputs as they
were, or the new run's outputs complete (every dump and both perf files, all from that run), and no
temporary file. The two runs use different models, so each dump tells which run wrote it.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from genet.cli.benchmark import main
from genet.core.errors import Terminated, run_cli
from genet.runners.onnxrt import OnnxRuntimeRunner
from tests.conftest import REPO
from tests.runner_helpers import direct_onnx, read_dumps, tiny_onnx, write_bins

IMAGES = 40
PERF = ("perf_vision_batchsize_8_device_0.json", "perf_vision_batchsize_8_device_0.txt")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    info, data = write_bins(folder, IMAGES)
    models = {name: tiny_onnx(folder / f"{name}.onnx", seed=seed) for name, seed in (("old", 0), ("new", 1))}
    expected = {name: direct_onnx(path, data, 8) for name, path in models.items()}
    return info, models, expected


def args(model, info, out) -> list[str]:
    return [f"-om_path={model}", "-batch_size=8", f"-input_text_path={info}", "--quiet", "--output-dir", str(out)]


def outputs_of(out, models, expected) -> str:
    """Which run's complete outputs ``out`` holds ('old' or 'new'); fails on anything else."""
    names = sorted(os.listdir(out))
    assert names == ["dumpOutput_device0", *PERF], f"leftovers or missing files: {names}"
    dump_folder = out / "dumpOutput_device0"
    assert len(os.listdir(dump_folder)) == IMAGES
    dumps = read_dumps(dump_folder, IMAGES)
    writers = [name for name in models if np.allclose(dumps, expected[name], atol=1e-5)]
    assert len(writers) == 1, "dumps from neither run alone"
    details = json.loads((out / PERF[0]).read_text())
    assert details["model"] == str(models[writers[0]]), "the report is not of the run that wrote the dumps"
    assert (out / PERF[1]).read_text().startswith("[e2e] throughputRate: ")
    return writers[0]


class Fault(Exception):
    """Stands for the failure injected (disk full)."""


def inject(monkeypatch, target: str, after: int, kind: str) -> None:
    """Raise ``kind`` (Terminated or a full disk) at call ``after`` of ``target``, before or once it ran."""
    owner, name = {"runner": (OnnxRuntimeRunner, "run_timed"), "dump": ("genet.formats.dumps", "write_file"),
                   "rename": (os, "rename"), "replace": (os, "replace")}[target]
    if isinstance(owner, str):
        owner = importlib.import_module(owner)
    real = getattr(owner, name)
    calls = [0]

    def failing(*args, **kwargs):
        calls[0] += 1
        if calls[0] == after and kind != "signal after":
            raise Terminated(signal.SIGTERM) if kind == "signal" else OSError(28, "No space left on device")
        result = real(*args, **kwargs)
        if calls[0] == after:
            raise Terminated(signal.SIGTERM)
        return result

    monkeypatch.setattr(owner, name, failing)


@pytest.mark.parametrize("seed", range(24))
def test_a_fault_at_a_random_point_keeps_old_or_complete_new_outputs(tmp_path, setup, monkeypatch, seed):
    info, models, expected = setup
    out = tmp_path / "result"
    assert main(args(models["old"], info, out)) == 0
    pick = random.Random(seed)
    target = pick.choice(["runner", "dump", "rename", "replace"])
    after = {"runner": pick.randint(1, 2 + IMAGES // 8), "dump": pick.randint(1, IMAGES),
             "rename": pick.randint(1, 2), "replace": pick.randint(1, 2)}[target]
    kind = pick.choice(["signal", "signal after", "disk full"] if target in ("dump", "replace") else
                       ["signal", "signal after"])
    with monkeypatch.context() as patch:
        inject(patch, target, after, kind)
        status = run_cli(main, args(models["new"], info, out))
    assert status in (0, 2, 128 + signal.SIGTERM), status
    writer = outputs_of(out, models, expected)
    assert writer == "new" or status != 0, f"{target} fault at call {after} ({kind}): exit 0 with the old outputs"
    assert main(args(models["new"], info, out)) == 0 and outputs_of(out, models, expected) == "new"


def test_concurrent_runs_into_one_output_folder_leave_one_complete_result(tmp_path, setup):
    info, models, expected = setup
    out = tmp_path / "result"
    for _ in range(3):
        statuses = {}

        def run(name, statuses=statuses):
            statuses[name] = run_cli(main, args(models[name], info, out))

        threads = [threading.Thread(target=run, args=(name,)) for name in models]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == {"old": 0, "new": 0}
        assert outputs_of(out, models, expected) in models


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_a_real_sigterm_during_benchmark_py(tmp_path, setup, seed):
    info, models, expected = setup
    out = tmp_path / "result"
    assert main(args(models["old"], info, out)) == 0
    process = subprocess.Popen([sys.executable, str(REPO / "benchmark.py"), *args(models["new"], info, out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(random.Random(seed).uniform(0.5, 3.0))       # when the signal lands; the verdict does not depend on it
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode in (0, 128 + signal.SIGTERM, -signal.SIGTERM), err
    assert "Traceback" not in err
    writer = outputs_of(out, models, expected)
    assert writer == "new" or process.returncode != 0
