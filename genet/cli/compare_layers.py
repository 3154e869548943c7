"""``compare_layers.py``: where a port goes wrong, layer by layer, every run against the first."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Sequence

from genet.cli.common import Parser, add_quiet, positive_int
from genet.core.console import stderr_log
from genet.core.errors import GenetError, run_cli
from genet.core.fsio import check_replaceable_dir
from genet.layers.capture import Capture
from genet.layers.compare import DEFAULT_COSINE, Threshold, compare_runs, open_images
from genet.layers.report import OUTPUTS, header_lines, summary_table, verdict_lines, write_reports

EXIT_FAILED = 1
DEFAULT_COUNT = 200
DEFAULT_BATCH = 8
BACKENDS = ("onnxruntime", "openvino", "torch")
TORCH_SUFFIXES = (".pth.tar", ".pth", ".pt")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="compare_layers.py",
        description="Compare runs of one GENet layer by layer against the first (the reference): a PyTorch "
                    "checkpoint, ONNX models on ONNX Runtime (fp32, QDQ int8) or OpenVINO, an fp16 emulation, an "
                    "NPU dump. Per layer: cosine similarity (min and median over the images), max abs error, mean "
                    "relative error, SQNR, relative Euclidean distance, NaN/Inf counts; accumulated (every run fed "
                    "the same images) and isolated (each layer fed the reference's inputs). Writes layers.md, "
                    ".csv, .json and .png. Exit status: 0 every run within its thresholds, 1 a run is not, "
                    "2 bad input.",
        epilog="examples: python3 compare_layers.py genet.pth.tar genet_gpu.onnx genet_int8.onnx --fp16 --images "
               "./prep_dataset --count 200 -o layers/  |  python3 compare_layers.py genet_gpu.onnx --backend "
               "openvino:genet_gpu.onnx --images ./prep_dataset  |  python3 compare_layers.py genet_gpu.onnx "
               "--npu-dump ./dump/ --om-json genet_bs1.json --images ./prep_dataset. Details: docs/layers.md")
    parser.add_argument("models", nargs="+", type=Path,
                        help="checkpoints (.pth.tar, run in PyTorch) and .onnx models (run on ONNX Runtime); the "
                             "first is the reference")
    parser.add_argument("--backend", action="append", default=[], metavar="BACKEND:MODEL",
                        help="one more run on a named backend (onnxruntime, openvino, torch), e.g. "
                             "openvino:genet_gpu.onnx; repeatable")
    parser.add_argument("--fp16", action="store_true",
                        help="add the first fp32 .onnx model computed as an fp16 device stores data (weights, input "
                             "and layer outputs rounded to fp16; ATC's default precision), on ONNX Runtime")
    parser.add_argument("--npu-dump", type=Path, metavar="DIR",
                        help="add an NPU run from its dump folder (ais_bench --acl_json_path, dump_mode all) or "
                             "msaccucmp's .npy files; needs --om-json")
    parser.add_argument("--om-json", type=Path, metavar="JSON",
                        help="ATC's JSON of the dumped .om (atc --mode=1 --om m.om --json m.json): maps its ops to "
                             "the ONNX nodes")
    parser.add_argument("--images", type=Path, required=True, metavar="DIR",
                        help="preprocess.py's folder (its images.npy, else its .bin files, in name order)")
    parser.add_argument("--count", type=positive_int, default=DEFAULT_COUNT, metavar="N",
                        help="images to compare over (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH, metavar="N",
                        help="images per call (default: %(default)s; an NPU dump's own batch wins)")
    parser.add_argument("--no-isolated", action="store_true", help="accumulated mode only (about half the time)")
    parser.add_argument("--layer", action="append", default=[], metavar="NAME",
                        help="compare only this layer (a module path such as block2.layer.0.conv1); repeatable")
    for precision, cosine in DEFAULT_COSINE.items():
        parser.add_argument(f"--cosine-{precision}", type=float, default=cosine, metavar="C",
                            help=f"{precision} runs: lowest median cosine (over the images) a layer may have "
                                 f"(default: %(default)s)")
    parser.add_argument("-o", "--output", type=Path, default=Path("layers"), metavar="DIR",
                        help="folder for layers.md, .csv, .json, .png (default: %(default)s)")
    parser.add_argument("--report-only", action="store_true", help="exit 0 whatever the verdict (bad input still 2)")
    add_quiet(parser)
    return parser


def run_specs(args) -> list[tuple[str, Path, bool]]:
    """(backend, path, fp16) of each run in order; the reference first."""
    specs = []
    for model in args.models:
        torch_file = model.name.lower().endswith(TORCH_SUFFIXES)
        if not torch_file and model.suffix.lower() != ".onnx":
            raise GenetError(f"{model}: neither a checkpoint (.pth.tar, .pth, .pt) nor an .onnx model")
        specs.append(("torch" if torch_file else "onnxruntime", model, False))
    for item in args.backend:
        backend, sep, path = item.partition(":")
        if not sep or backend not in BACKENDS or not path:
            raise GenetError(f"--backend {item}: give BACKEND:MODEL, BACKEND one of {', '.join(BACKENDS)}")
        specs.append((backend, Path(path), False))
    if args.fp16:
        onnx_models = [path for backend, path, _ in specs if path.suffix.lower() == ".onnx"]
        if not onnx_models:
            raise GenetError("--fp16 emulates an fp32 .onnx model: give one")
        specs.append(("onnxruntime", onnx_models[0], True))
    return specs


def open_captures(specs, args, stack: contextlib.ExitStack, log) -> list[Capture]:
    from genet.layers.capture_onnx import OnnxCapture

    captures: dict[int, Capture] = {}
    for i, (backend, path, fp16) in enumerate(specs):
        if backend != "torch":
            captures[i] = OnnxCapture(path, backend, fp16)
            stack.callback(captures[i].close)
    onnx_layers = next(({layer.name for layer in c.layers} | set(c.fused) for c in captures.values()), None)
    for i, (backend, path, _) in enumerate(specs):
        if backend == "torch":
            from genet.layers.capture_torch import TorchCapture

            captures[i] = TorchCapture(path, onnx_layers, log=log)
            stack.callback(captures[i].close)
    ordered = [captures[i] for i in range(len(specs))]
    if args.npu_dump:
        from genet.layers.npu_dump import NpuDumpCapture

        modules = next((c.modules for c in ordered if hasattr(c, "modules")), None)
        ordered.append(NpuDumpCapture(args.npu_dump, args.om_json, modules))
    _unique_labels(ordered)
    return ordered


def _unique_labels(captures: Sequence[Capture]) -> None:
    seen: dict[str, int] = {}
    for capture in captures:
        count = seen[capture.info.label] = seen.get(capture.info.label, 0) + 1
        if count > 1:
            capture.info.label = f"{capture.info.label} #{count}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    thresholds = {p: Threshold(getattr(args, f"cosine_{p}")) for p in DEFAULT_COSINE}
    specs = run_specs(args)
    inputs = [path for _, path, _ in specs] + [args.images] + [p for p in (args.npu_dump, args.om_json) if p]
    if args.om_json and not args.npu_dump:
        raise GenetError("--om-json maps an NPU dump: give --npu-dump too")
    if len(specs) + bool(args.npu_dump) < 2:
        raise GenetError("give at least two runs: the reference and one to compare with it")
    check_replaceable_dir(args.output, inputs, ours=lambda name: name in OUTPUTS)
    images = open_images(args.images, args.count)
    log = stderr_log(args.quiet)
    with contextlib.ExitStack() as stack:
        captures = open_captures(specs, args, stack, log)
        batch_size = getattr(captures[-1], "batch_size", None) or args.batch_size
        _check_dump_covers(captures[-1], args.count, batch_size)
        comparison = compare_runs(captures[0], captures[1:], images, args.count, batch_size,
                                  isolated=not args.no_isolated, only=args.layer, thresholds=thresholds,
                                  quiet=args.quiet)
    print("\n".join(header_lines(comparison) + [""] + summary_table(comparison) + [""] + verdict_lines(comparison)))
    write_reports(comparison, args.output, inputs)
    log(f"wrote {', '.join(OUTPUTS)} in {args.output}")
    return 0 if comparison.passed or args.report_only else EXIT_FAILED


def _check_dump_covers(capture: Capture, count: int, batch_size: int) -> None:
    iterations = getattr(capture, "iterations", None)
    if iterations is not None and iterations * batch_size < count:
        raise GenetError(f"{capture.info.source}: {iterations} dumped iteration(s) of {batch_size} image(s) cover "
                         f"{iterations * batch_size} images, fewer than --count {count}")


def run() -> None:
    raise SystemExit(run_cli(main))
