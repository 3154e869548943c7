"""``test/parse.py profile``: the per-layer table from a vendor's profiler file, or several devices' joined.

    python3 test/parse.py profile cpu:result/profile_batchsize_16_device_0.json \\
        310:PROF_xxx/device_0/summary/op_summary_0_1.csv --atc-json genet_bs16.json --model genet_gpu.onnx \\
        --compare-layers compare_layers.json --out profile_join

One source and no comparison: the same table as ``benchmark.py --profile`` writes (PREFIX.md/.csv/.json).
Several sources or a comparison: one row per layer group, one time column per source, and the
comparison's metric beside it (``genet.layers.profile_join``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import onnx

from genet.cli.common import Parser, positive_int
from genet.core.errors import GenetError
from genet.core.fsio import atomic_files, check_output_file
from genet.layers.profile import LayerProfile, build_profile
from genet.layers.profile_join import join_profiles, joined_csv, joined_json, joined_markdown, read_compare_layers
from genet.layers.profile_report import from_json, to_csv, to_json, to_markdown
from genet.layers.vendor_profiles import detect, read_msprof, read_openvino, read_ort, read_trtexec
from genet.runners.onnxrt import graph_precision
from genet.runners.profiling import NPU_NAMES

# The companion file each kind of source may take: option → the kind it belongs to.
COMPANIONS = {"ort_optimized": "onnxruntime", "exec_graph": "openvino", "layer_info": "trtexec", "atc_json": "msprof"}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="test/parse.py profile",
        description="Read per-layer profiles (a genet profile JSON from benchmark.py --profile, an ONNX Runtime "
                    "profile JSON, an OpenVINO benchmark_app detailed_counters CSV, a trtexec --exportProfile JSON "
                    "or an msprof op_summary CSV, recognised by content) and write the per-layer table, or several "
                    "sources joined by layer, as PREFIX.md, PREFIX.csv and PREFIX.json (docs/profile.md).",
        epilog="example: python3 test/parse.py profile cpu:result/profile_batchsize_16_device_0.json "
               "310:op_summary_0_1.csv --atc-json genet_bs16.json --model genet_gpu.onnx --compare-layers cmp.json")
    parser.add_argument("sources", nargs="+", metavar="[LABEL:]FILE",
                        help="a profile file, optionally labelled (cpu:…, 310:…); the label heads its column")
    parser.add_argument("--model", type=Path, metavar="ONNX",
                        help="the ONNX model the device ran: names the layers and counts their FLOPs (vendor files)")
    parser.add_argument("--batch-size", type=positive_int, metavar="N",
                        help="the profiled batch size, where the model's batch axis is dynamic")
    for option, kind, what in (("--ort-optimized", "onnxruntime", "the optimised model the profiled ONNX Runtime saved "
                                                                  "(optimized_model_filepath)"),
                               ("--exec-graph", "openvino", "benchmark_app -exec_graph_path XML"),
                               ("--layer-info", "trtexec", "trtexec --exportLayerInfo JSON"),
                               ("--atc-json", "msprof", "atc --mode=1 JSON of the .om")):
        parser.add_argument(option, type=Path, action="append", default=[], metavar="FILE",
                            help=f"{what}; the n-th one goes with the n-th {kind} source")
    parser.add_argument("--compare-layers", type=Path, metavar="JSON",
                        help="a layer-by-layer comparison (compare_layers.py): its metric beside each layer's time")
    parser.add_argument("--metric", metavar="NAME", help="the comparison's metric to show (default: the cosine one)")
    parser.add_argument("--out", default="profile_report", metavar="PREFIX",
                        help="write PREFIX.md, PREFIX.csv and PREFIX.json (default: %(default)s)")
    return parser


def split_source(text: str) -> tuple[str | None, Path]:
    """``LABEL:FILE`` or ``FILE`` (a name that exists as a file is never split)."""
    label, sep, rest = text.partition(":")
    if sep and label and rest and "/" not in label and not Path(text).exists():
        return label, Path(rest)
    return None, Path(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    prefix = Path(args.out)
    outputs = [check_output_file(prefix.with_name(prefix.name + suffix)) for suffix in (".md", ".csv", ".json")]
    model = _load_model(args.model) if args.model else None
    companions = {option: list(getattr(args, option)) for option in COMPANIONS}
    found = []
    for label, path in map(split_source, args.sources):
        if not path.is_file():
            raise GenetError(f"{path}: profile file not found")
        found.append((label, path, detect(path)))
    for option, given in companions.items():
        owners = sum(1 for _, _, kind in found if kind == COMPANIONS[option])
        if len(given) > owners:
            raise GenetError(f"{given[owners]}: --{option.replace('_', '-')} given without a {COMPANIONS[option]} "
                             f"source left to go with")
    profiles: list[tuple[str, LayerProfile]] = []
    sources = []
    for label, path, kind in found:
        profile = _read(kind, path, model, args, companions)
        label = label or kind
        profiles.append((label, profile))
        sources.append(f"{label}: {path} ({kind}, batch {profile.batch_size})")
    metrics = read_compare_layers(args.compare_layers) if args.compare_layers else None
    if len(profiles) == 1 and metrics is None:
        texts = [to_markdown(profiles[0][1]), to_csv(profiles[0][1]), to_json(profiles[0][1])]
    else:
        joined = join_profiles(profiles, metrics, args.metric, str(args.compare_layers or "the profiles"))
        texts = [joined_markdown(joined, sources), joined_csv(joined), joined_json(joined, sources)]
    with atomic_files(outputs, [".md", ".csv", ".json"]) as temps:
        for temp, text in zip(temps, texts):
            temp.write_text(text, encoding="utf-8")
    print(texts[0], end="")
    return 0


def _load_model(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise GenetError(f"{path}: model file not found")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:     # onnx's DecodeError and friends
        raise GenetError(f"{path}: not an ONNX model ({type(exc).__name__})") from None


def _read(kind: str, path: Path, model: onnx.ModelProto | None, args, companions: dict) -> LayerProfile:
    if kind == "genet":
        import json

        return from_json(json.loads(path.read_text(encoding="utf-8")), str(path))
    option = next(option for option, owner in COMPANIONS.items() if owner == kind)
    companion = companions[option].pop(0) if companions[option] else None
    if companion is not None and not companion.is_file():
        raise GenetError(f"{companion}: file not found")
    reader = {"onnxruntime": read_ort, "openvino": read_openvino, "trtexec": read_trtexec, "msprof": read_msprof}[kind]
    if model is None and kind != "msprof":
        raise GenetError(f"{path}: a {kind} profile needs --model (the ONNX file the device ran): it names the layers")
    times = reader(path, model, companion)
    if times.names != NPU_NAMES and model is None:
        raise GenetError(f"{path}: mapping the NPU's ops to layers needs --model (the ONNX file ATC converted)")
    profile = build_profile(times, _batch_size(args, model, path), 1.0,
                            graph_precision(args.model) if model is not None else "fp32", where=str(path))
    profile.about = {"backend": kind, "device": kind, "source": str(path)}
    return profile


def _batch_size(args, model: onnx.ModelProto | None, path: Path) -> int:
    if args.batch_size:
        return args.batch_size
    dims = model.graph.input[0].type.tensor_type.shape.dim if model is not None else ()
    if dims and dims[0].dim_value > 0:
        return dims[0].dim_value
    raise GenetError(f"{path}: give --batch-size (the model's batch axis is dynamic)")
