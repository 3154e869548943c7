#!/usr/bin/env python3
"""Why quantize.py pre-processes the model and uses uint8 activations

WRN-16-8 (random-init weights) quantized four ways with ONNX Runtime's ``quantize_static``
(QDQ, per-channel int8 weights, 64 generated calibration images — not CIFAR-10): with and
without ``quant_pre_process`` (shape inference, constant folding) before it, and with uint8
(U8S8) or int8 (S8S8) activations; plus the fp32 model. Each runs in a plain
``InferenceSession`` (two intra-op threads) at batch 16; rounds interleave the five models
and alternate their order; medians printed with the machine and versions.

Run: python3 benchmarks/int8_variants.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnxruntime.quantization import QuantFormat, QuantType, quantize_static  # noqa: E402
from onnxruntime.quantization.shape_inference import quant_pre_process  # noqa: E402

from genet.convert.export import export_onnx  # noqa: E402
from genet.convert.quantize import (  # noqa: E402
    CALIBRATION_BATCH,
    QuantizeSettings,
    _Calibration,
    calibration_images,
    load_fp32_model,
)
from genet.core.cpuinfo import cpu_label  # noqa: E402
from genet.data.synthetic import write_cifar10  # noqa: E402
from genet.model.network import build_model  # noqa: E402
from genet.model.variant import Variant  # noqa: E402

BATCH = 16


def make_models(folder: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    fp32 = folder / "fp32.onnx"
    export_onnx(build_model(Variant(depth=16, width=8)), fp32)
    data = write_cifar10(folder / "datasets", train=64, test=1, seed=0).parent
    images = calibration_images(data, QuantizeSettings(calib=64), log=lambda m: None)
    model, _ = load_fp32_model(fp32)
    raw, prepared = folder / "opset13.onnx", folder / "prepared.onnx"
    onnx.save(model, str(raw))
    quant_pre_process(str(raw), str(prepared))
    files = {"fp32": fp32}
    for source_name, source in (("pre-processed", prepared), ("not pre-processed", raw)):
        for activations, qtype in (("U8S8", QuantType.QUInt8), ("S8S8", QuantType.QInt8)):
            out = folder / f"{source.stem}_{activations}.onnx"
            quantize_static(str(source), str(out), _Calibration(images, CALIBRATION_BATCH),
                            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=qtype,
                            weight_type=QuantType.QInt8)
            files[f"int8 {activations}, {source_name}"] = out
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()
    images = np.random.default_rng(0).standard_normal((BATCH, 3, 32, 32), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="int8-variants-") as scratch:
        files = make_models(Path(scratch))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 2
        ort_models = {name: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                    for name, path in files.items()}
    rates: dict[str, list[float]] = {name: [] for name in ort_models}
    for ort_model in ort_models.values():
        ort_model.run(None, {"image": images})
    for round_index in range(args.rounds):
        order = list(ort_models) if round_index % 2 == 0 else list(reversed(ort_models))
        for name in order:
            calls = 3 if name == "fp32" else 8
            start = time.perf_counter()
            for _ in range(calls):
                ort_models[name].run(None, {"image": images})
            rates[name].append(calls * BATCH / (time.perf_counter() - start))
    print(f"command: python3 benchmarks/int8_variants.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}")
    print(f"machine: {cpu_label()}; load average before {' '.join(f'{x:.2f}' for x in load_before)}, after "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine)")
    print(f"versions: python {platform.python_version()}, onnxruntime {ort.__version__}, torch {torch.__version__}")
    print(f"WRN-16-8, random-init, batch {BATCH}, img/s, medians of {args.rounds} interleaved rounds:")
    for name, values in rates.items():
        print(f"  {name:32s} {statistics.median(values):8.1f}   rounds {[round(v, 1) for v in values]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
