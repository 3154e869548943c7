"""NPU dumps read without CANN: raw dump files and msaccucmp's ``.npy`` files, mapped through ATC's JSON.

**Raw dump file** (ais_bench ``--acl_json_path`` with ``dump_mode: all``): an 8-byte little-endian
unsigned length, that many bytes of a ``toolkit.dumpdata.DumpData`` protobuf, then the data of every
input and then of every output, each ``size`` bytes, in the order the header lists them. Layout as
read by msprobe (Ascend mstt ``debug/accuracy_tools/msprobe/ccsrc/core/AclDumpDataProcessor.cpp``,
``ConcatenateData`` and ``DumpTensorDataToDisk``); the protobuf as in its ``third_party/ACL/
AclDumpMsg.proto`` (the CANN ``dump_data.proto``), of which the fields used here are::

    message Shape    { repeated uint64 dim = 1; }
    message OpOutput { OutputDataType data_type = 1; OutputFormat format = 2; Shape shape = 3;
                       OriginalOp original_op = 4; bytes data = 5; uint64 size = 6;
                       Shape original_shape = 7; int32 sub_format = 8; }
    message OpInput  { OutputDataType data_type = 1; OutputFormat format = 2; Shape shape = 3;
                       bytes data = 4; uint64 size = 5; Shape original_shape = 6; int32 sub_format = 7; }
    message DumpData { string version = 1; uint64 dump_time = 2; repeated OpOutput output = 3;
                       repeated OpInput input = 4; repeated OpBuffer buffer = 5; string op_name = 6; }

A file is named ``{op_type}.{op_name}.{task_id}[.{stream_id}].{timestamp}``, the op name with every
character but ``A-Za-z0-9_-`` replaced by ``_`` (msaccucmp's ``OFFLINE_DUMP_PATTERN``); one folder
per iteration (``.../{model_id}/{iteration}/``). NC1HWC0 data (C split in C1 blocks of C0 = 16
fp16/fp32 values) is turned back into NCHW with the header's ``original_shape`` (msprobe
``AclTensor.cpp`` ``NC1HWC0_TO_NCHW``: source index ``((n·C1 + c/C0)·H + h)·W·C0 + w·C0 + c%C0``).

**msaccucmp ``.npy``** (``msaccucmp.py convert``): ``{dump file name}.output.{index}.npy``, NCHW or
still NC1HWC0 (5-D, turned back with the reference's channel count).

**Mapping** (as msit's ``msquickcmp/npu/fusion_parer``): ATC's ``--mode=1`` JSON lists each .om op
with the ONNX nodes it computes in the attribute ``_datadump_original_op_names``; its output is the
one named in its output's ``_datadump_origin_name`` or else the last of those nodes. The others are
fused into it.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genet.core.errors import GenetError
from genet.layers.capture import Batch, Layer, RunInfo
from genet.layers.names import layer_of_node, module_names_of_nodes
from genet.layers.protowire import WireError, parse

SHAPE = {1: ("dim", "uint", True)}
ORIGINAL_OP = {1: ("name", "string", False), 2: ("output_index", "uint", False),
               3: ("data_type", "uint", False), 4: ("format", "uint", False)}
OP_OUTPUT = {1: ("data_type", "uint", False), 2: ("format", "uint", False), 3: ("shape", SHAPE, False),
             4: ("original_op", ORIGINAL_OP, False), 5: ("data", "bytes", False), 6: ("size", "uint", False),
             7: ("original_shape", SHAPE, False), 8: ("sub_format", "int", False)}
OP_INPUT = {1: ("data_type", "uint", False), 2: ("format", "uint", False), 3: ("shape", SHAPE, False),
            4: ("data", "bytes", False), 5: ("size", "uint", False), 6: ("original_shape", SHAPE, False),
            7: ("sub_format", "int", False)}
DUMP_DATA = {1: ("version", "string", False), 2: ("dump_time", "uint", False), 3: ("output", OP_OUTPUT, True),
             4: ("input", OP_INPUT, True), 6: ("op_name", "string", False)}

# OutputDataType → numpy; OutputFormat numbers used here
DTYPES = {1: np.float32, 2: np.float16, 3: np.int8, 4: np.uint8, 5: np.int16, 6: np.uint16, 7: np.int32,
          8: np.int64, 9: np.uint32, 10: np.uint64, 11: np.bool_, 12: np.float64}
FORMAT_NCHW, FORMAT_NHWC, FORMAT_ND, FORMAT_NC1HWC0 = 0, 1, 2, 3
HEADER_LENGTH = struct.Struct("<Q")
DUMP_NAME = re.compile(r"^(?P<op_type>[A-Za-z0-9_-]+)\.(?P<op>[A-Za-z0-9_-]+)\.(?P<task>\d+)(?:\.(?P<stream>\d+))?"
                       r"\.(?P<stamp>\d{1,255})(?P<npy>\.output\.(?P<index>\d+)\.npy)?$")
HOW = "NPU dump files decoded by genet (no CANN), ops mapped to ONNX nodes through ATC's JSON"


@dataclass(frozen=True)
class DumpTensor:
    data_type: int
    format: int
    shape: tuple[int, ...]
    original_shape: tuple[int, ...]
    data: bytes


def dump_op_name(name: str) -> str:
    """An op name as a dump file name spells it."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _tensors(entries: list[dict], segment: memoryview, offset: int, path: Path, kind: str):
    tensors = []
    for i, entry in enumerate(entries):
        size = entry["size"]
        if entry["data"]:
            data = bytes(entry["data"])
        else:
            if offset + size > len(segment):
                raise GenetError(f"{path}: truncated dump file: {kind} {i} needs bytes {offset}..{offset + size} "
                                 f"of the data, which has {len(segment)}")
            data, offset = bytes(segment[offset:offset + size]), offset + size
        tensors.append(DumpTensor(entry["data_type"], entry["format"], tuple(entry["shape"]["dim"]),
                                  tuple(entry["original_shape"]["dim"]), data))
    return tensors, offset


def read_dump_file(path: Path) -> tuple[list[DumpTensor], list[DumpTensor]]:
    """The inputs and outputs of one raw dump file."""
    try:
        raw = memoryview(path.read_bytes())
    except OSError as exc:
        raise GenetError(f"{path}: cannot read the dump file: {exc.strerror}") from None
    if len(raw) < HEADER_LENGTH.size:
        raise GenetError(f"{path}: truncated dump file: {len(raw)} bytes, shorter than its 8-byte header length")
    (length,) = HEADER_LENGTH.unpack_from(raw)
    if HEADER_LENGTH.size + length > len(raw):
        raise GenetError(f"{path}: truncated dump file: its header says {length} bytes of DumpData, "
                         f"{len(raw) - HEADER_LENGTH.size} follow")
    try:
        header = parse(raw[HEADER_LENGTH.size:HEADER_LENGTH.size + length], DUMP_DATA)
    except WireError as exc:
        raise GenetError(f"{path}: not a dump file (its DumpData header does not decode: {exc})") from None
    segment = raw[HEADER_LENGTH.size + length:]
    inputs, offset = _tensors(header["input"], segment, 0, path, "input")
    outputs, _ = _tensors(header["output"], segment, offset, path, "output")
    return inputs, outputs


def nc1hwc0_to_nchw(array: np.ndarray, channels: int) -> np.ndarray:
    """N×C1×H×W×C0 → N×C×H×W, the C0 padding of the last block dropped."""
    n, c1, h, w, c0 = array.shape
    return array.transpose(0, 1, 4, 2, 3).reshape(n, c1 * c0, h, w)[:, :channels]


def tensor_array(tensor: DumpTensor, path: Path) -> np.ndarray:
    """A dumped tensor as float32 NCHW (or ND)."""
    dtype = DTYPES.get(tensor.data_type)
    if dtype is None:
        raise GenetError(f"{path}: output data type {tensor.data_type} is not one genet reads")
    count = int(np.prod(tensor.shape)) if tensor.shape else 1
    if len(tensor.data) != count * np.dtype(dtype).itemsize:
        raise GenetError(f"{path}: output holds {len(tensor.data)} bytes, not the {count} "
                         f"{np.dtype(dtype).name} values of its shape {list(tensor.shape)}")
    array = np.frombuffer(tensor.data, dtype).reshape(tensor.shape).astype(np.float32)
    if tensor.format == FORMAT_NC1HWC0:
        if array.ndim != 5 or len(tensor.original_shape) != 4:
            raise GenetError(f"{path}: NC1HWC0 output of shape {list(tensor.shape)} without a 4-D original shape")
        return nc1hwc0_to_nchw(array, tensor.original_shape[1])
    if tensor.format == FORMAT_NHWC and array.ndim == 4:
        return array.transpose(0, 3, 1, 2)
    if tensor.format in (FORMAT_NCHW, FORMAT_ND):
        return array
    raise GenetError(f"{path}: output format {tensor.format} is not one genet converts (NCHW, NHWC, ND, NC1HWC0)")


@dataclass(frozen=True)
class OmOp:
    name: str
    op_type: str
    originals: tuple[str, ...]    # the ONNX nodes it computes
    output_of: str                # the ONNX node whose output its output is


def _attr(attrs: list, key: str):
    for attr in attrs or []:
        if isinstance(attr, dict) and attr.get("key") == key:
            return attr.get("value") or {}
    return None


def read_om_json(path: Path) -> list[OmOp]:
    """The ops of ATC's ``--mode=1`` JSON, in its order."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        graphs = found["graph"]
        ops = [op for graph in graphs for op in graph.get("op", [])]
    except FileNotFoundError:
        raise GenetError(f"{path}: no such file (--om-json)") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GenetError(f"{path}: not ATC's --mode=1 JSON of an .om ({type(exc).__name__}: {exc})") from None
    result = []
    for op in ops:
        originals = tuple((_attr(op.get("attr"), "_datadump_original_op_names") or {}).get("list", {}).get("s", []))
        descs = op.get("output_desc") or [{}]
        origin = (_attr(descs[0].get("attr"), "_datadump_origin_name") or {}).get("s", "")
        result.append(OmOp(op["name"], op.get("type", "?"), originals, origin or (originals[-1] if originals else "")))
    return result


def _iteration_key(path: Path) -> tuple:
    """Sort key of a dump file: its iteration folder's number where the folder is a number, then its time stamp."""
    folder = path.parent.name
    return (int(folder) if folder.isdigit() else -1, int(DUMP_NAME.match(path.name)["stamp"]))


def scan_dumps(folder: Path) -> dict[str, list[Path]]:
    """``{op name: its files, one per iteration in order}`` of raw dump files, else of msaccucmp .npy files."""
    if not folder.is_dir():
        raise GenetError(f"{folder}: no such dump folder (--npu-dump)")
    raw: dict[str, list[Path]] = {}
    npy: dict[str, list[Path]] = {}
    for root, _, names in os.walk(folder):
        for name in names:
            match = DUMP_NAME.match(name)
            if match and (not match["npy"] or match["index"] == "0"):
                (npy if match["npy"] else raw).setdefault(match["op"], []).append(Path(root) / name)
    found = raw or npy
    if not found:
        raise GenetError(f"{folder}: holds no NPU dump files (op_type.op_name.task_id.timestamp) nor msaccucmp "
                         f".npy files (….output.0.npy)")
    return {op: sorted(paths, key=_iteration_key) for op, paths in found.items()}


def _precision(tensor: DumpTensor) -> str:
    return {1: "fp32", 2: "fp16"}.get(tensor.data_type, "int8")


class NpuDumpCapture:
    """What an NPU computed, from its dump folder; iteration k holds the images of batch k."""

    can_isolate = False

    def __init__(self, folder: Path, om_json: Path | None, modules: frozenset[str] | None = None):
        """``modules``: the model's module paths (from the ONNX model it was converted from), which tell a
        module's own op from one of its ``forward``; by default read off the JSON's ONNX node names."""
        if om_json is None:
            raise GenetError(f"{folder}: an NPU dump needs ATC's JSON of its .om to map its ops to layers "
                             f"(--om-json; atc --mode=1 --om model.om --json model.json)")
        files = scan_dumps(folder)
        all_ops = read_om_json(om_json)
        ops = [op for op in all_ops if dump_op_name(op.name) in files]
        if not ops:
            raise GenetError(f"{folder}: none of its {len(files)} dumped ops is an op of {om_json}: the JSON is not "
                             f"the dumped .om's")
        modules = modules or module_names_of_nodes(name for op in all_ops for name in op.originals)
        self.layers, self.fused, self._files = [], {}, {}
        for op in ops:
            layer = layer_of_node(op.output_of, modules) or op.output_of or op.name
            self.layers.append(Layer(layer, op.op_type, op.name))
            self._files[layer] = files[dump_op_name(op.name)]
            for original in op.originals:
                own = layer_of_node(original, modules)
                if own and own != layer:
                    self.fused[own] = layer
        self.iterations = self._check_iterations(folder)
        self._where = folder
        first = self._read(self.layers[0].name, 0, None)
        self.batch_size = len(first)
        precision = self._first_precision()
        self.info = RunInfo(f"npu {precision}", str(folder), "npu dump", precision, HOW, full_graph=False)

    def _check_iterations(self, folder: Path) -> int:
        counts = {layer: len(paths) for layer, paths in self._files.items()}
        expected = counts[self.layers[0].name]
        for layer, count in counts.items():
            if count != expected:
                raise GenetError(f"{folder}: op of layer {layer} was dumped {count} times, the first op "
                                 f"{expected}: a dump of one model run per iteration is expected")
        return expected

    def _first_precision(self) -> str:
        path = self._files[self.layers[0].name][0]
        if path.suffix == ".npy":
            return "fp16"           # ATC's default precision (the .npy does not say what the NPU computed in)
        _, outputs = read_dump_file(path)
        return _precision(outputs[0]) if outputs else "fp16"

    def _read(self, layer: str, iteration: int, channels: int | None) -> np.ndarray:
        path = self._files[layer][iteration]
        if path.suffix == ".npy":
            try:
                array = np.load(path, allow_pickle=False).astype(np.float32)
            except (OSError, ValueError) as exc:
                raise GenetError(f"{path}: not a readable .npy file ({exc})") from None
            return nc1hwc0_to_nchw(array, channels or array.shape[1] * array.shape[4]) if array.ndim == 5 else array
        _, outputs = read_dump_file(path)
        if not outputs:
            raise GenetError(f"{path}: the dump file holds no output")
        return tensor_array(outputs[0], path)

    def outputs(self, batch: Batch, reference: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        if batch.index >= self.iterations:
            raise GenetError(f"{self._where}: holds {self.iterations} iteration(s); batch {batch.index + 1} has none")
        values = {}
        for layer in self.layers:
            known = reference.get(layer.name) if reference else None
            channels = known.shape[1] if known is not None and known.ndim == 4 else None
            values[layer.name] = self._read(layer.name, batch.index, channels)
        return values

    def isolated(self, batch: Batch, reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError("an NPU dump holds what the NPU computed from its own inputs")

    def close(self) -> None:
        pass
