"""NPU dumps read without CANN: the raw binary layout (written here from the documented protobuf), msaccucmp's
.npy files, NC1HWC0 → NCHW, and the mapping of .om ops to layers through ATC's JSON."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from genet.core.errors import GenetError
from genet.layers.capture import Batch
from genet.layers.capture_onnx import OnnxCapture
from genet.layers.compare import compare_runs, open_images
from genet.layers.npu_dump import NpuDumpCapture, read_dump_file, tensor_array
from tests.layer_helpers import (
    FORMAT_NC1HWC0,
    FORMAT_NCHW,
    FORMAT_ND,
    dump_bytes,
    export_small,
    file_name,
    to_nc1hwc0,
    write_images,
    write_om_json,
)

COUNT, BATCH = 8, 4
# .om op (name, type, ONNX nodes it computes) → the layer its output is
OPS = [("conv1_relu", "Conv2D", ["/conv1/Conv", "/block1/layer/layer.0/Relu"]),
       ("/block2/layer/layer.0/conv2/Conv", "Conv2D", ["/block2/layer/layer.0/conv2/Conv"]),
       ("/block2/layer/layer.0/Sigmoid", "Sigmoid", ["/block2/layer/layer.0/Sigmoid"]),
       ("/block3/layer/layer.0/conv2/Conv", "Conv2D", ["/block3/layer/layer.0/conv2/Conv"]),
       ("/fc/Gemm", "MatMulV2", ["/fc/Gemm"])]
LAYERS = ["block1.layer.0/Relu", "block2.layer.0.conv2", "block2.layer.0/Sigmoid", "block3.layer.0.conv2", "fc"]
FORMATS = [FORMAT_NC1HWC0, FORMAT_NC1HWC0, FORMAT_NCHW, FORMAT_NC1HWC0, FORMAT_ND]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("npu")
    _, model = export_small(folder)
    images = write_images(folder / "prep", COUNT)
    capture = OnnxCapture(model)
    source = open_images(images, COUNT)
    outputs = []
    for start in range(0, COUNT, BATCH):
        batch = np.empty((BATCH, 3, 32, 32), np.float32)
        source.read_into(start, start + BATCH, batch)
        outputs.append(capture.outputs(Batch(start // BATCH, start, batch)))
    capture.close()
    return folder, model, images, outputs, capture.modules


def write_dump(folder, outputs, scale_layer=None, npy=False):
    """One iteration folder per batch, as ais_bench lays a dump out: {time}/{device}/{model}/{model id}/{iteration}."""
    for iteration, values in enumerate(outputs):
        where = folder / "20240101000000" / "0" / "genet" / "1" / str(iteration)
        where.mkdir(parents=True)
        for (op, kind, _), layer, fmt in zip(OPS, LAYERS, FORMATS):
            value = values[layer] * (1.5 if layer == scale_layer else 1.0)
            name = file_name(kind, op, 1000 + iteration)
            if npy:
                array = value.astype(np.float16)
                np.save(where / f"{name}.output.0.npy", to_nc1hwc0(array) if fmt == FORMAT_NC1HWC0 else array)
            else:
                (where / name).write_bytes(dump_bytes(op, value, fmt, input_array=values["Flatten"]))
    return folder


def test_a_dump_file_decodes_to_its_nchw_tensor_after_its_inputs(tmp_path):
    output = np.random.default_rng(0).standard_normal((2, 20, 3, 5)).astype(np.float32)    # C=20: a padded block
    file = tmp_path / "Conv2D.conv.3.1.1"
    file.write_bytes(dump_bytes("conv", output, FORMAT_NC1HWC0, input_array=np.ones((2, 7), np.float32)))
    inputs, outputs = read_dump_file(file)
    assert len(inputs) == 1 and outputs[0].shape == (2, 2, 3, 5, 16)
    assert np.array_equal(tensor_array(outputs[0], file), output.astype(np.float16).astype(np.float32))
    assert np.array_equal(tensor_array(inputs[0], file), np.ones((2, 7), np.float32))


@pytest.mark.parametrize("cut, message", [(3, "shorter than its 8-byte header length"),
                                          (40, "header says"), (-10, "truncated dump file: output 0")])
def test_a_truncated_dump_file_is_one_error_naming_it(tmp_path, cut, message):
    data = dump_bytes("conv", np.ones((1, 16, 2, 2), np.float32))
    file = tmp_path / "Conv2D.conv.3.1.1"
    file.write_bytes(data[:cut])
    with pytest.raises(GenetError, match=f"{file}: .*{message}"):
        read_dump_file(file)


@pytest.mark.parametrize("npy", [False, True], ids=["raw", "msaccucmp-npy"])
def test_a_dump_folder_is_decoded_mapped_and_its_wrong_layer_found(reference, tmp_path, npy):
    folder, model, images, outputs, modules = reference
    dump = write_dump(tmp_path / "dump", outputs, scale_layer="block3.layer.0.conv2", npy=npy)
    json_path = write_om_json(tmp_path / "genet.json", OPS + [("unused_op", "Cast", ["/x/Cast"])])
    npu = NpuDumpCapture(dump, json_path, modules)
    assert [layer.name for layer in npu.layers] == LAYERS
    assert npu.fused == {"conv1": "block1.layer.0/Relu"} and (npu.iterations, npu.batch_size) == (2, BATCH)
    comparison = compare_runs(OnnxCapture(model), [npu], open_images(images, COUNT), COUNT, BATCH, quiet=True)
    run = comparison.runs[0]
    assert run.info.precision == "fp16" and not run.isolates
    assert run.verdicts["accumulated"].layer == "block3.layer.0.conv2"
    assert "relative Euclidean distance 0.5" in run.verdicts["accumulated"].reason
    assert run.status("conv1") == "fused into block1.layer.0/Relu"
    assert run.status("block1.layer.0.conv2") == "not exposed"
    for layer in ("block1.layer.0/Relu", "block2.layer.0.conv2", "fc"):
        assert run.stats["accumulated"][layer].sqnr_db > 50          # fp16 rounding, nothing else
    assert run.tensors["block1.layer.0/Relu"] == "conv1_relu"


def test_without_the_onnx_model_the_layer_names_come_from_the_jsons_node_names(reference, tmp_path):
    _, model, _, outputs, _ = reference
    dump = write_dump(tmp_path / "dump", outputs)
    dumped = {name for _, _, originals in OPS for name in originals}
    others = [(n.name, n.op_type, [n.name]) for n in onnx.load(str(model)).graph.node if n.name not in dumped]
    npu = NpuDumpCapture(dump, write_om_json(tmp_path / "genet.json", OPS + others))
    assert [layer.name for layer in npu.layers] == LAYERS


def test_a_dump_needs_its_json_and_a_json_that_maps_it(reference, tmp_path):
    _, _, _, outputs, _ = reference
    dump = write_dump(tmp_path / "dump", outputs)
    with pytest.raises(GenetError, match="needs ATC's JSON"):
        NpuDumpCapture(dump, None)
    other = write_om_json(tmp_path / "other.json", [("resnet_conv", "Conv2D", ["conv0"])])
    with pytest.raises(GenetError, match="the JSON is not the dumped .om's"):
        NpuDumpCapture(dump, other)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenetError, match="holds no NPU dump files"):
        NpuDumpCapture(tmp_path / "empty", other)
