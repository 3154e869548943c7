"""Seed step 3.3: list a folder's ``.bin`` or ``.jpg`` inputs as ``.info`` entries.

Paths are the folder exactly as given joined with the file name (``./prep_dataset`` gives
``./prep_dataset/00000.bin``), in file-name order, numbered from 0.
"""

from __future__ import annotations

import os
from typing import Callable

from genet.core.errors import GenetError
from genet.formats.info import InfoEntry

BIN_SUFFIXES = (".bin",)
JPG_SUFFIXES = (".jpg", ".jpeg")


def _list_files(folder: str, accepts: Callable[[str], bool], what: str) -> list[str]:
    """Sorted paths of the regular files in ``folder`` whose name ``accepts``; an error if none."""
    if not os.path.exists(folder):
        raise GenetError(f"{folder}: no such folder")
    if not os.path.isdir(folder):
        raise GenetError(f"{folder}: not a folder")
    try:
        names = sorted(name for name in os.listdir(folder) if accepts(name))
    except OSError as exc:
        raise GenetError(f"{folder}: cannot list: {exc.strerror}") from None
    paths = [os.path.join(folder, name) for name in names if os.path.isfile(os.path.join(folder, name))]
    if not paths:
        raise GenetError(f"{folder}: no {what} files")
    return paths


def list_bins(folder: str, width: int, height: int) -> list[InfoEntry]:
    """Every ``*.bin`` in ``folder``, with the given image size (a .bin does not carry one)."""
    paths = _list_files(folder, lambda name: name.endswith(BIN_SUFFIXES), ".bin")
    return [InfoEntry(index, path, width, height) for index, path in enumerate(paths)]


def list_jpgs(folder: str) -> list[InfoEntry]:
    """Every ``.jpg``/``.jpeg`` (any case) in ``folder``, with the size Pillow reads from its header."""
    from PIL import Image

    paths = _list_files(folder, lambda name: name.lower().endswith(JPG_SUFFIXES), ".jpg/.jpeg")
    entries = []
    for index, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, ValueError) as exc:  # UnidentifiedImageError is an OSError
            raise GenetError(f"{path}: not a readable image ({exc})") from None
        entries.append(InfoEntry(index, path, width, height))
    return entries
