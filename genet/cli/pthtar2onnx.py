"""``pthtar2onnx.py <checkpoint>``: GENet checkpoint (.pth.tar) → ONNX (opset 11, dynamic batch)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from genet.cli.common import Parser
from genet.convert.export import (
    ATC_MAX_OPSET,
    DEFAULT_OPSET,
    MAX_STATIC_BATCH,
    OPSETS,
    VERIFY_TOLERANCE,
    check_export_settings,
    export_onnx,
    verify_batches,
    verify_onnx,
)
from genet.core.errors import GenetError, run_cli
from genet.core.fsio import ONNX_MODEL, atomic_path, check_output_file
from genet.model.checkpoint import load_model
from genet.model.variant import EXTENTS


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pthtar2onnx.py",
        description="Convert a GENet checkpoint trained with BayesWatch/pytorch-GENet to ONNX, then verify the "
                    "ONNX file against PyTorch with ONNX Runtime. The variant (depth, width, classes, gather "
                    "type, extent) is read off the checkpoint's keys; the flags below override it.",
        epilog="example: python3 pthtar2onnx.py genet.pth.tar (writes ./genet_gpu.onnx, as in the guide)")
    parser.add_argument("checkpoint", type=Path, help="checkpoint: the reference's {'epoch','state_dict',...} "
                        "dict or a bare state_dict, 'module.' prefixes allowed")
    parser.add_argument("--output", "-o", type=Path, default=Path("genet_gpu.onnx"),
                        help="ONNX file to write (default: %(default)s, as in the guide)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, choices=OPSETS, metavar="N",
                        help=f"ONNX opset, {OPSETS[0]}..{OPSETS[-1]} (default: %(default)s; ATC of CANN 5.0.x "
                             f"takes at most {ATC_MAX_OPSET})")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                        help=f"export a static batch of N (1..{MAX_STATIC_BATCH}) instead of a dynamic batch axis")
    variant = parser.add_argument_group("variant overrides (default: read off the checkpoint)")
    variant.add_argument("--depth", type=int, help="network depth, 6n+4 (16 for WRN-16-8)")
    variant.add_argument("--width", type=int, help="widen factor (8 for WRN-16-8)")
    variant.add_argument("--num-classes", type=int, help="number of classes")
    variant.add_argument("--extent", type=int, choices=EXTENTS,
                         help="gather extent, 0 = global; needed for θ⁻ (no extra params) with extent ≠ 0")
    variant.add_argument("--extra-params", action=argparse.BooleanOptionalAction, default=None,
                         help="θ gather: depthwise convolutions (--no-extra-params: θ⁻, average pooling)")
    variant.add_argument("--mlp", action=argparse.BooleanOptionalAction, default=None,
                         help="θ+ excite MLP (1×1 conv, ReLU, 1×1 conv)")
    parser.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime vs PyTorch check")
    parser.add_argument("--unsafe-load", action="store_true",
                        help="load a pickle that torch.load(weights_only=True) refuses; runs code from the "
                             "file, so only for checkpoints from a trusted source")
    return parser


def _verify(model, onnx_path: Path, output: Path, static_batch: int | None) -> None:
    results = verify_onnx(model, onnx_path, verify_batches(static_batch))
    for result in results:
        print(result.line())
    failed = [r for r in results if not r.passed]
    if failed:
        worst = failed[0]
        problem = "outputs hold NaN or Inf" if not worst.finite else \
            f"ONNX Runtime differs from PyTorch by {worst.max_abs_diff:.3g} > {VERIFY_TOLERANCE:g}"
        raise GenetError(f"{output}: verify bs={worst.batch_size}: {problem}: file not written")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_export_settings(args.opset, args.batch_size)
    check_output_file(args.output, ONNX_MODEL, inputs=[args.checkpoint])
    overrides = {"depth": args.depth, "width": args.width, "num_classes": args.num_classes,
                 "extent": args.extent, "extra_params": args.extra_params, "mlp": args.mlp}
    model, _ = load_model(args.checkpoint, {k: v for k, v in overrides.items() if v is not None},
                          unsafe_load=args.unsafe_load)
    shape = f"static batch {args.batch_size}" if args.batch_size else "dynamic batch"
    # A static batch too large to run here is verified on its dynamic twin, a scratch file.
    with atomic_path(args.output, suffix=".onnx") as tmp, tempfile.TemporaryDirectory(prefix="genet-") as scratch:
        twin = Path(scratch) / "dynamic.onnx"
        export_onnx(model, tmp, opset=args.opset, batch_size=args.batch_size, dynamic_twin=twin)
        if not args.no_verify:
            on_twin = args.batch_size is not None and verify_batches(args.batch_size) != (args.batch_size,)
            _verify(model, twin if on_twin else tmp, args.output, args.batch_size)
    print(f"wrote {args.output} (opset {args.opset}, {shape}, input 'image' N×3×32×32, output 'class')")
    return 0


def run() -> None:
    raise SystemExit(run_cli(main))


if __name__ == "__main__":
    sys.exit(run_cli(main))
