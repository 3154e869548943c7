"""``test/perf_compare.py``: the guide's device comparison table (section 7.4)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from genet.cli.common import Parser
from genet.core.errors import run_cli
from genet.core.fsio import PNG_IMAGE, atomic_files, check_output_file, text_kind
from genet.reports.perf_table import csv_text, load_devices, make_table, markdown, parse_chips, plot, seed_verdict


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="test/perf_compare.py",
        description="Build the guide's device comparison (section 7.4): one row per batch size, one column per "
                    "device, ratio columns (candidate / each other device), a best-batch row; print it as "
                    "Markdown with the guide's verdict (710 best >= 1.2 x 310 best and >= 1.6 x T4 best) when "
                    "those devices are present, and write PREFIX.md, PREFIX.csv and PREFIX.png (throughput "
                    "against batch size).",
        epilog="examples: python3 test/perf_compare.py '310:result/perf_vision_batchsize_*_device_0.txt' "
               "710:1=2580.59,4=6962.42 T4:t4_bs1.log T4:t4_bs16.log  |  python3 test/perf_compare.py "
               "cpu:result_sweep/sweep_device_0.json '310:npu/perf_vision_batchsize_*_device_0.txt'")
    parser.add_argument("inputs", nargs="+", metavar="LABEL:SOURCE",
                        help="a device label and a source: a perf_vision_batchsize_*.txt or pure-inference "
                             "report, ais_bench log or {timestamp}_summary.json, trtexec log, genet perf JSON, "
                             "or a benchmark.py sweep file sweep_device_{id}.json (every batch size of it: the "
                             "whole column) (quote shell patterns), or figures BS=FPS[,BS=FPS...]; a label may be "
                             "given many times")
    parser.add_argument("--chips", action="append", default=[], metavar="LABEL=N",
                        help="chips per card for LABEL's NPU reports (default: 4 for a label 310, 1 for "
                             "710/310P, else 1)")
    parser.add_argument("--candidate", metavar="LABEL",
                        help="the device the ratio columns divide (default: the 710/310P column, else the first)")
    parser.add_argument("--out", default=None, metavar="PREFIX",
                        help=f"write PREFIX.md, PREFIX.csv and PREFIX.png (default: {DEFAULT_PREFIX}; files of "
                             f"the default name are replaced only when they are perf_compare's own)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG plot")
    return parser


DEFAULT_PREFIX = "perf_compare"
OUTPUT_KINDS = {".md": text_kind("a Markdown table", ".md"), ".csv": text_kind("a CSV table", ".csv"),
                ".png": PNG_IMAGE}


def _is_table(path: Path) -> bool:
    """A table or plot perf_compare wrote: its first column is "batch" (the plot: any PNG of that name)."""
    if path.suffix == ".png":
        return PNG_IMAGE.holds(path)
    first = path.read_text(encoding="utf-8", errors="replace").partition("\n")[0]
    return first.startswith(("| batch |", "batch,"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    prefix = Path(args.out or DEFAULT_PREFIX)
    suffixes = [".md", ".csv"] + ([] if args.no_plot else [".png"])
    outputs = [check_output_file(prefix.with_name(prefix.name + suffix), OUTPUT_KINDS[suffix],
                                 inputs=[spec.partition(":")[2] for spec in args.inputs],
                                 named=args.out is not None, ours=_is_table,
                                 ours_what="perf_compare's table or plot") for suffix in suffixes]
    devices = load_devices(args.inputs, parse_chips(args.chips), note=lambda text: print(text, file=sys.stderr))
    table = make_table(devices, args.candidate)
    verdict = seed_verdict(table.devices)
    text = markdown(table) + (f"\n{verdict.line()}\n" if verdict else "")
    with atomic_files(outputs, suffixes) as temps:
        temps[0].write_text(text, encoding="utf-8")
        temps[1].write_text(csv_text(table), encoding="utf-8")
        if not args.no_plot:
            plot(table, temps[2])
    stale = prefix.with_name(prefix.name + ".png")
    if args.no_plot and stale.is_file() and PNG_IMAGE.holds(stale):
        stale.unlink()          # an earlier run's plot would stand beside this table as if it were its own
        print(f"note: removed {stale}, the plot of an earlier table (--no-plot)", file=sys.stderr)
    print(text, end="")
    return 0


def run() -> None:
    raise SystemExit(run_cli(main))
