#!/usr/bin/env python3
"""Does conv+BN folding (genet/model/fold.py) pay on this machine?  PyTorch eager, fp32, random-init WRN-16-8.

    python3 benchmarks/bn_fold.py [--batch 16] [--rounds 5] [--calls 3] [--device cpu|cuda]

Folded and unfolded models in one process, rounds interleaved (which goes first alternates),
median seconds per call of each, and their ratio. Pure inference on random images: the
weights change the logits, not the work. Prints the machine and versions with the figures.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from genet.core.cpuinfo import cpu_label
from genet.model.fold import fold_batchnorm
from genet.model.network import build_model
from genet.model.variant import Variant


def seconds_per_call(model: torch.nn.Module, images: torch.Tensor, calls: int) -> float:
    if images.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        model(images)
    if images.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / calls


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    torch.manual_seed(0)
    plain = build_model(Variant(depth=16, width=8)).eval().to(args.device)
    folded, count = fold_batchnorm(plain)
    images = torch.randn(args.batch, 3, 32, 32, device=args.device)
    models = {"unfolded": plain, "folded": folded}
    for model in models.values():
        seconds_per_call(model, images, 1)                   # warm-up
    times: dict[str, list[float]] = {name: [] for name in models}
    for round_ in range(args.rounds):
        for name in (list(models) if round_ % 2 == 0 else list(models)[::-1]):
            times[name].append(seconds_per_call(models[name], images, args.calls))
    device = torch.cuda.get_device_name() if args.device == "cuda" else cpu_label()
    print(f"{device} | torch {torch.__version__} ({torch.get_num_threads()} threads) | python "
          f"{platform.python_version()}")
    print(f"WRN-16-8 random init, fp32 eager, batch {args.batch}, {args.rounds} interleaved rounds of "
          f"{args.calls} calls; {count} BNs folded")
    for name, values in times.items():
        print(f"{name:9} median {statistics.median(values) * 1000:9.1f} ms/call "
              f"({args.batch / statistics.median(values):8.1f} img/s)")
    print(f"folded / unfolded speed: {statistics.median(times['unfolded']) / statistics.median(times['folded']):.3f}x")


if __name__ == "__main__":
    main()
