"""Summary statistics of a list of measurements: genet's one percentile routine.

The perf JSON's ``batch_latency_ms``, the ais_bench summary and the GPU sweep benchmark all take their
figures from ``summarize``: numpy's percentiles with linear interpolation (``numpy.percentile``'s
default, as ais_bench computes its own), ``median`` and ``p50`` being the same figure.
"""

from __future__ import annotations

import math
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


def percentile_min_samples(percentile: float) -> int:
    """Samples a ``percentile`` needs before genet prints it: one sample expected above it, 100 / (100 − p)
    (p50: 2, p90: 10, p95: 20, p99: 100). With fewer, the percentile is the top sample or an interpolation
    towards it, not an estimate of the tail (docs/metrics.md, "Samples and percentiles")."""
    return math.ceil(100.0 / (100.0 - percentile) - 1e-9)


def percentile_text(stats: dict, key: str, digits: int = 4) -> str:
    """``stats[key]`` (``p99``…) formatted, or ``n<100`` when ``stats["count"]`` is below the percentile's minimum."""
    percentile = 50.0 if key == "median" else float(key.lstrip("p"))
    need = percentile_min_samples(percentile)
    if int(stats.get("count", 0)) < need:
        return f"n<{need}"
    return f"{float(stats[key]):.{digits}f}"


# A figure's repeats are unstable when their coefficient of variation reaches this: pyperf's threshold (its
# "the benchmark result may be unstable: the standard deviation is N% of the mean" warning, pyperf/_cli.py).
UNSTABLE_CV = 0.10


def spread(values: Iterable[float]) -> dict[str, float | int | list[float]]:
    """The repeats of one figure: ``repeats`` (how many), ``median``, ``q1``/``q3`` (the interquartile range,
    numpy's linear interpolation), ``min``, ``max``, ``cv`` (sample standard deviation / mean; 0 for one repeat)
    and the ``values`` themselves; an empty dict for no values."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0:
        return {}
    q1, median, q3 = (float(x) for x in np.percentile(array, (25, 50, 75)))
    mean = float(array.mean())
    cv = float(array.std(ddof=1) / mean) if array.size > 1 and mean > 0 else 0.0
    return {"repeats": int(array.size), "median": median, "q1": q1, "q3": q3, "min": float(array.min()),
            "max": float(array.max()), "cv": cv, "values": [float(x) for x in array]}


def is_unstable(figure: dict) -> bool:
    """Whether a ``spread`` figure's coefficient of variation reaches ``UNSTABLE_CV`` (NaN counts as unstable)."""
    cv = float(figure.get("cv", 0.0))
    return not cv < UNSTABLE_CV


def clearly_above(a: dict, b: dict) -> bool:
    """The tie rule: ``a`` beats ``b`` only when its interquartile range lies wholly above ``b``'s
    (``a.q1 > b.q3``; for single repeats, a plain ``>``). Fails on NaN."""
    return bool(float(a["q1"]) > float(b["q3"]))


def spread_text(figure: dict, digits: int = 1) -> str:
    """``IQR 1,234.5–1,301.0, CV 2.1%, 5 repeats`` (a single repeat: ``1 repeat, no spread``)."""
    if not figure:
        return "no repeats"
    if int(figure["repeats"]) < 2:
        return "1 repeat, no spread"
    return (f"IQR {figure['q1']:.{digits}f}–{figure['q3']:.{digits}f}, CV {100 * figure['cv']:.1f}%, "
            f"{figure['repeats']} repeats")


def order(a: dict, b: dict) -> int:
    """1 when ``a`` beats ``b`` by the tie rule, -1 when ``b`` beats ``a``, 0 when they tie (within the noise)."""
    return 1 if clearly_above(a, b) else -1 if clearly_above(b, a) else 0


def ratio_text(a: dict, b: dict) -> str:
    """``a``'s median over ``b``'s, with ``(within the noise)`` when neither beats the other by the tie rule."""
    ratio = float(a["median"]) / float(b["median"]) if float(b["median"]) else float("nan")
    return f"{ratio:.2f}×" + (" (within the noise)" if order(a, b) == 0 else "")
