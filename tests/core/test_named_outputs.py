"""Named outputs: the rule of compilers and cp, held in one place (genet.core.fsio.check_output_file).

An output the user names is replaced; never a default name the user did not give, a file that is an
input of the same command, or a file of another kind than the tool writes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from genet.core.errors import GenetError, run_cli
from genet.formats.dumps import write_dump

USER = b"the user's own bytes \x00\x01"


@pytest.fixture
def user_bin(tmp_path):
    path = tmp_path / "prep" / "00000.bin"
    path.parent.mkdir()
    path.write_bytes(USER)
    return path


def test_named_file_of_the_kind_is_replaced(tmp_path):
    from genet.core.fsio import JSON_FILE, check_output_file

    target = tmp_path / "r.json"
    target.write_text('{"old": 1}')
    assert check_output_file(target, JSON_FILE) == target


@pytest.mark.parametrize("kind", ["CHECKPOINT", "ONNX_MODEL", "JSON_FILE"])
def test_a_file_of_another_kind_is_refused(kind, user_bin):
    from genet.core import fsio

    kind = getattr(fsio, kind)
    with pytest.raises(GenetError, match="is not"):
        fsio.check_output_file(user_bin, kind)


def test_an_input_of_the_command_is_refused(tmp_path):
    from genet.core.fsio import JSON_FILE, check_output_file

    target = tmp_path / "a.json"
    target.write_text("{}")
    with pytest.raises(GenetError, match="is the input"):
        check_output_file(target, JSON_FILE, inputs=[target])
    with pytest.raises(GenetError, match="lies inside the input"):
        check_output_file(target, JSON_FILE, inputs=[tmp_path])


def test_a_default_name_is_replaced_only_when_ours(tmp_path):
    from genet.core.fsio import JSON_FILE, check_output_file

    target = tmp_path / "r.json"
    target.write_text('{"my": 1}')
    with pytest.raises(GenetError, match="not given on the command line"):
        check_output_file(target, JSON_FILE, named=False, ours=lambda p: "genet" in json.loads(p.read_text()))
    target.write_text('{"genet": 1}')
    check_output_file(target, JSON_FILE, named=False, ours=lambda p: "genet" in json.loads(p.read_text()))


def _fake_training(calls):
    def train(datasets_path, output, *args, **kwargs):
        calls.append(output)
        output.write_bytes(b"PK\x03\x04 a new checkpoint")
        raise AssertionError("trained although the output was refused")
    return train


@pytest.mark.parametrize("name", ["prep/00000.bin", "t1.onnx", "missing/x.pth.tar", "prep"])
def test_train_refuses_its_output_before_training(name, user_bin, tmp_path, monkeypatch, capsys):
    import genet.cli.train as train_cli

    (tmp_path / "t1.onnx").write_bytes(b"\x08\x07 an ONNX model")
    calls: list = []
    monkeypatch.setattr(train_cli, "train_checkpoint", _fake_training(calls))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert run_cli(train_cli.main, [str(tmp_path / "data"), "-o", str(tmp_path / name)]) == 2
    assert calls == []
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_train_default_output_is_not_replaced(tmp_path, monkeypatch):
    import genet.cli.train as train_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "genet.pth.tar").write_bytes(b"PK\x03\x04 the user's checkpoint")
    calls: list = []
    monkeypatch.setattr(train_cli, "train_checkpoint", _fake_training(calls))
    assert run_cli(train_cli.main, [str(tmp_path / "data")]) == 2
    assert calls == [] and (tmp_path / "genet.pth.tar").read_bytes() == b"PK\x03\x04 the user's checkpoint"


def test_pthtar2onnx_refuses_its_checkpoint_and_other_kinds(make_checkpoint, user_bin, capsys):
    from genet.cli.pthtar2onnx import main

    checkpoint = make_checkpoint()
    before = checkpoint.read_bytes()
    assert run_cli(main, [str(checkpoint), "-o", str(checkpoint)]) == 2
    assert checkpoint.read_bytes() == before
    assert run_cli(main, [str(checkpoint), "-o", str(user_bin)]) == 2
    assert user_bin.read_bytes() == USER


def test_get_info_refuses_a_binary_file(user_bin, tmp_path):
    from genet.cli.get_info import main

    target = tmp_path / "x.bin"
    target.write_bytes(USER)
    assert run_cli(main, ["bin", str(user_bin.parent), str(target), "32", "32"]) == 2
    assert target.read_bytes() == USER


def test_compare_outputs_json_of_another_kind_and_named_json(tmp_path):
    from genet.cli.compare_outputs import main

    run = tmp_path / "run"
    run.mkdir()
    write_dump(run, "a", np.arange(10, dtype=np.float32))
    other = tmp_path / "x.bin"
    other.write_bytes(USER)
    assert run_cli(main, [str(run), str(run), "--json", str(other)]) == 2
    assert other.read_bytes() == USER
    named = tmp_path / "c.json"
    named.write_text('{"previous": true}')
    assert run_cli(main, [str(run), str(run), "--json", str(named)]) == 0
    assert "previous" not in named.read_text()


def test_export_times_refuses_a_file_of_another_kind(user_bin):
    from genet.formats.calltimes import check_export_path

    with pytest.raises(GenetError, match="is not a JSON file"):
        check_export_path(user_bin)


def test_perf_compare_default_names_are_replaced_only_when_its_own(tmp_path, monkeypatch):
    from genet.cli.perf_compare import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "perf_compare.md").write_text("my notes\n")
    assert run_cli(main, ["310:1=100,4=200", "--no-plot"]) == 2
    assert (tmp_path / "perf_compare.md").read_text() == "my notes\n"
    assert run_cli(main, ["310:1=100,4=200", "--no-plot", "--out", "perf_compare"]) == 0   # named: replaced
    assert run_cli(main, ["310:1=100,4=200", "--no-plot"]) == 0                            # its own: replaced


def test_acc_eval_refuses_its_labels_as_output(tmp_path):
    from genet.cli.acc_eval import main

    dumps = tmp_path / "dumps"
    dumps.mkdir()
    write_dump(dumps, "00000", np.eye(10, dtype=np.float32)[3])
    (tmp_path / "val_label.txt").write_text("00000.bin 3\n")
    assert run_cli(main, [str(dumps), str(tmp_path / "val_label.txt"), str(tmp_path), "val_label.txt"]) == 2
    assert (tmp_path / "val_label.txt").read_text() == "00000.bin 3\n"


def test_perf_compare_no_plot_leaves_no_plot_of_an_earlier_table(tmp_path, monkeypatch):
    from genet.cli.perf_compare import main

    monkeypatch.chdir(tmp_path)
    assert run_cli(main, ["310:1=100,4=200"]) == 0
    assert (tmp_path / "perf_compare.png").is_file()
    assert run_cli(main, ["310:1=300,4=400", "--no-plot"]) == 0
    assert not (tmp_path / "perf_compare.png").exists()
