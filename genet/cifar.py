"""Reader for the CIFAR-10 "python version": ``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz``.

Each batch is a pickle (written by Python 2 for the real data set) of a dict with ``data``
(uint8, N×3072: 1024 R, 1024 G, 1024 B values per row) and ``labels`` (N ints 0..9).
Unpickled with ``encoding='bytes'`` the keys of a Python 2 pickle come back as bytes, those
of a Python 3 pickle as str; both are accepted. The unpickler only lets a pickle build numpy
arrays, so a hostile batch file cannot run code.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO, Callable, NamedTuple

import numpy as np

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


class CifarSplit(NamedTuple):
    """The images of one split in file order: ``data`` N×3072 uint8, ``labels`` N int64."""

    data: np.ndarray
    labels: np.ndarray


class CifarSource(NamedTuple):
    """Where the batches are: an extracted ``cifar-10-batches-py/`` folder or the ``.tar.gz``."""

    folder: Path | None = None
    archive: Path | None = None

    def __str__(self) -> str:
        return str(self.folder if self.folder is not None else self.archive)


# --- safe unpickling ---------------------------------------------------------------------

def _numpy_constructors() -> dict[tuple[str, str], object]:
    """The globals an ndarray pickle refers to, under numpy 1 and numpy 2 module names."""
    probe = np.zeros(1, np.uint8)
    found = {
        "_reconstruct": probe.__reduce__()[0],
        "_frombuffer": probe.__reduce_ex__(5)[0],
        "scalar": np.int64(0).__reduce__()[0],
    }
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
        # Python 3 writes bytes at protocol 2 as _codecs.encode(text, 'latin1'), or bytes() when empty
        ("_codecs", "encode"): codecs.encode, ("__builtin__", "bytes"): bytes, ("builtins", "bytes"): bytes,
    }
    for name, function in found.items():
        for package in ("numpy.core", "numpy._core"):
            for module in ("multiarray", "numeric"):
                allowed[(f"{package}.{module}", name)] = function
    return allowed


_ALLOWED_GLOBALS = _numpy_constructors()


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
    batch = _unpickle(io.BytesIO(raw) if isinstance(raw, bytes) else raw, where)
    for key in ("data", "labels"):
        if key not in batch:
            raise GenetError(f"{where}: not a CIFAR-10 batch (no '{key}' entry; keys: {', '.join(sorted(batch))})")
    data = batch["data"]
    if not isinstance(data, np.ndarray):
        raise GenetError(f"{where}: 'data' is a {type(data).__name__}, expected a numpy array")
    if data.dtype != np.uint8:
        raise GenetError(f"{where}: 'data' has dtype {data.dtype}, expected uint8")
    if data.ndim != 2 or data.shape[1] != IMAGE_BYTES_UINT8:
        raise GenetError(f"{where}: 'data' has shape {data.shape}, expected (N, {IMAGE_BYTES_UINT8})")
    labels = _check_labels(batch["labels"], len(data), where)
    return CifarSplit(np.ascontiguousarray(data), labels)


def _check_labels(value: object, count: int, where: str) -> np.ndarray:
    try:
        labels = np.asarray(value)
    except (TypeError, ValueError):
        labels = None
    if labels is None or labels.ndim != 1 or (labels.dtype.kind not in "iu" and labels.size):
        raise GenetError(f"{where}: 'labels' must be a list of integers")
    if len(labels) != count:
        raise GenetError(f"{where}: {len(labels)} labels for {count} images")
    outside = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
    if len(outside):
        first = int(outside[0])
        raise GenetError(f"{where}: label {labels[first]} of image {first} is outside 0..{NUM_CLASSES - 1}")
    return labels.astype(np.int64)


# --- archive and MD5 ---------------------------------------------------------------------

def file_md5(path: Path) -> str:
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

def read_split(source: CifarSource, split: str = "test", md5: str | None = None, log: Log = print) -> CifarSplit:
    """All images of ``split`` ('test' or 'train'), in batch-file order, checked."""
    names = SPLIT_BATCHES[split]
    if source.archive is not None:
        verify_archive(source.archive, md5)
        log(f"{source.archive}: MD5 verified")
        raw = _read_archive_members(source.archive, names)
        parts = [parse_batch(raw[name], f"{source.archive}:{CIFAR10_FOLDER}/{name}") for name in names]
    else:
        parts = [_read_batch_file(source.folder / name) for name in names]
    if len(parts) == 1:
        return parts[0]
    return CifarSplit(np.concatenate([p.data for p in parts]), np.concatenate([p.labels for p in parts]))


def _read_batch_file(path: Path) -> CifarSplit:
    try:
        with open(path, "rb") as stream:          # unpickled straight from the file: no copy of its bytes
            return parse_batch(stream, str(path))
    except FileNotFoundError:
        raise GenetError(f"{path}: missing (is {path.parent} a CIFAR-10 python-version folder?)") from None
    except OSError as exc:
        raise GenetError(f"{path}: cannot read: {exc.strerror}") from None


def load_split(path: str | os.PathLike, split: str = "test", download: bool = False, url: str = CIFAR10_URL,
               md5: str | None = None, log: Log = print) -> CifarSplit:
    """Find the data set from ``path`` (see :func:`find_source`) and read one split."""
    return read_split(find_source(path, download=download, url=url, md5=md5, log=log), split, md5=md5, log=log)
