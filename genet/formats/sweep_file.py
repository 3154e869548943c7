"""The sweep file ``sweep_device_{id}.json`` that ``benchmark.py -batch_size=1,4,…`` writes (docs/formats.md).

Written by genet.bench.sweep; read here, so that reading one never loads the run engine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from genet.core.errors import GenetError

SWEEP_KIND = "genet batch sweep"


def sweep_stem(device_id: int) -> str:
    return f"sweep_device_{device_id}"


def read_sweep(path: str | os.PathLike) -> tuple[dict[int, float], bool]:
    """Batch → Interface img/s of a ``sweep_device_{id}.json``, and whether they are NPU chip figures."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        points = {int(p["batch_size"]): float(p["interface_throughput"]) for p in data["points"]}
        backend = str(data.get("backend", ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GenetError(f"{path}: not a readable genet sweep file ({exc})") from None
    if not points:
        raise GenetError(f"{path}: sweep file holds no batch sizes")
    return points, backend == "ascend"


def is_sweep_file(path: str | os.PathLike) -> bool:
    """A JSON object whose ``kind`` is a genet sweep."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("kind") == SWEEP_KIND
