"""The machine's ceiling: a dense matrix product's rate on the profiled backend, in the same run.

The backend's profiler builds one size×size×size product (``LayerProfiler.dense_matmul``: ONNX
Runtime and OpenVINO run an ONNX MatMul, int8 as a QuantizeLinear/DequantizeLinear MatMul their
optimisers turn into an integer GEMM; PyTorch ``torch.mm`` in the model's dtype) with the model's
threads. It is called back to back, one call at a time as the model's calls run, for a window of
``seconds / 3``; a window's rate is 2·size³ FLOPs per call times the calls, over the time until the
last call ended, and the ceiling is the best window of two measurements, one before the profiled
pass and one after it.

It is what the backend's best kernel sustains on these cores: a layer near it is compute-bound and
well tiled; one far below it is either memory-bound (element-wise ops, pooling, a 1×1 convolution
on a small map move more bytes than they compute: the ceiling says nothing of memory bandwidth) or
badly shaped for the cores. The rate is taken while other work on the machine may run, as the layer
times are: both move together, and both are labelled with the machine's load.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

from genet.layers.profile import Ceiling

# 512: the three matrices (3 MiB in fp32) stay near the cores, so that the product runs at the cores' rate;
# on the 2-core EPYC build machine one ONNX Runtime thread did 103 GFLOP/s at 512 and 50 at 1024 (busy machine).
MATMUL_SIZE = 512
CEILING_SECONDS = 0.6
WINDOWS = 3             # the best of three windows: the ceiling is what the cores sustain at best


def measure_ceiling(profiler, precisions: Sequence[str], threads: str, size: int = MATMUL_SIZE,
                    seconds: float = CEILING_SECONDS) -> Ceiling | None:
    """GFLOP/s of the profiler's dense product per precision it has; None when it has none."""
    rates = {}
    for precision in precisions:
        call = profiler.dense_matmul(precision, size)
        if call is None:
            continue
        call()                                    # first call: plans, packs the weights
        rates[precision] = max(rate_of(call, seconds / WINDOWS, 2.0 * size ** 3) for _ in range(WINDOWS))
    if not rates:
        return None
    return Ceiling(rates, size, 1, threads, seconds)


def best_of(first: Ceiling | None, second: Ceiling | None) -> Ceiling | None:
    """Per precision, the higher of two measurements of the same product."""
    if first is None or second is None:
        return first or second
    rates = {p: max(first.gflops.get(p, 0.0), second.gflops.get(p, 0.0)) for p in {**first.gflops, **second.gflops}}
    return Ceiling(rates, first.size, first.streams, first.threads, first.seconds + second.seconds)


def rate_of(call: Callable[[], None], seconds: float, flops: float) -> float:
    """GFLOP/s of ``call`` run back to back for about ``seconds`` (at least once)."""
    calls = 0
    start = time.perf_counter()
    stop = start + seconds
    while time.perf_counter() < stop or calls == 0:
        call()
        calls += 1
    return calls * flops / (time.perf_counter() - start) / 1e9
