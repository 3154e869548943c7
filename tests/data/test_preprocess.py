"""preprocess.py: exact normalization, the seed's files, packed arrays, bad input, output safety, atomic
output."""

from __future__ import annotations

import errno
import os
import shutil

import numpy as np
import pytest

import genet.data.preprocess
from genet.cli.preprocess import main
from genet.core.constants import CIFAR10_ARCHIVE, CIFAR10_FOLDER, GENERATED_ARCHIVE
from genet.core.errors import GenetError, run_cli
from genet.data.preprocess import image_stem, normalize
from genet.data.provenance import GENERATED_MARK, is_generated
from genet.formats.labels import read_labels
from tests.conftest import run_script
from tests.data_helpers import (
    archive_only_copy,
    batch_dict,
    make_datasets_path,
    read_test_batch,
    torchvision_reference,
    write_pickle,
)

COUNT = 120


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    return make_datasets_path(tmp_path_factory.mktemp("prep"), test=COUNT, train=15, archive=True)


def read_bins(folder, count):
    return np.stack([np.fromfile(folder / f"{i:05d}.bin", np.float32).reshape(3, 32, 32) for i in range(count)])


def assert_seed_output(out, data, labels):
    """The seed's layout: 00000.bin.. (12,288 bytes each, torchvision's values) and val_label.txt,
    with the generated mark (the data are generated)."""
    names = sorted(p.name for p in out.iterdir())
    bins = [f"{i:05d}.bin" for i in range(len(labels))]
    assert names == bins + [GENERATED_MARK, "val_label.txt"]
    assert all((out / name).stat().st_size == 12288 for name in bins)
    assert np.array_equal(read_bins(out, len(labels)), torchvision_reference(data))
    expected_lines = [f"{i:05d}.bin {label}" for i, label in enumerate(labels)]
    assert (out / "val_label.txt").read_text().splitlines() == expected_lines


# --- normalization -----------------------------------------------------------------------

def test_normalize_is_bit_identical_to_torchvision_for_every_pixel_value():
    every_value = np.tile(np.arange(256, dtype=np.uint8), 12).reshape(1, 3072)       # all 256 values per channel
    random = np.random.default_rng(0).integers(0, 256, (300, 3072), dtype=np.uint8)  # spans several chunks
    data = np.concatenate([every_value, random])
    ours, reference = normalize(data), torchvision_reference(data)
    assert ours.dtype == np.float32 and ours.shape == (301, 3, 32, 32)
    assert np.abs(ours - reference).max() <= 1e-6
    assert np.array_equal(ours.view(np.uint32), reference.view(np.uint32))


# --- the seed's command line --------------------------------------------------------------

def test_seed_command_from_generated_folder(datasets, tmp_path):
    result = run_script("preprocess.py", str(datasets), "./prep_dataset", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data, labels = read_test_batch(datasets)
    assert_seed_output(tmp_path / "prep_dataset", data, labels)
    assert read_labels(tmp_path / "prep_dataset" / "val_label.txt")["00000"] == labels[0]
    assert [p.name for p in tmp_path.iterdir()] == ["prep_dataset"]          # no temporary folder left


def test_archive_and_batches_folder_give_the_same_files(datasets, tmp_path):
    only_archive = archive_only_copy(datasets, tmp_path / "archive_only")
    assert (only_archive / GENERATED_ARCHIVE).is_file()
    assert main([str(only_archive), str(tmp_path / "from_archive"), "--quiet"]) == 0
    assert main([str(datasets / CIFAR10_FOLDER), str(tmp_path / "from_folder"), "--quiet"]) == 0
    data, labels = read_test_batch(datasets)
    assert_seed_output(tmp_path / "from_archive", data, labels)
    for path in (tmp_path / "from_folder").iterdir():
        assert path.read_bytes() == (tmp_path / "from_archive" / path.name).read_bytes()


def test_packed_arrays_equal_the_bin_files(datasets, tmp_path):
    assert main([str(datasets), str(tmp_path / "both"), "--packed", "--quiet"]) == 0
    images = np.load(tmp_path / "both" / "images.npy")
    labels = np.load(tmp_path / "both" / "labels.npy")
    assert images.dtype == np.float32 and images.shape == (COUNT, 3, 32, 32) and labels.dtype == np.int64
    assert np.array_equal(images, read_bins(tmp_path / "both", COUNT))
    assert labels.tolist() == read_test_batch(datasets)[1]
    assert main([str(datasets), str(tmp_path / "packed"), "--packed-only", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "packed").iterdir()) == [
        GENERATED_MARK, "images.npy", "labels.npy", "packed.json", "val_label.txt"]
    assert np.load(tmp_path / "packed" / "images.npy").tobytes() == images.tobytes()
    assert (tmp_path / "packed" / "val_label.txt").read_bytes() == (tmp_path / "both" / "val_label.txt").read_bytes()


def test_limit_and_train_split(datasets, tmp_path):
    assert main([str(datasets), str(tmp_path / "first7"), "--limit", "7", "--quiet"]) == 0
    data, labels = read_test_batch(datasets)
    assert_seed_output(tmp_path / "first7", data[:7], labels[:7])
    assert main([str(datasets), str(tmp_path / "train"), "--split", "train"]) == 0
    assert len(list((tmp_path / "train").glob("*.bin"))) == 15


def test_blocks_of_images_are_written_in_order(datasets, tmp_path, monkeypatch):
    monkeypatch.setattr(genet.data.preprocess, "WRITE_BLOCK", 7)          # 120 images: 17 full blocks and one of 1
    assert main([str(datasets), str(tmp_path / "blocks"), "--quiet"]) == 0
    assert_seed_output(tmp_path / "blocks", *read_test_batch(datasets))


def test_no_torch_on_this_path(datasets, tmp_path):
    code = ("import sys; from genet.cli.preprocess import main; "
            f"main([{str(datasets)!r}, {str(tmp_path / 'out')!r}, '--quiet', '--packed']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))")
    result = run_script("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- bad input -------------------------------------------------------------------------------

def bad_batch_folder(root, batch):
    folder = root / CIFAR10_FOLDER
    folder.mkdir(parents=True)
    write_pickle(folder / "test_batch", batch)
    return root


@pytest.mark.parametrize("make_source, message", [
    (lambda tmp: tmp / "missing", "no such file or folder"),
    (lambda tmp: tmp, "holds neither"),
    (lambda tmp: bad_batch_folder(tmp / "shape", batch_dict(data=np.zeros((4, 1024), np.uint8))), "shape"),
    (lambda tmp: bad_batch_folder(tmp / "dtype", batch_dict(data=np.zeros((4, 3072)))), "dtype float64"),
    (lambda tmp: bad_batch_folder(tmp / "labels", batch_dict(labels=[0, 1, 2, 12])), "outside 0..9"),
    (lambda tmp: bad_batch_folder(tmp / "empty", batch_dict(n=0)), "no images to write"),
])
def test_bad_source(tmp_path, make_source, message):
    (tmp_path / "src").mkdir()
    source = make_source(tmp_path / "src")
    with pytest.raises(GenetError, match=message):
        main([str(source), str(tmp_path / "out"), "--quiet"])
    assert not (tmp_path / "out").exists()


def test_truncated_test_batch(datasets, tmp_path):
    folder = tmp_path / CIFAR10_FOLDER
    folder.mkdir()
    raw = (datasets / CIFAR10_FOLDER / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(GenetError, match="test_batch: not a readable CIFAR-10 batch .corrupted or truncated"):
        main([str(tmp_path), str(tmp_path / "out"), "--quiet"])


def test_wrong_archive_md5_and_bad_options(datasets, tmp_path):
    with pytest.raises(GenetError, match="MD5 .* does not match 0{32} .given with --md5."):
        main([str(datasets / GENERATED_ARCHIVE), str(tmp_path / "out"), "--md5", "0" * 32, "--quiet"])
    with pytest.raises(GenetError, match="limit must be at least 1"):
        main([str(datasets), str(tmp_path / "out"), "--limit", "0"])
    with pytest.raises(GenetError, match="not allowed with"):
        main([str(datasets), str(tmp_path / "out"), "--packed", "--packed-only"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("out, message", [
    ("a_file/prep", "output folder .*a_file does not exist"),
    ("a_file", "exists and is not a folder"),
    pytest.param("/proc/genet_prep", "/proc/genet_prep: cannot write",
                 marks=pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")),
])
def test_unwritable_output(datasets, tmp_path, out, message):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(GenetError, match=message):
        main([str(datasets), str(tmp_path / out), "--quiet"])
    assert (tmp_path / "a_file").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_parent(datasets, tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir(mode=0o555)
    with pytest.raises(GenetError, match="not writable"):
        main([str(datasets), str(parent / "prep"), "--quiet"])


def test_subprocess_error_is_one_line(tmp_path):
    result = run_script("preprocess.py", str(tmp_path / "nowhere"), "./prep_dataset", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"preprocess.py: error: {tmp_path / 'nowhere'}: no such file or folder\n"
    assert not (tmp_path / "prep_dataset").exists()


# --- atomic output -------------------------------------------------------------------------

@pytest.fixture
def disk_full_after(monkeypatch):
    """Make the n-th .bin write fail as a full disk would."""
    real_write = genet.data.preprocess._write_file

    def arm(n):
        written = []

        def write(path, image):
            if len(written) == n:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))     # as a failed write: no file name
            written.append(path)
            real_write(path, image)
        monkeypatch.setattr(genet.data.preprocess, "_write_file", write)
    return arm


def test_failed_run_leaves_nothing(datasets, tmp_path, disk_full_after):
    disk_full_after(50)
    with pytest.raises(GenetError, match=r"prep: cannot write 00050.bin: No space left on device"):
        main([str(datasets), str(tmp_path / "prep"), "--quiet"])
    assert list(tmp_path.iterdir()) == []


def test_failed_rerun_keeps_the_old_output_and_a_good_one_replaces_it(datasets, tmp_path, disk_full_after):
    out = tmp_path / "prep"
    assert main([str(datasets), str(out), "--limit", "10", "--quiet"]) == 0
    (out / "99999.bin").write_bytes(b"old")                          # a name preprocess writes: replaced
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    disk_full_after(5)
    with pytest.raises(GenetError, match="No space left"):
        main([str(datasets), str(out), "--quiet"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["prep"]
    disk_full_after(10**9)
    assert main([str(datasets), str(out), "--quiet"]) == 0
    data, labels = read_test_batch(datasets)
    assert_seed_output(out, data, labels)                            # 99999.bin is gone
    assert [p.name for p in tmp_path.iterdir()] == ["prep"]


def test_interrupted_run_leaves_nothing(datasets, tmp_path, monkeypatch):
    def interrupt(path, image):
        raise KeyboardInterrupt
    monkeypatch.setattr(genet.data.preprocess, "_write_file", interrupt)
    with pytest.raises(KeyboardInterrupt):
        main([str(datasets), str(tmp_path / "prep"), "--quiet"])
    assert list(tmp_path.iterdir()) == []


def test_download_option_fetches_then_preprocesses(datasets, tmp_path):
    archive = datasets / GENERATED_ARCHIVE
    md5 = (datasets / (GENERATED_ARCHIVE + ".md5")).read_text().split()[0]
    argv = [str(tmp_path / "datasets"), str(tmp_path / "prep"), "--download", "--url", archive.as_uri(), "--quiet"]
    with pytest.raises(GenetError, match="expected c58f30108f718f92721af3b95e74349a; nothing was kept"):
        main(argv)
    assert not (tmp_path / "prep").exists() and not (tmp_path / "datasets" / CIFAR10_ARCHIVE).exists()
    assert main(argv + ["--md5", md5]) == 0
    assert_seed_output(tmp_path / "prep", *read_test_batch(datasets))


# --- output safety: never replace what preprocess.py did not write -------------

def tree(root):
    """Every path under ``root`` with its bytes (None for a folder)."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("out, message", [
    ("work/data", "holds the input"),                          # the dataset folder (datasets_path)
    (f"work/data/{CIFAR10_FOLDER}", "is the input"),           # the batches folder
    ("work", "holds the input"),                               # a folder containing the dataset
    ("work/mine", "genet did not write"),                      # an unrelated folder with the user's files
    (".", "not . or .."),                                      # run from inside the dataset folder
    ("..", "not . or .."),
])
def test_output_that_is_holds_or_lies_in_the_input_or_holds_user_files_is_refused(datasets, tmp_path, monkeypatch,
                                                                                  capsys, out, message):
    shutil.copytree(datasets / CIFAR10_FOLDER, tmp_path / "work" / "data" / CIFAR10_FOLDER)
    (tmp_path / "work" / "mine").mkdir()
    (tmp_path / "work" / "mine" / "notes.txt").write_text("mine")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "work" / "data" if out in (".", "..") else tmp_path / "elsewhere")
    before = tree(tmp_path)
    output = out if out in (".", "..") else str(tmp_path / out)
    assert run_cli(main, [str(tmp_path / "work" / "data"), output, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert tree(tmp_path) == before                            # nothing deleted, no .old/.tmp left


def test_generated_input_is_marked_in_the_output_and_said_in_the_log(datasets, tmp_path, capsys):
    assert main([str(datasets), str(tmp_path / "prep"), "--limit", "3"]) == 0
    assert is_generated(tmp_path / "prep")
    assert "generated data, NOT CIFAR-10" in capsys.readouterr().err


def test_image_stem_is_five_digits_then_as_many_as_needed():
    assert [image_stem(0, 10), image_stem(42, 100_000), image_stem(7, 100_001)] == ["00000", "00042", "000007"]


def test_a_write_failure_names_the_file(datasets, tmp_path, disk_full_after):
    disk_full_after(3)
    with pytest.raises(GenetError, match="cannot write 00003.bin: No space left"):
        main([str(datasets), str(tmp_path / "prep"), "--quiet"])
