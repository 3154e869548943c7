"""Reader for the CIFAR-10 "python version": ``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz``.

Each batch is a pickle (written by Python 2 for the real data set) of a dict with ``data``
(uint8, N×3072: 1024 R, 1024 G, 1024 B values per row) and ``labels`` (N ints 0..9).
Unpickled with ``encoding='bytes'`` the keys of a Python 2 pickle come back as bytes, those
of a Python 3 pickle as str; both are accepted. The unpickler allows only the numpy globals
that rebuild a plain array, dtype or scalar and refuses every other global, so a hostile
batch file cannot run code. Files are checked before they are read: regular files only (a
FIFO would block), and no larger than a CIFAR batch can be; archive members are unpickled
straight from the archive stream.

Generated data (``genet.data.synthetic``) carry ``genet.data.provenance.GENERATED_MARK`` in the batches
folder or as an archive member; :attr:`CifarSplit.generated` says so.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import pickle
import stat
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from genet.core.console import Log
from genet.core.constants import (
    CIFAR10_ARCHIVE,
    CIFAR10_ARCHIVE_MD5,
    CIFAR10_FOLDER,
    CIFAR10_URL,
    GENERATED_ARCHIVE,
    IMAGE_BYTES_UINT8,
    NUM_CLASSES,
)
from genet.core.errors import GenetError
from genet.core.fsio import atomic_path
from genet.data.provenance import GENERATED_MARK

SPLIT_BATCHES = {
    "test": ("test_batch",),
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
}
META_FILE = "batches.meta"
MD5_SIDECAR_SUFFIX = ".md5"
BATCH_IMAGES = 10_000                       # images in one batch file of the real data set
# A batch file holds BATCH_IMAGES rows of 3,072 bytes plus labels, file names and pickle framing
# (about 0.3 MB in the real files): anything much larger is not a CIFAR-10 batch.
MAX_BATCH_BYTES = BATCH_IMAGES * IMAGE_BYTES_UINT8 + 8_000_000
MAX_MARK_BYTES = 64 * 1024


class CifarSplit(NamedTuple):
    """The images of one split in file order: ``data`` N×3072 uint8, ``labels`` N int64.

    ``generated``: the data carry genet.data.synthetic's mark (NOT CIFAR-10).
    """

    data: np.ndarray
    labels: np.ndarray
    generated: bool = False

    def head(self, count: int) -> "CifarSplit":
        return CifarSplit(self.data[:count], self.labels[:count], self.generated)


class CifarSource(NamedTuple):
    """Where the batches are: an extracted ``cifar-10-batches-py/`` folder or the ``.tar.gz``."""

    folder: Path | None = None
    archive: Path | None = None

    def __str__(self) -> str:
        return str(self.folder if self.folder is not None else self.archive)


# --- safe unpickling ---------------------------------------------------------------------

def _plain_dtype(*args: object) -> np.dtype:
    """numpy's dtype, refusing object dtypes (an object array unpickles arbitrary Python objects)."""
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError("an object dtype, which a CIFAR-10 batch never holds")
    return dtype


def _allowed_globals() -> dict[tuple[str, str], object]:
    """The globals a numpy array pickle refers to (numpy 1 and 2 module names), and Python 3's bytes."""
    rebuilders = {
        "_reconstruct": np.zeros(1).__reduce__()[0],
        "_frombuffer": np.zeros(1).__reduce_ex__(5)[0],          # pickle protocol 5
        "scalar": np.int64(0).__reduce__()[0],
    }
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): _plain_dtype,
        # Python 3 writes bytes at protocol 2 as _codecs.encode(text, 'latin1'), or bytes() when empty
        ("_codecs", "encode"): codecs.encode, ("__builtin__", "bytes"): bytes, ("builtins", "bytes"): bytes,
    }
    for package in ("numpy.core", "numpy._core"):
        for module in ("multiarray", "numeric"):
            for name, function in rebuilders.items():
                allowed[(f"{package}.{module}", name)] = function
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


def _label_array(value: object) -> np.ndarray | None:
    """The labels as int64, or None when they are not a flat sequence of integers."""
    if isinstance(value, np.ndarray):
        return value.astype(np.int64) if value.ndim == 1 and value.dtype.kind in "iu" else None
    if isinstance(value, (list, tuple)) and all(
            isinstance(label, (int, np.integer)) and not isinstance(label, bool) for label in value):
        return np.array(value, np.int64).reshape(len(value))
    return None


def _check_labels(value: object, count: int, where: str) -> np.ndarray:
    labels = _label_array(value)
    if labels is None:
        raise GenetError(f"{where}: 'labels' must be a list of integers")
    if len(labels) != count:
        raise GenetError(f"{where}: {len(labels)} labels for {count} images")
    outside = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
    if len(outside):
        index = int(outside[0])
        raise GenetError(f"{where}: label {labels[index]} of image {index} is outside 0..{NUM_CLASSES - 1}")
    return labels


# --- archive and MD5 ---------------------------------------------------------------------

def _check_regular(path: Path, limit: int | None = None) -> None:
    """Refuse what is not a regular file (a FIFO or device would block or never end) or is too large."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise GenetError(f"{path}: missing (is {path.parent} a CIFAR-10 python-version folder?)") from None
    except OSError as exc:
        raise GenetError(f"{path}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise GenetError(f"{path}: not a regular file (a CIFAR-10 batch or archive is a plain file)")
    if limit is not None and info.st_size > limit:
        raise GenetError(f"{path}: {info.st_size:,} bytes, more than a CIFAR-10 batch can hold ({limit:,})")


def file_md5(path: Path) -> str:
    _check_regular(path)
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

    ``override`` wins. An archive named as the official one is held to the official checksum
    whatever lies beside it; an archive of another name (the generator's) may state its own
    in a ``.md5`` sidecar.
    """
    if override:
        return override.lower(), "given with --md5"
    sidecar = md5_sidecar(archive)
    if archive.name != CIFAR10_ARCHIVE and sidecar.is_file():
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


def _read_archive(archive: Path, names: tuple[str, ...]) -> tuple[list[CifarSplit], bool]:
    """The batches ``names`` (in that order) and whether the archive carries the generated mark.

    Member sizes are checked before anything is read; batches are unpickled from the stream.
    The mark counts when it comes before the last batch read (the generator writes it first).
    """
    wanted = {f"{CIFAR10_FOLDER}/{name}": name for name in names}
    found: dict[str, CifarSplit] = {}
    generated = False
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.name == f"{CIFAR10_FOLDER}/{GENERATED_MARK}" and member.isfile():
                    generated = member.size <= MAX_MARK_BYTES
                if member.name not in wanted or not member.isfile():
                    continue
                where = f"{archive}:{member.name}"
                if member.size > MAX_BATCH_BYTES:
                    raise GenetError(f"{where}: the archive says {member.size:,} bytes, more than a CIFAR-10 "
                                     f"batch can hold ({MAX_BATCH_BYTES:,}); not read")
                found[wanted[member.name]] = parse_batch(tar.extractfile(member), where)
                if len(found) == len(wanted):
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise GenetError(f"{archive}: not a readable .tar.gz archive ({exc})") from None
    for member, name in wanted.items():
        if name not in found:
            raise GenetError(f"{archive}: archive has no {member}")
    return [found[name] for name in names], generated


# --- locating the data -------------------------------------------------------------------

def _is_batches_folder(folder: Path) -> bool:
    known = (META_FILE, *SPLIT_BATCHES["test"], *SPLIT_BATCHES["train"])
    return folder.name == CIFAR10_FOLDER or any((folder / name).exists() for name in known)


def find_source(path: str | os.PathLike, download: bool = False, url: str = CIFAR10_URL,
                md5: str | None = None, log: Log = print) -> CifarSource:
    """Locate the batches from what the user gave.

    ``path`` may be the folder holding ``cifar-10-batches-py/`` (the seed's
    ``${datasets_path}``), that folder itself, the ``.tar.gz`` (official or generated), or a
    folder holding it. With ``download``, a folder with neither gets the archive from ``url``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        _check_regular(path)
        return CifarSource(archive=path)
    if not path.exists() and not download:
        raise GenetError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / CIFAR10_FOLDER).is_dir():
            return CifarSource(folder=path / CIFAR10_FOLDER)
        if _is_batches_folder(path):
            return CifarSource(folder=path)
        for name in (CIFAR10_ARCHIVE, GENERATED_ARCHIVE):
            if (path / name).exists():
                return CifarSource(archive=path / name)
    if not download:
        raise GenetError(f"{path}: holds neither {CIFAR10_FOLDER}/, its batch files, nor {CIFAR10_ARCHIVE} "
                         "(use --download to fetch the archive)")
    return CifarSource(archive=download_archive(path, url=url, md5=md5, log=log))


def download_archive(folder: str | os.PathLike, url: str = CIFAR10_URL, md5: str | None = None,
                     log: Log = print, quiet: bool = False) -> Path:
    """Fetch the archive into ``folder``; it appears only once its MD5 has been checked."""
    import urllib.error
    import urllib.request

    from genet.core.console import progress_bar

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
            with progress_bar(total, CIFAR10_ARCHIVE, quiet, unit="B", unit_scale=True) as bar:
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
        parts, generated = _read_archive(source.archive, names)
    else:
        parts = [_read_batch_file(source.folder / name) for name in names]
        generated = (source.folder / GENERATED_MARK).is_file()
    if len(parts) == 1:
        return parts[0]._replace(generated=generated)
    return CifarSplit(np.concatenate([part.data for part in parts]),
                      np.concatenate([part.labels for part in parts]), generated)


def _read_batch_file(path: Path) -> CifarSplit:
    _check_regular(path, MAX_BATCH_BYTES)
    try:
        with open(path, "rb") as stream:          # unpickled straight from the file: no copy of its bytes
            return parse_batch(stream, str(path))
    except OSError as exc:
        raise GenetError(f"{path}: cannot read: {exc.strerror}") from None


def load_split(path: str | os.PathLike, split: str = "test", download: bool = False, url: str = CIFAR10_URL,
               md5: str | None = None, log: Log = print) -> CifarSplit:
    """Find the data set from ``path`` (see :func:`find_source`) and read one split."""
    return read_split(find_source(path, download=download, url=url, md5=md5, log=log), split, md5=md5, log=log)
