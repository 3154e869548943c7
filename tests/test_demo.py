"""The one-command pipeline (genet.demo, test/eval_acc_perf.sh) on generated data, through ONNX Runtime."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from genet.demo import batch_sizes, format_table, main
from genet.errors import GenetError
from genet.synthetic import write_cifar10

from conftest import REPO

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
    assert names == ["generate data", "train", "preprocess", "info file", "export ONNX", "inference bs1",
                     "accuracy bs1", "inference bs16", "accuracy bs16"]
    assert "inference with benchmark.py on ONNX Runtime" in done.stderr
    assert done.stdout.count("NOT CIFAR-10") >= 3       # announced first, in the table's title and under it
    summary = (work / "summary.md").read_text()
    assert summary in done.stdout
    rows = summary_rows(summary)
    assert [row[0] for row in rows] == ["1", "16"]
    for row in rows:
        assert row[1] == "100"
        assert float(row[2].rstrip("%")) > 4 * CHANCE
        assert float(row[4]) > 0 and float(row[5]) > 0
        assert row[6].startswith("onnxruntime fp32 on CPU")
    for name in ("genet.pth.tar", "genet_gpu.onnx", "genet_prep_bin.info", "result_bs1.json", "result_bs16.json"):
        assert (work / name).is_file(), name
    assert len(list((work / "prep_dataset").glob("*.bin"))) == 100


def test_dry_run_lists_the_steps_and_writes_nothing(tmp_path, capsys):
    work = tmp_path / "run"
    assert main(["--dry-run", "--backend", "onnxruntime", "--workdir", str(work), "--bs", "2,8"]) == 0
    out = capsys.readouterr().out
    assert "NOT CIFAR-10" in out
    commands = [line for line in out.splitlines() if line and not line.startswith(("#", "cd ", "GENERATED"))]
    assert [c.split()[1].rsplit("/", 1)[-1] for c in commands] == [
        "-m", "train.py", "preprocess.py", "get_info.py", "pthtar2onnx.py", "infer_bin.sh", "cifar10_acc_eval.py",
        "infer_bin.sh", "cifar10_acc_eval.py"]
    assert "result_bs8.json" in commands[-1]
    assert not work.exists()


def test_given_data_and_checkpoint_skip_generation_and_training(tmp_path, capsys):
    checkpoint = tmp_path / "genet.pth.tar"
    checkpoint.write_bytes(b"")
    assert main(["--dry-run", "--backend", "torch", "--datasets_path", str(tmp_path),
                 "--model_path", str(checkpoint), "--workdir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "generate" not in out and "train.py" not in out and "NOT CIFAR-10" not in out
    assert f"--backend torch --device_id 0 --info ./genet_prep_bin.info --onnx genet_gpu.onnx --model_path {checkpoint}" in out


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
    assert "==> [3/7] export ONNX" in done.stdout and "inference" not in done.stdout
    assert (tmp_path / "run" / "genet_prep_bin.info").is_file()
    assert not (tmp_path / "run" / "summary.md").exists()


@pytest.mark.parametrize("argv, message", [
    (["--datasets_path", "{tmp}/nowhere"], "no such file or folder"),
    (["--model_path", "{tmp}/missing.pth.tar"], "no such file"),
    (["--bs", "1 0"], "'0' is not a positive integer"),
    (["--bs", " "], "no batch size"),
    (["--train-images", "0"], "must be ≥ 1"),
    (["--device_id", "-1"], "--device_id"),
    (["--backend", "npu"], "no Ascend inference tool"),
])
def test_bad_input(argv, message, tmp_path):
    argv = [a.format(tmp=tmp_path) for a in argv]
    with pytest.raises(GenetError, match=message):
        main(["--dry-run", "--backend", "onnxruntime", "--workdir", str(tmp_path / "run")] + argv)
    assert not (tmp_path / "run").exists()


def test_bad_input_is_one_line_from_the_shell_script(tmp_path):
    done = subprocess.run(["bash", str(REPO / "test" / "eval_acc_perf.sh"), "--datasets_path=/nowhere/cifar"],
                          cwd=tmp_path, env=demo_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "eval_acc_perf.sh: error: /nowhere/cifar: no such file or folder (--datasets_path)"]


def test_batch_sizes_and_table():
    assert batch_sizes("1 16,4 16") == [1, 16, 4]
    assert format_table(["batch", "fps"], [["1", "12.5"], ["16", "1234.0"]]) == [
        "| batch |    fps |", "|------:|-------:|", "|     1 |   12.5 |", "|    16 | 1234.0 |"]
