"""Small models and generated inputs for the runner tests (random data, not CIFAR-10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from genet.convert.export import export_onnx, onnx_session
from genet.formats.dumps import dump_name, read_dump
from genet.formats.info import InfoEntry, write_info

SHAPE = (3, 32, 32)


class TinyNet(nn.Module):
    """conv → ReLU → global average pool → linear: milliseconds per thousand images."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1).flatten(1))


def tiny_onnx(path: Path, batch_size: int | None = None, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    export_onnx(TinyNet(), path, batch_size=batch_size)
    return path


LEADING_CLASS = 3          # the class a separated model answers for every image
LEAD = 4.0                 # its lead over the next logit, before the (small) image-dependent part


def separated_onnx(path: Path, batch_size: int | None = None, seed: int = 0, opset: int | None = None) -> Path:
    """A TinyNet whose top-1 is LEADING_CLASS on every input by about LEAD logits.

    int8 logits differ from fp32 by amounts that depend on the CPU's int8 kernels: ONNX Runtime's
    u8s8 kernels can saturate on x86 CPUs without VNNI (AVX2, AVX-512 without VNNI), so an untrained
    TinyNet, whose top two logits are often a few thousandths apart, agreed on 94 % of 100 images on
    an AVX2-only CPU and on 100 % on an AVX-512 VNNI one. Here the bias puts one class about LEAD
    logits ahead (at least 3.2 on the tests' generated images), while int8 moved no logit by more
    than 0.12 on either CPU (0.1065 on AVX-512 VNNI, 0.1186 on AVX2 emulated by qemu -cpu Haswell):
    the int8 model agrees with fp32 on every image on any CPU. Tests that need quantize.py's gate
    to pass use it; the gate itself is tested with fake checks.
    """
    torch.manual_seed(seed)
    net = TinyNet()
    with torch.no_grad():
        net.fc.bias.zero_()
        net.fc.bias[LEADING_CLASS] = LEAD
    kwargs = {} if opset is None else {"opset": opset}
    export_onnx(net, path, batch_size=batch_size, **kwargs)
    return path


def write_bins(folder: Path, count: int, seed: int = 0, info_name: str = "prep_bin.info",
               relative_to: Path | None = None) -> tuple[Path, np.ndarray]:
    """``count`` random 3×32×32 float32 .bin files (00000.bin, ...) and their info file.

    Paths in the info file are absolute, or ``./``-relative to ``relative_to`` when given
    (as get_info.py writes them).
    """
    data = folder / "prep_dataset"
    data.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(seed).standard_normal((count, *SHAPE), dtype=np.float32)
    entries = []
    for i, image in enumerate(images):
        path = data / f"{i:05d}.bin"
        image.tofile(path)
        shown = f"./{path.relative_to(relative_to)}" if relative_to else str(path)
        entries.append(InfoEntry(i, shown, SHAPE[2], SHAPE[1]))
    info = folder / info_name
    write_info(info, entries)
    return info, images


def direct_onnx(path: Path, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Logits from a plain ONNX Runtime session, batch by batch (a static model gets zero padding)."""
    session = onnx_session(path)
    static = session.get_inputs()[0].shape[0]
    rows = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        real = len(batch)
        if isinstance(static, int) and real < static:
            batch = np.concatenate([batch, np.zeros((static - real, *SHAPE), np.float32)])
        rows.append(session.run(["class"], {"image": batch})[0][:real])
    return np.concatenate(rows)


def read_dumps(folder: Path, count: int, binary: bool = False) -> np.ndarray:
    """The dumps of images 00000 .. count-1, through the project's own reader."""
    return np.array([read_dump(folder / dump_name(f"{i:05d}", binary)) for i in range(count)])


def chain_model(batch: int | str = "batch") -> onnx.ModelProto:
    """A hand-built graph named as the exporter names nodes (conv1 → bn → Relu → conv2 → Relu_1 → pool → fc).

    Its layers: conv1, bn, Relu, conv2, Relu_1, GlobalAveragePool, Flatten, fc; 3×8×8 inputs, 10 classes.
    """
    rng = np.random.default_rng(0)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight"], ["/conv1/Conv_output_0"], "/conv1/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["/conv1/Conv_output_0", "bn.weight", "bn.bias", "bn.mean", "bn.var"],
                         ["/bn/BatchNormalization_output_0"], "/bn/BatchNormalization"),
        helper.make_node("Relu", ["/bn/BatchNormalization_output_0"], ["/Relu_output_0"], "/Relu"),
        helper.make_node("Conv", ["/Relu_output_0", "conv2.weight"], ["/conv2/Conv_output_0"], "/conv2/Conv",
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["/conv2/Conv_output_0"], ["/Relu_1_output_0"], "/Relu_1"),
        helper.make_node("GlobalAveragePool", ["/Relu_1_output_0"], ["/GlobalAveragePool_output_0"],
                         "/GlobalAveragePool"),
        helper.make_node("Flatten", ["/GlobalAveragePool_output_0"], ["/Flatten_output_0"], "/Flatten"),
        helper.make_node("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["class"], "/fc/Gemm", transB=1),
    ]
    inits = [weight("conv1.weight", 4, 3, 3, 3), weight("bn.weight", 4), weight("bn.bias", 4), weight("bn.mean", 4),
             numpy_helper.from_array(np.ones(4, np.float32), "bn.var"), weight("conv2.weight", 4, 4, 3, 3),
             weight("fc.weight", 10, 4), weight("fc.bias", 10)]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                                            [batch, 3, 8, 8])],
                              [helper.make_tensor_value_info("class", TensorProto.FLOAT, [batch, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
