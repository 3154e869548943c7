"""Seed step 3.2: CIFAR-10 test images → normalized float32 ``.bin`` files and ``val_label.txt``.

Each image becomes ``(pixel/255 − mean[c]) / std[c]`` in float32, NCHW 3×32×32, bit for bit
what torchvision's ``ToTensor()`` then ``Normalize(mean, std)`` and ``tofile`` give (the
same float32 operations in the same order: divide by 255, subtract the mean, divide by the
std). No torch on this path: numpy normalizes the images a block at a time, and the only
per-image Python work is writing the file.

Creating 10,000 files is most of the work, and it does not depend on their contents: as soon
as the batch is read (without numpy, see ``genet.cifar``), a helper process starts creating
the empty ``.bin`` files (``genet.fsio.created_ahead``) while this process imports numpy,
normalizes and fills them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from .cifar import RawSplit, find_source, read_raw_split
from .constants import CHANNELS, CIFAR10_MEAN, CIFAR10_STD, CIFAR10_URL, IMAGE_SIZE, PACKED_IMAGES, PACKED_LABELS
from .errors import GenetError
from .fsio import atomic_dir, check_replaceable_dir, write_at
from .labels import format_labels

if TYPE_CHECKING:
    import numpy as np

BIN_SUFFIX = ".bin"
LABEL_FILE = "val_label.txt"
NORMALIZE_CHUNK = 256           # images per normalization step: keeps the scratch in cache
WRITE_BLOCK = 256               # images normalized, written and reported to the progress bar at a time
CREATE_AHEAD_MIN = 1000         # from this many .bin files on, a helper process creates them ahead of the writer

Log = Callable[[str], None]


def normalize(data: np.ndarray, mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD,
              out: np.ndarray | None = None) -> np.ndarray:
    """N×3072 uint8 CIFAR rows → N×3×32×32 float32, as ToTensor() + Normalize(mean, std).

    ``out``: an N×3×32×32 float32 array to fill (a reused scratch block), else a new one.
    """
    import numpy as np

    count = len(data)
    source = data.reshape(count, CHANNELS, IMAGE_SIZE * IMAGE_SIZE)
    mean32 = np.asarray(mean, np.float32).reshape(CHANNELS, 1)
    std32 = np.asarray(std, np.float32).reshape(CHANNELS, 1)
    if out is None:
        out = np.empty((count, CHANNELS, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    flat = out.reshape(source.shape)
    for start in range(0, count, NORMALIZE_CHUNK):
        part = flat[start:start + NORMALIZE_CHUNK]
        # the same float32 steps as torchvision: img.float().div(255), then sub_(mean).div_(std)
        np.divide(source[start:start + NORMALIZE_CHUNK], np.float32(255), out=part, dtype=np.float32)
        part -= mean32
        part /= std32
    return out


def is_prep_name(name: str) -> bool:
    """A file name that a preprocess.py output folder holds (so an old one may be replaced)."""
    stem, _, suffix = name.partition(".")
    return (stem.isdigit() and suffix == "bin") or name in (LABEL_FILE, PACKED_IMAGES, PACKED_LABELS)


def bin_name_pattern(count: int) -> str:
    """``{:05d}.bin``: five digits as in the seed (00000.bin, ...), more only past 99,999 images."""
    return f"{{:0{max(5, len(str(count - 1)))}d}}{BIN_SUFFIX}"


def bin_names(count: int) -> list[str]:
    pattern = bin_name_pattern(count)
    return [pattern.format(index) for index in range(count)]


_write_file = write_at          # one .bin (tests replace it to simulate a full disk)


def write_bins(folder: Path, data: np.ndarray, names: Sequence[str],
               progress: Callable[[int], object] | None = None) -> None:
    """Normalize and write one raw file per image, WRITE_BLOCK images at a time.

    A helper thread normalizes the next block while this one writes (numpy and the file
    system both release the GIL), into one of two scratch blocks used in turn: a fresh
    process pays for every new page it touches, so the scratch stays 2 blocks in size. The
    writing itself stays on one thread: creations in one folder serialise on its lock.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    scratch = np.empty((2, WRITE_BLOCK, CHANNELS, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with ThreadPoolExecutor(1) as normalizer:
            def normalized(block: int):
                start = block * WRITE_BLOCK
                rows = data[start:start + WRITE_BLOCK]
                return normalizer.submit(normalize, rows, out=scratch[block % 2, :len(rows)])

            upcoming = normalized(0)
            for block, start in enumerate(range(0, len(names), WRITE_BLOCK)):
                images = upcoming.result()
                if start + WRITE_BLOCK < len(names):
                    upcoming = normalized(block + 1)
                for index, image in enumerate(images, start):
                    _write_file(folder_fd, names[index], image)
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


def write_prep_dataset(out_dir: str | os.PathLike, split: RawSplit, bins: bool = True, packed: bool = False,
                       quiet: bool = False, inputs: Sequence[str | os.PathLike] = ()) -> None:
    """Write the normalized images and ``val_label.txt`` into ``out_dir``, whole or not at all.

    ``bins``: one ``NNNNN.bin`` per image (the seed's layout); ``packed``: ``images.npy``
    (N×3×32×32 float32) and ``labels.npy`` (N int64) for fast readers. An existing
    ``out_dir`` is replaced only once the new one is complete. numpy is imported only once
    the .bin files are being created (see ``created_ahead``), which hides its import time.
    """
    if not (bins or packed):
        raise GenetError(f"{out_dir}: nothing to write (neither .bin files nor packed arrays asked for)")
    count = split.count
    if count == 0:
        raise GenetError(f"{out_dir}: no images to write")
    pattern = bin_name_pattern(count)
    names = bin_names(count)
    target = Path(out_dir)
    with atomic_dir(target, inputs=inputs, ours=is_prep_name) as tmp:
        try:
            (tmp / LABEL_FILE).write_text(format_labels(zip(names, split.labels)), encoding="utf-8")
            arrays = split.arrays()
            if packed:
                import numpy as np

                np.save(tmp / PACKED_IMAGES, normalize(arrays.data))
                np.save(tmp / PACKED_LABELS, arrays.labels)
            if bins:
                with _progress_bar(count, f"writing {target}", quiet) as update:
                    write_bins(tmp, arrays.data, names, progress=update)
        except OSError as exc:
            raise GenetError(f"{target}: cannot write {Path(exc.filename or '').name or 'output'}: "
                             f"{exc.strerror or exc}") from None


def preprocess(datasets_path: str | os.PathLike, out_dir: str | os.PathLike, split: str = "test",
               limit: int | None = None, bins: bool = True, packed: bool = False, download: bool = False,
               url: str = CIFAR10_URL, md5: str | None = None, quiet: bool = False, log: Log = print) -> int:
    """Read ``split`` from the data set at ``datasets_path`` and write ``out_dir``; return the image count."""
    source = find_source(datasets_path, download=download, url=url, md5=md5, log=log)
    check_replaceable_dir(out_dir, inputs=[source.archive or source.folder], ours=is_prep_name)
    chosen = read_raw_split(source, split, md5=md5, log=log)
    if limit is not None:
        chosen = chosen.head(limit)
    write_prep_dataset(out_dir, chosen, bins=bins, packed=packed, quiet=quiet, inputs=[source.archive or source.folder])
    return chosen.count
