#!/usr/bin/env python3
"""genet's openvino backend: one call in flight on all cores, or two on half the cores each?

Pure inference through benchmark.py's path (``genet.bench.engine.run_benchmark`` on an OpenVinoRunner),
WRN-16-8 and WRN-10-2 (random-init weights), fp32 and int8 (the files of benchmarks/cpu_peers.py),
batch 1, 16 and 64, with ``--streams 1`` and ``--streams 2`` (threads: all cores, shared by the
streams); rounds interleaved, medians of the Interface img/s printed with the ratio 2 / 1 streams.
This picks the backend's default streams (genet.runners.openvino.DEFAULT_CPU_STREAMS).

Run: python3 benchmarks/openvino_streams.py [--rounds 5] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
from pathlib import Path

from cpu_peers import BATCHES, genet_peer, interleaved_rounds, prepare_models

from genet.runners import RunnerOptions
from genet.runners.base import cpu_name
from genet.runners.openvino import ov

STREAMS = (1, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one measurement")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ov-streams-") as scratch:
        folder = Path(scratch)
        peers, closers = {}, []
        for name, paths in prepare_models(folder).items():
            for precision, path in paths.items():
                for batch in BATCHES:
                    for streams in STREAMS:
                        measure, close = genet_peer(path, batch, folder / "result", "openvino",
                                                    RunnerOptions(streams=streams))
                        peers[(name, batch, precision, streams)] = measure
                        closers.append(close)
        try:
            rates = interleaved_rounds(peers, args.rounds, args.seconds)
        finally:
            for close in closers:
                close()
    medians = {key: statistics.median(values) for key, values in rates.items()}
    print(f"command: python3 benchmarks/openvino_streams.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}; {cpu_name()}; "
          f"openvino {ov.__version__}; load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"medians of {args.rounds} interleaved rounds, Interface img/s (random-init weights, random inputs)\n")
    print("| model | precision | batch | 1 stream | 2 streams | 2 / 1 |\n|---|---|---:|---:|---:|---:|")
    for name, batch, precision, streams in medians:
        if streams == STREAMS[0]:
            one, two = medians[(name, batch, precision, 1)], medians[(name, batch, precision, 2)]
            print(f"| {name} | {precision} | {batch} | {one:.1f} | {two:.1f} | {two / one:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
