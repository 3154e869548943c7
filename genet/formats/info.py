"""The ``.info`` list read by the inference tools: ``<index> <path> <width> <height>``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, NamedTuple

from genet.core.errors import GenetError
from genet.core.fsio import write_text_atomic

INFO_LINE_FORMAT = "<index> <path> <width> <height>"


class InfoEntry(NamedTuple):
    index: int
    path: str
    width: int
    height: int

    @property
    def stem(self) -> str:
        """The file name without extension: the key dumps and labels are matched on."""
        return os.path.splitext(os.path.basename(self.path))[0]


def parse_info_line(line: str, where: str) -> InfoEntry:
    """Parse one line; the path may contain spaces (it sits between index and size)."""
    head, sep, rest = line.strip().partition(" ")
    tail = rest.rsplit(" ", 2) if sep else []
    if len(tail) != 3 or not tail[0].strip():
        raise GenetError(f"{where}: malformed info line {line.strip()!r} (expected '{INFO_LINE_FORMAT}')")
    try:
        return InfoEntry(int(head), tail[0].strip(), int(tail[1]), int(tail[2]))
    except ValueError:
        raise GenetError(
            f"{where}: malformed info line {line.strip()!r} (index, width and height must be integers)"
        ) from None


class NumberedEntry(NamedTuple):
    line: int
    entry: InfoEntry


def read_numbered_info(path: str | os.PathLike) -> list[NumberedEntry]:
    """The info file's entries with their line numbers; blank lines are skipped, anything
    malformed is an error naming the line."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise GenetError(f"{path}: not a regular file (an info file is a plain text file)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GenetError(f"{path}: info file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GenetError(f"{path}: cannot read info file: {exc}") from None
    numbered = [NumberedEntry(n, parse_info_line(line, f"{path}:{n}"))
                for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not numbered:
        raise GenetError(f"{path}: info file lists no inputs")
    return numbered


def read_info(path: str | os.PathLike) -> list[InfoEntry]:
    return [item.entry for item in read_numbered_info(path)]


def check_info_path(path: str) -> None:
    """Refuse a path the info format cannot carry: the file is UTF-8 with one entry per line, and the path
    sits between the first and the last two space-separated fields, stripped (inner spaces are kept)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise GenetError(f"{path.encode('utf-8', 'surrogateescape')!r}: the name is not UTF-8, which an info file "
                         "cannot hold; rename it") from None
    if len(f"<{path}>".splitlines()) != 1:
        raise GenetError(f"{path!r}: holds a line break, which would split its info line; rename it")
    if path != path.strip():
        raise GenetError(f"{path!r}: starts or ends with whitespace, which an info line "
                         f"('{INFO_LINE_FORMAT}') cannot keep; rename it")


def format_info(entries: Iterable[InfoEntry]) -> str:
    lines = []
    for e in entries:
        check_info_path(e.path)
        lines.append(f"{e.index} {e.path} {e.width} {e.height}\n")
    return "".join(lines)


def write_info(path: str | os.PathLike, entries: Iterable[InfoEntry]) -> None:
    write_text_atomic(path, format_info(entries))
