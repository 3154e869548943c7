"""The demo's reruns: no result of an earlier run stands beside this run's; --sweep checked up front."""

from __future__ import annotations

import pytest

from genet.cli import demo
from genet.cli.demo import main
from genet.core.errors import run_cli


@pytest.fixture
def steps(monkeypatch):
    """Record the steps instead of running them; each step writes the files it would write, by name."""
    names: list[str] = []
    monkeypatch.setattr(demo, "run_step", lambda step, number, total, workdir: names.append(step.name))
    monkeypatch.setattr(demo.Pipeline, "summary", lambda self: "table\n")
    return names


@pytest.mark.parametrize("sweep", ["4", "4,4", "0"])
def test_a_sweep_of_fewer_than_two_sizes_is_refused_before_any_step(sweep, tmp_path, steps, capsys):
    assert run_cli(main, ["--backend", "onnxruntime", "--workdir", str(tmp_path / "run"), "--sweep", sweep]) == 2
    err = capsys.readouterr().err
    assert "--sweep" in err and "--bs" not in err.split("error:")[1].split("(")[0]
    assert steps == [] and not (tmp_path / "run").exists()


def test_a_rerun_without_int8_leaves_no_int8_results_of_the_last_run(tmp_path, steps):
    work = tmp_path / "run"
    assert main(["--backend", "onnxruntime", "--workdir", str(work), "--bs", "4"]) == 0
    for name in ("genet_int8.onnx", "genet_int8.json", "result_bs4.json", "result_int8_bs4.json"):
        (work / name).write_text("from the first run\n")
    for folder in ("result_int8", "result_sweep_int8"):
        (work / folder).mkdir()
        (work / folder / "x_1.txt").write_text("1\n")
    assert main(["--backend", "onnxruntime", "--workdir", str(work), "--bs", "4", "--no-int8"]) == 0
    left = sorted(p.name for p in work.iterdir())
    assert not [name for name in left if "int8" in name], left
    assert "result_bs4.json" not in left          # this run's steps did not run here: nothing stale is left


def test_a_rerun_keeps_its_inputs_even_when_the_demo_wrote_them(tmp_path, steps):
    work = tmp_path / "run"
    assert main(["--backend", "onnxruntime", "--workdir", str(work), "--bs", "4"]) == 0
    (work / "genet.pth.tar").write_bytes(b"PK\x03\x04 trained by the first run")
    assert main(["--backend", "onnxruntime", "--workdir", str(work), "--bs", "4", "--model_path",
                 str(work / "genet.pth.tar")]) == 0
    assert (work / "genet.pth.tar").read_bytes() == b"PK\x03\x04 trained by the first run"


def test_a_sweep_past_the_memory_is_refused_before_any_step(tmp_path, steps, monkeypatch, capsys):
    import genet.core.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 2**30)       # 1 GiB free: batch 100000 needs 14 GiB
    assert run_cli(main, ["--backend", "onnxruntime", "--workdir", str(tmp_path / "run"), "--sweep", "1,100000"]) == 2
    assert "free on this machine" in capsys.readouterr().err
    assert steps == [] and not (tmp_path / "run").exists()
