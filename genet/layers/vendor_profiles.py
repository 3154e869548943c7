"""Readers of the vendors' profiler files, each into the ``KernelTimes`` a backend's profiler gives.

Each file is recognised by its content (``detect``), as the tools write it:

- ONNX Runtime ``SessionOptions.enable_profiling`` JSON (a Chrome trace; ``genet.runners.onnxrt_profile``),
  with the optimised graph that ``optimized_model_filepath`` saved from the same session, if at hand.
- OpenVINO benchmark_app ``-report_type detailed_counters`` (or ``average_counters``) CSV: per infer
  request a block ``layerName;execStatus;layerType;execType;realTime (ms);cpuTime (ms)``, its rows and
  a ``Total`` row (``tools/benchmark_tool/openvino/tools/benchmark/utils/statistics_report.py`` and
  ``samples/cpp/benchmark_app/statistics_report.cpp``), with the executable graph XML of
  ``-exec_graph_path`` for the fused nodes' ``originalLayersNames``.
- trtexec ``--exportProfile`` JSON: ``[{"count": N}, {"name", "timeMs", "averageMs", ["medianMs"],
  "percentage"}, …]``, ``timeMs`` summed over the N iterations (``samples/common/sampleReporting.cpp``,
  ``Profiler::exportJSONProfile``), with ``--exportLayerInfo`` JSON ``{"Layers": [{"Name",
  "LayerType", "Metadata": "[ONNX Layer: /conv1/Conv]\\x1e…"}], "Bindings"}`` (``--profilingVerbosity=
  detailed``; TensorRT 8.6+ writes Metadata; ``tools/experimental/trt-engine-explorer/trex/parser.py``).
  Without it, a fused layer's name (``/conv1/Conv + /Relu``, ``PWN(/Sigmoid, /Mul)``) is split into
  the node names it holds.
- msprof ``op_summary_*.csv`` (ais_bench ``--profiler 1``): ``Op Name``, ``OP Type``, ``Task Type``,
  ``Task Duration(us)``, and ``Infer ID`` where the run had several (CANN profiling docs, "op_summary"),
  with ATC's ``--mode=1`` JSON of the .om: ``{"graph": [{"op": [{"name", "type", "attr": [{"key":
  "_datadump_original_op_names", "value": {"list": {"s": [ONNX node names]}}}]}]}]}`` (the shape msit's
  ``msquickcmp/npu/om_parser.py`` reads). Without the JSON the rows keep the NPU's op names, and say so.
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter as Tally
from collections import defaultdict
from pathlib import Path

import onnx

from genet.core.errors import GenetError, first_line
from genet.layers.profile_report import is_profile_json
from genet.runners.onnxrt_profile import KERNEL_SUFFIX, ort_kernel_times
from genet.runners.openvino_profile import Counter, ov_kernel_times, split_original_names
from genet.runners.profiling import NPU_NAMES, Kernel, KernelTimes

KINDS = ("genet", "onnxruntime", "openvino", "trtexec", "msprof")
OV_HEADER = "layerName;execStatus;layerType;execType;realTime (ms)"
MSPROF_COLUMNS = ("Op Name", "OP Type", "Task Duration(us)")
_ONNX_LAYER = re.compile(r"\[ONNX Layer: ([^\]\x1e\x1f]+)\]")
_TRT_NAME_SPLIT = re.compile(r" \+ |, |\.\.\.|PWN\(|ForeignNode\[|[(){}\[\]]")


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise GenetError(f"{path}: cannot read: {exc.strerror}") from None


def _json(path: Path):
    try:
        return json.loads(_text(path))
    except json.JSONDecodeError as exc:
        raise GenetError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def _listed(path: Path, key: str, what: str) -> list:
    """The list under ``key`` of a JSON object file; anything else is not ``what``."""
    data = _json(path)
    found = data.get(key) if isinstance(data, dict) else None
    if not isinstance(found, list):
        raise GenetError(f"{path}: not {what} (no \"{key}\" list)")
    return found


def detect(path: Path) -> str:
    """The tool that wrote ``path``, read off its content; an unknown shape is an error."""
    text = _text(path)
    head = text.lstrip()[:4096]
    if head.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if is_profile_json(data):
            return "genet"
        if isinstance(data, list) and data and isinstance(data[0], dict):
            if "count" in data[0] and all(isinstance(r, dict) and "timeMs" in r for r in data[1:]):
                return "trtexec"
            if any(isinstance(e, dict) and e.get("cat") == "Node" and str(e.get("name", "")).endswith(KERNEL_SUFFIX)
                   for e in data):
                return "onnxruntime"
    first = head.splitlines()[0] if head else ""
    if first.replace(" ", "").startswith(OV_HEADER.replace(" ", "")):
        return "openvino"
    if all(column in first for column in MSPROF_COLUMNS):
        return "msprof"
    raise GenetError(f"{path}: not a profile genet reads (ONNX Runtime profile JSON, OpenVINO detailed counters CSV, "
                     f"trtexec --exportProfile JSON, msprof op_summary CSV or a genet profile JSON)")


def read_ort(path: Path, model: onnx.ModelProto, optimized: Path | None = None) -> KernelTimes:
    trace = _json(path)
    optimized_model = _onnx(optimized) if optimized is not None else None
    return ort_kernel_times(trace, model, optimized_model)


def _onnx(path: Path) -> onnx.ModelProto:
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:     # onnx raises DecodeError, OSError …
        raise GenetError(f"{path}: not an ONNX model ({first_line(exc)})") from None


def read_openvino(path: Path, model: onnx.ModelProto | None, exec_graph: Path | None = None) -> KernelTimes:
    """benchmark_app counters: one block per infer request (one inference each)."""
    blocks: list[list[Counter]] = []
    columns: dict[str, int] | None = None
    for number, line in enumerate(_text(path).splitlines(), 1):
        cells = [cell.strip() for cell in line.rstrip().rstrip(";").split(";")]
        if not line.strip():
            columns = None
        elif cells[0] == "layerName":
            columns = {name: i for i, name in enumerate(cells)}
            blocks.append([])
        elif columns is not None and cells[0] != "Total":
            try:
                seconds = float(cells[columns["realTime (ms)"]]) / 1000.0
                blocks[-1].append(Counter(cells[0], cells[columns["layerType"]], cells[columns["execType"]],
                                          cells[columns["execStatus"]].endswith("EXECUTED"), seconds))
            except (IndexError, KeyError, ValueError):
                raise GenetError(f"{path}: line {number}: not a counters row (layerName;execStatus;layerType;"
                                 f"execType;realTime (ms);cpuTime (ms))") from None
    if not any(blocks):
        raise GenetError(f"{path}: holds no counters rows")
    names = read_exec_graph(exec_graph) if exec_graph is not None else None
    return ov_kernel_times([block for block in blocks if block], names, model)


def read_exec_graph(path: Path) -> dict[str, tuple[str, ...]]:
    """``originalLayersNames`` of each node of an OpenVINO executable-graph XML."""
    try:
        root = ET.fromstring(_text(path))
    except ET.ParseError as exc:
        raise GenetError(f"{path}: not an XML file ({exc})") from None
    names = {}
    for layer in root.iter("layer"):
        data = layer.find("data")
        text = data.get("originalLayersNames") if data is not None else None
        for attribute in layer.iter("attribute"):
            if text is None and attribute.get("name") == "originalLayersNames":
                text = attribute.get("value")
        if text is not None and layer.get("name"):
            names[layer.get("name")] = split_original_names(text)
    if not names:
        raise GenetError(f"{path}: no layer has originalLayersNames: not an OpenVINO executable graph")
    return names


def read_trtexec(path: Path, model: onnx.ModelProto | None, layer_info: Path | None = None) -> KernelTimes:
    records = _json(path)
    try:
        calls = int(records[0]["count"])
        layers = [(str(r["name"]), float(r["timeMs"])) for r in records[1:] if "name" in r]
    except (KeyError, TypeError, ValueError, IndexError):
        raise GenetError(f"{path}: not a trtexec --exportProfile file ([{{\"count\": N}}, {{\"name\", \"timeMs\", "
                         f"…}}, …])") from None
    info = read_layer_info(layer_info) if layer_info is not None else {}
    kernels = []
    for name, total_ms in layers:
        kind, members = info.get(name, ("", ()))
        kernels.append(Kernel(name, kind, total_ms / 1000.0, members or trt_name_parts(name)))
    notes = [] if info else ["no --exportLayerInfo given: fused layers are mapped from the node names in their names"]
    return KernelTimes(kernels, calls, notes=notes, model=model)


def trt_name_parts(name: str) -> tuple[str, ...]:
    """The node names a TensorRT layer name holds: ``/a/Conv + /a/Relu`` → both; ``PWN(/x, /y)`` → both."""
    return tuple(part.strip() for part in _TRT_NAME_SPLIT.split(name) if part.strip())


def read_layer_info(path: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Layer name → (layer type, ONNX node names from its Metadata) of a trtexec --exportLayerInfo file."""
    found = {}
    for layer in _listed(path, "Layers", "a trtexec --exportLayerInfo file"):
        if isinstance(layer, dict) and "Name" in layer:
            found[str(layer["Name"])] = (str(layer.get("LayerType", "")),
                                         tuple(_ONNX_LAYER.findall(str(layer.get("Metadata", "")))))
    if not found:
        raise GenetError(f"{path}: its layers carry no details: build the engine with --profilingVerbosity=detailed")
    return found


def read_msprof(path: Path, model: onnx.ModelProto | None, atc_json: Path | None = None) -> KernelTimes:
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        rows = list(csv.DictReader(fh))
    seconds: dict[str, float] = defaultdict(float)
    kinds: dict[str, tuple[str, str]] = {}
    runs, repeats = set(), Tally()
    for number, row in enumerate(rows, 2):
        name = (row.get("Op Name") or "").strip()
        try:
            duration = float((row.get("Task Duration(us)") or "").strip())
        except ValueError:
            raise GenetError(f"{path}: line {number}: Task Duration(us) is not a number") from None
        seconds[name] += duration / 1e6
        kinds.setdefault(name, ((row.get("OP Type") or "").strip(), (row.get("Task Type") or "").strip()))
        repeats[name] += 1
        if (row.get("Infer ID") or "").strip() not in ("", "N/A"):
            runs.add(row["Infer ID"].strip())
    if not seconds:
        raise GenetError(f"{path}: holds no operator rows")
    calls = len(runs) or max(repeats.values())
    original = read_atc_json(atc_json) if atc_json is not None else None
    kernels = [Kernel(name, kinds[name][0], total, (original or {}).get(name, ()), kinds[name][1])
               for name, total in seconds.items()]
    if original is None:
        return KernelTimes(kernels, calls, names=NPU_NAMES, notes=[
            "no ATC JSON (atc --mode=1 --om=MODEL.om --json=MODEL.json) given: rows are the NPU's op names, "
            "not mapped to layers"], model=model)
    return KernelTimes(kernels, calls, model=model)


def read_atc_json(path: Path) -> dict[str, tuple[str, ...]]:
    """NPU op name → the ONNX node names it computes (``_datadump_original_op_names``; itself where absent)."""
    found = {}
    for graph in _listed(path, "graph", "an ATC --mode=1 JSON"):
        for op in (graph or {}).get("op") or ():
            names = ()
            for attr in op.get("attr") or ():
                if attr.get("key") == "_datadump_original_op_names":
                    names = tuple((attr.get("value") or {}).get("list", {}).get("s", ()))
            if op.get("name"):
                found[op["name"]] = names or (op["name"],)
    if not found:
        raise GenetError(f"{path}: its graphs hold no ops")
    return found
