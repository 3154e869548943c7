"""Untimed model calls before a run, at every batch shape the run will use.

The first call at a shape pays for compiles, CUDA graph captures, autotuning and lazy
allocations; a run's figures are taken after them. The seconds of each warm-up call go into
the perf JSON (``seconds.warmup``, ``seconds.first_call``).
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from genet.bench.batches import BatchSpan
from genet.bench.sources import ImageShape
from genet.runners import Runner


def warm_up(runner: Runner, spans: Sequence[BatchSpan], shape: ImageShape, calls: int, seed: int) -> list[float]:
    """``calls`` runs at the full batch shape, one at the remainder's (CUDA graphs, compiles, autotuning).

    Returns the wall-clock seconds of each warm-up call (the first one is the cold call).
    """
    seconds: list[float] = []
    if calls < 1:
        return seconds
    generator = np.random.default_rng(seed + 1)
    for i, rows in enumerate(sorted({span.rows for span in spans}, reverse=True)):
        images = generator.standard_normal((rows, *shape), dtype=np.float32)
        for _ in range(calls if i == 0 else 1):
            start = time.perf_counter()
            runner.run(images)
            seconds.append(time.perf_counter() - start)
    return seconds
