"""``cifar10_acc_eval.py``: top-1..top-5 accuracy of a run's dumps (seed step 6)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from ..accuracy import accuracy_payload, evaluate, match_labels, plot_confusion, summary_line, write_accuracy_json
from ..dumps import load_dumps
from ..errors import GenetError, run_cli
from ..labels import read_labels


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cifar10_acc_eval.py",
        description="Match each dump ({stem}_1.txt or .bin) to the label of {stem}.bin and write top-1..top-5 "
                    "accuracy in the seed's JSON format, with Error@1 and Error@5. Every labelled image must "
                    "have exactly one dump and every dump a label. Equal logits rank the lower class index first.",
        epilog="example: python3 cifar10_acc_eval.py result/dumpOutput_device0/ ./prep_dataset/val_label.txt "
               "./ result_bs1.json")
    parser.add_argument("dumps", help="the dump folder (result/dumpOutput_device0/), or a packed logits .npz")
    parser.add_argument("labels", help="the label file written by preprocess.py (prep_dataset/val_label.txt)")
    parser.add_argument("result_dir", help="folder to write the JSON into (must exist)")
    parser.add_argument("json_name", help="file name of the JSON result, e.g. result_bs1.json")
    parser.add_argument("--num-classes", type=int, default=None, metavar="N",
                        help="values every dump must hold (default: the count most dumps share)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="evaluate the images that have a dump and count the labelled ones that do not, "
                             "instead of stopping")
    parser.add_argument("--per-class", action="store_true",
                        help="add per-class accuracy and the confusion matrix to the JSON, and write a heat "
                             "map beside it ({json stem}_confusion.png)")
    parser.add_argument("--quiet", action="store_true", help="do not print the summary line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.num_classes is not None and args.num_classes < 1:
        raise GenetError(f"--num-classes must be at least 1, got {args.num_classes}")
    out = Path(args.result_dir) / args.json_name
    if not Path(args.result_dir).is_dir():
        raise GenetError(f"{args.result_dir}: result folder not found")
    labels = read_labels(args.labels)
    dumps = load_dumps(args.dumps, args.num_classes)
    accuracy = evaluate(match_labels(dumps, labels, args.labels, args.allow_missing))
    if args.per_class:
        plot_confusion(accuracy, out.with_name(f"{out.stem}_confusion.png"))
    write_accuracy_json(out, accuracy_payload(accuracy, per_class=args.per_class))
    if not args.quiet:
        print(f"{out}: {summary_line(accuracy)}")
    return 0


def run() -> None:
    raise SystemExit(run_cli(main))
