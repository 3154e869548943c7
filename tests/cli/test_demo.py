"""The demo's step plan, work folder, child processes and command line, in process (genet.cli.demo).

End to end: tests/pipelines/test_demo.py.
"""

from __future__ import annotations

import os

import pytest

from genet.cli import demo
from genet.cli.demo import batch_sizes, child_env, main
from genet.core.errors import GenetError, run_cli
from genet.data.provenance import GENERATED_NOTE, mark_generated
from genet.data.synthetic import write_cifar10
from genet.reports import summary
from tests.conftest import REPO


@pytest.fixture
def steps_run(monkeypatch):
    """Record the steps instead of running them; the summary is not read."""
    names: list[str] = []
    monkeypatch.setattr(demo, "run_step", lambda step, number, total, workdir: names.append(step.name))
    monkeypatch.setattr(demo.Pipeline, "summary", lambda self: "table\n")
    return names


def test_dry_run_lists_the_steps_and_writes_nothing(tmp_path, capsys):
    work = tmp_path / "run"
    assert main(["--dry-run", "--backend", "onnxruntime", "--workdir", str(work), "--bs", "2,8"]) == 0
    out = capsys.readouterr().out
    assert "NOT CIFAR-10" in out
    commands = [line for line in out.splitlines() if line and not line.startswith(("#", "cd ", "GENERATED"))]
    int8 = ["benchmark.py", "cifar10_acc_eval.py"]
    assert [c.split()[1].rsplit("/", 1)[-1] for c in commands] == [
        "-m", "train.py", "preprocess.py", "get_info.py", "pthtar2onnx.py", "quantize.py", "compare_layers.py",
        "infer_bin.sh", "cifar10_acc_eval.py", *int8, "infer_bin.sh", "cifar10_acc_eval.py", *int8,
        "benchmark.py", "benchmark.py"]
    assert commands[0].split()[2] == "genet.cli.synthetic"
    assert "result_int8_bs8.json" in commands[-3]
    assert "-batch_size=1,4,8,16,32,64" in commands[-1] and "-om_path=genet_int8.onnx" in commands[-1]
    assert not work.exists()


def test_given_data_and_checkpoint_skip_generation_and_training(tmp_path, capsys):
    checkpoint = tmp_path / "genet.pth.tar"
    checkpoint.write_bytes(b"")
    assert main(["--dry-run", "--backend", "torch", "--datasets_path", str(tmp_path),
                 "--model_path", str(checkpoint), "--workdir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "generate" not in out and "train.py" not in out and "NOT CIFAR-10" not in out
    assert ("--backend torch --device_id 0 --info ./genet_prep_bin.info --onnx genet_gpu.onnx "
            f"--model_path {checkpoint}") in out


def test_generated_data_given_by_path_is_labelled(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    write_cifar10(data, train=0, test=10, seed=1)
    mark_generated(data / "cifar-10-batches-py")
    checkpoint = tmp_path / "genet.pth.tar"
    checkpoint.write_bytes(b"")
    args = ["--backend", "onnxruntime", "--datasets_path", str(data), "--model_path", str(checkpoint),
            "--workdir", str(tmp_path / "run")]
    assert main(["--dry-run", *args]) == 0
    assert GENERATED_NOTE in capsys.readouterr().out
    monkeypatch.setattr(summary, "summary_row", lambda run, tool: [
        str(run.batch_size), "10", "98.70%", "100.00%", "1.0", "2.0", "-", tool])
    pipeline = demo.Pipeline(demo.build_parser().parse_args(args + ["--no-int8", "--sweep", ""]), REPO)
    # the folder and what it holds are two labels, kept apart
    assert pipeline.source_line().startswith(f"data set {pipeline.dataset} (generated data, NOT CIFAR-10); ")
    assert GENERATED_NOTE in pipeline.summary()


# --- the work folder: never a user's file --------------------------------------------------------

@pytest.mark.parametrize("name", ["genet_gpu.onnx", "genet.pth.tar", "summary.md", "result", "prep_dataset",
                                  "dataset", "result_bs16.json"])
def test_a_users_file_in_the_work_folder_is_refused(name, tmp_path, steps_run):
    work = tmp_path / "run"
    (work / "result" if name == "result" else work).mkdir(parents=True)
    users = work / name if name != "result" else work / "result" / "mine.txt"
    users.write_text("the user's\n")
    with pytest.raises(GenetError, match="which the demo did not write"):
        main(["--backend", "onnxruntime", "--workdir", str(work)])
    assert steps_run == []
    assert users.read_text() == "the user's\n"
    assert [p.name for p in work.iterdir()] == [name]


@pytest.mark.parametrize("workdir", [".", "..", "{tmp}/run/"])
def test_the_demo_runs_again_where_it_ran_and_beside_other_files(workdir, tmp_path, steps_run, monkeypatch):
    (tmp_path / "run" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "run" / "sub" if workdir == ".." else tmp_path / "run")
    (tmp_path / "run" / "notes.txt").write_text("kept\n")
    argv = ["--backend", "onnxruntime", "--workdir", workdir.format(tmp=tmp_path)]
    assert main(argv) == 0
    (tmp_path / "run" / "genet_gpu.onnx").write_text("written by the demo's first run\n")
    assert main(argv) == 0
    assert len(steps_run) == 2 * 17
    assert (tmp_path / "run" / "notes.txt").read_text() == "kept\n"


def test_a_work_folder_that_is_a_file_is_refused(tmp_path, steps_run):
    (tmp_path / "run").write_text("")
    with pytest.raises(GenetError, match="not a folder"):
        main(["--backend", "onnxruntime", "--workdir", str(tmp_path / "run")])


# --- child processes -----------------------------------------------------------------------------

def test_children_find_this_checkout_without_an_install(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    assert child_env()["PYTHONPATH"].split(os.pathsep) == [str(REPO), "/elsewhere"]
    monkeypatch.delenv("PYTHONPATH")
    assert child_env()["PYTHONPATH"] == str(REPO)


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--datasets_path", "{tmp}/nowhere"], "no such file or folder"),
    (["--model_path", "{tmp}/missing.pth.tar"], "no such file"),
    (["--bs", "1 0"], "'0' is not a positive integer"),
    (["--bs", " "], "no batch size"),
    (["--train-images", "0"], "must be at least 1"),
    (["--test-images", "x"], "'x' is not an integer"),
    (["--device_id", "-1"], "--device_id"),
    (["--backend", "gpu"], "invalid choice"),
])
def test_bad_input(argv, message, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert run_cli(main, ["--dry-run", "--backend", "onnxruntime", "--workdir", str(tmp_path / "run")] + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "run").exists()


def test_no_npu_tool_for_backend_npu(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("PYTHONPATH", "")                 # the children get this checkout alone
    with pytest.raises(GenetError, match="no Ascend inference tool"):
        main(["--dry-run", "--backend", "npu", "--workdir", str(tmp_path / "run")])


def test_batch_sizes():
    assert batch_sizes("1 16,4 16") == [1, 16, 4]
