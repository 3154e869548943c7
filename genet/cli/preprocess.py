"""``preprocess.py``: CIFAR-10 → normalized ``.bin`` files and ``val_label.txt`` (the guide's step 3.2)."""

from __future__ import annotations

import argparse
from typing import Sequence

from genet.cli.common import Parser, add_quiet
from genet.core.console import stderr_log
from genet.core.constants import (
    CIFAR10_ARCHIVE,
    CIFAR10_FOLDER,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR10_URL,
    LABEL_FILE,
    PACKED_IMAGES,
    PACKED_LABELS,
    PACKED_MANIFEST,
)
from genet.core.errors import run_cli
from genet.data.cifar import SPLIT_BATCHES
from genet.data.preprocess import preprocess


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="preprocess.py",
        description=f"Normalize CIFAR-10 images (the test split unless --split train) as torchvision's ToTensor() + "
                    f"Normalize(mean={CIFAR10_MEAN}, std={CIFAR10_STD}) does and write one float32 3x32x32 file "
                    f"per image (00000.bin, ...) with {LABEL_FILE} ('00000.bin 3' per line). The output folder "
                    "appears whole or not at all; an existing one is replaced only if preprocess.py wrote it.",
        epilog="example: python3 preprocess.py ${datasets_path} ./prep_dataset")
    parser.add_argument("datasets_path",
                        help=f"the folder holding {CIFAR10_FOLDER}/ (as in the guide), that folder itself, "
                             f"the {CIFAR10_ARCHIVE} archive, or a folder holding that archive")
    parser.add_argument("out_dir", help="the folder to write, e.g. ./prep_dataset")
    parser.add_argument("--split", choices=sorted(SPLIT_BATCHES), default="test",
                        help="test: test_batch (the guide's 10,000 images, default); train: data_batch_1..5")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N images of the split")
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("--packed", action="store_true",
                        help=f"also write {PACKED_IMAGES} (N x 3 x 32 x 32 float32), {PACKED_LABELS} (N int64) and "
                             f"{PACKED_MANIFEST} (their hashes), which the benchmark runner reads in one go")
    layout.add_argument("--packed-only", action="store_true",
                        help=f"write {PACKED_IMAGES}, {PACKED_LABELS}, {PACKED_MANIFEST} and {LABEL_FILE} but no "
                             ".bin files")
    parser.add_argument("--download", action="store_true",
                        help=f"if datasets_path holds no data set, download {CIFAR10_ARCHIVE} into it first "
                             "(checked against its MD5 before it is kept)")
    parser.add_argument("--url", default=CIFAR10_URL, help="where --download fetches from (default: %(default)s)")
    parser.add_argument("--md5", metavar="HEX",
                        help="the archive's expected MD5 (default: the official CIFAR-10 checksum for "
                             f"{CIFAR10_ARCHIVE}; "
                             "an archive of another name, as the generator writes, may state its own in "
                             "<archive>.md5 beside it)")
    add_quiet(parser, "no progress bar, notes or summary")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log = stderr_log(args.quiet)
    bins, packed = not args.packed_only, args.packed or args.packed_only
    split = preprocess(args.datasets_path, args.out_dir, split=args.split, limit=args.limit, bins=bins,
                       packed=packed, download=args.download, url=args.url, md5=args.md5, quiet=args.quiet,
                       log=log)
    written = ([f"{len(split.labels)} .bin files"] * bins + [PACKED_IMAGES, PACKED_LABELS, PACKED_MANIFEST] * packed
               + [LABEL_FILE])
    origin = " (generated data, NOT CIFAR-10)" if split.generated else ""
    log(f"{args.out_dir}: {args.split} split{origin} written: {', '.join(written)}")
    return 0


def run() -> None:
    raise SystemExit(run_cli(main))
