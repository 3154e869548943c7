"""A batch whose input buffers exceed the memory free is refused before anything is written."""

from __future__ import annotations

import pytest

import genet.core.memory as memory
from genet.cli.benchmark import main
from genet.core.errors import run_cli
from tests.runner_helpers import tiny_onnx


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("models") / "t1.onnx")


@pytest.fixture
def small_machine(monkeypatch):
    """A machine with 64 MiB free: batch 64 (12 buffers of 64 × 12 KiB = 9 MiB) fits, 1000 (141 MiB) does not."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 64 * 2**20)


@pytest.mark.parametrize("sizes", ["99999999999999999999", "5000000", "1000", "4,1000"])
def test_a_batch_past_the_memory_is_refused_before_the_first_batch(tmp_path, model, small_machine, sizes, capsys):
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={model}", "-round=1", f"-batch_size={sizes}", "--output-dir", str(out),
                          "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "free on this machine" in err and "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []


def test_best_stops_where_the_memory_ends(tmp_path, model, monkeypatch, capsys):
    monkeypatch.setattr(memory, "available_bytes", lambda: 14 * 2**20)     # batch 64 fits (9 MiB), 128 not
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={model}", "-round=1", "-batch_size=64", "--best", "--output-dir", str(out),
                          "--quiet"]) == 0
    assert "stopped on memory: batch 128 does not fit" in capsys.readouterr().out


@pytest.mark.parametrize("sizes", ["1", "1,2"])
def test_too_many_rounds_for_their_records_are_refused(tmp_path, model, small_machine, sizes, capsys):
    out = tmp_path / "result"
    assert run_cli(main, [f"-om_path={model}", "-round=100000000", f"-batch_size={sizes}", "--output-dir", str(out),
                          "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "timing records" in err and "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []
