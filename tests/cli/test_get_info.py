"""get_info.py: the .info list in bin and jpg modes, and its bad-input paths."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from genet.cli.get_info import main
from genet.core.errors import GenetError, run_cli
from genet.formats.info import InfoEntry, read_info
from genet.formats.listing import list_bins
from tests.conftest import run_script
from tests.data_helpers import fails_within


@pytest.fixture
def prep_dataset(tmp_path):
    """A folder like preprocess.py's output, plus things get_info must skip."""
    folder = tmp_path / "prep_dataset"
    folder.mkdir()
    for index in (2, 0, 11, 1):
        (folder / f"{index:05d}.bin").write_bytes(bytes(12288))
    (folder / "val_label.txt").write_text("00000.bin 3\n")
    (folder / "images.npy").write_bytes(b"x")
    (folder / "sub.bin").mkdir()
    return folder


def test_seed_command_writes_index_path_width_height(prep_dataset, tmp_path):
    result = run_script("get_info.py", "bin", "./prep_dataset", "./genet_prep_bin.info", "32", "32", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "genet_prep_bin.info").read_text() == (
        "0 ./prep_dataset/00000.bin 32 32\n"
        "1 ./prep_dataset/00001.bin 32 32\n"
        "2 ./prep_dataset/00002.bin 32 32\n"
        "3 ./prep_dataset/00011.bin 32 32\n")


def test_folder_is_joined_as_given(prep_dataset, tmp_path):
    for given in (f"{prep_dataset}/", str(prep_dataset)):
        entries = list_bins(given, 32, 32)
        assert entries[0] == InfoEntry(0, f"{prep_dataset}/00000.bin", 32, 32)
    assert main(["bin", str(prep_dataset), str(tmp_path / "x.info"), "16", "8"]) == 0
    assert read_info(tmp_path / "x.info") == list_bins(str(prep_dataset), 16, 8)


def test_jpg_mode_reads_each_real_size_and_any_case(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    sizes = {"b.JPG": (40, 30), "a.jpg": (32, 32), "c.jpeg": (17, 9), "d.JPEG": (8, 64)}
    for name, size in sizes.items():
        Image.new("RGB", size, (200, 10, 10)).save(folder / name, format="JPEG")
    Image.new("RGB", (5, 5)).save(folder / "e.png")
    assert main(["jpg", str(folder), str(tmp_path / "jpg.info")]) == 0
    expected = [InfoEntry(i, f"{folder}/{name}", *sizes[name]) for i, name in enumerate(sorted(sizes))]
    assert read_info(tmp_path / "jpg.info") == expected


@pytest.mark.parametrize("argv, message", [
    (["bin", "{tmp}/missing", "{tmp}/o.info", "32", "32"], "missing: no such folder"),
    (["bin", "{tmp}/empty", "{tmp}/o.info", "32", "32"], "empty: no .bin files"),
    (["bin", "{tmp}/o.txt", "{tmp}/o.info", "32", "32"], "o.txt: not a folder"),
    (["bin", "{tmp}/bins", "{tmp}/o.info", "0", "32"], "width and height must be positive"),
    (["jpg", "{tmp}/bins", "{tmp}/o.info"], "bins: no .jpg/.jpeg files"),
    (["jpg", "{tmp}/broken", "{tmp}/o.info"], "bad.jpg: not a readable image"),
    (["bin", "{tmp}/bins", "{tmp}/no_dir/o.info", "32", "32"], "output folder .*no_dir does not exist"),
    (["bin", "{tmp}/bins", "{tmp}/empty", "32", "32"], "empty: is a folder"),
])
def test_bad_input(tmp_path, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bins").mkdir()
    (tmp_path / "bins" / "0.bin").write_bytes(b"")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bad.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "o.txt").write_text("")
    with pytest.raises(GenetError, match=message):
        main([arg.format(tmp=tmp_path) for arg in argv])
    assert not (tmp_path / "o.info").exists()


@pytest.mark.parametrize("argv", [
    [], ["bin"], ["bin", "d", "o.info"], ["bin", "d", "o.info", "32"], ["bin", "d", "o.info", "32", "x"],
    ["jpg", "d"], ["jpg", "d", "o.info", "extra"], ["png", "d", "o.info"],
])
def test_wrong_arguments_are_one_line(argv, capsys):
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "see --help" in err


@pytest.mark.parametrize("folder, message", [
    ("prep\ndataset", "holds a line break"),                 # the info file would be broken
    ("prep\x0bset", "holds a line break"),                   # a line break to str.splitlines too
    (" prep", "starts or ends with whitespace"),              # benchmark.py strips it: the files are not found
    (os.fsdecode(b"prep\xff"), "not UTF-8"),                  # a traceback before
])
def test_folder_names_the_info_format_cannot_carry_are_refused(tmp_path, monkeypatch, folder, message):
    monkeypatch.chdir(tmp_path)
    os.mkdir(folder)
    with open(os.path.join(folder, "00000.bin"), "wb") as f:
        f.write(bytes(12288))
    with pytest.raises(GenetError, match=message):
        main(["bin", folder, "o.info", "32", "32"])
    assert not (tmp_path / "o.info").exists()


def test_an_info_file_that_is_a_fifo_is_refused_not_read(tmp_path):
    os.mkfifo(tmp_path / "x.info")
    with fails_within(10), pytest.raises(GenetError, match="not a regular file"):
        read_info(tmp_path / "x.info")


def test_inner_spaces_are_carried(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prep set").mkdir()
    (tmp_path / "prep set" / "00000.bin").write_bytes(bytes(4))
    assert main(["bin", "prep set", "o.info", "32", "32"]) == 0
    assert read_info(tmp_path / "o.info") == [InfoEntry(0, "prep set/00000.bin", 32, 32)]


def test_file_names_the_info_format_cannot_carry_are_refused(tmp_path):
    (tmp_path / "bins").mkdir()
    (tmp_path / "bins" / "a\nb.bin").write_bytes(bytes(4))
    with pytest.raises(GenetError, match="holds a line break"):
        main(["bin", str(tmp_path / "bins"), str(tmp_path / "o.info"), "32", "32"])


@pytest.mark.slow
def test_subprocess_errors(tmp_path):
    usage = run_script("get_info.py", "bin", "./prep_dataset", cwd=tmp_path)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1 and "required: info" in usage.stderr
    missing = run_script("get_info.py", "bin", "./prep_dataset", "./x.info", "32", "32", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr == "get_info.py: error: ./prep_dataset: no such folder\n"
    assert list(tmp_path.iterdir()) == []
