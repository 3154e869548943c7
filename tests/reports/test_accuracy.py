"""cifar10_acc_eval.py: the seed's JSON, strict matching, ties, per-class figures, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genet.cli.acc_eval import main
from genet.core.errors import GenetError, run_cli
from genet.data.provenance import mark_generated
from genet.formats.dumps import PACKED_DUMP, load_dumps, write_dump, write_packed
from genet.formats.labels import write_labels
from genet.reports.accuracy import rank_classes
from tests.conftest import REPO

SEED_KEYS = ["Number of images", "Number of classes"] + [f"Top{k} accuracy" for k in range(1, 6)]


def stems_of(n: int) -> list[str]:
    return [f"{i:05d}" for i in range(n)]


def make_run(root: Path, logits: np.ndarray, labels, binary: bool = False) -> tuple[Path, Path]:
    """result/dumpOutput_device0/{stem}_1.txt and prep_dataset/val_label.txt under root."""
    dumps = root / "result" / "dumpOutput_device0"
    dumps.mkdir(parents=True, exist_ok=True)
    for stem, row in zip(stems_of(len(logits)), logits):
        write_dump(dumps, stem, row, binary=binary)
    (root / "prep_dataset").mkdir(exist_ok=True)
    label_file = root / "prep_dataset" / "val_label.txt"
    write_labels(label_file, [(f"{s}.bin", int(y)) for s, y in zip(stems_of(len(labels)), labels)])
    return dumps, label_file


def evaluate_cli(dumps, label_file, out_dir: Path, *extra: str) -> dict:
    assert main([str(dumps), str(label_file), str(out_dir), "result_bs1.json", "--quiet", *extra]) == 0
    return json.loads((out_dir / "result_bs1.json").read_text())


def entries(payload: dict) -> dict[str, str]:
    return {e["key"]: e["value"] for e in payload["value"]}


def naive_topk(logits: np.ndarray, labels: np.ndarray) -> list[int]:
    """Hits at k = 1..5, ranking by (-logit, class index) one image at a time."""
    hits = [0] * 5
    for row, y in zip(logits.tolist(), labels.tolist()):
        ranking = sorted(range(len(row)), key=lambda c: (-row[c], c))
        for k in range(5):
            hits[k] += y in ranking[:k + 1]
    return hits


def seed_percent(count: int, total: int) -> str:
    """The seed's figure (percent rounded to 2 decimals), written with both decimals: 19.00%, not 19.0%."""
    return f"{round(100.0 * count / total, 2):.2f}%"


@pytest.fixture
def tied_run(tmp_path):
    """300 images whose integer logits tie often, with random labels."""
    rng = np.random.default_rng(5)
    logits = rng.integers(-3, 4, size=(300, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=300)
    dumps, label_file = make_run(tmp_path, logits, labels)
    return tmp_path, dumps, label_file, logits, labels


def test_seed_schema_and_figures_match_a_naive_count(tied_run):
    root, dumps, label_file, logits, labels = tied_run
    payload = evaluate_cli(dumps, label_file, root)
    assert payload["title"] == "Overall statistical evaluation"
    assert list(payload) == ["title", "value"]
    assert [e["key"] for e in payload["value"]] == SEED_KEYS + ["Error@1", "Error@5"]
    hits = naive_topk(logits, labels)
    got = entries(payload)
    assert got["Number of images"] == "300" and got["Number of classes"] == "10"
    assert [got[f"Top{k} accuracy"] for k in range(1, 6)] == [seed_percent(h, 300) for h in hits]
    assert got["Error@1"] == str(round(100.0 * (300 - hits[0]) / 300, 2))
    assert got["Error@5"] == str(round(100.0 * (300 - hits[4]) / 300, 2))
    # The seed's test/parse.py picks the entries whose key holds "Top": ours must still give Top1 and Top5.
    tops = [e["value"] for e in payload["value"] if "Top" in e["key"]]
    assert tops[0] == got["Top1 accuracy"] and tops[4] == got["Top5 accuracy"]


def test_equal_logits_rank_the_lowest_class_first():
    logits = np.array([[1, 5, 5, 0], [2, 2, 2, 2], [0, 0, 7, 7]], dtype=np.float32)
    assert rank_classes(logits, 4).tolist() == [[1, 2, 0, 3], [0, 1, 2, 3], [2, 3, 0, 1]]


def test_txt_bin_and_packed_dumps_give_the_same_result(tmp_path, tied_run):
    root, dumps, label_file, logits, labels = tied_run
    expected = evaluate_cli(dumps, label_file, root)
    bin_dumps, _ = make_run(tmp_path / "bin", logits, labels, binary=True)
    assert evaluate_cli(bin_dumps, label_file, root) == expected
    packed = tmp_path / "packed"
    packed.mkdir()
    write_packed(packed / PACKED_DUMP, stems_of(len(logits)), logits)
    assert evaluate_cli(packed, label_file, root) == expected                  # folder holding only the .npz
    assert evaluate_cli(packed / PACKED_DUMP, label_file, root) == expected    # the .npz itself


def test_dump_values_read_back_exactly(tmp_path):
    logits = np.random.default_rng(0).standard_normal((7, 10)).astype(np.float32)
    dumps, _ = make_run(tmp_path, logits, np.zeros(7, dtype=int))
    loaded = load_dumps(dumps)
    assert loaded.stems == stems_of(7)
    np.testing.assert_array_equal(loaded.logits, logits)


def test_per_class_figures_and_heat_map(tmp_path, tied_run):
    root, dumps, label_file, logits, labels = tied_run
    payload = evaluate_cli(dumps, label_file, root, "--per-class")
    predicted = [sorted(range(10), key=lambda c: (-row[c], c))[0] for row in logits.tolist()]
    expected = np.zeros((10, 10), dtype=int)
    for y, p in zip(labels, predicted):
        expected[y, p] += 1
    assert payload["confusion_matrix"]["counts"] == expected.tolist()
    per_class = payload["per_class"]
    assert [c["name"] for c in per_class][:2] == ["airplane", "automobile"]
    for c in per_class:
        assert c["images"] == int((labels == c["class"]).sum())
        assert c["correct"] == expected[c["class"], c["class"]]
    assert sum(c["correct"] for c in per_class) * 100 / 300 == pytest.approx(
        float(entries(payload)["Top1 accuracy"].rstrip("%")), abs=0.005)
    assert (root / "result_bs1_confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_dump_is_an_error_naming_the_image_unless_allowed(tmp_path):
    logits = np.eye(10, dtype=np.float32)[[0, 1, 2, 3]]
    dumps, label_file = make_run(tmp_path, logits, [0, 1, 2, 3])
    write_labels(label_file, [(f"{s}.bin", y) for s, y in zip(stems_of(6), [0, 1, 2, 3, 4, 5])])
    with pytest.raises(GenetError, match=r"val_label\.txt: 2 labelled image\(s\) have no dump .*00004, 00005"):
        evaluate_cli(dumps, label_file, tmp_path)
    assert not (tmp_path / "result_bs1.json").exists()
    payload = evaluate_cli(dumps, label_file, tmp_path, "--allow-missing")
    got = entries(payload)
    assert got["Number of images"] == "4" and got["Top1 accuracy"] == "100.00%"
    assert got["Images without a dump (not counted)"] == "2"
    assert payload["images_without_dump"] == ["00004", "00005"]


def test_dump_without_label_is_an_error(tmp_path):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:3], [0, 1, 2])
    write_dump(dumps, "extra", np.zeros(10))
    with pytest.raises(GenetError, match=r"1 dump\(s\) have no label in .*val_label\.txt: extra_1\.txt"):
        evaluate_cli(dumps, label_file, tmp_path, "--allow-missing")


def test_two_dumps_for_one_image_is_an_error(tmp_path):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:3], [0, 1, 2])
    write_dump(dumps, "00001", np.zeros(10), binary=True)
    with pytest.raises(GenetError, match=r"two dumps for one image: 00001_1\.(txt|bin) and 00001_1\.(txt|bin)"):
        evaluate_cli(dumps, label_file, tmp_path)


@pytest.mark.parametrize("row, message", [
    ("1 2 3\n", r"do not all hold the same number of values: 1 hold 3 values \(00002_1\.txt\); 4 hold 10 values"),
    ("1 2 3 4 5 6 7 8 9 nan\n", r"1 dump\(s\) hold NaN or Inf: 00002_1\.txt"),
    ("1 2 3 4 5 6 7 8 9 -inf\n", r"1 dump\(s\) hold NaN or Inf: 00002_1\.txt"),
    ("1 2 3 4 5 six 7 8 9 10\n", r"00002_1\.txt: dump holds something that is not a number"),
    ("", r"1 hold 0 values \(00002_1\.txt\); 4 hold 10 values"),
])
def test_bad_dump_is_an_error_naming_it(tmp_path, row, message):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:5], [0, 1, 2, 3, 4])
    (dumps / "00002_1.txt").write_text(row)
    with pytest.raises(GenetError, match=message):
        evaluate_cli(dumps, label_file, tmp_path)


def test_bin_dump_of_odd_size_is_an_error(tmp_path):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:3], [0, 1, 2], binary=True)
    (dumps / "00001_1.bin").write_bytes(b"\0" * 41)
    with pytest.raises(GenetError, match=r"00001_1\.bin: size 41 bytes is not a whole number of float32"):
        evaluate_cli(dumps, label_file, tmp_path)


def test_num_classes_option_and_out_of_range_label(tmp_path):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:3], [0, 1, 2])
    with pytest.raises(GenetError, match=r"3 of 3 dump\(s\) do not hold 100 values \(--num-classes\)"):
        evaluate_cli(dumps, label_file, tmp_path, "--num-classes", "100")
    write_labels(label_file, [("00000.bin", 0), ("00001.bin", 12), ("00002.bin", 2)])
    with pytest.raises(GenetError, match=r"val_label\.txt: 00001 has label 12, but the dumps hold 10 classes"):
        evaluate_cli(dumps, label_file, tmp_path)


def test_packed_file_with_a_repeated_image_is_an_error(tmp_path):
    write_packed(tmp_path / "p.npz", ["a", "b", "a"], np.zeros((3, 10)))
    with pytest.raises(GenetError, match=r"p\.npz: two rows for one image: a"):
        load_dumps(tmp_path / "p.npz")


@pytest.mark.parametrize("case", ["no dump folder", "empty dump folder", "no result folder"])
def test_missing_inputs_are_errors(tmp_path, case):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:2], [0, 1])
    out = tmp_path
    if case == "no dump folder":
        dumps, message = tmp_path / "nowhere", "nowhere: dump folder not found"
    elif case == "empty dump folder":
        dumps, message = tmp_path / "empty", "empty: no dumps"
        dumps.mkdir()
    else:
        out, message = tmp_path / "absent", "absent: result folder not found"
    with pytest.raises(GenetError, match=message):
        main([str(dumps), str(label_file), str(out), "r.json"])


def test_failed_run_leaves_an_existing_result_untouched(tmp_path):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:3], [0, 1, 2])
    (tmp_path / "result_bs1.json").write_text("previous")
    (dumps / "00000_1.txt").write_text("nan " * 10)
    with pytest.raises(GenetError):
        evaluate_cli(dumps, label_file, tmp_path)
    assert (tmp_path / "result_bs1.json").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prep_dataset", "result", "result_bs1.json"]


def test_dumps_mostly_of_another_width_do_not_blame_the_odd_one(tmp_path):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:5], [0, 1, 2, 3, 4])
    for stem in stems_of(4):
        write_dump(dumps, stem, np.zeros(1000))
    with pytest.raises(GenetError, match=r"1 hold 10 values \(00004_1\.txt\); 4 hold 1000 values") as caught:
        evaluate_cli(dumps, label_file, tmp_path)
    assert "do not hold 1000" not in str(caught.value)
    with pytest.raises(GenetError, match=r"4 of 5 dump\(s\) do not hold 10 values \(--num-classes\): 00000_1"):
        evaluate_cli(dumps, label_file, tmp_path, "--num-classes", "10")


def test_label_file_with_a_utf8_bom_is_read(tmp_path):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:3], [0, 1, 2])
    label_file.write_bytes(b"\xef\xbb\xbf" + label_file.read_bytes())
    assert entries(evaluate_cli(dumps, label_file, tmp_path))["Top1 accuracy"] == "100.00%"


def test_accuracy_on_generated_data_is_labelled(tmp_path, capsys):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:3], [0, 1, 2])
    assert "data" not in evaluate_cli(dumps, label_file, tmp_path)
    mark_generated(label_file.parent)
    payload = evaluate_cli(dumps, label_file, tmp_path)
    assert payload["data"] == "generated (NOT CIFAR-10)" and entries(payload)["Top1 accuracy"] == "100.00%"
    assert main([str(dumps), str(label_file), str(tmp_path), "r.json"]) == 0
    assert "[data: generated (NOT CIFAR-10)]" in capsys.readouterr().out


@pytest.mark.parametrize("per_class", [[], ["--per-class"]])
def test_an_output_that_is_a_folder_is_refused_before_anything_is_written(tmp_path, capsys, per_class):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:3], [0, 1, 2])
    (tmp_path / "out" / "result_bs1.json").mkdir(parents=True)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert run_cli(main, [str(dumps), str(label_file), str(tmp_path / "out"), "result_bs1.json", *per_class]) == 2
    assert "result_bs1.json: is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_heat_map_path_that_is_a_folder_leaves_no_json(tmp_path, capsys):
    dumps, label_file = make_run(tmp_path, np.eye(10, dtype=np.float32)[:3], [0, 1, 2])
    (tmp_path / "result_bs1_confusion.png").mkdir()
    assert run_cli(main, [str(dumps), str(label_file), str(tmp_path), "result_bs1.json", "--per-class"]) == 2
    assert not (tmp_path / "result_bs1.json").exists()


@pytest.mark.slow
def test_seed_command_line_as_a_process(tmp_path):
    rng = np.random.default_rng(2)
    make_run(tmp_path, rng.standard_normal((50, 10)).astype(np.float32), rng.integers(0, 10, 50))
    cmd = [sys.executable, str(REPO / "cifar10_acc_eval.py"), "result/dumpOutput_device0/",
           "./prep_dataset/val_label.txt", "./", "result_bs1.json"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and "50 images, 10 classes: top-1" in done.stdout
    assert [e["key"] for e in json.loads((tmp_path / "result_bs1.json").read_text())["value"]][:7] == SEED_KEYS

    (tmp_path / "result" / "dumpOutput_device0" / "00007_1.txt").unlink()
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("cifar10_acc_eval.py: error: ./prep_dataset/val_label.txt: 1 labelled image(s) "
                                  "have no dump in result/dumpOutput_device0: 00007")
