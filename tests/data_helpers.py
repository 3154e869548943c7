"""Helpers for the dataset-stage tests: small generated data sets and hand-made batch files."""

from __future__ import annotations

import contextlib
import pickle
import shutil
import signal
from pathlib import Path

import numpy as np
import torch

from genet.core.constants import CIFAR10_FOLDER, CIFAR10_MEAN, CIFAR10_STD, GENERATED_ARCHIVE
from genet.data.synthetic import write_cifar10


def make_datasets_path(root: Path, test: int = 120, train: int = 0, seed: int = 0, archive: bool = False) -> Path:
    """A generated ``${datasets_path}``: ``root/cifar-10-batches-py/`` (and the archive if asked)."""
    write_cifar10(root, train=train, test=test, seed=seed, archive=archive)
    return root


def archive_only_copy(datasets: Path, dest: Path) -> Path:
    """A folder holding only the generated archive and its .md5 sidecar."""
    dest.mkdir()
    for name in (GENERATED_ARCHIVE, GENERATED_ARCHIVE + ".md5"):
        shutil.copy(datasets / name, dest / name)
    return dest


def load_reference_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """A batch as torchvision's CIFAR10 reads it (plain pickle, encoding='latin1')."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    return batch["data"], batch["labels"]


def read_test_batch(datasets: Path) -> tuple[np.ndarray, list[int]]:
    return load_reference_batch(datasets / CIFAR10_FOLDER / "test_batch")


def torchvision_reference(data: np.ndarray) -> np.ndarray:
    """ToTensor() + Normalize(mean, std) written with torch ops, image by image, as torchvision does.

    ToTensor: HWC uint8 → CHW, ``.float().div(255)``; Normalize: ``sub_(mean).div_(std)`` with
    mean and std as float32 tensors of shape (3, 1, 1).
    """
    mean = torch.tensor(CIFAR10_MEAN, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(CIFAR10_STD, dtype=torch.float32).view(-1, 1, 1)
    hwc = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    out = []
    for image in hwc:
        tensor = torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous().float().div(255)
        out.append(tensor.sub_(mean).div_(std).numpy())
    return np.stack(out)


def write_pickle(path: Path, obj: object, protocol: int = 2) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def batch_dict(n: int = 4, seed: int = 0, bytes_keys: bool = False, **overrides) -> dict:
    """A Python 3 batch dict (str keys, or bytes keys as a Python 2 pickle read with 'bytes' gives)."""
    rng = np.random.default_rng(seed)
    batch = {"batch_label": "testing batch 1 of 1", "labels": [int(v) for v in rng.integers(0, 10, n)],
             "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             "filenames": [f"img_{i}.png" for i in range(n)]}
    batch.update(overrides)
    return {key.encode(): value for key, value in batch.items()} if bytes_keys else batch


@contextlib.contextmanager
def fails_within(seconds):
    """Turn a hang (the old behaviour on a FIFO) into a failure."""
    def hung(signum, frame):
        raise AssertionError(f"still reading after {seconds} s")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
