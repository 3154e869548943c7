"""Stale results: a pure-inference run never replaces a dataset run's perf report (nor the reverse)."""

from __future__ import annotations

import pytest

from genet.cli.benchmark import main
from genet.core.errors import run_cli
from tests.runner_helpers import tiny_onnx, write_bins


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("models") / "t1.onnx")


def test_a_sweep_does_not_replace_step_5s_report(tmp_path, model, capsys):
    info, _ = write_bins(tmp_path / "data", 8)
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={model}", f"-input_text_path={info}", "-batch_size=4", "--output-dir", str(out),
                          "--quiet"]) == 0
    report = out / "perf_vision_batchsize_4_device_0.txt"
    before = report.read_text()
    assert run_cli(main, [f"-om_path={model}", "-round=2", "-batch_size=1,4", "--output-dir", str(out),
                          "--quiet"]) == 2
    assert "holds a dataset run's report" in capsys.readouterr().err
    assert report.read_text() == before and not (out / "perf_vision_batchsize_1_device_0.txt").exists()
    assert run_cli(main, [f"-om_path={model}", "-round=2", "-batch_size=1,4", "--output-dir",
                          str(tmp_path / "result_sweep"), "--quiet"]) == 0
