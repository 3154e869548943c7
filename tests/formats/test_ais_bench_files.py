"""ais_bench's files, written by hand in the shape ais_bench 0.0.2 writes them, read by genet's readers.

The shapes follow ais_bench's source (ait/components/benchmark/ais_bench/infer/: ``save_tensors_to_file``
in io_oprations.py, ``save_data_to_files`` in utils.py, ``Summary`` in summary.py): per input file one
``{name}_0.{fmt}`` holding its rows (a 1×K piece), ``.txt`` lines of ``%f`` values each followed by a space,
and a ``{dirname}_summary.json`` whose ``args`` is the argv list. Nothing here runs genet's writers.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from genet.cli.acc_eval import main as acc_main
from genet.cli.parse import main as parse_main
from genet.cli.perf_compare import main as compare_main
from genet.core.errors import run_cli
from genet.formats.ais_bench_files import input_listing, text_lines
from genet.formats.dumps import load_dumps

COUNT = 7


def logits() -> np.ndarray:
    """Well separated logits (steps of 0.25), so that ``%f`` text keeps every ranking."""
    rng = np.random.default_rng(3)
    return np.stack([rng.permutation(10) * 0.25 - 1.0 for _ in range(COUNT)]).astype(np.float32)


def labels_file(folder, values) -> str:
    path = folder / "val_label.txt"
    path.write_text("".join(f"{i:05d}.bin {int(v)}\n" for i, v in enumerate(values)))
    return str(path)


def write_ais_folder(folder, rows: np.ndarray, fmt: str) -> None:
    """ais_bench's output folder, written as its save_data_to_files writes each 1×K piece."""
    folder.mkdir(parents=True)
    for i, row in enumerate(rows):
        piece = row.reshape(1, -1)
        path = folder / f"{i:05d}_0.{fmt}"
        if fmt == "bin":
            piece.tofile(path)
        elif fmt == "npy":
            np.save(path, piece)
        else:
            with open(path, "wb") as fh:
                for value in piece[0]:
                    fh.write(b"%f " % value)
                fh.write(b"\n")


def write_tool_dumps(folder, rows: np.ndarray) -> None:
    """The benchmark tool's dumps of the same run: ``{stem}_1.txt``, one line of values."""
    folder.mkdir(parents=True)
    for i, row in enumerate(rows):
        (folder / f"{i:05d}_1.txt").write_text(" ".join(f"{v:.9g}" for v in row) + "\n")


def test_genet_writes_ais_bench_text_lines_byte_for_byte(tmp_path):
    rows = logits()
    write_ais_folder(tmp_path / "ais", rows, "txt")
    assert text_lines(rows[2:3]) == (tmp_path / "ais" / "00002_0.txt").read_bytes()


def test_input_listing_is_natural_order_joined_to_the_folder_as_given():
    names = ["img10.bin", "img2.bin", "IMG1.NPY", "labels.txt", "img1.bin"]
    # the key: digit runs as numbers, the rest lower-cased ("img", 1, ".bin" before "img", 1, ".npy")
    assert input_listing("prep/", names) == ["prep/img1.bin", "prep/IMG1.NPY", "prep/img2.bin", "prep/img10.bin"]


@pytest.mark.parametrize("fmt", ["bin", "npy", "txt"])
def test_acc_eval_scores_ais_bench_outputs_as_the_tool_dumps(tmp_path, fmt, capsys):
    rows = logits()
    labels = labels_file(tmp_path, np.arange(COUNT) % 10)
    write_ais_folder(tmp_path / "ais", rows, fmt)
    write_tool_dumps(tmp_path / "tool", rows)
    dumps = load_dumps(tmp_path / "ais")
    assert dumps.stems == [f"{i:05d}" for i in range(COUNT)]
    np.testing.assert_array_equal(dumps.logits, rows)
    results = {}
    for name in ("ais", "tool"):
        (tmp_path / f"r_{name}").mkdir()
        assert acc_main([str(tmp_path / name), labels, str(tmp_path / f"r_{name}"), "result_bs16.json"]) == 0
        results[name] = json.loads((tmp_path / f"r_{name}" / "result_bs16.json").read_text())
    assert results["ais"] == results["tool"]
    capsys.readouterr()
    lines = {}
    for name in ("ais", "tool"):
        assert parse_main([str(tmp_path / f"r_{name}" / "result_bs16.json")]) == 0
        lines[name] = capsys.readouterr().out
    assert lines["ais"] == lines["tool"] and "top1:" in lines["ais"]


@pytest.mark.parametrize("files, message", [
    ({"00000_0.bin": "bin", "00001_1.txt": "txt"}, "mixes ais_bench's outputs (00000_0.bin"),
    ({"00000_0.bin": "bin", "00000_1.bin": "bin"}, "two outputs of one image: 00000_0.bin and 00000_1.bin"),
    ({"00000_0.bin": "bin", "00000_0.npy": "npy"}, "two dumps for one image: 00000_0.bin and 00000_0.npy"),
], ids=["two_tools", "two_outputs", "two_formats"])
def test_an_ambiguous_folder_is_refused_in_one_line(tmp_path, capsys, files, message):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name, kind in files.items():
        piece = np.arange(10, dtype=np.float32).reshape(1, -1)
        if kind == "npy":
            np.save(folder / name, piece)
        elif kind == "txt":
            (folder / name).write_text(" ".join(map(str, piece[0])) + "\n")
        else:
            piece.tofile(folder / name)
    labels = labels_file(tmp_path, [1, 2])
    assert run_cli(acc_main, [str(folder), labels, str(tmp_path), "r.json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(folder) in err
    assert not (tmp_path / "r.json").exists()


def real_summary(batch_flag: list[str], throughput: float = 10666.667) -> dict:
    """A summary in the shape ais_bench's Summary.report writes (``filesinfo`` keyed by sample number as JSON
    strings, ``args`` = sys.argv)."""
    return {
        "filesinfo": {str(i): {"infiles": [f"prep/{i:05d}.bin"], "outfiles": [f"out/2023_05_27-12_05_31/{i:05d}_0.bin"]}
                      for i in range(3)},
        "args": ["/usr/local/python3.7.5/lib/python3.7/site-packages/ais_bench/__main__.py", "--model",
                 "genet_bs16.om", "--input", "prep", "--output", "out", *batch_flag, "--device", "0"],
        "NPU_compute_time": {"min": 1.4, "max": 1.9, "mean": 1.5, "median": 1.5, "percentile(99%)": 1.8,
                             "count": 100},
        "H2D_latency": {"min": 0.1, "max": 0.2, "mean": 0.15, "median": 0.15, "percentile(99%)": 0.2, "count": 100},
        "D2H_latency": {"min": 0.01, "max": 0.02, "mean": 0.015, "median": 0.015, "percentile(99%)": 0.02,
                        "count": 100},
        "throughput": throughput, "npu_compute_time_list": [1.5] * 100, "pid": 4242,
    }


def test_parse_and_perf_compare_read_a_real_summary_with_an_argv_list(tmp_path, capsys):
    path = tmp_path / "2023_05_27-12_05_31_summary.json"
    path.write_text(json.dumps(real_summary(["--batchsize", "16"])))
    assert parse_main([str(path)]) == 0
    assert capsys.readouterr().out.startswith("310 bs16 fps:42666.668")
    assert compare_main([f"310:{path}", "--out", str(tmp_path / "cmp"), "--no-plot"]) == 0
    table = (tmp_path / "cmp.md").read_text()
    assert "| 16 | 42666.668 |" in table


def test_perf_compare_gives_its_own_advice_when_the_batch_is_unknown(tmp_path, capsys):
    path = tmp_path / "s_summary.json"
    path.write_text(json.dumps(real_summary([], throughput=10333.333)))     # 15.5 images per call: no batch
    assert run_cli(compare_main, [f"310:{path}", "--out", str(tmp_path / "cmp"), "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert "cannot tell the batch size" in err and "310:BS=FPS" in err and "pass --batch-size" not in err
    assert not os.path.exists(tmp_path / "cmp.md")


def test_the_percentile_key_with_blanks_of_some_releases_is_the_p99(tmp_path, capsys):
    # summary.py of some releases continues the key's string literal on a new line, keeping its indentation
    data = real_summary(["--batchsize", "16"])
    data["NPU_compute_time"] = {"min": 1.4, "max": 1.9, "mean": 1.5, "median": 1.5,
                                "percentile(99%" + " " * 36 + ")": 1.8, "count": 100}
    path = tmp_path / "s_summary.json"
    path.write_text(json.dumps(data))
    assert parse_main([str(path)]) == 0
    assert "p99 1.8" in capsys.readouterr().out
