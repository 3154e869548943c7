"""A generated stand-in for CIFAR-10, in the real on-disk format. It is NOT CIFAR-10.

The images are drawn, not photographed: each class has its own pattern (stripes in one of
four orientations, a checkerboard, rings, a disc, a square, a cross, a pinwheel) drawn in
a colour pair it shares with one other class, at a random phase, position, size, contrast
and colour jitter, plus pixel noise. A small CNN learns them in seconds, while no single
pixel tells the classes apart. Figures measured on these images say how the pipeline
behaves, never how a model does on CIFAR-10.

The output is a ``cifar-10-batches-py/`` folder as the official "python version" has it:
``data_batch_1``..``data_batch_5`` (when ``train`` > 0), ``test_batch`` and
``batches.meta``, pickle protocol 2, dicts with ``batch_label``, ``labels``, ``data``
(N×3072 uint8) and ``filenames``, plus ``genet.data.provenance.GENERATED_MARK`` so that every
reader knows; optionally also ``generated-cifar-10-python.tar.gz`` (the mark first) with a
``.md5`` sidecar (the archive cannot carry the official checksum, so it does not take the
official name). At most 10,000 images per batch file, as in the real set. The same seed
gives the same bytes, and the test split does not depend on the size of the training split.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import tarfile
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from genet.core.constants import (
    CIFAR10_CLASSES,
    CIFAR10_FOLDER,
    GENERATED_ARCHIVE,
    IMAGE_BYTES_UINT8,
    IMAGE_SIZE,
    NUM_CLASSES,
)
from genet.core.errors import GenetError
from genet.core.fsio import atomic_dir, atomic_files, check_output_file
from genet.data.cifar import BATCH_IMAGES, META_FILE, SPLIT_BATCHES, md5_sidecar
from genet.data.provenance import GENERATED_MARK, GENERATED_NOTE, mark_generated

ARCHIVE_GZIP_LEVEL = 1          # the noisy images barely compress; level 9 only costs time
NOISE_STD = 0.12                # std of the (uniform) pixel noise, on the 0..1 intensity scale
COLOUR_JITTER_STD = 0.12
# Foreground / background colours (RGB, 0..1); class k uses pair k % 5, so colour alone
# narrows an image down to two classes and the shape has to decide.
COLOUR_PAIRS = np.array([
    [(0.90, 0.30, 0.20), (0.20, 0.30, 0.50)],
    [(0.20, 0.80, 0.30), (0.50, 0.20, 0.40)],
    [(0.95, 0.85, 0.30), (0.10, 0.20, 0.25)],
    [(0.30, 0.50, 0.95), (0.60, 0.50, 0.20)],
    [(0.85, 0.85, 0.85), (0.30, 0.25, 0.20)],
], dtype=np.float32)

Pattern = Callable[..., np.ndarray]


def _wave(t: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.sin(t)


def _stripes(dx: float, dy: float) -> Pattern:
    def draw(x, y, p):
        return _wave(2 * np.pi * 3 * p.scale * (dx * x + dy * y) + p.phase)
    return draw


def _checkerboard(x, y, p):
    return 0.5 + 0.5 * np.sin(2 * np.pi * 2 * p.scale * x + p.phase) * np.sin(2 * np.pi * 2 * p.scale * y)


def _rings(x, y, p):
    return _wave(2 * np.pi * 4 * p.scale * np.hypot(x - p.cx, y - p.cy) + p.phase)


def _edge(distance: np.ndarray) -> np.ndarray:
    """1 inside (distance < 0), 0 outside, over a one-pixel soft edge."""
    return np.clip(0.5 - distance * IMAGE_SIZE, 0.0, 1.0)


def _disc(x, y, p):
    return _edge(np.hypot(x - p.cx, y - p.cy) - 0.22 * p.scale)


def _square(x, y, p):
    return _edge(np.maximum(np.abs(x - p.cx), np.abs(y - p.cy)) - 0.18 * p.scale)


def _cross(x, y, p):
    return _edge(np.minimum(np.abs(x - p.cx), np.abs(y - p.cy)) - 0.07 * p.scale)


def _pinwheel(x, y, p):
    return _wave(4 * np.arctan2(y - p.cy, x - p.cx) + p.phase)


PATTERNS: tuple[Pattern, ...] = (
    _stripes(0, 1), _stripes(1, 0), _stripes(0.7, 0.7), _stripes(0.7, -0.7), _checkerboard,
    _rings, _disc, _square, _cross, _pinwheel,
)


class _Params(NamedTuple):
    """Per-image random draws, shaped (n, 1, 1) to broadcast over the pixel grid."""

    phase: np.ndarray
    scale: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    contrast: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int) -> "_Params":
        ranges = {"phase": (0, 2 * np.pi), "scale": (0.8, 1.25), "cx": (0.3, 0.7), "cy": (0.3, 0.7),
                  "contrast": (0.55, 1.0)}
        return cls(**{name: rng.uniform(low, high, n).astype(np.float32)[:, None, None]
                      for name, (low, high) in ranges.items()})

    def subset(self, mask: np.ndarray) -> "_Params":
        return _Params(*(value[mask] for value in self))


def render(labels: np.ndarray, rng: np.random.Generator, chunk: int = 1000) -> np.ndarray:
    """Draw one image per label: N×3072 uint8 rows in CIFAR order (all R, then G, then B).

    All random draws happen up front, so the result does not depend on ``chunk`` (which only
    bounds the float32 scratch memory).
    """
    n = len(labels)
    params = _Params.draw(rng, n)
    colours = COLOUR_PAIRS[labels % len(COLOUR_PAIRS)]
    colours = (colours + rng.normal(0, COLOUR_JITTER_STD, colours.shape).astype(np.float32)) * np.float32(255)
    # Uniform pixel noise from raw bytes: as good as Gaussian here and several times cheaper.
    noise = np.frombuffer(rng.bytes(n * IMAGE_BYTES_UINT8), np.int8).reshape(n, 3, IMAGE_SIZE, IMAGE_SIZE)
    noise_scale = np.float32(255 * NOISE_STD * np.sqrt(3) / 128)
    out = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        shape = _draw_shapes(labels[part], params.subset(part))
        foreground, background = colours[part, 0, :, None, None], colours[part, 1, :, None, None]
        image = shape[:, None] * ((foreground - background) * params.contrast[part, None])
        image += background + np.float32(0.5)
        image += noise[part] * noise_scale
        np.clip(image, 0, 255, out=image)
        out[part] = image
    return out.reshape(n, IMAGE_BYTES_UINT8)


def _draw_shapes(labels: np.ndarray, params: _Params) -> np.ndarray:
    """Each image's class pattern, values in 0..1, shape (n, 32, 32)."""
    grid = (np.arange(IMAGE_SIZE, dtype=np.float32) + np.float32(0.5)) / np.float32(IMAGE_SIZE)
    x, y = grid[None, None, :], grid[None, :, None]
    shapes = np.empty((len(labels), IMAGE_SIZE, IMAGE_SIZE), np.float32)
    for label, pattern in enumerate(PATTERNS):
        chosen = labels == label
        if chosen.any():
            shapes[chosen] = pattern(x, y, params.subset(chosen))
    return shapes


def _balanced_labels(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % NUM_CLASSES)


# --- Python 2 pickles -----------------------------------------------------------------
# The real batch files were written by Python 2's cPickle: strings are Python 2 str objects
# (they unpickle as bytes under encoding='bytes') and arrays refer to numpy.core.multiarray.
# Python 3's pickler cannot write either, so these few opcodes are written directly.

def _py2_str(value: str | bytes) -> bytes:
    data = value.encode("latin1") if isinstance(value, str) else value
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data                     # SHORT_BINSTRING
    if len(data) >= 2**31:
        raise GenetError(f"a batch of {len(data)} bytes is too large for a Python 2 pickle")
    return b"T" + struct.pack("<i", len(data)) + data               # BINSTRING


def _py2_int(value: int) -> bytes:
    if 0 <= value < 256:
        return b"K" + bytes([value])                                # BININT1
    if 0 <= value < 65536:
        return b"M" + struct.pack("<H", value)                      # BININT2
    return b"J" + struct.pack("<i", value)                          # BININT


def _py2_list(items: list[bytes]) -> bytes:
    return b"]" + (b"(" + b"".join(items) + b"e" if items else b"")  # EMPTY_LIST, MARK, ..., APPENDS


def _py2_uint8_matrix(array: np.ndarray) -> bytes:
    """A C-ordered 2-D uint8 array as numpy 1.x pickles it: _reconstruct, then BUILD with the raw bytes."""
    rows, columns = array.shape
    dtype = (b"cnumpy\ndtype\n" + _py2_str("u1") + _py2_int(0) + _py2_int(1) + b"\x87R"
             + b"(" + _py2_int(3) + _py2_str("|") + b"NNN" + _py2_int(-1) * 2 + _py2_int(0) + b"tb")
    return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + _py2_int(0) + b"\x85" + _py2_str("b")
            + b"\x87R" + b"(" + _py2_int(1) + _py2_int(rows) + _py2_int(columns) + b"\x86" + dtype
            + b"\x89" + _py2_str(array.tobytes()) + b"tb")


def _py2_value(value: object) -> bytes:
    if isinstance(value, np.ndarray):
        return _py2_uint8_matrix(value)
    if isinstance(value, (str, bytes)):
        return _py2_str(value)
    if isinstance(value, int):
        return _py2_int(value)
    return _py2_list([_py2_value(item) for item in value])


def py2_pickle(batch: dict[str, object]) -> bytes:
    """Pickle a batch dict (str keys; str, int, list and uint8-matrix values) as Python 2 did."""
    items = b"".join(_py2_str(key) + _py2_value(value) for key, value in batch.items())
    return b"\x80\x02}(" + items + b"u."                          # PROTO 2, EMPTY_DICT, MARK, SETITEMS, STOP


def _batch(rng: np.random.Generator, n: int, batch_label: str, first_index: int) -> bytes:
    labels = _balanced_labels(rng, n)
    return py2_pickle({
        "batch_label": batch_label,
        "labels": [int(v) for v in labels],
        "data": render(labels, rng),
        "filenames": [f"generated_{CIFAR10_CLASSES[v]}_{first_index + i:06d}.png" for i, v in enumerate(labels)],
    })


def generate_batches(train: int, test: int, seed: int) -> dict[str, bytes]:
    """The pickled files of the folder, by name. Each batch file has its own random stream."""
    if train < 0 or test < 1 or seed < 0:
        raise GenetError(f"need train ≥ 0, test ≥ 1 and seed ≥ 0 (got train={train}, test={test}, seed={seed})")
    train_max = BATCH_IMAGES * len(SPLIT_BATCHES["train"])
    if train > train_max or test > BATCH_IMAGES:
        raise GenetError(f"CIFAR-10 holds at most {train_max} training and {BATCH_IMAGES} test images "
                         f"(got train={train}, test={test})")
    test_seed, *train_seeds = np.random.SeedSequence(seed).spawn(1 + len(SPLIT_BATCHES["train"]))
    files = {}
    train_names = SPLIT_BATCHES["train"]
    if train:
        sizes = [len(part) for part in np.array_split(np.arange(train), len(train_names))]
        first = 0
        for number, (name, size, child) in enumerate(zip(train_names, sizes, train_seeds), 1):
            label = f"training batch {number} of {len(train_names)}"
            files[name] = _batch(np.random.default_rng(child), size, label, first)
            first += size
    files[SPLIT_BATCHES["test"][0]] = _batch(np.random.default_rng(test_seed), test, "testing batch 1 of 1", 0)
    files[META_FILE] = py2_pickle({"num_cases_per_batch": BATCH_IMAGES, "label_names": list(CIFAR10_CLASSES),
                                   "num_vis": IMAGE_BYTES_UINT8})
    return files


def is_generated_archive(path: Path) -> bool:
    """A .tar.gz holding genet.data.synthetic's mark: one genet wrote."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            return tar.getmember(f"{CIFAR10_FOLDER}/{GENERATED_MARK}").isfile()
    except (OSError, KeyError, tarfile.TarError, EOFError):
        return False


def _write_archive(path: Path, files: dict[str, bytes]) -> str:
    """A reproducible .tar.gz (fixed mtimes and owners), the generated mark first; returns its MD5."""
    def entry(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
        return info

    sidecar = md5_sidecar(path)
    with atomic_files([path, sidecar], [".tar.gz", ""]) as (tmp, tmp_sidecar):      # one unit: never a stale .md5
        with open(tmp, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=ARCHIVE_GZIP_LEVEL) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            tar.addfile(entry(CIFAR10_FOLDER, tarfile.DIRTYPE, 0o755))
            mark = (GENERATED_NOTE + "\n").encode("utf-8")
            mark_entry = entry(f"{CIFAR10_FOLDER}/{GENERATED_MARK}", tarfile.REGTYPE, 0o644, len(mark))
            tar.addfile(mark_entry, io.BytesIO(mark))
            for name, data in sorted(files.items()):
                tar.addfile(entry(f"{CIFAR10_FOLDER}/{name}", tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
        digest = hashlib.md5(tmp.read_bytes()).hexdigest()
        tmp_sidecar.write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    return digest


def write_cifar10(out_dir: str | os.PathLike, train: int = 50_000, test: int = 10_000, seed: int = 0,
                  archive: bool = False) -> Path:
    """Write generated ``<out_dir>/cifar-10-batches-py/`` (and ``GENERATED_ARCHIVE`` if ``archive``).

    ``out_dir`` then serves as the seed's ``${datasets_path}``. Returns the batches folder.
    Generated data, not CIFAR-10: see the module docstring.
    """
    out_dir = Path(out_dir)
    files = generate_batches(train, test, seed)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenetError(f"{out_dir}: cannot create folder: {exc.strerror}") from None
    folder = out_dir / CIFAR10_FOLDER
    if folder.is_dir() and any(folder.iterdir()) and not (folder / GENERATED_MARK).is_file():
        raise GenetError(f"{folder}: holds a data set genet did not generate (no {GENERATED_MARK}); "
                         "give another folder")
    if archive:                 # derived names: checked before anything is written, replaced only when ours
        check_output_file(out_dir / GENERATED_ARCHIVE, named=False, ours=is_generated_archive,
                          ours_what="an archive genet generated")
        check_output_file(md5_sidecar(out_dir / GENERATED_ARCHIVE), named=False,
                          ours=lambda path: is_generated_archive(out_dir / GENERATED_ARCHIVE),
                          ours_what="the .md5 of an archive genet generated")
    known = {*SPLIT_BATCHES["train"], *SPLIT_BATCHES["test"], META_FILE, GENERATED_MARK}
    with atomic_dir(folder, ours=known.__contains__) as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        mark_generated(tmp)
    if archive:
        _write_archive(out_dir / GENERATED_ARCHIVE, files)
    return folder


if __name__ == "__main__":       # the command line lives in genet.cli.synthetic; say so rather than do nothing
    import sys

    print("python3 -m genet.data.synthetic: this is the library; run python3 -m genet.cli.synthetic "
          "(or genet-synthetic) instead", file=sys.stderr)
    raise SystemExit(2)
