"""``get_info.py``: the ``.info`` list of a folder's inputs (the guide's step 3.3)."""

from __future__ import annotations

import argparse
from typing import Sequence

from genet.cli.common import Parser
from genet.core.errors import GenetError, run_cli
from genet.core.fsio import check_output_file, text_kind
from genet.formats.info import INFO_LINE_FORMAT, write_info
from genet.formats.listing import list_bins, list_jpgs

INFO_KIND = text_kind("an info file (text)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="get_info.py",
        description=f"Write an .info file, one '{INFO_LINE_FORMAT}' line per input, sorted by file name, "
                    "the path being the folder as given joined with the file name.",
        epilog="example: python3 get_info.py bin ./prep_dataset ./genet_prep_bin.info 32 32")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{bin,jpg}",
                                  help="bin: the preprocessed .bin files; jpg: .jpg/.jpeg images")
    bins = kinds.add_parser("bin", help="list *.bin files with the given width and height",
                            description="List every *.bin file of a folder with the given width and height.")
    jpgs = kinds.add_parser("jpg", help="list *.jpg/*.jpeg files (any case) with their real size",
                            description="List every .jpg/.jpeg file (any case) of a folder with the width and "
                                        "height read from the image.")
    for sub in (bins, jpgs):
        sub.add_argument("folder", help="the folder of inputs, e.g. ./prep_dataset")
        sub.add_argument("info", help="the .info file to write, e.g. ./genet_prep_bin.info")
    bins.add_argument("width", type=int, help="image width written on every line (32 for CIFAR-10)")
    bins.add_argument("height", type=int, help="image height written on every line (32 for CIFAR-10)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_output_file(args.info, INFO_KIND, inputs=[args.folder])
    if args.kind == "bin":
        if args.width < 1 or args.height < 1:
            raise GenetError(f"width and height must be positive, got {args.width} {args.height}")
        entries = list_bins(args.folder, args.width, args.height)
    else:
        entries = list_jpgs(args.folder)
    write_info(args.info, entries)
    return 0


def run() -> None:
    raise SystemExit(run_cli(main))
