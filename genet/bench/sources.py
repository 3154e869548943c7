"""Where the runner's images come from: the input sources, and ``open_source``, which picks one for a run.

Four sources, one interface (``count``, ``stems``, ``read_into``):

- ``BinFiles``: the info file's per-image ``.bin`` files (raw float32 C×H×W), every one
  checked up front (exists, size = C×H×W×4 bytes, listed size = the model's), so a bad
  line stops the run before any inference;
- ``PackedImages``: ``images.npy`` (N×C×H×W float32) from ``preprocess.py --packed``,
  memory-mapped; row ``i`` is the image whose stem is the decimal ``i`` (``00042`` → row 42),
  which is how preprocess names its files;
- ``ImageFiles``: files given by name, one image each, ``.bin`` or ``.npy`` (ais_bench's ``--input``);
- ``RandomImages``: standard-normal images for pure-inference mode (not zeros, so the
  model sees data-dependent work).

A new source is a class with that interface and a line in ``open_source``. The batches are cut and
read ahead by ``genet.bench.batches``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from genet.bench.config import BenchConfig
from genet.core.console import Log
from genet.core.constants import PACKED_IMAGES
from genet.core.errors import GenetError
from genet.data.preprocess import image_stem
from genet.formats.info import NumberedEntry, read_numbered_info
from genet.formats.packed import check_packed

ImageShape = tuple[int, int, int]    # channels, height, width


class ImageSource(Protocol):
    kind: str                 # "bin files" | "packed" | "random"
    description: str          # what was read, for the report
    count: int
    stems: Sequence[str]      # one per image; empty for random images

    def read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        """Fill ``out[:stop - start]`` with images ``start .. stop - 1``."""


def image_bytes(shape: ImageShape) -> int:
    channels, height, width = shape
    return channels * height * width * 4


def check_unique_stems(info: Path, numbered: Sequence[NumberedEntry]) -> None:
    """Two inputs with one stem would write one dump file: an error naming both lines."""
    first_line: dict[str, NumberedEntry] = {}
    for item in numbered:
        earlier = first_line.setdefault(item.entry.stem, item)
        if earlier is not item:
            raise GenetError(f"{info}:{item.line}: {item.entry.path} has the same name as line {earlier.line} "
                             f"({earlier.entry.path}); their dumps would overwrite each other")


class ImageFiles:
    """One image per file, read in order: raw float32 C×H×W (``.bin``) or a NumPy array (``.npy``, cast to float32).

    ``where`` names each file in errors (an info file's line, or the file itself).
    """

    kind = "files"

    def __init__(self, paths: Sequence[str | os.PathLike], stems: Sequence[str], where: Sequence[str],
                 description: str, shape: ImageShape):
        self.description = description
        self.count = len(paths)
        self.stems = list(stems)
        self._paths = [os.fspath(path) for path in paths]
        self._where = list(where)
        self._bytes = image_bytes(shape)

    @classmethod
    def listed(cls, paths: Sequence[Path], shape: ImageShape) -> "ImageFiles":
        """Files given by name (ais_bench's ``--input``), each named after its stem."""
        return cls(paths, [path.stem for path in paths], [str(path) for path in paths],
                   f"{len(paths)} input files", shape)

    def read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        for row, i in enumerate(range(start, stop)):
            if self._paths[i].lower().endswith(".npy"):
                self._read_npy(i, out[row])
            else:
                self._read_raw(i, out[row].reshape(-1).view(np.uint8))

    def _read_raw(self, i: int, row: np.ndarray) -> None:
        try:
            with open(self._paths[i], "rb") as fh:
                got = fh.readinto(row)
        except OSError as exc:
            raise GenetError(f"{self._where[i]}: cannot read input file {self._paths[i]}: {exc.strerror}") from None
        if got != self._bytes:
            raise GenetError(f"{self._where[i]}: {self._paths[i]} changed during the run "
                             f"(read {got} bytes, expected {self._bytes})")

    def _read_npy(self, i: int, row: np.ndarray) -> None:
        try:
            array = np.load(self._paths[i], allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise GenetError(f"{self._where[i]}: cannot read input file {self._paths[i]}: {exc}") from None
        if array.size != row.size:
            raise GenetError(f"{self._where[i]}: {self._paths[i]} holds {array.size} values, expected {row.size} "
                             f"(one {'×'.join(map(str, row.shape))} image)")
        row[...] = array.reshape(row.shape)


class BinFiles(ImageFiles):
    """Per-image raw float32 files listed in an info file, every one checked before the run."""

    kind = "bin files"

    def __init__(self, info: Path, numbered: Sequence[NumberedEntry], shape: ImageShape):
        super().__init__([item.entry.path for item in numbered], [item.entry.stem for item in numbered],
                         [f"{info}:{item.line}" for item in numbered], str(info), shape)
        self._check(numbered, shape)

    def _check(self, numbered: Sequence[NumberedEntry], shape: ImageShape) -> None:
        channels, height, width = shape
        for item, where in zip(numbered, self._where):
            entry = item.entry
            if (entry.width, entry.height) != (width, height):
                raise GenetError(f"{where}: lists a {entry.width}×{entry.height} image, but the run is for "
                                 f"{width}×{height} inputs (-input_width/-input_height, the model's size)")
            try:
                size = os.stat(entry.path).st_size
            except FileNotFoundError:
                raise GenetError(f"{where}: input file {entry.path} not found") from None
            except OSError as exc:
                raise GenetError(f"{where}: cannot read input file {entry.path}: {exc.strerror}") from None
            if size != self._bytes:
                raise GenetError(f"{where}: {entry.path} is {size} bytes, expected {self._bytes} "
                                 f"(float32 {channels}×{height}×{width})")

    def read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        for row, i in enumerate(range(start, stop)):
            self._read_raw(i, out[row].reshape(-1).view(np.uint8))


def default_stems(count: int) -> list[str]:
    return [image_stem(index, count) for index in range(count)]


def load_packed_array(path: Path, shape: ImageShape) -> np.ndarray:
    """Memory-map a packed N×C×H×W float32 array; anything else is an error naming the file."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise GenetError(f"{path}: packed image file not found") from None
    except (OSError, ValueError) as exc:
        raise GenetError(f"{path}: not a packed image array (.npy): {exc}") from None
    if array.ndim != 4 or tuple(array.shape[1:]) != tuple(shape) or array.dtype != np.float32:
        raise GenetError(f"{path}: holds {array.dtype} {list(array.shape)}, expected float32 "
                         f"N×{shape[0]}×{shape[1]}×{shape[2]}")
    if not len(array):
        raise GenetError(f"{path}: packed image array is empty")
    return array


class PackedImages:
    """Rows of a memory-mapped ``images.npy``."""

    kind = "packed"

    def __init__(self, path: Path, array: np.ndarray, stems: Sequence[str], rows: np.ndarray | None = None,
                 offset: int = 0):
        self.description = str(path)
        self.count = len(stems)
        self.stems = list(stems)
        self._array = array
        self._rows = rows          # None: image i is row offset + i
        self._offset = offset

    @classmethod
    def alone(cls, path: Path, shape: ImageShape) -> "PackedImages":
        """Every row of the array, named as preprocess names them (00000, 00001, ...)."""
        array = load_packed_array(path, shape)
        return cls(path, array, default_stems(len(array)))

    @classmethod
    def for_info(cls, path: Path, info: Path, numbered: Sequence[NumberedEntry], shape: ImageShape) -> "PackedImages":
        """The rows of the info file's images, found by stem (row ``i`` is stem ``i``).

        The rows are taken as they are: ``open_source`` uses a packed file beside the .bin files only when
        its manifest proves it holds them (``check_packed``), and ``--packed-input`` is the user's word.
        """
        array = load_packed_array(path, shape)
        rows = []
        for item in numbered:
            stem = item.entry.stem
            if not stem.isdigit() or int(stem) >= len(array):
                raise GenetError(f"{info}:{item.line}: {item.entry.path} has no row in {path} "
                                 f"({len(array)} rows, named 0 .. {len(array) - 1})")
            rows.append(int(stem))
        rows = np.asarray(rows)
        stems = [item.entry.stem for item in numbered]
        if np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
            return cls(path, array, stems, offset=int(rows[0]))     # a plain slice per batch
        return cls(path, array, stems, rows=rows)

    def read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        if self._rows is None:
            out[:stop - start] = self._array[self._offset + start:self._offset + stop]
        else:
            out[:stop - start] = self._array[self._rows[start:stop]]


class RandomImages:
    """Standard-normal float32 images, reproducible for a seed: a pool of ``POOL`` drawn once, used in turn.

    Drawing fresh normals costs about 30 µs per image on the prefetch thread, which on a small machine
    takes CPU from the model it is timing; copying pool rows costs a memcpy.
    """

    kind = "random"
    stems: Sequence[str] = ()
    POOL = 256

    def __init__(self, count: int, seed: int = 0):
        self.description = f"{count} random standard-normal images (seed {seed}; {min(count, self.POOL)} distinct)"
        self.count = count
        self._generator = np.random.default_rng(seed)
        self._pool: np.ndarray | None = None

    def read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        if self._pool is None:
            self._pool = self._generator.standard_normal((min(self.count, self.POOL), *out.shape[1:]),
                                                         dtype=np.float32)
        rows = np.arange(start, stop) % len(self._pool)
        np.take(self._pool, rows, axis=0, out=out[:stop - start])


def bin_folders(numbered: Sequence[NumberedEntry]) -> list[Path]:
    """The folders holding an info file's .bin files."""
    return sorted({Path(os.path.dirname(item.entry.path) or ".") for item in numbered})


def open_source(config: BenchConfig, shape: ImageShape, log: Log,
                numbered: Sequence[NumberedEntry] | None = None) -> ImageSource:
    """The run's images; ``numbered``: the info file's lines, when already read."""
    if config.pure_inference:
        return RandomImages(config.rounds * config.batch_size, config.seed)
    if config.input_files:
        return ImageFiles.listed(config.input_files, shape)
    if config.info_path is None:
        return PackedImages.alone(config.packed_input, shape)
    if numbered is None:
        numbered = read_numbered_info(config.info_path)
    check_unique_stems(config.info_path, numbered)
    if config.packed_input is not None:
        return PackedImages.for_info(config.packed_input, config.info_path, numbered, shape)
    folders = bin_folders(numbered)
    candidate = folders[0] / PACKED_IMAGES if len(folders) == 1 else None
    if config.auto_packed and candidate is not None and candidate.is_file():
        reason = check_packed(candidate, [item.entry.path for item in numbered])
        if reason is None:
            log(f"note: reading {candidate} (packed; preprocess's manifest proves it holds the images of "
                f"{config.info_path}); --no-packed reads the .bin files")
            return PackedImages.for_info(candidate, config.info_path, numbered, shape)
        log(f"note: not using {candidate}: {reason}; reading the .bin files (--packed-input {candidate} "
            f"uses it anyway)")
    return BinFiles(config.info_path, numbered, shape)
