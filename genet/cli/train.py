"""``train.py <datasets_path>``: train a small GENet on a CIFAR-10-format data set (see genet.model.train)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import torch

from genet.cli.common import Parser, add_quiet
from genet.core.errors import GenetError, run_cli
from genet.core.fsio import CHECKPOINT, check_output_file
from genet.model.train import AUTOCAST_DTYPES, DEVICES, TrainSettings, train_checkpoint
from genet.model.variant import Variant

DEFAULTS = TrainSettings()
DEFAULT_OUTPUT = Path("genet.pth.tar")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="train.py",
        description="Train a small GE-WideResNet (GE-θ⁻, global extent) on the training batches of a CIFAR-10 "
                    "python-version data set and save it in the reference's checkpoint format. A quick model "
                    "for running the pipeline end to end, not the reference's 200-epoch recipe: no "
                    "augmentation, a few epochs of SGD (Nesterov momentum, one-cycle learning rate).",
        epilog="example: python3 train.py ./dataset --depth 10 --width 1 --epochs 3 --output genet.pth.tar; "
               "on a GPU: python3 train.py ./dataset --depth 16 --width 8 --limit 0 --batch-size 256 --lr 0.2 "
               "--device cuda --precision bf16 --channels-last")
    parser.add_argument("datasets_path", type=Path,
                        help="folder holding cifar-10-batches-py/ (as for preprocess.py), that folder itself, "
                             "or cifar-10-python.tar.gz")
    parser.add_argument("--output", "-o", type=Path, default=None,
                        help=f"checkpoint to write (default: {DEFAULT_OUTPUT}; replaced only when named here)")
    parser.add_argument("--depth", type=int, default=10, help="network depth, 6n+4 (default: %(default)s)")
    parser.add_argument("--width", type=int, default=1, help="widen factor (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs,
                        help="passes over the training images (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size,
                        help="images per SGD step (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr,
                        help="peak learning rate of the one-cycle schedule (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=DEFAULTS.limit,
                        help="train on the first N training images (default: %(default)s; 0 = all)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed,
                        help="random seed of the initial weights and the image order (default: %(default)s)")
    # One thread by default: a WRN-10-1's convolutions are too small to split well. On the 2-core
    # build machine, 1,000 images took 3.1-4.0 s on one thread and 5.2-14.6 s on two.
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for PyTorch (default: %(default)s, fastest for small models; "
                             "0 = PyTorch's choice, one per core)")
    parser.add_argument("--device", default=DEFAULTS.device, choices=DEVICES,
                        help="where to train: auto = the CUDA GPU where torch sees one, else the CPU "
                             "(default: %(default)s)")
    parser.add_argument("--precision", default=DEFAULTS.precision, choices=tuple(AUTOCAST_DTYPES),
                        help="fp32, or mixed precision (bf16/fp16 autocast; CUDA only) (default: %(default)s)")
    parser.add_argument("--channels-last", action="store_true",
                        help="channels-last tensors (CUDA only; faster convolutions with bf16/fp16)")
    parser.add_argument("--test-accuracy", action="store_true",
                        help="also print the PyTorch top-1 accuracy on the test batch, to compare with the "
                             "pipeline's figure")
    add_quiet(parser, "no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    named = args.output is not None
    args.output = args.output or DEFAULT_OUTPUT
    check_output_file(args.output, CHECKPOINT, inputs=[args.datasets_path], named=named)
    if args.threads < 0:
        raise GenetError(f"--threads must be ≥ 0, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             limit=args.limit or None, seed=args.seed, device=args.device,
                             precision=args.precision, channels_last=args.channels_last)
    result = train_checkpoint(args.datasets_path, args.output, Variant(depth=args.depth, width=args.width),
                              settings, test_accuracy=args.test_accuracy, quiet=args.quiet)
    errors = ", ".join(f"{e:.1f}" for e in result.train_errors)
    label = " (GENERATED DATA, not CIFAR-10)" if result.generated else ""
    print(f"trained in {result.seconds:.1f} s; training top-1 error per epoch (%){label}: {errors}")
    if result.test_accuracy is not None:
        print(f"PyTorch top-1 accuracy on the test batch{label}: {result.test_accuracy:.2f}%")
    print(f"wrote {args.output}")
    return 0


def run() -> None:
    raise SystemExit(run_cli(main))


if __name__ == "__main__":
    sys.exit(run_cli(main))
