"""``test/parse.py``: one line of figures per perf report, log, sweep file or accuracy JSON (the guide's 5.2, 6, 7)."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from genet.cli.common import Parser, positive_int
from genet.core.errors import run_cli
from genet.formats.sweep_file import SweepFile
from genet.reports.figures import CHIPS_PER_CARD, AccuracySummary, Throughput
from genet.reports.read import accuracy_lines, read_report, sweep_lines, throughput_lines


def chips_spec(text: str) -> tuple[str | None, int]:
    """``N`` or ``LABEL=N`` (perf_compare.py's spelling): the label of NPU chip figures and their chips per card."""
    label, eq, count = text.rpartition("=")
    if eq and not label:
        raise argparse.ArgumentTypeError(f"{text!r}: expected N or LABEL=N")
    return (label or None), positive_int(count)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="test/parse.py",
        description="Recognise each file by its content and print one line of its figures: a "
                    "perf_vision_batchsize_{bs}_device_{id}.txt or pure-inference report -> '310 bs1 fps:3239.252' "
                    "(one chip's Interface throughputRate x the card's chips); a perf report genet measured on a "
                    "CPU or GPU (its JSON twin says so) -> 'cpu bs1 fps:...' as measured; an ais_bench log -> its "
                    "throughput, per card; a trtexec log -> 'gpu bs16 fps:...' (1000 x batch / mean GPU Compute "
                    "Time ms); an ais_bench {timestamp}_summary.json (the tool's, or benchmark.py's in ais_bench's "
                    "layout) -> its throughput; genet's perf JSON -> its throughput (with --latency, its latency "
                    "percentiles on the same line); a sweep "
                    "file sweep_device_{id}.json -> 'cpu sweep bs1 fps:... bs4 fps:... best bs4'; an accuracy JSON "
                    "-> 'bs1 top1:94.22% top5:99.85% Error@1 5.78 Error@5 0.15' (and a note when computed on "
                    "generated data). Labels: 310 (or --chip) for NPU chip figures, cpu or gpu for genet's runs.",
        epilog="examples: python3 test/parse.py result/perf_vision_batchsize_1_device_0.txt; "
               "python3 test/parse.py result_bs1.json; python3 test/parse.py result_sweep/sweep_device_0.json; "
               "python3 test/parse.py t4_bs16.log. "
               "Per-layer profiles: python3 test/parse.py profile --help")
    parser.add_argument("files", nargs="+", metavar="file", help="perf report, log or JSON to read")
    parser.add_argument("--chip", choices=sorted(CHIPS_PER_CARD), default="310",
                        help="the NPU card the Ascend figures come from: 310 has 4 chips (figure x 4, the "
                             "guide's rule), 310P and 710 one (default: %(default)s)")
    parser.add_argument("--chips", type=chips_spec, default=None, metavar="[LABEL=]N",
                        help="multiply NPU chip figures by N instead (cards with another chip count), and label "
                             "them LABEL when given: the spelling of perf_compare.py's --chips LABEL=N; "
                             "CPU and GPU figures are never multiplied")
    parser.add_argument("--latency", action="store_true",
                        help="add the report's latency figures (min, mean, percentiles, in ms) to its line, where "
                             "it has them: genet's perf JSON, ais_bench's summary and logs, trtexec logs")
    parser.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                        help="batch size, for reports that do not say it (a trtexec log without --shapes, "
                             "a perf report renamed); checked against the report where it does")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["profile"]:            # the per-layer profile reader (genet.cli.parse_profile)
        from genet.cli.parse_profile import main as profile_main

        return profile_main(argv[1:])
    args = build_parser().parse_args(argv)
    label, chips = args.chips if args.chips is not None else (None, CHIPS_PER_CARD[args.chip])
    label = label or args.chip
    for path in args.files:
        report = read_report(path, args.batch_size, accept=(Throughput, AccuracySummary, SweepFile),
                             wanted="a perf report, log, sweep file or accuracy JSON")
        if isinstance(report, AccuracySummary):
            lines = accuracy_lines(report)
        elif isinstance(report, SweepFile):
            lines = sweep_lines(report, label, chips)
        else:
            lines = throughput_lines(report, label, chips, args.latency)
        print("\n".join(lines))
    return 0


def run() -> None:
    raise SystemExit(run_cli(main))
