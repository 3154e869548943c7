"""Helpers of the layer-comparison tests: tiny exported models, image folders, edited graphs, NPU dumps.

The NPU dump writer encodes the documented ``toolkit.dumpdata.DumpData`` protobuf itself (field
numbers of the CANN ``dump_data.proto`` as in Ascend mstt's ``AclDumpMsg.proto``) and lays the file
out as the dump's reader expects: an 8-byte little-endian header length, the header, the inputs'
data, the outputs' data. It shares no code with genet's reader.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from genet.convert.export import export_onnx
from genet.model.checkpoint import save_checkpoint
from genet.model.network import build_model
from genet.model.variant import Variant
from tests.conftest import randomize_batchnorm

SMALL = Variant(depth=10, width=2)
DT_FLOAT, DT_FLOAT16 = 1, 2
FORMAT_NCHW, FORMAT_ND, FORMAT_NC1HWC0 = 0, 2, 3


def export_small(folder: Path, variant: Variant = SMALL, seed: int = 0) -> tuple[Path, Path]:
    """A seeded random GENet as a checkpoint and its ONNX export (BatchNorm statistics made non-trivial)."""
    torch.manual_seed(seed)
    model = build_model(variant).eval()
    randomize_batchnorm(model, seed)
    checkpoint, exported = folder / "genet.pth.tar", folder / "genet.onnx"
    save_checkpoint(checkpoint, model)
    export_onnx(model, exported)
    return checkpoint, exported


def write_images(folder: Path, count: int, seed: int = 0) -> Path:
    """``count`` standard-normal float32 3×32×32 images as preprocess.py names them (00000.bin, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(seed).standard_normal((count, 3, 32, 32), dtype=np.float32)
    for index, image in enumerate(images):
        image.tofile(folder / f"{index:05d}.bin")
    return folder


def edit_onnx(source: Path, target: Path, edit: Callable[[onnx.GraphProto], None]) -> Path:
    model = onnx.load(str(source))
    edit(model.graph)
    onnx.save(model, str(target))
    return target


def node(graph: onnx.GraphProto, name: str) -> onnx.NodeProto:
    return next(n for n in graph.node if n.name == name)


def edit_initializer(graph: onnx.GraphProto, name: str, change: Callable[[np.ndarray], np.ndarray]) -> None:
    init = next(i for i in graph.initializer if i.name == name)
    init.CopyFrom(numpy_helper.from_array(change(numpy_helper.to_array(init).copy()), name))


# ---- the protobuf wire format, written ------------------------------------------------------------

def varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def shape_message(dims) -> bytes:
    """``Shape { repeated uint64 dim = 1; }``, packed as proto3 writes it."""
    return field_bytes(1, b"".join(varint(int(d)) for d in dims))


def op_output(data_type: int, fmt: int, shape, original_shape, size: int, original_name: str = "") -> bytes:
    message = field_varint(1, data_type) + field_varint(2, fmt) + field_bytes(3, shape_message(shape))
    if original_name:
        message += field_bytes(4, field_bytes(1, original_name.encode()))
    return message + field_varint(6, size) + field_bytes(7, shape_message(original_shape))


def op_input(data_type: int, fmt: int, shape, size: int) -> bytes:
    return field_varint(1, data_type) + field_varint(2, fmt) + field_bytes(3, shape_message(shape)) + \
        field_varint(5, size)


def to_nc1hwc0(array: np.ndarray, c0: int = 16) -> np.ndarray:
    n, c, h, w = array.shape
    c1 = -(-c // c0)
    padded = np.zeros((n, c1 * c0, h, w), array.dtype)
    padded[:, :c] = array
    return padded.reshape(n, c1, c0, h, w).transpose(0, 1, 3, 4, 2).copy()


def dump_bytes(op_name: str, output: np.ndarray, fmt: int = FORMAT_NC1HWC0, fp16: bool = True,
               input_array: np.ndarray | None = None) -> bytes:
    """One raw dump file: an op with one output (and optionally one fp32 ND input)."""
    original_shape = output.shape
    data = output.astype(np.float16 if fp16 else np.float32)
    if fmt == FORMAT_NC1HWC0:
        data = to_nc1hwc0(data)
    payload = data.tobytes()
    header = field_bytes(1, b"2.0") + field_varint(2, 1_700_000_000_000_000)
    header += field_bytes(3, op_output(DT_FLOAT16 if fp16 else DT_FLOAT, fmt, data.shape, original_shape,
                                       len(payload)))
    inputs = b""
    if input_array is not None:
        inputs = input_array.astype(np.float32).tobytes()
        header += field_bytes(4, op_input(DT_FLOAT, FORMAT_ND, input_array.shape, len(inputs)))
    header += field_bytes(6, op_name.encode())
    return struct.pack("<Q", len(header)) + header + inputs + payload


def file_name(op_type: str, op_name: str, stamp: int) -> str:
    """``{op_type}.{op_name}.{task_id}.{stream_id}.{timestamp}``, the name as a dump file spells it."""
    spelled = "".join(c if c.isalnum() or c in "_-" else "_" for c in op_name)
    return f"{op_type}.{spelled}.3.1.{stamp}"


def write_om_json(path: Path, ops: list[tuple[str, str, list[str]]]) -> Path:
    """ATC ``--mode=1`` JSON: ``(op name, op type, ONNX nodes it computes)`` per op."""
    def op(name, kind, originals):
        attr = [{"key": "_datadump_original_op_names", "value": {"list": {"val_type": 1, "s": originals}}}]
        return {"name": name, "type": kind, "attr": attr, "input": [], "output_desc": [{"attr": []}]}
    path.write_text(json.dumps({"name": "genet", "graph": [{"name": "merge1", "op": [op(*o) for o in ops]}]}))
    return path
