"""End to end: benchmark.py in ais_bench's mode over 203 inputs with a static batch of 16 writes 203 one-row files
(the padding of the last batch never written), and both accuracy scripts score that folder exactly as they score
the benchmark tool's dumps of the same model and images."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from genet.cli.acc_eval import main as acc_main
from genet.cli.benchmark import main as bench_main
from genet.cli.parse import main as parse_main
from tests.runner_helpers import direct_onnx, tiny_onnx, write_bins

COUNT, BATCH = 203, 16


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ais")
    model = tiny_onnx(root / "genet_bs16.onnx", batch_size=BATCH)      # static: the last batch is padded
    info, images = write_bins(root / "data", COUNT)
    folder = info.parent / "prep_dataset"
    labels = np.random.default_rng(5).integers(0, 10, COUNT)
    (folder / "val_label.txt").write_text("".join(f"{i:05d}.bin {v}\n" for i, v in enumerate(labels)))
    result = root / "result"
    assert bench_main([f"-om_path={model}", f"-batch_size={BATCH}", f"-input_text_path={info}", "--no-packed",
                       "--quiet", "--output-dir", str(result)]) == 0
    return root, model, folder, images, labels, result / "dumpOutput_device0"


def score(dumps, labels, where) -> tuple[dict, str]:
    where.mkdir()
    assert acc_main([str(dumps), str(labels), str(where), "result_bs16.json", "--quiet"]) == 0
    return json.loads((where / "result_bs16.json").read_text()), str(where / "result_bs16.json")


@pytest.mark.parametrize("outfmt", ["BIN", "NPY", "TXT"])
def test_203_inputs_give_203_one_row_files_scored_as_the_tool_dumps(run, outfmt, capsys):
    root, model, folder, images, labels, tool_dumps = run
    out = root / f"out_{outfmt}"
    out.mkdir()
    assert bench_main(["--model", str(model), "--input", str(folder), "--output", str(out), "--output_dirname",
                       "r", "--outfmt", outfmt, "--batchsize", str(BATCH), "--quiet"]) == 0
    ext = outfmt.lower()
    names = sorted(os.listdir(out / "r"))
    assert names == [f"{i:05d}_0.{ext}" for i in range(COUNT)]
    expected = direct_onnx(model, images, BATCH)
    last = out / "r" / f"{COUNT - 1:05d}_0.{ext}"           # the one real row of the padded last batch
    got = {"bin": lambda p: np.fromfile(p, np.float32).reshape(1, -1), "npy": np.load,
           "txt": lambda p: np.loadtxt(p, np.float32, ndmin=2)}[ext](last)
    assert got.shape == (1, 10)
    np.testing.assert_allclose(got[0], expected[-1], atol=1e-5)
    summary = json.loads((out / "r_summary.json").read_text())
    assert len(summary["filesinfo"]) == COUNT and summary["genet"]["batch_size"] == BATCH
    assert summary["filesinfo"][str(COUNT - 1)]["outfiles"] == [os.path.join(str(out), "r", last.name)]

    if ext == "txt":
        # %f keeps 6 decimals: the figures can only agree where no label's logit is within 1e-6 of another
        gaps = np.abs(expected - expected[np.arange(COUNT), labels][:, None])
        gaps[np.arange(COUNT), labels] = np.inf
        assert gaps.min() > 2e-6, "the model's logits nearly tie: choose another seed"
    ais, ais_json = score(out / "r", folder / "val_label.txt", root / f"acc_ais_{ext}")
    tool, tool_json = score(tool_dumps, folder / "val_label.txt", root / f"acc_tool_{ext}")
    assert ais == tool and {"key": "Number of images", "value": str(COUNT)} in ais["value"]
    capsys.readouterr()
    assert parse_main([ais_json]) == 0 and parse_main([tool_json]) == 0
    first, second = capsys.readouterr().out.split("om bs16")[1:]
    assert first == second
