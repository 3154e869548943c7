"""``val_label.txt``: one ``<file name> <class index>`` line per preprocessed image."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from genet.core.errors import GenetError
from genet.core.fsio import write_text_atomic


def format_labels(items: Iterable[tuple[str, int]]) -> str:
    return "".join(f"{name} {int(label)}\n" for name, label in items)


def write_labels(path: str | os.PathLike, items: Iterable[tuple[str, int]]) -> None:
    write_text_atomic(path, format_labels(items))


def read_labels(path: str | os.PathLike) -> dict[str, int]:
    """Map each image's stem (``00000`` for ``00000.bin``) to its label.

    Malformed lines, negative labels and a stem listed twice are errors naming the line.
    """
    path = Path(path)
    if path.exists() and not path.is_file():        # a FIFO would block the read for ever
        raise GenetError(f"{path}: not a regular file (a label file is a plain text file)")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()   # a BOM from Windows editors is dropped
    except FileNotFoundError:
        raise GenetError(f"{path}: label file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GenetError(f"{path}: cannot read label file: {exc}") from None
    labels: dict[str, int] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        name, _, value = line.strip().rpartition(" ")
        try:
            label = int(value)
        except ValueError:
            label = -1
        if not name.strip() or label < 0:
            raise GenetError(f"{path}:{n}: malformed label line {line.strip()!r} (expected '<file> <class index>')")
        stem = os.path.splitext(os.path.basename(name.strip()))[0]
        if stem in labels:
            raise GenetError(f"{path}:{n}: {name.strip()} is labelled twice")
        labels[stem] = label
    if not labels:
        raise GenetError(f"{path}: label file is empty")
    return labels
