"""ais_bench's ``--input``: its files, listed and checked as the tool does, before the model runs.

``--input`` is a folder or comma-separated files of ``.bin`` (raw float32) or ``.npy``; each file is
one image. A folder's files are listed as ais_bench lists them (``.bin``/``.npy`` in either case,
joined to the folder as given, naturally sorted: genet.formats.ais_bench_files); its other files
(preprocess's ``val_label.txt``, ``GENERATED-NOT-CIFAR10.txt``) are skipped with a note. Every file's
tensor must have the model's input size: ais_bench's ``tensorsize: T filesize: F not match`` becomes
a one-line error naming both sizes and the likely cause; a folder of files of mixed sizes is refused
as a whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from genet.bench.sources import image_bytes
from genet.core.console import Log
from genet.core.constants import PACKED_IMAGES
from genet.core.errors import GenetError
from genet.formats.ais_bench_files import input_listing, output_name

INPUT_SUFFIXES = (".bin", ".npy", ".BIN", ".NPY")


@dataclass
class InputFile:
    path: Path
    tensor_bytes: int
    given: str = ""          # the path as ais_bench spells it (the folder as given, joined to the name)

    def __post_init__(self) -> None:
        self.given = self.given or str(self.path)


def _tensor_bytes(path: Path) -> int:
    """Payload bytes of a .bin (its size) or .npy (its array's, read from the header)."""
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if array.dtype != np.float32:
                # ais_bench feeds a .npy's bytes as they are; casting its values would run another input.
                raise GenetError(f"{path}: holds {array.dtype} values; the model takes float32: save the array as "
                                 f"float32 (genet does not convert inputs)")
            return int(array.nbytes)
        return path.stat().st_size
    except FileNotFoundError:
        raise GenetError(f"{path}: input file not found") from None
    except (OSError, ValueError) as exc:
        raise GenetError(f"{path}: cannot read the input file: {exc}") from None


def list_inputs(spec: str, log: Log) -> list[InputFile]:
    """The files of ``--input``: a folder's .bin/.npy files (in ais_bench's order), or comma-separated files."""
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    skipped: list[str] = []
    if len(parts) == 1 and Path(parts[0]).is_dir():
        folder = parts[0]
        names = sorted(os.listdir(folder))
        # preprocess.py --packed's images.npy holds every image at once: not one input
        given = [path for path in input_listing(folder, names)
                 if os.path.isfile(path) and os.path.basename(path) != PACKED_IMAGES]
        if not given:
            raise GenetError(f"{folder}: holds no .bin or .npy input files (--input)")
        skipped = sorted(set(names) - {os.path.basename(path) for path in given})
    else:
        given = parts
        for part in given:
            if Path(part).is_dir():
                raise GenetError(f"{part}: a folder among comma-separated --input files; give one folder alone")
            if not part.endswith(INPUT_SUFFIXES):
                raise GenetError(f"{part}: --input files are .bin or .npy")
    if not given:
        raise GenetError("--input: no input files given")
    files = [InputFile(Path(path), _tensor_bytes(Path(path)), path) for path in given]
    sizes = {f.tensor_bytes: f for f in files}
    if len(sizes) > 1:
        a, b = list(sizes.values())[:2]
        raise GenetError(f"--input {spec}: files of different sizes: {a.path} holds {a.tensor_bytes} bytes, "
                         f"{b.path} {b.tensor_bytes}; one model input per file, all of one size")
    if skipped:
        log(f"note: --input {spec}: skipping {len(skipped)} file(s) that are not .bin/.npy inputs "
            f"({', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''})")
    return files


def likely_cause(file_bytes: int, tensor_bytes: int, shape: tuple[int, int, int]) -> str:
    """Why a file's size is not the model input's, in words (every reading the size allows)."""
    channels, height, width = shape
    causes = []
    if file_bytes * 4 == tensor_bytes:
        causes.append("uint8 pixels, not float32 (run preprocess.py first)")
    if file_bytes > tensor_bytes and file_bytes % tensor_bytes == 0:
        causes.append(f"{file_bytes // tensor_bytes} images in one file (genet reads one image per file)")
    values = file_bytes // 4
    side = int(round((values / channels) ** 0.5)) if file_bytes % 4 == 0 and values % channels == 0 else 0
    if side and side * side * channels == values and side != height:
        causes.append(f"a float32 {channels}×{side}×{side} image, preprocessed for another input size")
    if not causes:
        causes.append(f"not a float32 {channels}×{height}×{width} image (truncated, or another data type)")
    return "likely " + ", or ".join(causes)


def check_sizes(files: Sequence[InputFile], shape: tuple[int, int, int], model: Path) -> None:
    """ais_bench's file-size check, as one line naming both sizes and the likely cause."""
    want = image_bytes(shape)
    for f in files:
        if f.tensor_bytes != want:
            raise GenetError(f"{f.path}: tensorsize: {want} filesize: {f.tensor_bytes} not match: {model} takes "
                             f"one float32 {'×'.join(map(str, shape))} image ({want} bytes) per file; "
                             f"{likely_cause(f.tensor_bytes, want, shape)}")


def check_output_names(files: Sequence[InputFile]) -> None:
    """Two inputs whose outputs would take one name (``a.1.bin`` and ``a.2.bin`` → ``a_0``): refused, not lost
    (ais_bench would write the second over the first)."""
    seen: dict[str, Path] = {}
    for f in files:
        name = output_name(f.path, 0, "bin")[:-len(".bin")]
        if name in seen:
            raise GenetError(f"{f.path}: its output would be named {name}, as {seen[name]}'s is (ais_bench names "
                             f"outputs after the input's name up to its first dot); rename one of them")
        seen[name] = f.path
