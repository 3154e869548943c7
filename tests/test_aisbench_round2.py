"""Issue 22, ais_bench's command line: the output folder and summary are replaced only when genet wrote them."""

from __future__ import annotations

import json
import os

import pytest

from genet.cli.benchmark import main
from genet.core.errors import run_cli

from runner_helpers import tiny_onnx, write_bins


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("models") / "t1.onnx")


@pytest.fixture
def run(tmp_path, model):
    info, _ = write_bins(tmp_path / "data", 6)
    out = tmp_path / "out"
    out.mkdir()

    def ais(dirname: str) -> int:
        return run_cli(main, ["--model", str(model), "--input", str(info.parent / "prep_dataset"), "--output",
                              str(out), "--output_dirname", dirname, "--outfmt", "TXT", "--batchsize", "2",
                              "--quiet"])
    return out, ais


def test_user_files_in_the_output_folder_are_kept(run, capsys):
    out, ais = run
    (out / "u").mkdir()
    (out / "u" / "scan_0.txt").write_text("keep\n")
    (out / "u" / "frame_0.bin").write_text("raw\n")
    assert ais("u") == 2
    assert "did not write" in capsys.readouterr().err
    assert (out / "u" / "scan_0.txt").read_text() == "keep\n" and (out / "u" / "frame_0.bin").read_text() == "raw\n"
    assert not (out / "u_summary.json").exists()


def test_a_user_summary_is_kept(run, capsys):
    out, ais = run
    (out / "u5_summary.json").write_text('{"my": 1}')
    assert ais("u5") == 2
    assert (out / "u5_summary.json").read_text() == '{"my": 1}'
    assert not (out / "u5").exists()


def test_a_rerun_replaces_its_own_folder_and_summary(run):
    out, ais = run
    assert ais("r") == 0
    assert ais("r") == 0
    assert sorted(os.listdir(out / "r")) == ["00000_0.txt", "00002_0.txt", "00004_0.txt"]
    assert "genet" in json.loads((out / "r_summary.json").read_text())
    (out / "r" / "notes_0.txt").write_text("mine\n")      # a user's file among genet's: refused
    assert ais("r") == 2 and (out / "r" / "notes_0.txt").read_text() == "mine\n"
