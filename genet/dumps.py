"""Per-image output dumps, as the Ascend benchmark tool writes them.

``result/dumpOutput_device{id}/{stem}_{k}.txt`` holds model output ``k`` (1-based) of one
input: one line of values separated by spaces. With ``-output_binary=True`` the file is
``{stem}_{k}.bin``, raw float32. A run may also leave every output in one packed file
(``PACKED_DUMP``: arrays ``stems`` and ``logits``), which readers accept in place of the folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import GenetError
from .fsio import atomic_path

PACKED_DUMP = "packed_logits.npz"
# 9 significant digits round-trip any float32.
_FLOAT32_FMT = "%.9g"
_DUMP_NAME = re.compile(r"^(?P<stem>.+)_(?P<output>\d+)\.(?P<ext>txt|bin)$")


def dump_folder(result_dir: str | os.PathLike, device_id: int) -> Path:
    return Path(result_dir) / f"dumpOutput_device{device_id}"


def dump_name(stem: str, binary: bool = False, output_index: int = 1) -> str:
    return f"{stem}_{output_index}.{'bin' if binary else 'txt'}"


def format_row(values: np.ndarray) -> str:
    """One dump line: float32 values with enough digits to read back bit-exactly."""
    row = np.asarray(values, dtype=np.float32).ravel().tolist()
    return " ".join([_FLOAT32_FMT] * len(row)) % tuple(row) + "\n"


def write_dump(folder: Path, stem: str, values: np.ndarray, binary: bool = False) -> None:
    path = folder / dump_name(stem, binary)
    if binary:
        np.asarray(values, dtype=np.float32).tofile(path)
    else:
        path.write_text(format_row(values))


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
