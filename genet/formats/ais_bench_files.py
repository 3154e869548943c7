"""ais_bench's output files and its ``{dirname}_summary.json``: names, contents, and how to read them back.

The rules are those of ais_bench 0.0.2 (Huawei's ait, ``ait/components/benchmark/ais_bench/infer/``;
read in the public mirror github.com/mjlovesz/sync-ait), docs/formats.md, "ais_bench's files":

- ``save_tensors_to_file`` (``io_oprations.py``) splits each output of a batch along the batch axis
  into one piece per input file and writes piece ``j`` of output ``i`` to
  ``{output}/{dirname}/{name}_{i}.{fmt}``, ``name`` being the input file's base name up to its first
  dot; the pieces of padding inputs (a last partial batch) are not written;
- ``save_data_to_files`` (``utils.py``): ``.bin`` is the piece's raw bytes, ``.npy`` the piece saved
  by NumPy (its batch axis kept: 1×K for one image), ``.txt`` one line per row of the piece reshaped
  to (-1, last axis), each value printed ``%f`` (``%d`` for integers) followed by a space;
- ``Summary`` (``summary.py``) and ``main`` (``benchmark_process.py``): the summary's ``filesinfo``
  maps each input's sample number (a string in the JSON) to ``{"infiles": [...], "outfiles": [...]}``,
  the paths as the tool joined them; ``args`` is the command line (``sys.argv``, a list).
"""

from __future__ import annotations

import os
import re
from typing import Sequence

import numpy as np

from genet.core.errors import GenetError

OUTFMTS = ("BIN", "NPY", "TXT")
SUMMARY_SUFFIX = "_summary.json"
# The flags ais_bench (and ait benchmark) take a batch size by, in either spelling.
BATCH_FLAGS = ("--batchsize", "--batch-size", "--batch_size", "--dymBatch", "--dym-batch", "--dym_batch")


def output_stem(input_path: str | os.PathLike) -> str:
    """The name an input's outputs take: its base name up to the first dot (``a.b.bin`` → ``a``)."""
    return os.path.basename(os.fspath(input_path)).split(".")[0]


def output_name(input_path: str | os.PathLike, output_index: int, outfmt: str) -> str:
    return f"{output_stem(input_path)}_{output_index}.{outfmt.lower()}"


def summary_path(output: str, dirname: str) -> str:
    """``{output}/{dirname}_summary.json``, joined as ais_bench joins it."""
    return os.path.join(output, dirname) + SUMMARY_SUFFIX


def text_lines(piece: np.ndarray) -> bytes:
    """A ``.txt`` output: one line per row of ``piece`` reshaped to (-1, last axis), ``%f `` per value."""
    rows = np.asarray(piece).reshape(-1, np.asarray(piece).shape[-1])
    fmt = "%f " if rows.dtype.kind == "f" else "%d "
    line = fmt * rows.shape[1] + "\n"
    return "".join(line % tuple(row) for row in rows.tolist()).encode()


def write_output(path: str | os.PathLike, piece: np.ndarray) -> None:
    """One output file of one input, in the format its suffix names (``.bin``, ``.npy`` or ``.txt``)."""
    path = os.fspath(path)
    lowered = path.lower()
    try:
        if lowered.endswith(".npy"):
            with open(path, "wb") as fh:
                np.save(fh, piece)
        elif lowered.endswith(".txt"):
            with open(path, "wb") as fh:
                fh.write(text_lines(piece))
        else:
            with open(path, "wb") as fh:
                fh.write(np.ascontiguousarray(piece).tobytes())
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None


def read_npy_output(path: str | os.PathLike) -> np.ndarray:
    """An ``.npy`` output as a float32 vector (a 1×K piece of one image, flattened)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise GenetError(f"{path}: not a NumPy output file: {exc}") from None
    if array.dtype.kind not in "fiu":
        raise GenetError(f"{path}: holds {array.dtype} values, not numbers")
    return array.astype(np.float32, copy=False).reshape(-1)


def batch_from_args(args: object) -> int | None:
    """The batch size a summary's ``args`` gives: ``--batchsize 16``, ``--dymBatch=16``, ...; None when absent.

    ``args`` is the tool's argv list; a dict (genet's summaries before they wrote the list) is read too.
    """
    if isinstance(args, dict):
        for key in ("batchsize", "batch_size", "dymBatch", "dym_batch"):
            if args.get(key) not in (None, ""):
                return _batch_value(args[key])
        return None
    if not isinstance(args, list):
        return None
    found = None
    for i, token in enumerate(args):
        flag, eq, value = str(token).partition("=")
        if flag in BATCH_FLAGS:
            if not eq:
                value = str(args[i + 1]) if i + 1 < len(args) else ""
            batch = _batch_value(value)
            if batch:                      # --dymBatch 0 is ais_bench's "not dynamic"
                found = batch
    return found


def _batch_value(value: object) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise GenetError(f"the summary's args give batch size {value!r}") from None


_NATURAL = re.compile(r"([0-9]+)")


def natural_key(text: str) -> list:
    """ais_bench's ``natural_sort`` key (``utils.py``): digit runs compare as numbers, the rest case-blind."""
    return [int(part) if part.isdigit() else part.lower() for part in _NATURAL.split(text)]


def input_listing(folder: str, names: Sequence[str]) -> list[str]:
    """A folder's input files as ais_bench lists them: ``.bin``/``.npy`` (any case) joined to the folder as given,
    naturally sorted."""
    kept = [os.path.join(folder, name) for name in names if name.endswith((".npy", ".NPY", ".bin", ".BIN"))]
    return sorted(sorted(kept), key=natural_key)
