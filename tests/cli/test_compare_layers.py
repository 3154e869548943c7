"""compare_layers.py: outputs written together, exit status 0 / 1, bad input in one line with nothing written."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from genet.cli.compare_layers import main
from genet.core.errors import run_cli
from genet.model.variant import Variant
from tests.conftest import run_script
from tests.layer_helpers import dump_bytes, edit_onnx, export_small, file_name, node, write_images, write_om_json

OUTPUTS = {"layers.md", "layers.csv", "layers.json", "layers.png"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    checkpoint, model = export_small(folder)
    faulty = edit_onnx(model, folder / "faulty.onnx",
                       lambda g: setattr(node(g, "/block2/layer/layer.0/Sigmoid"), "op_type", "Tanh"))
    return folder, checkpoint, model, faulty, write_images(folder / "prep", 8)


def cli(capsys, *argv):
    code = run_cli(main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_checkpoint_and_its_export_pass_and_the_four_outputs_are_written(exported, tmp_path, capsys):
    _, checkpoint, model, _, images = exported
    out = tmp_path / "layers"
    code, stdout, _ = cli(capsys, checkpoint, model, "--images", images, "--count", 8, "--batch-size", 4, "-o", out,
                          "--quiet")
    assert code == 0
    assert {p.name for p in out.iterdir()} == OUTPUTS
    assert "ort fp32: pass (accumulated and isolated" in stdout
    assert re.search(r"\| +block2\.layer\.0/Sigmoid \| +Sigmoid \|", stdout)
    report = json.loads((out / "layers.json").read_text())
    assert report["passed"] and report["runs"][0]["layers"][-1]["layer"] == "output (as deployed)"
    header = (out / "layers.csv").read_text().splitlines()[0]
    assert header.startswith("Index,Run,Mode,Layer,OpType,NPUDump,GroundTruth,Status,CosineSimilarityMin")
    assert (out / "layers.png").read_bytes()[:4] == b"\x89PNG"


def test_a_fault_exits_1_naming_the_layer_unless_report_only(exported, tmp_path, capsys):
    _, _, model, faulty, images = exported
    args = [model, faulty, "--images", images, "--count", 8, "--quiet"]
    code, stdout, _ = cli(capsys, *args, "-o", tmp_path / "a")
    assert code == 1
    assert "ort fp32 #2: first below threshold: block2.layer.0/Sigmoid, median cosine" in stdout
    code, _, _ = cli(capsys, *args, "-o", tmp_path / "b", "--report-only", "--no-isolated")
    assert code == 0 and (tmp_path / "b" / "layers.md").is_file()


def truncated_dump(folder):
    where = folder / "dump" / "0"
    where.mkdir(parents=True)
    data = dump_bytes("/fc/Gemm", np.ones((4, 10), np.float32), 2)
    (where / file_name("MatMulV2", "/fc/Gemm", 1)).write_bytes(data[:-5])
    return folder / "dump", write_om_json(folder / "genet.json", [("/fc/Gemm", "MatMulV2", ["/fc/Gemm"])])


BAD = [
    (["--count", "9"], "prep: holds 8 images, fewer than --count 9"),
    (["--npu-dump", "{tmp}/nodump"], "--om-json"),
    (["--npu-dump", "{dump}"], "needs ATC's JSON of its .om"),
    (["--npu-dump", "{dump}", "--om-json", "{json}"], "truncated dump file"),
    (["--layer", "block9.conv"], "--layer block9.conv: ort fp32 .* has no such layer"),
    (["--backend", "tensorrt:x.onnx"], "give BACKEND:MODEL"),
    (["--cosine-int8", "2"], "a cosine threshold must be in"),
]


@pytest.mark.parametrize("extra, message", BAD, ids=[message[:30] for _, message in BAD])
def test_bad_input_is_one_line_exit_2_and_nothing_written(exported, tmp_path, capsys, extra, message):
    _, checkpoint, model, _, images = exported
    dump, om_json = truncated_dump(tmp_path)
    extra = [e.format(tmp=tmp_path, dump=dump, json=om_json, checkpoint=checkpoint) for e in extra]
    out = tmp_path / "out"
    code, _, err = cli(capsys, model, model, "--images", images, "--count", 8, "--batch-size", 4, "-o", out,
                       "--quiet", *extra)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not out.exists()


def test_models_of_different_architectures_exit_2_naming_the_layer(exported, tmp_path, capsys):
    _, _, model, _, images = exported
    _, other = export_small(tmp_path, Variant(depth=10, width=1))
    code, _, err = cli(capsys, model, other, "--images", images, "--count", 8, "-o", tmp_path / "out", "--quiet")
    assert code == 2 and "does not match" in err and "block1.layer.0.convShortcut" in err
    assert not (tmp_path / "out").exists()


def test_one_model_alone_or_an_unknown_file_is_refused(exported, tmp_path, capsys):
    _, _, model, _, images = exported
    code, _, err = cli(capsys, model, "--images", images, "--count", 8, "-o", tmp_path / "out")
    assert code == 2 and "at least two runs" in err
    code, _, err = cli(capsys, model, tmp_path / "x.engine", "--images", images, "-o", tmp_path / "out")
    assert code == 2 and "neither a checkpoint" in err


def test_an_output_folder_holding_a_users_file_is_refused_before_the_run(exported, tmp_path, capsys):
    _, _, model, _, images = exported
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = cli(capsys, model, model, "--images", images, "-o", out)
    assert code == 2 and "notes.txt" in err and (out / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_the_script_runs_as_a_user_types_it(exported, tmp_path):
    _, checkpoint, model, faulty, images = exported
    done = run_script("compare_layers.py", str(checkpoint), str(model), str(faulty), "--fp16", "--images",
                      str(images), "--count", "8", "-o", str(tmp_path / "layers"), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "ort fp32 #2: first below threshold: block2.layer.0/Sigmoid" in done.stdout
    assert "ort fp16: pass" in done.stdout
    assert {p.name for p in (tmp_path / "layers").iterdir()} == OUTPUTS
