"""Seed step 3.2: CIFAR-10 test images → normalized float32 ``.bin`` files and ``val_label.txt``.

Each image becomes ``(pixel/255 − mean[c]) / std[c]`` in float32, NCHW 3×32×32, bit for bit
what torchvision's ``ToTensor()`` then ``Normalize(mean, std)`` and ``tofile`` give (the
same float32 operations in the same order: divide by 255, subtract the mean, divide by the
std). Plain code: numpy normalizes a block of images, then each image is written to its file
(``benchmarks/preprocess_speed.py`` compares this with the plain 15-line loop).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from genet.core.console import Log, progress_bar
from genet.core.constants import (
    CHANNELS,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR10_URL,
    IMAGE_SIZE,
    LABEL_FILE,
    PACKED_IMAGES,
    PACKED_LABELS,
    PACKED_MANIFEST,
)
from genet.core.errors import GenetError
from genet.core.fsio import atomic_dir, check_replaceable_dir
from genet.data.cifar import CifarSplit, find_source, read_split
from genet.data.provenance import GENERATED_MARK, mark_generated
from genet.formats.labels import format_labels
from genet.formats.packed import write_manifest

BIN_SUFFIX = ".bin"
STEM_DIGITS = 5                 # 00000.bin, as in the seed
WRITE_BLOCK = 1000              # images normalized (and reported to the progress bar) at a time


def normalize(data: np.ndarray, mean: Sequence[float] = CIFAR10_MEAN,
              std: Sequence[float] = CIFAR10_STD) -> np.ndarray:
    """N×3072 uint8 CIFAR rows → N×3×32×32 float32, as ToTensor() + Normalize(mean, std)."""
    images = np.divide(data.reshape(len(data), CHANNELS, IMAGE_SIZE, IMAGE_SIZE), np.float32(255),
                       dtype=np.float32)
    # the same float32 steps as torchvision: img.float().div(255), then sub_(mean).div_(std)
    images -= np.asarray(mean, np.float32).reshape(CHANNELS, 1, 1)
    images /= np.asarray(std, np.float32).reshape(CHANNELS, 1, 1)
    return images


def is_prep_name(name: str) -> bool:
    """A file name that a preprocess.py output folder holds (so an old one may be replaced)."""
    stem, _, suffix = name.partition(".")
    return (stem.isdigit() and suffix == "bin") or name in (LABEL_FILE, PACKED_IMAGES, PACKED_LABELS,
                                                           PACKED_MANIFEST, GENERATED_MARK)


def image_stem(index: int, count: int) -> str:
    """The stem of image ``index`` of ``count``: five digits as in the seed (00000, ...), more past 99,999.

    The one home of the naming rule: ``.bin`` files, labels and the rows of a packed array follow it.
    """
    return f"{index:0{max(STEM_DIGITS, len(str(count - 1)))}d}"


def bin_names(count: int) -> list[str]:
    return [image_stem(index, count) + BIN_SUFFIX for index in range(count)]


def _write_file(path: Path, image: np.ndarray) -> None:
    """One .bin (tests replace it to simulate a full disk)."""
    image.tofile(path)


def _named(path: Path, exc: OSError) -> OSError:
    """``exc`` naming ``path``: a failed write (a full disk) does not say which file it was."""
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


def write_bins(folder: Path, data: np.ndarray, names: Sequence[str], bar: object) -> None:
    """Normalize and write one raw float32 file per image, WRITE_BLOCK images at a time."""
    for start in range(0, len(names), WRITE_BLOCK):
        images = normalize(data[start:start + WRITE_BLOCK])
        for name, image in zip(names[start:start + WRITE_BLOCK], images):
            try:
                _write_file(folder / name, image)
            except OSError as exc:
                raise _named(folder / name, exc) from None
        bar.update(len(images))


def write_prep_dataset(out_dir: str | os.PathLike, split: CifarSplit, bins: bool = True, packed: bool = False,
                       quiet: bool = False, inputs: Sequence[str | os.PathLike] = ()) -> None:
    """Write the normalized images and ``val_label.txt`` into ``out_dir``, whole or not at all.

    ``bins``: one ``NNNNN.bin`` per image (the seed's layout); ``packed``: ``images.npy``
    (N×3×32×32 float32), ``labels.npy`` (N int64) and the manifest that proves what
    ``images.npy`` holds (``genet.formats.packed``). An existing ``out_dir`` is replaced only once the
    new one is complete, and only when preprocess.py wrote it. Generated input gets the
    generated mark in the output too.
    """
    if not (bins or packed):
        raise GenetError(f"{out_dir}: nothing to write (neither .bin files nor packed arrays asked for)")
    count = len(split.labels)
    if count == 0:
        raise GenetError(f"{out_dir}: no images to write")
    names = bin_names(count)
    target = Path(out_dir)
    with atomic_dir(target, inputs=inputs, ours=is_prep_name) as tmp:
        try:
            (tmp / LABEL_FILE).write_text(format_labels(zip(names, split.labels)), encoding="utf-8")
            if split.generated:
                mark_generated(tmp)
            if bins:
                with progress_bar(count, f"writing {target}", quiet) as bar:
                    write_bins(tmp, split.data, names, bar)
            if packed:
                for name, array in ((PACKED_IMAGES, normalize(split.data)), (PACKED_LABELS, split.labels)):
                    try:
                        np.save(tmp / name, array)
                    except OSError as exc:
                        raise _named(tmp / name, exc) from None
                write_manifest(tmp, names if bins else [])
        except OSError as exc:
            raise GenetError(f"{target}: cannot write {Path(exc.filename or '').name or 'output'}: "
                             f"{exc.strerror or exc}") from None


def preprocess(datasets_path: str | os.PathLike, out_dir: str | os.PathLike, split: str = "test",
               limit: int | None = None, bins: bool = True, packed: bool = False, download: bool = False,
               url: str = CIFAR10_URL, md5: str | None = None, quiet: bool = False, log: Log = print) -> CifarSplit:
    """Read ``split`` from the data set at ``datasets_path`` and write ``out_dir``; return what was written."""
    if limit is not None and limit < 1:
        raise GenetError(f"limit must be at least 1, got {limit}")
    source = find_source(datasets_path, download=download, url=url, md5=md5, log=log)
    inputs = [source.archive or source.folder]
    check_replaceable_dir(out_dir, inputs=inputs, ours=is_prep_name)
    chosen = read_split(source, split, md5=md5, log=log)
    if limit is not None:
        chosen = chosen.head(limit)
    write_prep_dataset(out_dir, chosen, bins=bins, packed=packed, quiet=quiet, inputs=inputs)
    return chosen
