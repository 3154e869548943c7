"""compare_outputs.py: differences, agreement, worst files, exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genet.cli.compare_outputs import main
from genet.core.errors import GenetError, run_cli
from genet.formats.dumps import PACKED_DUMP, load_dumps, write_dump, write_packed
from genet.reports.compare import Tolerance, compare_dumps
from tests.conftest import REPO


def write_run(folder: Path, logits: np.ndarray, stems=None) -> Path:
    folder.mkdir(parents=True)
    for stem, row in zip(stems or [f"{i:05d}" for i in range(len(logits))], logits):
        write_dump(folder, stem, row)
    return folder


@pytest.fixture
def logits():
    return np.random.default_rng(3).standard_normal((40, 10)).astype(np.float32) * 4


def test_identical_runs_pass(tmp_path, logits, capsys):
    a, b = write_run(tmp_path / "a", logits), write_run(tmp_path / "b", logits)
    assert main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "images compared: 40" in out and "max abs diff: 0\n" in out
    assert "top-1 agreement: 40/40 (100.00%)" in out and out.rstrip().endswith("PASS")


def test_differences_within_and_past_tolerance(tmp_path, logits, capsys):
    reference = write_run(tmp_path / "ref", logits)
    close = logits + np.float32(1e-4)
    assert main([str(write_run(tmp_path / "close", close)), str(reference), "--atol", "1e-3"]) == 0
    capsys.readouterr()

    far = logits.copy()
    far[7] += 0.5                       # one image off by 0.5 everywhere
    far[12, int(np.argmax(far[12]))] -= 100.0   # another whose top-1 changes
    candidate = write_run(tmp_path / "far", far)
    assert main([str(candidate), str(reference), "--json", str(tmp_path / "cmp.json")]) == 1
    out = capsys.readouterr().out
    assert "rule: an element passes when |a - b| <= atol + rtol x |reference| (atol=0.001, rtol=0.001)" in out
    assert "images past the rule: 2/40" in out
    assert "top-1 agreement: 39/40" in out
    assert out.rstrip().endswith("FAIL: 2 image(s) past the tolerance")
    worst = json.loads((tmp_path / "cmp.json").read_text())["worst"]
    assert [w["stem"] for w in worst[:2]] == ["00012", "00007"]
    assert worst[0]["max_abs"] == pytest.approx(100.0, rel=1e-5)
    assert worst[1]["max_abs"] == pytest.approx(0.5, rel=1e-5)
    assert len(worst) == 10 and worst[0]["top1_candidate"] != worst[0]["top1_reference"]


def test_relative_difference_skips_zero_reference_logits(tmp_path):
    reference = np.array([[0.0, 2.0, 4.0]], dtype=np.float32)
    candidate = np.array([[0.5, 2.2, 4.0]], dtype=np.float32)
    write_packed(tmp_path / "a.npz", ["x"], candidate)
    write_packed(tmp_path / "b.npz", ["x"], reference)
    c = compare_dumps(load_dumps(tmp_path / "a.npz"), load_dumps(tmp_path / "b.npz"), Tolerance(atol=0.0, rtol=0.2))
    assert c.max_abs == pytest.approx(0.5)
    assert c.max_rel == pytest.approx(0.1, rel=1e-5)          # 0.2 / 2.0; the zero logit is left out
    assert c.out_of_tolerance == 1                              # 0.5 > 0 + 0.2 * 0


def test_top5_agreement_ignores_order_within_the_five(tmp_path):
    reference = np.array([[9, 8, 7, 6, 5, 0, 0, 0, 0, 0]], dtype=np.float32)
    swapped = np.array([[8, 9, 7, 6, 5, 0, 0, 0, 0, 0]], dtype=np.float32)
    replaced = np.array([[9, 8, 7, 6, 0, 5, 0, 0, 0, 0]], dtype=np.float32)
    write_packed(tmp_path / "r.npz", ["x"], reference)
    for name, rows, top1, top5 in [("s", swapped, 0, 1), ("p", replaced, 1, 0)]:
        write_packed(tmp_path / f"{name}.npz", ["x"], rows)
        c = compare_dumps(load_dumps(tmp_path / f"{name}.npz"), load_dumps(tmp_path / "r.npz"), Tolerance(1.0, 0.0))
        assert (c.top1_agree, c.top5_agree) == (top1, top5)


def test_different_image_sets_fail(tmp_path, logits, capsys):
    a = write_run(tmp_path / "a", logits[:5], ["a0", "a1", "c2", "c3", "c4"])
    b = write_run(tmp_path / "b", logits[[0, 2, 3, 4]], ["b0", "c2", "c3", "c4"])
    assert main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "images compared: 3" in out
    assert "only in candidate: 2 (a0, a1)" in out and "only in reference: 1 (b0)" in out
    assert out.rstrip().endswith("FAIL: the image sets differ")


def test_packed_against_folder(tmp_path, logits, capsys):
    folder = write_run(tmp_path / "f", logits)
    (tmp_path / "p").mkdir()
    write_packed(tmp_path / "p" / PACKED_DUMP, [f"{i:05d}" for i in range(40)], logits)
    assert main([str(tmp_path / "p"), str(folder)]) == 0


def test_bad_inputs_are_errors(tmp_path, logits):
    a = write_run(tmp_path / "a", logits)
    write_packed(tmp_path / "wide.npz", ["00000"], np.zeros((1, 100)))
    with pytest.raises(GenetError, match=r"a: dumps hold 10 values, but those in .*wide\.npz hold 100"):
        main([str(a), str(tmp_path / "wide.npz")])
    with pytest.raises(GenetError, match=r"nowhere: dump folder not found"):
        main([str(a), str(tmp_path / "nowhere")])


@pytest.mark.parametrize("flag", ["--atol", "--rtol"])
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_tolerances_must_be_finite_and_not_negative(tmp_path, logits, capsys, flag, value):
    a = write_run(tmp_path / "a", logits)
    b = write_run(tmp_path / "b", logits + 1.0)
    assert run_cli(main, [str(a), str(b), flag, value]) == 2
    assert f"{flag[2:]} must be a finite number >= 0" in capsys.readouterr().err


@pytest.mark.parametrize("side", ["candidate", "reference"])
def test_nan_logits_on_either_side_fail(tmp_path, logits, capsys, side):
    broken = logits.copy()
    broken[3, 2] = np.nan
    a = write_run(tmp_path / "a", broken if side == "candidate" else logits)
    b = write_run(tmp_path / "b", logits if side == "candidate" else broken)
    assert run_cli(main, [str(a), str(b), "--atol", "1e9", "--rtol", "1e9"]) == 1
    out = capsys.readouterr().out
    assert "images with NaN or Inf logits (either side): 1/40" in out
    assert out.rstrip().endswith("FAIL: 1 image(s) with NaN or Inf logits; 1 image(s) past the tolerance")


def test_json_output_that_is_a_folder_is_refused_before_reading(tmp_path, logits, capsys):
    a = write_run(tmp_path / "a", logits)
    assert run_cli(main, [str(a), str(a), "--json", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_as_a_process(tmp_path, logits):
    a = write_run(tmp_path / "a", logits)
    b = write_run(tmp_path / "b", logits * 1.01)
    script = str(REPO / "compare_outputs.py")
    done = subprocess.run([sys.executable, script, str(a), str(b)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "FAIL" in done.stdout and done.stderr == ""
    done = subprocess.run([sys.executable, script, str(a), str(b), "--rtol", "0.02"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout
    done = subprocess.run([sys.executable, script, str(a), str(tmp_path / "none")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("compare_outputs.py: error: ")
