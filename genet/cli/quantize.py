"""``quantize.py <model.onnx> <datasets_path> -o genet_int8.onnx``: static int8 with its accuracy cost measured."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from genet.cli.common import Parser, add_quiet
from genet.convert.quantize import (
    CALIBRATION_METHODS,
    CALIBRATION_SPLITS,
    BelowThreshold,
    QuantizeSettings,
    quantize_model,
)
from genet.core.console import stderr_log
from genet.core.errors import run_cli
from genet.formats.quantize_report import quantize_report_path

DEFAULTS = QuantizeSettings()
DEFAULT_OUTPUT = Path("genet_int8.onnx")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="quantize.py",
        description="Quantize a GENet ONNX export to int8 (QDQ, per-channel int8 weights in 7 bits, uint8 activations, "
                    "opset 13) with ONNX Runtime, calibrated on images of the TRAINING split preprocessed as "
                    "preprocess.py does; then compare the int8 model with the fp32 one on held-out test images "
                    "(top-1 of each, top-1 agreement, max |Δ| of the logits), print the figures and write them "
                    "to a JSON beside the model. Below --min-agreement nothing is written (exit 1).",
        epilog="example: python3 quantize.py genet_gpu.onnx ./datasets -o genet_int8.onnx; then "
               "python3 benchmark.py -om_path=genet_int8.onnx -round=30 -batch_size=16")
    parser.add_argument("model", type=Path, help="fp32 GENet ONNX model (pthtar2onnx.py's genet_gpu.onnx)")
    parser.add_argument("datasets_path", type=Path,
                        help="folder holding cifar-10-batches-py/ (as for preprocess.py), that folder itself, "
                             "or cifar-10-python.tar.gz")
    parser.add_argument("--output", "-o", type=Path, default=None,
                        help=f"int8 model to write (default: {DEFAULT_OUTPUT}, replaced only when it is quantize.py's "
                             f"own); its report goes beside it as .json")
    parser.add_argument("--calib", type=int, default=DEFAULTS.calib, metavar="N",
                        help="training images to calibrate on (default: %(default)s)")
    parser.add_argument("--calib-method", choices=CALIBRATION_METHODS, default=DEFAULTS.method,
                        help="how activation ranges are chosen (default: %(default)s)")
    parser.add_argument("--calib-split", choices=CALIBRATION_SPLITS, default=DEFAULTS.calib_split,
                        help="split the calibration images come from: train (the test split is refused, it "
                             "holds the check's images)")
    parser.add_argument("--check", type=int, default=None, metavar="N",
                        help=f"held-out test images to compare int8 with fp32 on (default: {DEFAULTS.check}, or the "
                             f"whole test split when it holds fewer; 10000 for the whole CIFAR-10 test split)")
    parser.add_argument("--min-agreement", type=float, default=DEFAULTS.min_agreement, metavar="PCT",
                        help="refuse the int8 model when its top-1 agrees with fp32's on fewer than PCT %% of "
                             "the check's images (default: %(default)s)")
    parser.add_argument("--reduce-range", action=argparse.BooleanOptionalAction, default=DEFAULTS.reduce_range,
                        help="quantize the weights to 7 bits ([-64, 64], the default): ONNX Runtime's u8s8 "
                             "kernels on x86 CPUs without VNNI (AVX2, AVX-512 without VNNI) sum pairs of products in "
                             "16 bits and can saturate, so 8-bit weights (--no-reduce-range) give other logits there "
                             "than with VNNI; 7-bit weights give the same logits on every x86 CPU, for a little "
                             "agreement on a VNNI CPU (docs/int8.md has the measurements)")
    parser.add_argument("--keep-below", action="store_true",
                        help="write the model and its report even below --min-agreement (marked passed: false)")
    add_quiet(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = QuantizeSettings(calib=args.calib, method=args.calib_method, calib_split=args.calib_split,
                                check=DEFAULTS.check if args.check is None else args.check,
                                check_at_most=args.check is None, min_agreement=args.min_agreement,
                                keep_below=args.keep_below, reduce_range=args.reduce_range)
    named = args.output is not None
    args.output = args.output or DEFAULT_OUTPUT
    try:
        check, passed = quantize_model(args.model, args.datasets_path, args.output, settings,
                                       log=stderr_log(args.quiet), quiet=args.quiet, named=named)
    except BelowThreshold as exc:
        print("\n".join(exc.check.lines()))
        raise
    print("\n".join(check.lines()))
    print("weights: 7-bit (--reduce-range): the same int8 logits on every x86 CPU" if settings.reduce_range else
          "weights: 8-bit (--no-reduce-range): a CPU whose u8s8 sums saturate where this one's do not (or the "
          "reverse) can give other int8 logits")
    if not passed:
        print(f"WARNING: agreement below --min-agreement {settings.min_agreement:.2f}%; kept as asked "
              f"(--keep-below)", file=sys.stderr)
    print(f"wrote {args.output} and {quantize_report_path(args.output)}")
    return 0


def run() -> None:
    raise SystemExit(run_cli(main))


if __name__ == "__main__":
    sys.exit(run_cli(main))
