"""The manifest of a packed ``images.npy``: proof of which images it holds.

``preprocess.py --packed`` writes ``packed.json`` beside ``images.npy`` (format: docs/formats.md):
the array's count, shape and dtype, the SHA-256 of ``images.npy``, ``labels.npy`` and
``val_label.txt``, and each ``.bin`` file of the same run, in row order, with its size and
modification time. A reader may use ``images.npy`` in place of the ``.bin`` files only when
:func:`check_packed` finds that all of it still holds; otherwise it reads the ``.bin`` files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from genet.core.constants import LABEL_FILE, PACKED_IMAGES, PACKED_LABELS, PACKED_MANIFEST

MANIFEST_FORMAT = "genet-packed-1"


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, bin_names: Sequence[str]) -> None:
    """Write ``packed.json`` for ``folder``'s ``images.npy`` and its ``.bin`` files (``bin_names``, row order)."""
    images = np.load(folder / PACKED_IMAGES, mmap_mode="r")
    bins = []
    for name in bin_names:
        info = os.stat(folder / name)
        bins.append({"name": name, "bytes": info.st_size, "mtime_ns": info.st_mtime_ns})
    manifest = {
        "format": MANIFEST_FORMAT,
        "count": int(images.shape[0]), "shape": list(images.shape), "dtype": str(images.dtype),
        "sha256": {name: file_sha256(folder / name) for name in (PACKED_IMAGES, PACKED_LABELS, LABEL_FILE)},
        "bins": bins,
    }
    (folder / PACKED_MANIFEST).write_text(json.dumps(manifest, indent=0) + "\n", encoding="utf-8")


def _read_manifest(path: Path) -> dict | str:
    if path.exists() and not path.is_file():
        return f"{path} is not a regular file"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {path.name} beside it (preprocess.py --packed writes one)"
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"{path} is unreadable ({exc})"
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return f"{path} is not a {MANIFEST_FORMAT} manifest"
    return manifest


def _check_bins(folder: Path, listed: Sequence[dict], bin_paths: Sequence[str]) -> str | None:
    rows = {entry.get("name"): (row, entry) for row, entry in enumerate(listed) if isinstance(entry, dict)}
    same_folder: dict[str, bool] = {}
    for path in bin_paths:
        parent, name = os.path.split(path)
        if parent not in same_folder:
            same_folder[parent] = os.path.isdir(parent or ".") and os.path.samefile(parent or ".", folder)
        if not same_folder[parent]:
            return f"{path} is not in {folder}"
        if name not in rows:
            return f"{path} is not one of the .bin files it was written with"
        row, entry = rows[name]
        if not name.split(".")[0].isdigit() or int(name.split(".")[0]) != row:
            return f"{path} is not at row {row} of it"
        try:
            info = os.stat(path)
        except OSError as exc:
            return f"{path}: {exc.strerror}"
        if (info.st_size, info.st_mtime_ns) != (entry.get("bytes"), entry.get("mtime_ns")):
            return f"{path} changed since it was written (size or modification time)"
    return None


def check_packed(images_path: Path, bin_paths: Sequence[str]) -> str | None:
    """None when the manifest beside ``images_path`` proves it holds exactly the images of ``bin_paths``.

    Every listed ``.bin`` must be one the manifest names, in the same folder, with the same size
    and modification time, and ``images.npy`` must hash to the manifest's SHA-256 (read in full).
    Otherwise a one-line reason, for a note such as "reading the .bin files: <reason>".
    """
    images_path = Path(images_path)
    manifest = _read_manifest(images_path.with_name(PACKED_MANIFEST))
    if isinstance(manifest, str):
        return manifest
    listed = manifest.get("bins")
    if not isinstance(listed, list):
        return f"{PACKED_MANIFEST} lists no .bin files"
    reason = _check_bins(images_path.parent, listed, bin_paths)
    if reason:
        return reason
    if not images_path.is_file():
        return f"{images_path} is not a regular file"
    try:
        digest = file_sha256(images_path)
    except OSError as exc:
        return f"{images_path}: {exc.strerror}"
    hashes = manifest.get("sha256")
    if not isinstance(hashes, dict) or digest != hashes.get(PACKED_IMAGES):
        return f"{images_path} changed since preprocess.py wrote it (SHA-256 differs)"
    return None
