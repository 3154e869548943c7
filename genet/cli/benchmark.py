"""benchmark.py: run a model the way Huawei's ``benchmark.x86_64`` does, on ONNX Runtime, PyTorch or Ascend.

Takes the guide's command lines unchanged (single-dash ``-key=value`` flags)::

    python3 benchmark.py -model_type=vision -device_id=0 -batch_size=16 -om_path=genet_gpu.onnx \\
        -input_text_path=genet_prep_bin.info -input_width=32 -input_height=32 -output_binary=False -useDvpp=False
    python3 benchmark.py -device_id=0 -om_path=genet_bs4_tuned.om -round=30 -batch_size=4

and writes the same files: ``result/dumpOutput_device{id}/{stem}_1.txt`` (or ``.bin``) and
``result/perf_vision_batchsize_{bs}_device_{id}.txt``, plus a ``.json`` twin with details.
The figures are defined in docs/metrics.md (computed by ``genet.bench.figures``). Settings are checked
once, by ``BenchConfig`` and ``RunnerOptions``; this module only maps their fields to the flags the
user typed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from genet.bench.ais_args import translate_ais_bench
from genet.bench.config import MIN_CALLS, MIN_SECONDS, MIN_SECONDS_ENV, REPEATS, REPEATS_ENV, BenchConfig
from genet.bench.devices import check_devices
from genet.bench.engine import BenchResult, run_benchmark
from genet.bench.figures import stability_warning
from genet.bench.sweep import parse_batch_list
from genet.cli.common import Parser, add_quiet
from genet.cli.plans import add_sweep_flags, parse_device_list, plan_from_args, run_plan
from genet.core.console import stderr_log
from genet.core.errors import GenetError, SettingError, run_cli
from genet.core.stats import percentile_text, spread_text
from genet.formats.ais_bench_files import OUTFMTS
from genet.formats.calltimes import write_call_times
from genet.runners import BACKENDS, DEVICES, GRAPH_OPT_LEVELS, PRECISIONS, RunnerOptions
from genet.runners.base import option_flag

#: Exit status of a run whose model produced NaN or infinite outputs (without --allow-non-finite).
EXIT_NON_FINITE = 3

# Settings whose flag is not option_flag(field): the guide's single-dash spellings.
_GUIDE_SPELLINGS = {"batch_size": "-batch_size", "device_id": "-device_id", "rounds": "-round",
               "info_path": "-input_text_path", "input_width": "-input_width", "input_height": "-input_height"}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def guide_bool(text: str) -> bool:
    """The guide's ``True``/``False`` flag values (any case; also 1/0, yes/no)."""
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="benchmark.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run an image classifier over preprocessed inputs (or random ones) and write the Ascend "
                    "benchmark tool's dumps and perf report.\nThe backend follows the model file: .onnx → ONNX "
                    "Runtime, .pth/.pth.tar → PyTorch, .om → Ascend (ais_bench).",
        epilog="examples:\n"
               "  python3 benchmark.py -model_type=vision -device_id=0 -batch_size=16 -om_path=genet_gpu.onnx "
               "-input_text_path=genet_prep_bin.info -input_width=32 -input_height=32 -output_binary=False "
               "-useDvpp=False\n"
               "  python3 benchmark.py -device_id=0 -om_path=genet_gpu.onnx -round=30 -batch_size=4\n"
               "  python3 benchmark.py -batch_size=64 -om_path=model_best.pth.tar "
               "-input_text_path=genet_prep_bin.info --device cuda --precision fp16 --cuda-graphs\n"
               "  mkdir -p out && python3 benchmark.py --model genet_gpu.onnx --input ./prep_dataset --output out "
               "--outfmt TXT\n\n"
               "ais_bench's flags (its command line, both generations' spellings; see "
               "docs/sweeps-and-ais-bench.md):\n"
               "  --model MODEL          the model (also --om-model, --om_model, -om); as -om_path\n"
               "  --input DIR|FILES      a folder of .bin/.npy inputs or a comma-separated list of files; "
               "without it, --loop batches of random images\n"
               "  --output DIR           an existing folder, where the outputs and the summary JSON go (as "
               "ais_bench, genet does not create it)\n"
               "  --output_dirname NAME  the folder name under --output in place of the timestamp\n"
               f"  --outfmt FMT           output files: {', '.join(OUTFMTS)} (default BIN)\n"
               "  --loop N               inference loops (default 1); as -round without --input\n"
               "  --batchsize N          images per call (also --batch-size, --batch_size); as -batch_size\n"
               "  --dymBatch N           the batch of a dynamic-batch model (also --dym-batch); as -batch_size\n"
               "  --warmup_count N       untimed calls first (also --warmup-count); as --warmup\n"
               "  --device ID[,ID...]    device numbers (digits: ais_bench's; cpu/cuda/auto: the backend's "
               "--device above); as -device_id\n\n"
               f"exit status: 0 done; 2 bad input (nothing written); {EXIT_NON_FINITE} the model produced NaN or "
               "infinite outputs (dumps and reports written as evidence; --allow-non-finite: 0)")
    guide = parser.add_argument_group("the Ascend benchmark tool's flags (-key=value)")
    guide.add_argument("-om_path", required=True, type=Path, metavar="MODEL",
                      help="model file: .onnx, .pth/.pth.tar checkpoint, or .om (Ascend); with a -batch_size "
                           "list, a name with {bs} (genet_bs{bs}_tuned.om) gives one static model per batch size")
    guide.add_argument("-batch_size", type=parse_batch_list, default=(1,), metavar="N[,N...]",
                      help="images per model call (a static-batch model must have this batch); default 1; a "
                           "list (1,4,8,16,32,64) sweeps them on one loaded model (genet.bench.sweep)")
    guide.add_argument("-device_id", type=parse_device_list, default=(0,), metavar="ID[,ID...]",
                      help="device number: the GPU (CUDA) or NPU to use; also names the dump folder "
                           "dumpOutput_device{ID} and the perf file; default 0; a list runs one worker per "
                           "device (genet.bench.devices)")
    guide.add_argument("-input_text_path", type=Path, metavar="INFO",
                      help="info file listing the inputs ('<index> <path> <width> <height>' per .bin; relative "
                           "paths are read from the current folder, as the Ascend tool does), or a packed "
                           "images.npy; leave out, with -round, for pure inference")
    guide.add_argument("-input_width", type=int, metavar="W",
                      help="image width; must match the model's (default: the model's)")
    guide.add_argument("-input_height", type=int, metavar="H",
                      help="image height; must match the model's (default: the model's)")
    guide.add_argument("-output_binary", type=guide_bool, default=False, metavar="BOOL",
                      help="True: dumps as raw float32 {stem}_1.bin; False (default): one text line {stem}_1.txt")
    guide.add_argument("-model_type", default="vision", choices=("vision",), metavar="TYPE",
                      help="only 'vision' (the default) is supported")
    guide.add_argument("-useDvpp", type=guide_bool, default=False, metavar="BOOL",
                      help="False only: inputs are preprocessed .bin tensors (DVPP is Ascend's JPEG decoder)")
    guide.add_argument("-round", type=int, metavar="N",
                       help="pure-inference mode: at least N batches of random images (more when --min-seconds "
                            "needs them: the calls made are printed and recorded), no dumps, perf report only")

    backend = parser.add_argument_group("backend")
    backend.add_argument("--backend", default="auto", choices=("auto", *BACKENDS),
                         help="auto (default) picks from the model file's suffix (.onnx → onnxruntime); openvino "
                              "(optional package) runs .onnx files on the CPU")
    backend.add_argument("--device", default="auto", choices=DEVICES,
                         help="auto (default): PyTorch uses CUDA when present, ONNX Runtime the CPU "
                              "(unless --providers); cuda: fail unless a GPU is usable")
    backend.add_argument("--precision", default="fp32", choices=PRECISIONS,
                         help="PyTorch: the model's dtype (default fp32); ONNX Runtime and .om run their "
                              "model's own precision")
    backend.add_argument("--providers", default="", metavar="LIST",
                         help="ONNX Runtime execution providers in priority order, comma-separated: cpu, cuda, "
                              "tensorrt or full names (CPUExecutionProvider is always the fallback)")
    backend.add_argument("--threads", type=int, default=0, metavar="N",
                         help="CPU threads of a model call (ONNX Runtime intra-op, PyTorch, OpenVINO's inference "
                              "threads); 0 (default) = library default")
    backend.add_argument("--graph-opt", default="all", choices=GRAPH_OPT_LEVELS,
                         help="ONNX Runtime graph optimisation level (default all)")
    backend.add_argument("--channels-last", action="store_true", help="PyTorch: channels-last memory format")
    backend.add_argument("--cuda-graphs", action="store_true",
                         help="PyTorch on CUDA: capture one CUDA graph per batch shape and replay it")
    backend.add_argument("--compile", action="store_true",
                         help="PyTorch: torch.compile the model (compiles during warm-up)")
    backend.add_argument("--extent", type=int, metavar="E",
                         help="PyTorch: GE-θ⁻ gather extent of the checkpoint (0 = global; it cannot be read "
                              "off the weights)")
    backend.add_argument("--unsafe-load", action="store_true",
                         help="PyTorch: allow full pickle loading of a checkpoint you trust")

    io = parser.add_argument_group("inputs and outputs")
    io.add_argument("--output-dir", type=Path, default=Path("result"), metavar="DIR",
                    help="where dumpOutput_device{ID}/ and the perf files go (default result); not a folder "
                         "holding the model or the info file, nor the .bin files' folder, one inside it or above it")
    io.add_argument("--packed-input", type=Path, metavar="NPY",
                    help="read the images from this images.npy (N×C×H×W float32, from preprocess.py --packed) "
                         "instead of the .bin files, trusting that it holds the same images; by default an "
                         "images.npy beside the .bin files is used only when preprocess's manifest proves it "
                         "identical to them")
    io.add_argument("--no-packed", action="store_true", help="always read the .bin files listed in the info file")
    io.add_argument("--packed-output", action="store_true",
                    help="also write every output into one packed_logits.npz in the dump folder")
    io.add_argument("--warmup", type=int, default=2, metavar="N",
                    help="untimed model calls before the run (default 2), plus one at the last batch's "
                         "shape when it differs")
    io.add_argument("--seed", type=int, default=0,
                    help="random-number seed of the random images of pure-inference mode (default 0)")
    io.add_argument("--allow-non-finite", action="store_true",
                    help=f"exit 0 even when the model produces NaN or infinite outputs (default: exit "
                         f"{EXIT_NON_FINITE})")
    io.add_argument("--profile", action="store_true",
                    help="then run the timed batches once more under the backend's profiler (ONNX Runtime, "
                         "OpenVINO, PyTorch) and write the per-layer table result/profile_batchsize_{bs}_device_{id}"
                         ".md/.csv/.json (docs/profile.md); the perf report's figures stay unprofiled")
    timing = parser.add_argument_group("timing (docs/metrics.md, \"Sized by time\")")
    timing.add_argument("--min-seconds", type=float, default=None, metavar="S",
                        help=f"pure inference: time at least S seconds of calls (and {MIN_CALLS} calls) per batch "
                             f"size, whatever -round says (default {MIN_SECONDS:g}, or ${MIN_SECONDS_ENV}); 0: "
                             f"exactly -round calls, as the guide's tool does")
    timing.add_argument("--repeats", type=int, default=None, metavar="N",
                        help=f"each throughput is the median of N repeats, with their spread (default {REPEATS}, "
                             f"or ${REPEATS_ENV}): a run's calls cut into N blocks; a sweep runs its sizes N times "
                             f"in turn; 1: no spread")
    add_quiet(parser)
    add_sweep_flags(parser)
    return parser


def flag_of(field: str) -> str:
    """The flag a user sets a BenchConfig / RunnerOptions field with."""
    return _GUIDE_SPELLINGS.get(field, option_flag(field))


def config_from_args(args: argparse.Namespace, command_line: Sequence[str]) -> BenchConfig:
    if args.useDvpp:
        raise GenetError("-useDvpp=True: DVPP is the Ascend JPEG decoder; this runner reads preprocessed .bin "
                         "inputs (run preprocess.py, then -useDvpp=False)")
    info, packed = args.input_text_path, args.packed_input
    if info is not None and info.suffix == ".npy":
        if packed is not None:
            raise GenetError(f"{info}: -input_text_path is already a packed array; leave out --packed-input")
        info, packed = None, info
    try:
        options = RunnerOptions(
            device_id=args.device_id, device=args.device, precision=args.precision,
            providers=tuple(p.strip() for p in args.providers.split(",") if p.strip()),
            threads=args.threads, graph_opt=args.graph_opt,
            channels_last=args.channels_last, cuda_graphs=args.cuda_graphs, compile=args.compile,
            extent=args.extent, unsafe_load=args.unsafe_load, log=None if args.quiet else stderr_log())
        return BenchConfig(
            model_path=args.om_path, batch_size=args.batch_size, device_id=args.device_id, backend=args.backend,
            options=options, input_width=args.input_width, input_height=args.input_height, info_path=info,
            packed_input=packed, auto_packed=not args.no_packed, rounds=args.round, output_dir=args.output_dir,
            binary=args.output_binary, packed_output=args.packed_output, warmup=args.warmup,
            seed=args.seed, progress=not args.quiet,
            command_line=command_line, **timing_settings(args))
    except SettingError as exc:
        raise exc.spelled(flag_of) from None


def timing_settings(args: argparse.Namespace) -> dict:
    """--min-seconds and --repeats where given (else BenchConfig's defaults)."""
    given = {"min_seconds": args.min_seconds, "repeats": args.repeats}
    return {name: value for name, value in given.items() if value is not None}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command_line = [sys.argv[0], *argv]
    ais = translate_ais_bench(argv)
    args = build_parser().parse_args(ais.argv if ais else argv)
    plan = plan_from_args(args, ais)        # reduces the -batch_size / -device_id lists to their first value
    config = config_from_args(args, command_line)
    log = stderr_log(args.quiet)
    if args.profile and plan.dispatched:
        raise GenetError("--profile runs one batch size on one device: leave out the -batch_size and -device_id "
                         "lists, --best and ais_bench's command line")
    if plan.device_ids != (0,):
        check_devices(config, plan.device_ids)      # device 0 is the guide's default, the CPU's too
    if plan.dispatched:
        results = run_plan(config, plan, log)
    else:
        hook = None
        if args.profile:
            from genet.layers.profile_run import ProfileHook

            hook = ProfileHook(config, log)
        results = [run_benchmark(config, log=log, then=hook)]
        if plan.export_times is not None:
            write_call_times(plan.export_times, results[0].calls)
        print_result(config, results[0])
        if hook is not None:
            print("\n".join(hook.lines))
    return non_finite_verdict(results, args.allow_non_finite)


def print_result(config: BenchConfig, result: BenchResult) -> None:
    details = result.details
    print(f"{details['images']} images, batch {config.batch_size}, {details['backend']} {details['precision']} on "
          f"{details['device']}")
    print(result.report.to_txt(), end="")
    print(timing_line(details))
    if result.dump_dir is not None:
        kind = "bin" if config.binary else "txt"
        print(f"dumps: {result.dump_dir}/ ({result.images} .{kind} files)")
    print(f"perf: {result.perf_txt} (+ {result.perf_json.name})")


def timing_line(details: dict) -> str:
    """The calls timed, the Interface throughputRate's repeats and the device p99 (when enough calls give one)."""
    timing, repeats = details["timing"], details["interface_repeats"]
    device = details["batch_latency_ms"]["device"]
    asked = f" (-round={timing['rounds_asked']})" if timing.get("rounds_asked") is not None else ""
    line = (f"[genet] {timing['calls']} calls{asked} in {timing['timed_seconds']:.2f} s; Interface throughputRate "
            f"median {repeats['median']:.1f} ({spread_text(repeats)}); device ms p50 "
            f"{percentile_text(device, 'p50')}, p99 {percentile_text(device, 'p99')}")
    warning = stability_warning(details)
    return line + (f"\n[genet] WARNING: {warning}" if warning else "")


def non_finite_verdict(results: Sequence[BenchResult], allow: bool) -> int:
    """Exit status: EXIT_NON_FINITE when a run's model produced NaN or infinite logits (unless allowed)."""
    status = 0
    for result in results:
        bad = result.details["non_finite_outputs"]
        if bad:
            verdict = "kept going (--allow-non-finite)" if allow else "FAILED"
            print(f"benchmark.py: {verdict}: {bad} of {result.images} outputs hold NaN or infinite logits "
                  f"(the model is broken or overflows; see {result.perf_json})", file=sys.stderr)
            status = 0 if allow else EXIT_NON_FINITE
    return status


def run() -> None:
    raise SystemExit(run_cli(main))
