"""Safe output (genet.core.fsio): whole or nothing, never replace what genet did not write, no leftovers."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import genet.core.fsio
from genet.core.errors import GenetError
from genet.core.fsio import atomic_dir, atomic_files, atomic_path, remove_dead_leftovers


def write_folder(path, **files):
    with atomic_dir(path, ours=lambda name: len(name) == 1) as tmp:
        for name, text in files.items():
            (tmp / name).write_text(text)


def test_a_folder_genet_wrote_is_replaced_whole(tmp_path):
    write_folder(tmp_path / "out", a="1")
    write_folder(tmp_path / "out", b="2")
    assert sorted(os.listdir(tmp_path / "out")) == ["b"]
    assert os.listdir(tmp_path) == ["out"]


@pytest.mark.parametrize("existing", [{"notes.txt": "mine"}, {"data_batch_1": "x", "test_batch": "y"}])
def test_a_folder_with_the_users_files_is_refused_and_kept(tmp_path, existing):
    (tmp_path / "out").mkdir()
    for name, text in existing.items():
        (tmp_path / "out" / name).write_text(text)
    with pytest.raises(GenetError, match="genet did not write"):
        write_folder(tmp_path / "out", a="1")
    assert {p.name: p.read_text() for p in (tmp_path / "out").iterdir()} == existing
    assert os.listdir(tmp_path) == ["out"]


def test_names_the_caller_owns_allow_an_unmarked_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "00000.bin").write_text("old")
    with atomic_dir(tmp_path / "out", ours=lambda name: name.endswith(".bin")) as tmp:
        (tmp / "00000.bin").write_text("new")
    assert (tmp_path / "out" / "00000.bin").read_text() == "new"


@pytest.mark.parametrize("output, relation", [("data", "is"), (".", None), ("data/sub", "lies inside"),
                                              ("top", "holds")])
def test_outputs_that_are_hold_or_lie_in_an_input_are_refused(tmp_path, monkeypatch, output, relation):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "top" / "data").mkdir(parents=True)
    (tmp_path / "top" / "data" / "test_batch").write_text("x")
    inputs = ["top/data"]
    output = {"data": "top/data", "data/sub": "top/data/sub"}.get(output, output)
    with pytest.raises(GenetError) as error:
        with atomic_dir(output, inputs=inputs) as tmp:
            (tmp / "f").write_text("1")
    assert relation is None or relation in str(error.value)
    assert (tmp_path / "top" / "data" / "test_batch").read_text() == "x"
    assert sorted(os.listdir(tmp_path)) == ["top"]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, OSError])
def test_a_failed_run_keeps_the_old_folder_and_leaves_nothing(tmp_path, interrupt):
    write_folder(tmp_path / "out", a="old")
    with pytest.raises(interrupt):
        with atomic_dir(tmp_path / "out", ours=lambda name: name == "a") as tmp:
            (tmp / "a").write_text("new")
            raise interrupt()
    assert (tmp_path / "out" / "a").read_text() == "old"
    assert os.listdir(tmp_path) == ["out"]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_leftovers_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    dead, alive = dead_pid(), os.getppid()
    leftovers = [f".out.{dead}.abc123.tmp", f".out.{dead}.x_1.old", f".result.json.{dead}.k9.tmp.json"]
    kept = [f".out.{alive}.abc123.tmp", ".out.notapid.tmp", "other"]
    for name in leftovers[:2] + kept[:1]:
        (tmp_path / name).mkdir()
    for name in leftovers[2:] + kept[1:]:
        (tmp_path / name).write_text("x")
    remove_dead_leftovers(tmp_path / "out")
    remove_dead_leftovers(tmp_path / "result.json")
    assert sorted(os.listdir(tmp_path)) == sorted(kept)


def test_an_output_file_that_is_a_folder_is_refused_before_writing(tmp_path):
    (tmp_path / "a.json").mkdir()
    with pytest.raises(GenetError, match="is a folder"):
        with atomic_files([tmp_path / "b.csv", tmp_path / "a.json"]):
            raise AssertionError("must not be reached")
    assert sorted(os.listdir(tmp_path)) == ["a.json"]


def test_several_files_appear_together_or_not_at_all(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    with pytest.raises(RuntimeError):
        with atomic_files([tmp_path / "a.txt", tmp_path / "b.txt"]) as (a, b):
            a.write_text("new a")
            b.write_text("new b")
            raise RuntimeError
    assert sorted(os.listdir(tmp_path)) == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old a"
    with atomic_files([tmp_path / "a.txt", tmp_path / "b.txt"]) as (a, b):
        a.write_text("new a")
        b.write_text("new b")
    assert (tmp_path / "a.txt").read_text() == "new a" and (tmp_path / "b.txt").read_text() == "new b"


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    (tmp_path / "m.onnx").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "m.onnx", suffix=".onnx") as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["m.onnx"] and (tmp_path / "m.onnx").read_text() == "old"


CONCURRENT_WRITER = """
import sys
from genet.core.fsio import atomic_dir
with atomic_dir(sys.argv[1], ours=lambda name: name.endswith(".bin")) as tmp:
    for i in range(200):
        (tmp / f"{i:05d}.bin").write_text(sys.argv[2])
"""


def test_concurrent_runs_end_with_one_whole_result_and_no_leftovers(tmp_path):
    writers = [subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, str(tmp_path / "out"), str(n)],
                                stderr=subprocess.PIPE, text=True) for n in range(6)]
    errors = [writer.communicate()[1] for writer in writers]
    assert all(writer.returncode == 0 for writer in writers), errors
    names = sorted(os.listdir(tmp_path / "out"))
    assert len(names) == 200
    assert len({(tmp_path / "out" / name).read_text() for name in names}) == 1
    assert os.listdir(tmp_path) == ["out"]


# --- a signal between a system call and the Python line after it ---------------------------------

def interrupt_after(real):
    """``real`` does its work, then a signal (here KeyboardInterrupt) lands before its result is held."""
    def call(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt
    return call


@pytest.mark.parametrize("kind", ["dir", "files"])
def test_a_signal_right_after_the_temporary_is_created_leaves_nothing(tmp_path, monkeypatch, kind):
    if kind == "dir":
        monkeypatch.setattr(genet.core.fsio.tempfile, "mkdtemp", interrupt_after(tempfile.mkdtemp))
        writer = atomic_dir(tmp_path / "out")
    else:
        monkeypatch.setattr(genet.core.fsio.tempfile, "mkstemp", interrupt_after(tempfile.mkstemp))
        writer = atomic_files([tmp_path / "a.json"])
    with pytest.raises(KeyboardInterrupt):
        with writer:
            raise AssertionError("must not be reached")
    assert os.listdir(tmp_path) == []


def test_a_signal_right_after_the_old_folder_is_moved_aside_puts_it_back(tmp_path, monkeypatch):
    write_folder(tmp_path / "out", a="old")
    real_rename = os.rename

    def rename(source, destination):
        real_rename(source, destination)
        if Path(destination).name == "x":                    # the old folder, just moved aside
            raise KeyboardInterrupt

    monkeypatch.setattr(genet.core.fsio.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        write_folder(tmp_path / "out", a="new")
    assert os.listdir(tmp_path) == ["out"] and (tmp_path / "out" / "a").read_text() == "old"
