"""``compare_outputs.py``: compare two runs' dumps before trusting a speed figure."""

from __future__ import annotations

import argparse
import json
from typing import Sequence

from genet.cli.common import Parser, non_negative_int
from genet.core.errors import GenetError, run_cli
from genet.core.fsio import JSON_FILE, check_output_file, write_text_atomic
from genet.formats.dumps import load_dumps
from genet.reports.compare import WORST_SHOWN, Tolerance, compare_dumps, comparison_payload, report_lines

EXIT_DIFFERENT = 1


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="compare_outputs.py",
        description="Compare a candidate run's dumps (an NPU's, an fp16 engine's) with a reference run's "
                    "(e.g. ONNX Runtime's), image by image: max absolute and relative difference, top-1 and "
                    "top-5 agreement, the worst files. An element passes when |a - b| <= atol + rtol x |b|, "
                    "b the reference; NaN or Inf on either side fails. Exit status: 0 all images within "
                    "tolerance and the same images on both sides; 1 otherwise; 2 bad input.",
        epilog="example: python3 compare_outputs.py result/dumpOutput_device0 ort_result/dumpOutput_device0 "
               "--atol 0.05 --rtol 0.01 (an fp16 engine against fp32 ONNX Runtime)")
    parser.add_argument("candidate", help="dump folder ({stem}_1.txt / .bin), ais_bench's output folder "
                                          "({stem}_0.txt / .bin / .npy) or packed .npz of the run to check")
    parser.add_argument("reference", help="dump folder or packed .npz of the reference run")
    parser.add_argument("--atol", type=float, default=1e-3,
                        help="absolute tolerance per logit, finite and >= 0 (default: %(default)g; fp16 wants "
                             "about 0.05)")
    parser.add_argument("--rtol", type=float, default=1e-3,
                        help="tolerance relative to the reference logit, finite and >= 0 (default: %(default)g)")
    parser.add_argument("--worst", type=non_negative_int, default=WORST_SHOWN, metavar="N",
                        help="how many of the most different files to list (default: %(default)s)")
    parser.add_argument("--json", metavar="PATH", help="also write the comparison as JSON to PATH")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        tolerance = Tolerance(args.atol, args.rtol)
    except GenetError as exc:
        raise GenetError(f"--{exc}") from None
    if args.json:
        check_output_file(args.json, JSON_FILE, inputs=[args.candidate, args.reference])
    comparison = compare_dumps(load_dumps(args.candidate, allow_non_finite=True),
                               load_dumps(args.reference, allow_non_finite=True), tolerance, args.worst)
    print("\n".join(report_lines(comparison)))
    if args.json:
        write_text_atomic(args.json, json.dumps(comparison_payload(comparison), indent=2) + "\n")
    return 0 if comparison.passed else EXIT_DIFFERENT


def run() -> None:
    raise SystemExit(run_cli(main))
