"""Sweeps and several devices: every output is checked before the first batch; --best keeps its limit."""

from __future__ import annotations

import pytest

from genet.cli.benchmark import main
from genet.core.errors import run_cli
from tests.runner_helpers import tiny_onnx, write_bins


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("models") / "genet_gpu.onnx")


@pytest.fixture
def data(tmp_path):
    info, _ = write_bins(tmp_path / "data", 6)
    out = tmp_path / "result"
    out.mkdir()
    return info, out


def snapshot(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("blocker", ["user_dump", "report_folder"])
def test_a_refused_output_of_a_later_batch_size_writes_nothing(model, data, blocker, capsys):
    info, out = data
    if blocker == "user_dump":
        (out / "dumpOutput_device0_bs4").mkdir()
        (out / "dumpOutput_device0_bs4" / "notes.txt").write_text("mine\n")
    else:
        (out / "perf_vision_batchsize_4_device_0.txt").mkdir()
    before = snapshot(out)
    assert run_cli(main, [f"-om_path={model}", f"-input_text_path={info}", "-batch_size=1,4,2", "--output-dir",
                          str(out), "--quiet"]) == 2
    assert "batch 1: running" not in capsys.readouterr().err
    assert snapshot(out) == before


def test_a_user_file_where_the_sweep_table_goes_is_refused_first(model, data):
    info, out = data
    (out / "sweep_device_0.png").write_text("not a plot\n")
    assert run_cli(main, [f"-om_path={model}", "-round=2", "-batch_size=1,2", "--output-dir", str(out),
                          "--quiet"]) == 2
    assert snapshot(out) == ["sweep_device_0.png"]


def test_several_devices_check_every_device_first(model, data):
    info, out = data
    (out / "dumpOutput_device1").mkdir()
    (out / "dumpOutput_device1" / "notes.txt").write_text("mine\n")
    before = snapshot(out)
    assert run_cli(main, [f"-om_path={model}", f"-input_text_path={info}", "-batch_size=2", "-device_id=0,1",
                          "--device", "cpu", "--output-dir", str(out), "--quiet"]) == 2
    assert snapshot(out) == before


def test_best_refuses_a_start_past_its_limit(model, data, capsys):
    _, out = data
    assert run_cli(main, [f"-om_path={model}", "-round=1", "-batch_size=4500", "--best", "--output-dir", str(out),
                          "--quiet"]) == 2
    assert "4096" in capsys.readouterr().err
    assert snapshot(out) == []


def test_a_bs_model_of_the_wrong_fixed_batch_is_refused_before_the_first_batch(tmp_path, capsys):
    folder = tmp_path / "models"
    folder.mkdir()
    tiny_onnx(folder / "m_bs2.onnx", 2)
    tiny_onnx(folder / "m_bs4.onnx", 8)            # named for batch 4, fixed at 8
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={folder / 'm_bs{bs}.onnx'}", "-round=1", "-batch_size=2,4", "--output-dir",
                          str(out), "--quiet"]) == 2
    assert "fixed batch of 8" in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []
