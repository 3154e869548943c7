"""Summary statistics of a list of measurements: genet's one percentile routine.

The perf JSON's ``batch_latency_ms``, the ais_bench summary and the GPU sweep benchmark all take their
figures from ``summarize``: numpy's percentiles with linear interpolation (``numpy.percentile``'s
default, as ais_bench computes its own), ``median`` and ``p50`` being the same figure.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

PERCENTILES = (50, 90, 95, 99)


def summarize(values: Iterable[float], scale: float = 1.0) -> dict[str, float | int]:
    """``count``, ``min``, ``mean``, ``median`` (= ``p50``), ``p50``, ``p90``, ``p95``, ``p99``, ``max`` and ``std``
    of ``values`` × ``scale`` (e.g. 1000 for seconds to ms); an empty dict for no values."""
    array = np.asarray(list(values), dtype=np.float64) * scale
    if array.size == 0:
        return {}
    p50, p90, p95, p99 = (float(x) for x in np.percentile(array, PERCENTILES))
    return {"count": int(array.size), "min": float(array.min()), "mean": float(array.mean()), "median": p50,
            "p50": p50, "p90": p90, "p95": p95, "p99": p99, "max": float(array.max()), "std": float(array.std())}
