"""``cifar10_acc_eval.py``: top-1..top-5 accuracy of a run's dumps (the guide's step 6)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from genet.cli.common import Parser, add_quiet, positive_int
from genet.core.errors import GenetError, run_cli
from genet.core.fsio import JSON_FILE, PNG_IMAGE, atomic_files, check_output_file
from genet.data.provenance import is_generated
from genet.formats.dumps import load_dumps
from genet.formats.labels import read_labels
from genet.reports.accuracy import accuracy_json, accuracy_payload, evaluate, match_labels, plot_confusion, summary_line


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="cifar10_acc_eval.py",
        description="Match each dump ({stem}_1.txt or .bin from the benchmark tool, or {stem}_0.txt, .bin or .npy "
                    "from ais_bench: told apart by the output number) to the label of {stem}.bin and write "
                    "top-1..top-5 accuracy in the guide's JSON format, with Error@1 and Error@5. Every labelled "
                    "image must have exactly one dump and every dump a label. Equal logits rank the lower class "
                    "index first. Figures on images made by genet.data.synthetic are marked \"data\": "
                    "\"generated (NOT CIFAR-10)\".",
        epilog="example: python3 cifar10_acc_eval.py result/dumpOutput_device0/ ./prep_dataset/val_label.txt "
               "./ result_bs1.json")
    parser.add_argument("dumps", help="the dump folder (result/dumpOutput_device0/), ais_bench's output folder "
                                      "(out/{dirname}/), or a packed logits .npz")
    parser.add_argument("labels", help="the label file written by preprocess.py (prep_dataset/val_label.txt)")
    parser.add_argument("result_dir", help="folder to write the JSON into (must exist)")
    parser.add_argument("json_name", help="file name of the JSON result, e.g. result_bs1.json")
    parser.add_argument("--num-classes", type=positive_int, default=None, metavar="N",
                        help="values every dump must hold (default: whatever they all hold)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="evaluate the images that have a dump and count the labelled ones that do not, "
                             "instead of stopping")
    parser.add_argument("--per-class", action="store_true",
                        help="add per-class accuracy and the confusion matrix to the JSON, and write a heat "
                             "map beside it ({json stem}_confusion.png)")
    add_quiet(parser, "do not print the summary line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not Path(args.result_dir).is_dir():
        raise GenetError(f"{args.result_dir}: result folder not found")
    inputs = [args.dumps, args.labels]
    out = check_output_file(Path(args.result_dir) / args.json_name, JSON_FILE, inputs=inputs)
    plot = out.with_name(f"{out.stem}_confusion.png")       # a derived name: replaced only when a PNG
    outputs = [out] + ([check_output_file(plot, PNG_IMAGE, inputs=inputs, named=False, ours=PNG_IMAGE.holds,
                                        ours_what="a PNG image")]
                       if args.per_class else [])
    labels = read_labels(args.labels)
    generated = is_generated(args.labels)
    accuracy = evaluate(match_labels(load_dumps(args.dumps, args.num_classes), labels, args.labels,
                                     args.allow_missing))
    with atomic_files(outputs, [".json", ".png"][:len(outputs)]) as temps:
        temps[0].write_text(accuracy_json(accuracy_payload(accuracy, args.per_class, generated)), encoding="utf-8")
        if args.per_class:
            plot_confusion(accuracy, temps[1])
    if not args.quiet:
        print(f"{out}: {summary_line(accuracy, generated)}")
    return 0


def run() -> None:
    raise SystemExit(run_cli(main))
