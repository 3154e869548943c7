"""Per-image output dumps, as the Ascend benchmark tool writes them, and ais_bench's outputs read alike.

``result/dumpOutput_device{id}/{stem}_{k}.txt`` holds model output ``k`` (1-based) of one
input: one line of values separated by spaces. With ``-output_binary=True`` the file is
``{stem}_{k}.bin``, raw float32. A run may also leave every output in one packed file
(``PACKED_DUMP``: arrays ``stems`` and ``logits``), which readers accept in place of the folder.

``load_dumps`` also reads a folder of ais_bench's outputs (``{stem}_0.txt``, ``.bin`` or ``.npy``,
output numbers from 0: genet.formats.ais_bench_files), telling the two tools apart by the output
number; a folder mixing them, or holding two outputs of one image, is refused.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from genet.core.errors import GenetError, name_some
from genet.core.fsio import atomic_path
from genet.formats.ais_bench_files import read_npy_output

PACKED_DUMP = "packed_logits.npz"
# 9 significant digits round-trip any float32.
_FLOAT32_FMT = "%.9g"
_DUMP_NAME = re.compile(r"^(?P<stem>.+)_(?P<output>\d+)\.(?P<ext>txt|bin)$")
_OUTPUT_NAME = re.compile(r"^(?P<stem>.+)_(?P<output>\d+)\.(?P<ext>txt|bin|npy)$")
# The output number of a classifier's logits in each tool's files.
BENCHMARK_OUTPUT, AIS_BENCH_OUTPUT = 1, 0
NO_DUMPS = ("no dumps ({stem}_1.txt or .bin from the benchmark tool, {stem}_0.txt, .bin or .npy from ais_bench, "
            f"or {PACKED_DUMP}) found")


def is_dump_name(name: str) -> bool:
    """A file name a dump folder holds: ``{stem}_1.txt``, ``{stem}_1.bin`` or the packed dump."""
    return name == PACKED_DUMP or (name.endswith(("_1.txt", "_1.bin")) and len(name) > 6)


def dump_folder(result_dir: str | os.PathLike, device_id: int) -> Path:
    return Path(result_dir) / f"dumpOutput_device{device_id}"


def dump_name(stem: str, binary: bool = False, output_index: int = 1) -> str:
    return f"{stem}_{output_index}.{'bin' if binary else 'txt'}"


def row_format(width: int) -> str:
    """The %-format of one dump line of ``width`` float32 values, with enough digits to read back bit-exactly."""
    return " ".join([_FLOAT32_FMT] * width) + "\n"


def format_row(values: np.ndarray) -> str:
    """One dump line."""
    row = np.asarray(values, dtype=np.float32).ravel().tolist()
    return row_format(len(row)) % tuple(row)


def write_dump(folder: Path, stem: str, values: np.ndarray, binary: bool = False) -> None:
    write_dumps(folder, [stem], np.asarray(values).reshape(1, -1), binary)


def write_dumps(folder: str | os.PathLike, stems: Sequence[str], logits: np.ndarray, binary: bool = False) -> None:
    """One dump per row of ``logits`` (N×K), named after ``stems``, in ``folder``.

    An ``OSError`` names the file it failed on.
    """
    logits = np.asarray(logits, dtype=np.float32)
    if binary:
        contents = [row.tobytes() for row in logits]
    else:
        line = row_format(logits.shape[1])
        contents = [(line % tuple(row)).encode() for row in logits.tolist()]
    for stem, data in zip(stems, contents):
        path = os.path.join(folder, dump_name(stem, binary))
        try:
            write_file(path, data)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, path) from None


def write_file(path: str, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)


def write_packed(path: str | os.PathLike, stems: Sequence[str], logits: np.ndarray) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, stems=np.asarray(stems, dtype=str), logits=np.asarray(logits, dtype=np.float32))


def read_dump(path: str | os.PathLike) -> np.ndarray:
    """Read one dump file (``.txt`` or ``.bin``) as a float32 vector."""
    path = Path(path)
    try:
        if path.suffix == ".bin":
            raw = path.read_bytes()
            if len(raw) % 4:
                raise GenetError(f"{path}: size {len(raw)} bytes is not a whole number of float32 values")
            return np.frombuffer(raw, dtype=np.float32)
        return np.array(path.read_text().split(), dtype=np.float32)
    except ValueError:
        raise GenetError(f"{path}: dump holds something that is not a number") from None
    except OSError as exc:
        raise GenetError(f"{path}: cannot read dump: {exc.strerror}") from None


def scan_dumps(folder: str | os.PathLike, output_index: int = 1) -> dict[str, Path]:
    """Map each input stem to its dump file for the given model output.

    Two dumps of one input (``x_1.txt`` and ``x_1.bin``) are an error naming both.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GenetError(f"{folder}: dump folder not found")
    found: dict[str, Path] = {}
    with os.scandir(folder) as it:
        for entry in it:
            match = _DUMP_NAME.match(entry.name)
            if not match or int(match["output"]) != output_index:
                continue
            stem = match["stem"]
            if stem in found:
                raise GenetError(f"{folder}: two dumps for one image: {found[stem].name} and {entry.name}")
            found[stem] = folder / entry.name
    return found


def scan_outputs(folder: Path) -> dict[str, Path]:
    """Each image's logits file in a folder of the benchmark tool's dumps or of ais_bench's outputs, told apart
    by the output number (``_1`` / ``_0``); empty when the folder holds neither.

    Refused, in one line: two files for one image (``x_1.txt`` and ``x_1.bin``), two outputs of one image
    (``x_0.bin`` and ``x_1.bin``: a model with several outputs), and a folder mixing the two tools' files.
    """
    outputs: dict[str, dict[int, Path]] = {}
    with os.scandir(folder) as it:
        for entry in sorted(it, key=lambda e: e.name):
            match = _OUTPUT_NAME.match(entry.name)
            if not match:
                continue
            files = outputs.setdefault(match["stem"], {})
            index = int(match["output"])
            if index in files:
                raise GenetError(f"{folder}: two dumps for one image: {files[index].name} and {entry.name}")
            files[index] = folder / entry.name
    for files in outputs.values():
        if len(files) > 1:
            first, second = sorted(files)[:2]
            raise GenetError(f"{folder}: two outputs of one image: {files[first].name} and {files[second].name} "
                             f"(the logits are one output: give a folder of one output per image)")
    by_index: dict[int, dict[str, Path]] = {}
    for stem, files in outputs.items():
        ((index, path),) = files.items()
        by_index.setdefault(index, {})[stem] = path
    if AIS_BENCH_OUTPUT in by_index and BENCHMARK_OUTPUT in by_index:
        ais = next(iter(by_index[AIS_BENCH_OUTPUT].values())).name
        tool = next(iter(by_index[BENCHMARK_OUTPUT].values())).name
        raise GenetError(f"{folder}: mixes ais_bench's outputs ({ais}, output numbers from 0) with the benchmark "
                         f"tool's dumps ({tool}, from 1): give a folder of one tool's files")
    for index in (BENCHMARK_OUTPUT, AIS_BENCH_OUTPUT):
        if index in by_index:
            return by_index[index]
    return {}


def read_packed(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            stems, logits = data["stems"].tolist(), data["logits"].astype(np.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise GenetError(f"{path}: not a packed dump file ({exc})") from None
    if logits.ndim != 2 or logits.shape[0] != len(stems):
        raise GenetError(f"{path}: packed dump has {len(stems)} names for logits of shape {logits.shape}")
    return stems, logits


@dataclass
class DumpSet:
    """The logits of one run: one row per image, in ``stems`` order."""

    source: Path
    stems: list[str]
    logits: np.ndarray
    files: list[str] | None = None  # the dump file of each row; None for a packed file

    @property
    def num_classes(self) -> int:
        return int(self.logits.shape[1])

    def describe(self, rows: Sequence[int]) -> str:
        if self.files is None:
            return name_some([f"{self.source.name}[{self.stems[i]}]" for i in rows])
        return name_some([self.files[i] for i in rows])


def _read_dump_files(paths: Sequence[Path]) -> tuple[np.ndarray, list[int], list[bytes], list[int], list[bytes]]:
    """Each file's value count, and the raw text tokens / binary data of the .txt and .bin files."""
    counts = np.zeros(len(paths), dtype=np.int64)
    txt_rows: list[int] = []
    tokens: list[bytes] = []
    bin_rows: list[int] = []
    chunks: list[bytes] = []
    for row, path in enumerate(paths):
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise GenetError(f"{path}: cannot read dump: {exc.strerror}") from None
        if path.suffix == ".npy":
            values = read_npy_output(path)
            counts[row] = values.size
            bin_rows.append(row)
            chunks.append(values.tobytes())
        elif path.suffix == ".bin":
            if len(data) % 4:
                read_dump(path)  # raises the error naming the file and its size
            counts[row] = len(data) // 4
            bin_rows.append(row)
            chunks.append(data)
        else:
            file_tokens = data.split()
            counts[row] = len(file_tokens)
            txt_rows.append(row)
            tokens.extend(file_tokens)
    return counts, txt_rows, tokens, bin_rows, chunks


def _parse_tokens(tokens: list[bytes], paths: Sequence[Path]) -> np.ndarray:
    try:
        return np.array(tokens, dtype=np.float32)
    except ValueError:
        for path in paths:
            read_dump(path)  # raises the error naming the file that holds a non-number
        raise


def _check_widths(source: Path, names: Sequence[str], counts: np.ndarray, num_classes: int | None) -> int:
    """The one width all dumps share, checked against ``num_classes`` when it is given.

    Dumps of different widths are listed by width, fewest first, and none is called the right one
    unless ``num_classes`` says which is.
    """
    widths, freq = np.unique(counts, return_counts=True)
    if num_classes is not None:
        bad = np.flatnonzero(counts != num_classes)
        if bad.size:
            listed = name_some([f"{names[i]} ({counts[i]} values)" for i in bad])
            raise GenetError(f"{source}: {bad.size} of {len(names)} dump(s) do not hold {num_classes} values "
                             f"(--num-classes): {listed}")
        return num_classes
    if widths.size > 1:
        groups = [f"{n} hold {w} values ({name_some([names[i] for i in np.flatnonzero(counts == w)], 3)})"
                  for w, n in sorted(zip(widths.tolist(), freq.tolist()), key=lambda item: item[1])]
        raise GenetError(f"{source}: the dumps do not all hold the same number of values: {'; '.join(groups)}"
                         " (--num-classes tells which is right)")
    if widths[0] <= 0:
        raise GenetError(f"{source}: the dumps hold no values")
    return int(widths[0])


def _load_folder(folder: Path, found: dict[str, Path], num_classes: int | None) -> DumpSet:
    stems = sorted(found)
    paths = [found[s] for s in stems]
    names = [p.name for p in paths]
    counts, txt_rows, tokens, bin_rows, chunks = _read_dump_files(paths)
    width = _check_widths(folder, names, counts, num_classes)
    logits = np.empty((len(paths), width), dtype=np.float32)
    if txt_rows:
        logits[txt_rows] = _parse_tokens(tokens, [paths[i] for i in txt_rows]).reshape(-1, width)
    if bin_rows:
        logits[bin_rows] = np.frombuffer(b"".join(chunks), dtype=np.float32).reshape(-1, width)
    return DumpSet(folder, stems, logits, names)


def _load_packed(path: Path, num_classes: int | None) -> DumpSet:
    stems, logits = read_packed(path)
    repeated = sorted(stem for stem, n in Counter(stems).items() if n > 1)
    if repeated:
        raise GenetError(f"{path}: two rows for one image: {name_some(repeated)}")
    width = logits.shape[1]
    if width == 0 or (num_classes is not None and width != num_classes):
        raise GenetError(f"{path}: rows hold {width} values, expected {num_classes or 'at least 1'}")
    return DumpSet(path, list(stems), logits)


def load_dumps(source: str | os.PathLike, num_classes: int | None = None,
               allow_non_finite: bool = False) -> DumpSet:
    """Read a dump folder (``{stem}_1.txt`` / ``.bin``), a folder of ais_bench's outputs (``{stem}_0.txt`` /
    ``.bin`` / ``.npy``) or a packed ``.npz`` into one matrix.

    A folder without per-image dumps falls back to the packed file inside it. Without
    ``num_classes`` all dumps must hold as many values as each other. NaN and Inf are errors
    unless ``allow_non_finite`` (a comparison counts them as failures instead).
    """
    source = Path(source)
    if source.is_file():
        dumps = _load_packed(source, num_classes)
    elif source.is_dir():
        found = scan_outputs(source)
        if found:
            dumps = _load_folder(source, found, num_classes)
        elif (source / PACKED_DUMP).is_file():
            dumps = _load_packed(source / PACKED_DUMP, num_classes)
        else:
            raise GenetError(f"{source}: {NO_DUMPS}")
    else:
        raise GenetError(f"{source}: dump folder not found")
    if not dumps.stems:
        raise GenetError(f"{dumps.source}: holds no images")
    bad = np.flatnonzero(~np.isfinite(dumps.logits).all(axis=1))
    if bad.size and not allow_non_finite:
        raise GenetError(f"{dumps.source}: {bad.size} dump(s) hold NaN or Inf: {dumps.describe(bad)}")
    return dumps
