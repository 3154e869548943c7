"""``pthtar2onnx.py <checkpoint>``: GENet checkpoint (.pth.tar) → ONNX (opset 11, dynamic batch)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..checkpoint import load_model
from ..errors import GenetError, run_cli
from ..export import DEFAULT_OPSET, VERIFY_TOLERANCE, export_onnx, verify_onnx
from ..fsio import atomic_path
from ..variant import EXTENTS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pthtar2onnx.py",
        description="Convert a GENet checkpoint trained with BayesWatch/pytorch-GENet to ONNX, then verify the "
                    "ONNX file against PyTorch with ONNX Runtime. The variant (depth, width, classes, gather "
                    "type, extent) is read off the checkpoint's keys; the flags below override it.")
    parser.add_argument("checkpoint", type=Path, help="checkpoint: the reference's {'epoch','state_dict',...} "
                        "dict or a bare state_dict, 'module.' prefixes allowed")
    parser.add_argument("--output", "-o", type=Path, default=Path("genet_gpu.onnx"),
                        help="ONNX file to write (default: %(default)s, as in the seed guide)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help="ONNX opset (default: %(default)s, the highest ATC of CANN 5.0.x accepts)")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                        help="export a static batch of N instead of a dynamic batch axis")
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {"depth": args.depth, "width": args.width, "num_classes": args.num_classes,
                 "extent": args.extent, "extra_params": args.extra_params, "mlp": args.mlp}
    model, _ = load_model(args.checkpoint, {k: v for k, v in overrides.items() if v is not None},
                          unsafe_load=args.unsafe_load)
    shape = f"static batch {args.batch_size}" if args.batch_size else "dynamic batch"
    worst = 0.0
    with atomic_path(args.output, suffix=".onnx") as tmp:
        export_onnx(model, tmp, opset=args.opset, batch_size=args.batch_size)
        if not args.no_verify:
            for result in verify_onnx(model, tmp, static_batch=args.batch_size):
                print(result.line())
                worst = max(worst, result.max_abs_diff)
            if not worst <= VERIFY_TOLERANCE:
                raise GenetError(f"{args.output}: ONNX Runtime differs from PyTorch by {worst:.3g} "
                                 f"> {VERIFY_TOLERANCE:g}: file not written")
    print(f"wrote {args.output} (opset {args.opset}, {shape}, input 'image' N×3×32×32, output 'class')")
    return 0


def run() -> None:
    raise SystemExit(run_cli(main))


if __name__ == "__main__":
    sys.exit(run_cli(main))
