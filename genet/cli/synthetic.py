"""``python3 -m genet.cli.synthetic`` (``genet-synthetic``): a generated CIFAR-10-format data set (NOT CIFAR-10)."""

from __future__ import annotations

import argparse
from typing import Sequence

from genet.cli.common import Parser, add_quiet
from genet.core.constants import CIFAR10_FOLDER, GENERATED_ARCHIVE
from genet.core.errors import run_cli
from genet.data.synthetic import write_cifar10


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python3 -m genet.cli.synthetic",
        description=f"Write a generated data set in the CIFAR-10 python-version format ({CIFAR10_FOLDER}/ with "
                    "data_batch_1..5, test_batch, batches.meta). The images are drawn patterns, one per class, "
                    "with random placement, colour and noise: learnable, deterministic for a --seed, and NOT "
                    "CIFAR-10; accuracy measured on them says nothing about CIFAR-10. The folder carries a "
                    "mark that every genet tool reads, so that their figures say so.",
        epilog="example: python3 -m genet.cli.synthetic ./datasets --test 10000 --archive && "
               "python3 preprocess.py ./datasets ./prep_dataset")
    parser.add_argument("out_dir", help=f"folder to write {CIFAR10_FOLDER}/ into (created if missing); "
                                        "it then serves as preprocess.py's datasets_path")
    parser.add_argument("--train", type=int, default=50_000, metavar="N",
                        help="training images (at most 50000), spread over data_batch_1..5; 0 writes none "
                             "(default %(default)s)")
    parser.add_argument("--test", type=int, default=10_000, metavar="N",
                        help="test images, at most 10000 (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same --seed gives the same bytes "
                                                            "(default %(default)s)")
    parser.add_argument("--archive", action="store_true",
                        help=f"also write {GENERATED_ARCHIVE} and its .md5 file beside the folder")
    add_quiet(parser, "do not print what was written")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    folder = write_cifar10(args.out_dir, train=args.train, test=args.test, seed=args.seed, archive=args.archive)
    if not args.quiet:
        print(f"{folder}: {args.train} training and {args.test} test images, seed {args.seed} "
              "(generated, not CIFAR-10)")
        if args.archive:
            print(f"{folder.parent / GENERATED_ARCHIVE}: written with its .md5")
    return 0


def run() -> None:
    raise SystemExit(run_cli(main))


if __name__ == "__main__":
    run()
