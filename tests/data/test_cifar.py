"""The CIFAR-10 python-version reader: key styles, locations, archive checks, bad batches, download."""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile

import numpy as np
import pytest

from genet.core.constants import CIFAR10_ARCHIVE, CIFAR10_ARCHIVE_MD5, CIFAR10_FOLDER, GENERATED_ARCHIVE
from genet.core.errors import GenetError
from genet.data.cifar import (
    CifarSource,
    download_archive,
    find_source,
    load_split,
    parse_batch,
    read_split,
    verify_archive,
)
from tests.data_helpers import (
    archive_only_copy,
    batch_dict,
    fails_within,
    load_reference_batch,
    make_datasets_path,
    read_test_batch,
    write_pickle,
)


def quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Generated data with 10 training and 30 test images, folder and archive."""
    return make_datasets_path(tmp_path_factory.mktemp("cifar"), test=30, train=10, archive=True)


# --- key styles --------------------------------------------------------------------------

def test_python2_style_batch_has_bytes_keys_and_reads_like_torchvision(datasets):
    raw = (datasets / CIFAR10_FOLDER / "test_batch").read_bytes()
    assert all(isinstance(key, bytes) for key in pickle.loads(raw, encoding="bytes"))
    split = parse_batch(raw, "test_batch")
    data, labels = read_test_batch(datasets)
    np.testing.assert_array_equal(split.data, data)
    assert split.labels.tolist() == labels and split.labels.dtype == np.int64


@pytest.mark.parametrize("bytes_keys", [False, True], ids=["str-keys", "bytes-keys"])
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_pickles_with_either_key_type(tmp_path, bytes_keys, protocol):
    batch = batch_dict(n=5, bytes_keys=bytes_keys)
    raw = write_pickle(tmp_path / "test_batch", batch, protocol).read_bytes()
    split = parse_batch(raw, "test_batch")
    key = b"data" if bytes_keys else "data"
    np.testing.assert_array_equal(split.data, batch[key])
    assert split.labels.tolist() == batch[b"labels" if bytes_keys else "labels"]


def test_labels_as_numpy_array(tmp_path):
    raw = pickle.dumps(batch_dict(n=3, labels=np.array([0, 9, 4], np.int32)), protocol=2)
    assert parse_batch(raw, "b").labels.tolist() == [0, 9, 4]


@pytest.mark.parametrize("protocol", [2, 5])
def test_fortran_ordered_data_reads_as_its_c_order_values(protocol):
    data = np.random.default_rng(1).integers(0, 256, (4, 3072), dtype=np.uint8)
    batch = batch_dict(n=4, data=np.asfortranarray(data))
    assert parse_batch(pickle.dumps(batch, protocol=protocol), "b").data.tolist() == data.tolist()


@pytest.mark.parametrize("labels", [
    [np.int64(3), np.int64(0), np.int64(9)],
    np.array([3, 0, 9], ">i2"),
    np.array([3, 0, 9], np.uint8),
    (3, 0, 9),
], ids=["numpy-scalars", "big-endian-array", "uint8-array", "tuple"])
@pytest.mark.parametrize("protocol", [2, 5])
def test_label_encodings(labels, protocol):
    raw = pickle.dumps(batch_dict(n=3, labels=labels), protocol=protocol)
    assert parse_batch(raw, "b").labels.tolist() == [3, 0, 9]


def test_head_of_a_split(datasets):
    split = load_split(datasets, "train", log=quiet)
    head = split.head(4)
    np.testing.assert_array_equal(head.data, split.data[:4])
    assert head.labels.tolist() == split.labels[:4].tolist() and head.generated


class _ShortArray:
    """Pickles as a uint8 (4, 3072) array whose data are only 10 bytes long (a damaged file)."""

    def __reduce__(self):
        reconstruct = np.zeros(1).__reduce__()[0]
        return reconstruct, (np.ndarray, (0,), b"b"), (1, (4, 3072), np.dtype(np.uint8), False, b"\0" * 10)


# --- where the data are ------------------------------------------------------------------

def test_every_accepted_location_gives_the_same_images(datasets, tmp_path):
    expected, _ = read_test_batch(datasets)
    only_archive = archive_only_copy(datasets, tmp_path / "only_archive")
    locations = {
        "datasets_path": (datasets, CifarSource(folder=datasets / CIFAR10_FOLDER)),
        "batches folder": (datasets / CIFAR10_FOLDER, CifarSource(folder=datasets / CIFAR10_FOLDER)),
        "archive": (datasets / GENERATED_ARCHIVE, CifarSource(archive=datasets / GENERATED_ARCHIVE)),
        "folder with archive": (only_archive, CifarSource(archive=only_archive / GENERATED_ARCHIVE)),
    }
    for name, (path, source) in locations.items():
        assert find_source(path, log=quiet) == source, name
        np.testing.assert_array_equal(load_split(path, log=quiet).data, expected, err_msg=name)


def test_train_split_concatenates_the_five_batches_in_order(datasets):
    split = load_split(datasets, "train", log=quiet)
    parts = [load_reference_batch(datasets / CIFAR10_FOLDER / f"data_batch_{i}") for i in range(1, 6)]
    np.testing.assert_array_equal(split.data, np.concatenate([data for data, _ in parts]))
    assert split.labels.tolist() == [label for _, labels in parts for label in labels]
    assert len(split.labels) == 10


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "absent", "no such file or folder"),
    (lambda tmp: tmp, "holds neither cifar-10-batches-py/"),
])
def test_nothing_to_read(tmp_path, make, message):
    with pytest.raises(GenetError, match=message):
        find_source(make(tmp_path), log=quiet)


def test_folder_without_test_batch(datasets, tmp_path):
    folder = tmp_path / CIFAR10_FOLDER
    folder.mkdir()
    (folder / "batches.meta").write_bytes((datasets / CIFAR10_FOLDER / "batches.meta").read_bytes())
    with pytest.raises(GenetError, match=r"test_batch: missing"):
        load_split(tmp_path, log=quiet)


# --- bad batches -------------------------------------------------------------------------

@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[: len(raw) // 2], "corrupted or truncated pickle"),
    (lambda raw: raw[:3], "corrupted or truncated pickle"),
    (lambda raw: b"", "corrupted or truncated pickle"),
    (lambda raw: bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8)),
     "corrupted or truncated pickle"),
])
def test_damaged_pickle(datasets, damage, message):
    raw = (datasets / CIFAR10_FOLDER / "test_batch").read_bytes()
    with pytest.raises(GenetError, match=message):
        parse_batch(damage(raw), "test_batch")


@pytest.mark.parametrize("batch, message", [
    ([1, 2, 3], "holds a list, not a dict"),
    ({"labels": [1]}, "no 'data' entry"),
    (batch_dict(data=np.zeros((4, 3071), np.uint8)), r"shape \(4, 3071\), expected \(N, 3072\)"),
    (batch_dict(data=np.zeros((4, 3, 32, 32), np.uint8)), r"shape \(4, 3, 32, 32\)"),
    (batch_dict(data=np.zeros((4, 3072), np.float32)), "dtype float32, expected uint8"),
    (batch_dict(data=np.zeros((4, 3072), np.int16)), "dtype int16, expected uint8"),
    (batch_dict(data=[[0] * 3072] * 4), "'data' is a list"),
    (batch_dict(labels=[0, 1, 10, 2]), "label 10 of image 2 is outside 0..9"),
    (batch_dict(labels=[-1, 1, 1, 2]), "label -1 of image 0 is outside 0..9"),
    (batch_dict(labels=[0, 1, 2]), "3 labels for 4 images"),
    (batch_dict(labels=["cat", "dog", "cat", "dog"]), "must be a list of integers"),
    (batch_dict(labels=[[0], [1], [2], [3]]), "must be a list of integers"),
    (batch_dict(labels=[0.0, 1.0, 2.0, 3.0]), "must be a list of integers"),
    (batch_dict(labels=[True, False, True, False]), "must be a list of integers"),
    (batch_dict(labels=np.zeros(4, np.float32)), "must be a list of integers"),
    (batch_dict(labels=np.zeros((4, 1), np.int64)), "must be a list of integers"),
    (batch_dict(data=_ShortArray()), "corrupted or truncated"),
    (batch_dict(data=np.array([[None] * 3072] * 4, dtype=object)), "object dtype"),
])
def test_invalid_batch(batch, message):
    with pytest.raises(GenetError, match=message):
        parse_batch(pickle.dumps(batch, protocol=2), "where")


def test_pickle_cannot_run_code(tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    with pytest.raises(GenetError, match=r"the pickle refers to (posix|os)\.system, which a CIFAR-10 batch never does"):
        parse_batch(pickle.dumps({"data": Exploit()}, protocol=2), "test_batch")
    assert not marker.exists()


# --- archive checks ----------------------------------------------------------------------

def test_archive_md5_comes_from_sidecar_then_official(datasets, tmp_path):
    archive = datasets / GENERATED_ARCHIVE
    assert verify_archive(archive) == hashlib.md5(archive.read_bytes()).hexdigest()
    bare = tmp_path / GENERATED_ARCHIVE
    bare.write_bytes(archive.read_bytes())          # no sidecar: held to the official checksum
    with pytest.raises(GenetError, match=f"does not match {CIFAR10_ARCHIVE_MD5} .the official"):
        load_split(bare, log=quiet)
    assert verify_archive(bare, override=hashlib.md5(bare.read_bytes()).hexdigest().upper())


def test_a_sidecar_never_overrides_the_official_checksum_of_the_official_name(datasets, tmp_path):
    official = tmp_path / CIFAR10_ARCHIVE
    official.write_bytes((datasets / GENERATED_ARCHIVE).read_bytes())
    (tmp_path / (CIFAR10_ARCHIVE + ".md5")).write_text(f"{hashlib.md5(official.read_bytes()).hexdigest()}  x\n")
    with pytest.raises(GenetError, match="official CIFAR-10 checksum"):
        load_split(official, log=quiet)
    with pytest.raises(GenetError, match="official CIFAR-10 checksum"):
        load_split(tmp_path, log=quiet)


def test_generated_data_are_recognised_in_folder_and_archive(datasets, tmp_path):
    assert load_split(datasets, log=quiet).generated
    assert load_split(datasets / GENERATED_ARCHIVE, log=quiet).generated
    copy = tmp_path / CIFAR10_FOLDER
    copy.mkdir()
    (copy / "test_batch").write_bytes((datasets / CIFAR10_FOLDER / "test_batch").read_bytes())
    assert not load_split(copy, log=quiet).generated                 # without the mark: not known as generated


def archive_with_member(path, name, size, data=b""):
    """A .tar.gz whose member ``name`` claims ``size`` bytes in its header (only ``data`` follow)."""
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/{name}")
        info.size = size
        tar.fileobj.write(info.tobuf(tar.format, tar.encoding, tar.errors) + data)
        tar.offset += 512 + len(data)
    return path


@pytest.mark.parametrize("size", [100 * 2**30, 2**30], ids=["100GiB", "1GiB"])
def test_archive_member_larger_than_a_batch_is_refused_before_reading(tmp_path, size):
    archive = archive_with_member(tmp_path / "big.tar.gz", "test_batch", size)
    with pytest.raises(GenetError, match="more than a CIFAR-10 batch can hold"):
        load_split(archive, md5=hashlib.md5(archive.read_bytes()).hexdigest(), log=quiet)


def test_batch_file_larger_than_a_batch_is_refused(tmp_path):
    folder = tmp_path / CIFAR10_FOLDER
    folder.mkdir()
    with open(folder / "test_batch", "wb") as f:
        f.truncate(2**30)                                              # sparse: no disk used
    with pytest.raises(GenetError, match="more than a CIFAR-10 batch can hold"):
        load_split(folder, log=quiet)


@pytest.mark.parametrize("where", ["test_batch", "archive"])
def test_fifo_is_refused_not_read(tmp_path, where):
    folder = tmp_path / CIFAR10_FOLDER
    folder.mkdir()
    path = folder / "test_batch" if where == "test_batch" else tmp_path / CIFAR10_ARCHIVE
    os.mkfifo(path)
    with fails_within(10), pytest.raises(GenetError, match="not a regular file"):
        load_split(folder if where == "test_batch" else path, log=quiet)


def test_archive_with_wrong_md5(datasets, tmp_path):
    folder = archive_only_copy(datasets, tmp_path / "copy")
    archive = folder / GENERATED_ARCHIVE
    damaged = bytearray(archive.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    archive.write_bytes(bytes(damaged))
    with pytest.raises(GenetError, match=r"MD5 [0-9a-f]{32} does not match [0-9a-f]{32} \(from generated-cifar"):
        load_split(folder, log=quiet)


def test_truncated_archive_with_matching_checksum(datasets, tmp_path):
    archive = tmp_path / CIFAR10_ARCHIVE
    archive.write_bytes((datasets / GENERATED_ARCHIVE).read_bytes()[:5000])
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    with pytest.raises(GenetError, match="not a readable .tar.gz archive"):
        load_split(archive, md5=md5, log=quiet)


def test_archive_without_the_batch(tmp_path):
    archive = tmp_path / CIFAR10_ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(__file__, arcname=f"{CIFAR10_FOLDER}/readme.html")
    with pytest.raises(GenetError, match=f"archive has no {CIFAR10_FOLDER}/test_batch"):
        read_split(CifarSource(archive=archive), md5=hashlib.md5(archive.read_bytes()).hexdigest(), log=quiet)


# --- download (from a file:// URL: these machines have no internet) -------------------

def test_download_keeps_the_archive_only_when_its_md5_matches(datasets, tmp_path):
    source = datasets / GENERATED_ARCHIVE
    url = source.resolve().as_uri()
    good = hashlib.md5(source.read_bytes()).hexdigest()
    with pytest.raises(GenetError, match="downloaded archive has MD5 .* expected c58f30108f"):
        download_archive(tmp_path / "d1", url=url, log=quiet, quiet=True)
    assert not (tmp_path / "d1" / CIFAR10_ARCHIVE).exists() and not list((tmp_path / "d1").iterdir())
    split = load_split(tmp_path / "d2", download=True, url=url, md5=good, log=quiet)
    assert (tmp_path / "d2" / CIFAR10_ARCHIVE).read_bytes() == source.read_bytes()
    np.testing.assert_array_equal(split.data, read_test_batch(datasets)[0])


def test_download_failure_is_one_error(tmp_path):
    with pytest.raises(GenetError, match="download failed"):
        download_archive(tmp_path, url=(tmp_path / "nothing.tar.gz").as_uri(), log=quiet, quiet=True)
    assert not list(tmp_path.iterdir())
