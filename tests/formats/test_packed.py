"""The packed images.npy manifest (genet.formats.packed): what it proves about the .bin files, and what it
refuses."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from genet.cli.preprocess import main
from genet.formats.packed import check_packed
from tests.data_helpers import make_datasets_path


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    return make_datasets_path(tmp_path_factory.mktemp("prep"), test=40)


@pytest.fixture
def packed_run(datasets, tmp_path):
    out = tmp_path / "prep"
    assert main([str(datasets), str(out), "--packed", "--limit", "20", "--quiet"]) == 0
    return out, [str(out / f"{i:05d}.bin") for i in range(20)]


def test_packed_manifest_proves_the_images_of_the_bin_files(packed_run):
    out, bins = packed_run
    assert check_packed(out / "images.npy", bins) is None
    assert check_packed(out / "images.npy", bins[5:9]) is None                  # a subset, each at its row


def change_one_row(path):
    images = np.load(path)
    images[7] += 1                                                               # same size, other content
    np.save(path, images)


@pytest.mark.parametrize("damage, reason", [
    (lambda out, bins: change_one_row(out / "images.npy"), "SHA-256 differs"),
    (lambda out, bins: os.utime(bins[3], ns=(0, 0)), "changed since it was written"),
    (lambda out, bins: (out / "packed.json").unlink(), "no packed.json"),
    (lambda out, bins: (out / "packed.json").write_text("{"), "unreadable"),
    (lambda out, bins: bins.append(str(out / "00020.bin")), "not one of the .bin files"),
    (lambda out, bins: bins.__setitem__(0, str(out.parent / "other" / "00000.bin")), "is not in"),
    (lambda out, bins: ((out / "images.npy").unlink(), os.mkfifo(out / "images.npy")), "not a regular file"),
])
def test_packed_manifest_refuses_what_it_cannot_prove(packed_run, damage, reason):
    out, bins = packed_run
    (out.parent / "other").mkdir()
    shutil.copy2(bins[0], out.parent / "other" / "00000.bin")                   # same name, size and mtime
    damage(out, bins)
    found = check_packed(out / "images.npy", bins)
    assert found is not None and reason in found


