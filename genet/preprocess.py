"""Seed step 3.2: CIFAR-10 test images → normalized float32 ``.bin`` files and ``val_label.txt``.

Each image becomes ``(pixel/255 − mean[c]) / std[c]`` in float32, NCHW 3×32×32, bit for bit
what torchvision's ``ToTensor()`` then ``Normalize(mean, std)`` and ``tofile`` give (the
same float32 operations in the same order: divide by 255, subtract the mean, divide by the
std). No torch on this path: numpy normalizes the images a block at a time, and the only
per-image Python work is writing the file.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .cifar import CifarSplit, load_split
from .constants import CHANNELS, CIFAR10_MEAN, CIFAR10_STD, CIFAR10_URL, IMAGE_SIZE, PACKED_IMAGES, PACKED_LABELS
from .errors import GenetError
from .fsio import atomic_dir
from .labels import format_labels

BIN_SUFFIX = ".bin"
LABEL_FILE = "val_label.txt"
NORMALIZE_CHUNK = 256           # images per normalization step: keeps the scratch in cache
WRITE_BLOCK = 500               # images normalized, written and reported to the progress bar at a time

Log = Callable[[str], None]


def normalize(data: np.ndarray, mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD) -> np.ndarray:
    """N×3072 uint8 CIFAR rows → N×3×32×32 float32, as ToTensor() + Normalize(mean, std)."""
    count = len(data)
    source = data.reshape(count, CHANNELS, IMAGE_SIZE * IMAGE_SIZE)
    mean32 = np.asarray(mean, np.float32).reshape(CHANNELS, 1)
    std32 = np.asarray(std, np.float32).reshape(CHANNELS, 1)
    out = np.empty(source.shape, np.float32)
    for start in range(0, count, NORMALIZE_CHUNK):
        part = out[start:start + NORMALIZE_CHUNK]
        # the same float32 steps as torchvision: img.float().div(255), then sub_(mean).div_(std)
        np.divide(source[start:start + NORMALIZE_CHUNK], np.float32(255), out=part, dtype=np.float32)
        part -= mean32
        part /= std32
    return out.reshape(count, CHANNELS, IMAGE_SIZE, IMAGE_SIZE)


def bin_names(count: int) -> list[str]:
    """``00000.bin``, ``00001.bin``, ...: five digits as in the seed, more only past 99,999 images."""
    width = max(5, len(str(count - 1)))
    return [f"{index:0{width}d}{BIN_SUFFIX}" for index in range(count)]


def _write_file(name: str, data: memoryview, folder_fd: int) -> None:
    """Create ``name`` in the open folder ``folder_fd`` (no path walk per file) and write ``data``."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=folder_fd)
    try:
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def write_bins(folder: Path, data: np.ndarray, names: Sequence[str],
               progress: Callable[[int], object] | None = None) -> None:
    """Normalize and write one raw file per image, WRITE_BLOCK images at a time.

    A helper thread normalizes the next block while this one writes (numpy and the file
    system both release the GIL), and the float32 scratch stays one block in size, so a
    fresh process does not pay for touching memory the size of the whole split. Writing
    itself stays on one thread: two writer threads gave no consistent gain on this ext4
    (benchmarks/preprocess_speed.py times its floor with two threads as well).
    """
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with ThreadPoolExecutor(1) as normalizer:
            upcoming = normalizer.submit(normalize, data[:WRITE_BLOCK])
            for start in range(0, len(names), WRITE_BLOCK):
                images = upcoming.result()
                if start + WRITE_BLOCK < len(names):
                    upcoming = normalizer.submit(normalize, data[start + WRITE_BLOCK:start + 2 * WRITE_BLOCK])
                for index, image in enumerate(images, start):
                    _write_file(names[index], memoryview(image).cast("B"), folder_fd)
                if progress:
                    progress(len(images))
    finally:
        os.close(folder_fd)


@contextlib.contextmanager
def _progress_bar(total: int, description: str, quiet: bool) -> Iterator[Callable[[int], object] | None]:
    """A tqdm bar's ``update`` on stderr, or None when quiet (tqdm is then not even imported)."""
    if quiet:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="img", desc=description, leave=False) as bar:
        yield bar.update


def write_prep_dataset(out_dir: str | os.PathLike, split: CifarSplit, bins: bool = True, packed: bool = False,
                       quiet: bool = False) -> None:
    """Write the normalized images and ``val_label.txt`` into ``out_dir``, whole or not at all.

    ``bins``: one ``NNNNN.bin`` per image (the seed's layout); ``packed``: ``images.npy``
    (N×3×32×32 float32) and ``labels.npy`` (N int64) for fast readers. An existing
    ``out_dir`` is replaced only once the new one is complete.
    """
    if not (bins or packed):
        raise GenetError(f"{out_dir}: nothing to write (neither .bin files nor packed arrays asked for)")
    count = len(split.labels)
    if count == 0:
        raise GenetError(f"{out_dir}: no images to write")
    names = bin_names(count)
    target = Path(out_dir)
    with atomic_dir(target) as tmp:
        try:
            (tmp / LABEL_FILE).write_text(format_labels(zip(names, split.labels.tolist())), encoding="utf-8")
            if packed:
                np.save(tmp / PACKED_IMAGES, normalize(split.data))
                np.save(tmp / PACKED_LABELS, split.labels.astype(np.int64))
            if bins:
                with _progress_bar(count, f"writing {target}", quiet) as update:
                    write_bins(tmp, split.data, names, progress=update)
        except OSError as exc:
            raise GenetError(f"{target}: cannot write {Path(exc.filename or '').name or 'output'}: "
                             f"{exc.strerror or exc}") from None


def preprocess(datasets_path: str | os.PathLike, out_dir: str | os.PathLike, split: str = "test",
               limit: int | None = None, bins: bool = True, packed: bool = False, download: bool = False,
               url: str = CIFAR10_URL, md5: str | None = None, quiet: bool = False, log: Log = print) -> int:
    """Read ``split`` from the data set at ``datasets_path`` and write ``out_dir``; return the image count."""
    chosen = load_split(datasets_path, split, download=download, url=url, md5=md5, log=log)
    if limit is not None:
        chosen = CifarSplit(chosen.data[:limit], chosen.labels[:limit])
    write_prep_dataset(out_dir, chosen, bins=bins, packed=packed, quiet=quiet)
    return len(chosen.labels)
