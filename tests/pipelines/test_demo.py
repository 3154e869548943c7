"""The demo end to end (genet.cli.demo through python -m genet.demo and test/eval_acc_perf.sh): generated data,
ONNX Runtime, each step a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from genet.data.synthetic import write_cifar10
from tests.conftest import REPO

CHANCE = 10.0


def demo_env(tmp_path) -> dict[str, str]:
    """No stub tools and no CANN: the pipeline must pick ONNX Runtime on its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH")}
    env.update(PYTHON=sys.executable, PYTHONUNBUFFERED="1", HOME=str(tmp_path))
    return env


def summary_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


@pytest.mark.slow
def test_whole_pipeline_on_generated_data(tmp_path):
    """The README's main job, small: generate, train, preprocess, export, infer and score at bs 1 and 16."""
    work = tmp_path / "run"
    done = subprocess.run(["bash", str(REPO / "test" / "eval_acc_perf.sh"), "--train-images", "500",
                           "--test-images", "100", "--workdir", str(work)],
                          cwd=tmp_path, env=demo_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    names = [line.split("] ", 1)[1] for line in done.stdout.splitlines() if line.startswith("==> [")]
    assert names == ["generate data", "train", "preprocess", "info file", "export ONNX", "quantize int8",
                     "compare layers int8", "inference bs1", "accuracy bs1", "int8 inference bs1", "int8 accuracy bs1",
                     "inference bs16", "accuracy bs16", "int8 inference bs16", "int8 accuracy bs16",
                     "pure-inference sweep fp32", "pure-inference sweep int8"]
    assert "inference with benchmark.py on ONNX Runtime" in done.stderr
    assert done.stdout.count("NOT CIFAR-10") >= 3       # announced first, in the table's title and under it
    summary = (work / "summary.md").read_text()
    assert summary in done.stdout
    rest, worst = summary.split("## The five worst layers of int8 against fp32")
    assert len(summary_rows(worst)) == 5
    accuracy, sweep = rest.split("## Pure inference")
    rows = summary_rows(accuracy)
    assert [row[0] for row in rows] == ["1", "16", "1", "16"]
    for row, precision in zip(rows, ["fp32", "fp32", "int8", "int8"], strict=True):
        assert row[1] == "100"
        assert row[2].endswith("%") and len(row[2].split(".")[1]) == 3       # two decimals: 98.70%
        assert float(row[2].rstrip("%")) > 4 * CHANCE
        assert float(row[4]) > 0 and float(row[5]) > 0
        assert row[6] in ("-", "- !")                 # one repeat in the tests (GENET_REPEATS=1): no spread
        assert row[7].startswith(f"onnxruntime {precision} on CPU")
    assert "int8: quantize.py's check on 100 test images" in accuracy
    sweep_rows = summary_rows(sweep)
    assert [row[0] for row in sweep_rows] == ["1", "4", "8", "16", "32", "64"]
    for column in (1, 4):                           # fp32 and int8 device fps, the best of each marked once
        assert sum(row[column].endswith(" *") for row in sweep_rows) == 1
        assert all(float(row[column].rstrip(" *")) > 0 for row in sweep_rows)
    assert all(row[-1].endswith("×") for row in sweep_rows)     # int8/fp32; one repeat: never within the noise
    for name in ("genet.pth.tar", "genet_gpu.onnx", "genet_prep_bin.info", "result_bs1.json", "result_bs16.json"):
        assert (work / name).is_file(), name
    assert len(list((work / "prep_dataset").glob("*.bin"))) == 100


@pytest.mark.slow
def test_a_failing_step_stops_the_pipeline_and_is_named(tmp_path):
    write_cifar10(tmp_path / "data", train=0, test=20, seed=3)
    not_a_checkpoint = tmp_path / "genet.pth.tar"
    not_a_checkpoint.write_text("not a checkpoint\n")
    done = subprocess.run([sys.executable, "-m", "genet.demo", "--datasets_path", str(tmp_path / "data"),
                           "--model_path", str(not_a_checkpoint), "--backend", "onnxruntime",
                           "--workdir", str(tmp_path / "run")],
                          cwd=tmp_path, env=dict(demo_env(tmp_path), PYTHONPATH=str(REPO)), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("python -m genet.demo: error: step 'export ONNX' failed (exit 2)")
    assert "==> [3/" in done.stdout and "] export ONNX" in done.stdout and "inference" not in done.stdout
    assert (tmp_path / "run" / "genet_prep_bin.info").is_file()
    assert not (tmp_path / "run" / "summary.md").exists()


def test_a_python_without_the_requirements_gets_one_line(tmp_path):
    """python -S has no site-packages: no numpy, no torch."""
    env = {k: v for k, v in demo_env(tmp_path).items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-S", "-m", "genet.demo", "--dry-run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "python -m genet.demo: error: " in done.stderr
    assert "lacks the module" in done.stderr and "source .venv/bin/activate" in done.stderr


def test_bad_input_is_one_line_from_the_shell_script(tmp_path):
    done = subprocess.run(["bash", str(REPO / "test" / "eval_acc_perf.sh"), "--datasets_path=/nowhere/cifar"],
                          cwd=tmp_path, env=demo_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "eval_acc_perf.sh: error: /nowhere/cifar: no such file or folder (--datasets_path)"]
