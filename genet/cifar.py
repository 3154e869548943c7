"""Reader for the CIFAR-10 "python version": ``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz``.

Each batch is a pickle (written by Python 2 for the real data set) of a dict with ``data``
(uint8, N×3072: 1024 R, 1024 G, 1024 B values per row) and ``labels`` (N ints 0..9).
Unpickled with ``encoding='bytes'`` the keys of a Python 2 pickle come back as bytes, those
of a Python 3 pickle as str; both are accepted. The unpickler refers a pickle's numpy
globals to inert stand-ins and refuses every other global, so a hostile batch file cannot
run code, and reading needs no numpy: ``read_raw_split`` gives bytes and ints, ``read_split``
numpy arrays. (numpy, tarfile and hashlib are imported where used: reading an extracted
folder imports none of them, which keeps ``preprocess.py``'s start short.)
"""

from __future__ import annotations

import codecs
import io
import math
import os
import pickle
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, NamedTuple

from .constants import (CIFAR10_ARCHIVE, CIFAR10_ARCHIVE_MD5, CIFAR10_FOLDER, CIFAR10_URL,
                        IMAGE_BYTES_UINT8, NUM_CLASSES)
from .errors import GenetError
from .fsio import atomic_path

SPLIT_BATCHES = {
    "test": ("test_batch",),
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
}
META_FILE = "batches.meta"
MD5_SIDECAR_SUFFIX = ".md5"

Log = Callable[[str], None]

if TYPE_CHECKING:
    import numpy as np


class CifarSplit(NamedTuple):
    """The images of one split in file order: ``data`` N×3072 uint8, ``labels`` N int64."""

    data: np.ndarray
    labels: np.ndarray


class RawSplit(NamedTuple):
    """One checked split before numpy: N×3072 uint8 pixels in C order, as bytes, and N labels.

    Reading and checking a split needs no numpy, so a caller can learn the image count and
    start on its output while numpy is still being imported (see ``genet.preprocess``).
    """

    pixels: bytes
    labels: list[int]

    @property
    def count(self) -> int:
        return len(self.labels)

    def head(self, count: int) -> "RawSplit":
        return RawSplit(self.pixels[:count * IMAGE_BYTES_UINT8], self.labels[:count])

    def arrays(self) -> CifarSplit:
        import numpy as np

        data = np.frombuffer(self.pixels, np.uint8).reshape(self.count, IMAGE_BYTES_UINT8)
        return CifarSplit(data, np.array(self.labels, np.int64))


class CifarSource(NamedTuple):
    """Where the batches are: an extracted ``cifar-10-batches-py/`` folder or the ``.tar.gz``."""

    folder: Path | None = None
    archive: Path | None = None

    def __str__(self) -> str:
        return str(self.folder if self.folder is not None else self.archive)


# --- safe unpickling ---------------------------------------------------------------------
# The unpickler builds no numpy object: the globals a numpy array, dtype or scalar pickle
# refers to are replaced by the stand-ins below, which only record what the pickle says.

_DTYPE_KINDS = {"u": "uint", "i": "int", "f": "float", "c": "complex", "b": "bool"}


class PickledDtype:
    """A numpy dtype as pickled: ``dtype('u1', align, copy)``, then its state (byte order, fields)."""

    def __init__(self, descr: object = "", *_flags: object):
        self.descr = descr.decode("latin1") if isinstance(descr, bytes) else str(descr)
        self.byteorder = "|"
        self.structured = False

    def __setstate__(self, state: tuple) -> None:
        byteorder = state[1] if len(state) > 1 else "|"
        self.byteorder = byteorder.decode("latin1") if isinstance(byteorder, bytes) else str(byteorder)
        self.structured = len(state) > 3 and state[3] is not None

    @property
    def kind(self) -> str:
        return self.descr[:1]

    @property
    def itemsize(self) -> int:
        return int(self.descr[1:]) if self.descr[1:].isdigit() else 0

    @property
    def name(self) -> str:
        """numpy's name for it: uint8, float32, int16, ... (the descriptor itself when unusual)."""
        if self.structured or self.kind not in _DTYPE_KINDS or not self.itemsize:
            return self.descr
        return "bool" if self.kind == "b" else f"{_DTYPE_KINDS[self.kind]}{self.itemsize * 8}"

    def integers(self, raw: bytes) -> list[int] | None:
        """The values of ``raw`` when this is an integer dtype, else None."""
        if self.kind not in "iu" or not self.itemsize or self.structured:
            return None
        order = "big" if self.byteorder == ">" else "little" if self.byteorder == "<" else sys.byteorder
        size, signed = self.itemsize, self.kind == "i"
        return [int.from_bytes(raw[i:i + size], order, signed=signed) for i in range(0, len(raw), size)]


class PickledArray:
    """A numpy array as pickled: dtype, shape, memory order and raw bytes, never built."""

    def __init__(self, *_reconstruct_args: object):
        self.shape: tuple[int, ...] = (0,)
        self.dtype = PickledDtype("V0")
        self.fortran = False
        self.raw = b""

    def __setstate__(self, state: tuple) -> None:
        if len(state) == 5:          # (version, shape, dtype, is_fortran, data); version 0 has no version
            state = state[1:]
        shape, dtype, fortran, raw = state
        self.shape, self.dtype, self.fortran = tuple(shape), dtype, bool(fortran)
        self.raw = raw if isinstance(raw, bytes) else bytes(raw) if isinstance(raw, (bytearray, memoryview)) \
            else b""

    @classmethod
    def from_buffer(cls, buffer: object, dtype: PickledDtype, shape: tuple, order: str = "C") -> "PickledArray":
        """numpy's ``_frombuffer``, as pickle protocol 5 refers to it."""
        array = cls()
        array.__setstate__((tuple(shape), dtype, order == "F", bytes(buffer)))
        return array

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def c_order_bytes(self) -> bytes:
        """The raw bytes in C order (a Fortran-ordered pickle is transposed, with numpy)."""
        if not self.fortran or len(self.shape) < 2:
            return self.raw
        import numpy as np

        fortran = np.frombuffer(self.raw, np.uint8).reshape(self.shape[::-1] + (self.dtype.itemsize,))
        return np.ascontiguousarray(fortran.transpose(*range(len(self.shape) - 1, -1, -1), len(self.shape))).tobytes()


def _pickled_scalar(dtype: PickledDtype, raw: bytes = b"") -> object:
    """numpy's ``scalar``: an integer as a Python int; anything else stays a PickledArray."""
    values = dtype.integers(raw)
    if values is not None and len(values) == 1:
        return values[0]
    return PickledArray.from_buffer(raw, dtype, ())


def _allowed_globals() -> dict[tuple[str, str], object]:
    """The globals a numpy pickle refers to (numpy 1 and 2 module names), and Python 3's bytes."""
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): PickledArray, ("numpy", "dtype"): PickledDtype,
        # Python 3 writes bytes at protocol 2 as _codecs.encode(text, 'latin1'), or bytes() when empty
        ("_codecs", "encode"): codecs.encode, ("__builtin__", "bytes"): bytes, ("builtins", "bytes"): bytes,
    }
    stand_ins = {"_reconstruct": PickledArray, "_frombuffer": PickledArray.from_buffer, "scalar": _pickled_scalar}
    for package in ("numpy.core", "numpy._core"):
        for module in ("multiarray", "numeric"):
            for name, stand_in in stand_ins.items():
                allowed[(f"{package}.{module}", name)] = stand_in
    return allowed


_ALLOWED_GLOBALS = _allowed_globals()


class _RefusedGlobal(pickle.UnpicklingError):
    pass


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _RefusedGlobal(f"{module}.{name}") from None


def _unpickle(stream: BinaryIO, where: str) -> dict[str, object]:
    try:
        obj = _ArrayOnlyUnpickler(stream, encoding="bytes").load()
    except _RefusedGlobal as exc:
        raise GenetError(f"{where}: not a CIFAR-10 batch: the pickle refers to {exc}, which a CIFAR-10 batch "
                         "never does (refused, as loading it could run code)") from None
    except Exception as exc:  # a damaged pickle fails in many ways: EOFError, ValueError, TypeError, ...
        detail = str(exc) or type(exc).__name__
        raise GenetError(f"{where}: not a readable CIFAR-10 batch (corrupted or truncated pickle: {detail})") from None
    if not isinstance(obj, dict):
        raise GenetError(f"{where}: not a CIFAR-10 batch (the pickle holds a {type(obj).__name__}, not a dict)")
    return {key.decode("latin1") if isinstance(key, bytes) else str(key): value for key, value in obj.items()}


# --- validation --------------------------------------------------------------------------

def parse_batch(raw: bytes | BinaryIO, where: str) -> CifarSplit:
    """Unpickle and check one batch (bytes or an open file): ``data`` N×3072 uint8, ``labels`` N ints in 0..9."""
    return parse_raw_batch(raw, where).arrays()


def parse_raw_batch(raw: bytes | BinaryIO, where: str) -> RawSplit:
    """:func:`parse_batch` without numpy: the checked batch as a :class:`RawSplit`."""
    batch = _unpickle(io.BytesIO(raw) if isinstance(raw, bytes) else raw, where)
    for key in ("data", "labels"):
        if key not in batch:
            raise GenetError(f"{where}: not a CIFAR-10 batch (no '{key}' entry; keys: {', '.join(sorted(batch))})")
    data = batch["data"]
    if not isinstance(data, PickledArray):
        raise GenetError(f"{where}: 'data' is a {type(data).__name__}, expected a numpy array")
    if data.dtype.name != "uint8":
        raise GenetError(f"{where}: 'data' has dtype {data.dtype.name}, expected uint8")
    if len(data.shape) != 2 or data.shape[1] != IMAGE_BYTES_UINT8:
        raise GenetError(f"{where}: 'data' has shape {data.shape}, expected (N, {IMAGE_BYTES_UINT8})")
    if len(data.raw) != data.size:
        raise GenetError(f"{where}: not a readable CIFAR-10 batch ('data' holds {len(data.raw)} bytes for "
                         f"shape {data.shape})")
    labels = _check_labels(batch["labels"], data.shape[0], where)
    return RawSplit(data.c_order_bytes(), labels)


def _label_list(value: object) -> list[int] | None:
    """The labels as Python ints, or None when they are not a flat sequence of integers."""
    if isinstance(value, PickledArray):
        if len(value.shape) != 1:
            return None
        return value.dtype.integers(value.raw) if value.size else []
    if isinstance(value, (list, tuple)) and all(type(label) is int for label in value):
        return list(value)
    return None


def _check_labels(value: object, count: int, where: str) -> list[int]:
    labels = _label_list(value)
    if labels is None:
        raise GenetError(f"{where}: 'labels' must be a list of integers")
    if len(labels) != count:
        raise GenetError(f"{where}: {len(labels)} labels for {count} images")
    for index, label in enumerate(labels):
        if not 0 <= label < NUM_CLASSES:
            raise GenetError(f"{where}: label {label} of image {index} is outside 0..{NUM_CLASSES - 1}")
    return labels


# --- archive and MD5 ---------------------------------------------------------------------

def file_md5(path: Path) -> str:
    import hashlib

    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def md5_sidecar(archive: Path) -> Path:
    """``<archive>.md5`` in ``md5sum`` format: how a generated archive states its own checksum."""
    return archive.with_name(archive.name + MD5_SIDECAR_SUFFIX)


def expected_md5(archive: Path, override: str | None = None) -> tuple[str, str]:
    """The checksum to hold ``archive`` to and where it comes from.

    ``override`` wins; then a ``.md5`` sidecar (the generator writes one, since its archive is
    not the official one); otherwise the official CIFAR-10 checksum.
    """
    if override:
        return override.lower(), "given with --md5"
    sidecar = md5_sidecar(archive)
    if sidecar.is_file():
        fields = sidecar.read_text(encoding="utf-8", errors="replace").split()
        if not fields:
            raise GenetError(f"{sidecar}: empty checksum file")
        return fields[0].lower(), f"from {sidecar.name}"
    return CIFAR10_ARCHIVE_MD5, "the official CIFAR-10 checksum"


def verify_archive(archive: Path, override: str | None = None) -> str:
    """Raise GenetError unless the archive's MD5 is the expected one; return that MD5."""
    want, origin = expected_md5(archive, override)
    try:
        actual = file_md5(archive)
    except OSError as exc:
        raise GenetError(f"{archive}: cannot read archive: {exc.strerror}") from None
    if actual != want:
        raise GenetError(f"{archive}: MD5 {actual} does not match {want} ({origin}): the archive is corrupted, "
                         "incomplete or not the expected one (fetch it again, or state its checksum with --md5)")
    return actual


def _read_archive_members(archive: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    import tarfile
    import zlib

    wanted = {f"{CIFAR10_FOLDER}/{name}": name for name in names}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    found[wanted[member.name]] = tar.extractfile(member).read()
                    if len(found) == len(wanted):
                        break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise GenetError(f"{archive}: not a readable .tar.gz archive ({exc})") from None
    for member, name in wanted.items():
        if name not in found:
            raise GenetError(f"{archive}: archive has no {member}")
    return found


# --- locating the data -------------------------------------------------------------------

def _is_batches_folder(folder: Path) -> bool:
    known = (META_FILE, *SPLIT_BATCHES["test"], *SPLIT_BATCHES["train"])
    return folder.name == CIFAR10_FOLDER or any((folder / name).is_file() for name in known)


def find_source(path: str | os.PathLike, download: bool = False, url: str = CIFAR10_URL,
                md5: str | None = None, log: Log = print) -> CifarSource:
    """Locate the batches from what the user gave.

    ``path`` may be the folder holding ``cifar-10-batches-py/`` (the seed's
    ``${datasets_path}``), that folder itself, the ``.tar.gz``, or a folder holding the
    ``.tar.gz``. With ``download``, a folder with neither gets the archive from ``url``.
    """
    path = Path(path)
    if path.is_file():
        return CifarSource(archive=path)
    if not path.exists() and not download:
        raise GenetError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / CIFAR10_FOLDER).is_dir():
            return CifarSource(folder=path / CIFAR10_FOLDER)
        if _is_batches_folder(path):
            return CifarSource(folder=path)
        if (path / CIFAR10_ARCHIVE).is_file():
            return CifarSource(archive=path / CIFAR10_ARCHIVE)
    if not download:
        raise GenetError(f"{path}: holds neither {CIFAR10_FOLDER}/, its batch files, nor {CIFAR10_ARCHIVE} "
                         "(use --download to fetch the archive)")
    return CifarSource(archive=download_archive(path, url=url, md5=md5, log=log))


def download_archive(folder: str | os.PathLike, url: str = CIFAR10_URL, md5: str | None = None,
                     log: Log = print, quiet: bool = False) -> Path:
    """Fetch the archive into ``folder``; it appears only once its MD5 has been checked."""
    import hashlib
    import urllib.error
    import urllib.request

    from tqdm import tqdm

    folder = Path(folder)
    want = (md5 or CIFAR10_ARCHIVE_MD5).lower()
    target = folder / CIFAR10_ARCHIVE
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenetError(f"{folder}: cannot create folder: {exc.strerror}") from None
    log(f"downloading {url} into {folder}")
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_path(target) as tmp, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, disable=quiet, desc=CIFAR10_ARCHIVE) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            out.flush()
            if digest.hexdigest() != want:
                raise GenetError(f"{url}: downloaded archive has MD5 {digest.hexdigest()}, expected {want}; "
                                 "nothing was kept")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise GenetError(f"{url}: download failed: {reason}") from None
    return target


# --- reading -----------------------------------------------------------------------------

def read_raw_split(source: CifarSource, split: str = "test", md5: str | None = None,
                   log: Log = print) -> RawSplit:
    """All images of ``split`` ('test' or 'train'), in batch-file order, checked; no numpy."""
    names = SPLIT_BATCHES[split]
    if source.archive is not None:
        verify_archive(source.archive, md5)
        log(f"{source.archive}: MD5 verified")
        raw = _read_archive_members(source.archive, names)
        parts = [parse_raw_batch(raw[name], f"{source.archive}:{CIFAR10_FOLDER}/{name}") for name in names]
    else:
        parts = [_read_batch_file(source.folder / name) for name in names]
    if len(parts) == 1:
        return parts[0]
    return RawSplit(b"".join(part.pixels for part in parts), [label for part in parts for label in part.labels])


def read_split(source: CifarSource, split: str = "test", md5: str | None = None, log: Log = print) -> CifarSplit:
    """:func:`read_raw_split` as numpy arrays."""
    return read_raw_split(source, split, md5=md5, log=log).arrays()


def _read_batch_file(path: Path) -> RawSplit:
    try:
        with open(path, "rb") as stream:          # unpickled straight from the file: no copy of its bytes
            return parse_raw_batch(stream, str(path))
    except FileNotFoundError:
        raise GenetError(f"{path}: missing (is {path.parent} a CIFAR-10 python-version folder?)") from None
    except OSError as exc:
        raise GenetError(f"{path}: cannot read: {exc.strerror}") from None


def load_raw_split(path: str | os.PathLike, split: str = "test", download: bool = False, url: str = CIFAR10_URL,
                   md5: str | None = None, log: Log = print) -> RawSplit:
    """Find the data set from ``path`` (see :func:`find_source`) and read one split, without numpy."""
    return read_raw_split(find_source(path, download=download, url=url, md5=md5, log=log), split, md5=md5, log=log)


def load_split(path: str | os.PathLike, split: str = "test", download: bool = False, url: str = CIFAR10_URL,
               md5: str | None = None, log: Log = print) -> CifarSplit:
    """:func:`load_raw_split` as numpy arrays."""
    return load_raw_split(path, split, download=download, url=url, md5=md5, log=log).arrays()
