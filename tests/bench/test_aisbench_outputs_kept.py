"""ais_bench's command line: the output folder and summary are replaced only when genet wrote them."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from genet.cli.benchmark import main
from genet.core.errors import run_cli
from tests.runner_helpers import tiny_onnx, write_bins


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
    assert sorted(os.listdir(out / "r")) == [f"{i:05d}_0.txt" for i in range(6)]
    assert "genet" in json.loads((out / "r_summary.json").read_text())
    (out / "r" / "notes_0.txt").write_text("mine\n")      # a user's file among genet's: refused
    assert ais("r") == 2 and (out / "r" / "notes_0.txt").read_text() == "mine\n"


# --- inputs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int32", "float16", "float64"])
def test_an_npy_of_another_dtype_is_refused_not_cast(tmp_path, model, dtype, capsys):
    array = np.ones((3, 32, 32), dtype=dtype)
    np.save(tmp_path / "x.npy", array)
    assert run_cli(main, ["--model", str(model), "--input", str(tmp_path / "x.npy"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"x.npy: holds {dtype} values" in err and ".genet-ais" not in err


def test_linked_and_dotted_inputs_are_named_as_ais_bench_names_them(tmp_path, model):
    info, _ = write_bins(tmp_path / "data", 4)
    folder = tmp_path / "in"
    folder.mkdir()
    source = info.parent / "prep_dataset"
    (folder / "a.b.bin").write_bytes((source / "00000.bin").read_bytes())
    (folder / "00003.bin").symlink_to(source / "00001.bin")
    out = tmp_path / "out"
    out.mkdir()
    assert run_cli(main, ["--model", str(model), "--input", str(folder), "--output", str(out), "--output_dirname",
                          "r", "--outfmt", "TXT", "--batchsize", "1", "--quiet"]) == 0
    assert sorted(os.listdir(out / "r")) == ["00003_0.txt", "a_0.txt"]


def test_outputs_that_would_share_a_name_are_refused(tmp_path, model, capsys):
    info, _ = write_bins(tmp_path / "data", 2)
    folder = tmp_path / "in"
    folder.mkdir()
    for name, source in (("a.1.bin", "00000.bin"), ("a.2.bin", "00001.bin")):
        (folder / name).write_bytes((info.parent / "prep_dataset" / source).read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    assert run_cli(main, ["--model", str(model), "--input", str(folder), "--output", str(out), "--output_dirname",
                          "r", "--batchsize", "1", "--quiet"]) == 2
    assert "would be named a_0" in capsys.readouterr().err and os.listdir(out) == []


def test_a_packed_folder_does_not_count_images_npy_as_an_input(tmp_path, model, capsys):
    info, images = write_bins(tmp_path / "data", 4)
    folder = info.parent / "prep_dataset"
    np.save(folder / "images.npy", images)
    assert run_cli(main, ["--model", str(model), "--input", str(folder), "--batchsize", "2"]) == 0
    assert "images.npy" in capsys.readouterr().err      # named among the files skipped
