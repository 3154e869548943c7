"""Static int8 quantization of a GENet ONNX export, and the check of what it costs in accuracy.

The fp32 model is calibrated on images of the *training* split (never the test split), which
are preprocessed exactly as ``preprocess.py`` does (``genet.data.preprocess.normalize``); ONNX
Runtime's ``quantize_static`` then writes a QDQ model with per-channel weights (opset 13, the
first that has per-channel QuantizeLinear). The int8 model is checked against the fp32 one on
held-out test images: top-1 of each against the labels, top-1 agreement between the two and the
largest absolute difference of their logits. Below ``min_agreement`` nothing is written unless
``keep_below`` says so; the model and its JSON report appear together or not at all.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import onnx

from genet.core.console import Log, progress_bar
from genet.core.constants import CHANNELS, IMAGE_SIZE, NUM_CLASSES, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME
from genet.core.cpuinfo import this_cpu
from genet.core.errors import GenetError, first_line
from genet.core.fsio import JSON_FILE, ONNX_MODEL, atomic_files, check_output_file
from genet.data.cifar import load_split
from genet.data.preprocess import normalize
from genet.formats.quantize_report import is_quantize_report, quantize_report_path
from genet.runners import RunnerOptions, open_runner
from genet.runners.onnxrt import QUANTIZED_OPS

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
CALIBRATION_SPLITS = ("train", "test")
PER_CHANNEL_OPSET = 13          # per-channel QuantizeLinear/DequantizeLinear (axis) appeared in opset 13
CALIBRATION_BATCH = 32          # images per calibration call on a dynamic-batch model, at most
CHECK_BATCH = 64                # images per call of the held-out check


@dataclass(frozen=True)
class QuantizeSettings:
    """How to calibrate and when to accept the int8 model; every value is checked here, once."""

    calib: int = 300                    # training images for calibration
    method: str = "minmax"
    calib_split: str = "train"
    check: int = 1000                   # held-out test images for the fp32 / int8 comparison
    min_agreement: float = 99.0         # percent of top-1 agreement below which the model is refused
    keep_below: bool = False
    check_at_most: bool = False         # ``check`` is a default: fewer when the test split holds fewer
    reduce_range: bool = True           # 7-bit weights: the same int8 logits on every x86 CPU (docs/int8.md)

    def __post_init__(self) -> None:
        if self.calib < 1:
            raise GenetError(f"--calib must be ≥ 1 image, got {self.calib}")
        if self.check < 1:
            raise GenetError(f"--check must be ≥ 1 image, got {self.check}: the accuracy check is the product")
        if self.method not in CALIBRATION_METHODS:
            raise GenetError(f"--calib-method {self.method}: choose from {', '.join(CALIBRATION_METHODS)}")
        if self.calib_split == "test":
            raise GenetError("--calib-split test: calibrating on the test split would score the int8 model on "
                             "images it was tuned on; calibrate on the training split (train)")
        if self.calib_split not in CALIBRATION_SPLITS:
            raise GenetError(f"--calib-split {self.calib_split}: only train")
        if not 0.0 <= self.min_agreement <= 100.0:
            raise GenetError(f"--min-agreement must be a percentage in [0, 100], got {self.min_agreement}")


@dataclass(frozen=True)
class CheckResult:
    """fp32 against int8 on the same held-out images (percentages and the largest |Δ| of the logits)."""

    images: int
    top1_fp32: float
    top1_int8: float
    agreement: float
    max_abs_diff: float
    generated: bool = False     # the images carry genet.data.synthetic's mark: NOT CIFAR-10
    cpu: str = ""               # the CPU the check ran on, with its instruction set (genet.core.cpuinfo)
    int8_path: str = ""         # ONNX Runtime's u8s8 kernels there: avx2, avx512, avx512_vnni, avx_vnni, amx, ...
    u8s8_may_saturate: bool = False     # x86 without VNNI/AMX: another CPU can give other int8 logits

    def lines(self) -> list[str]:
        data = " (GENERATED DATA, not CIFAR-10: top-1 figures are not CIFAR-10 accuracies)" if self.generated else ""
        lines = [f"held-out test images: {self.images}{data}",
                 f"top-1 fp32: {self.top1_fp32:.2f}%",
                 f"top-1 int8: {self.top1_int8:.2f}%  ({self.top1_int8 - self.top1_fp32:+.2f} points)",
                 f"top-1 agreement int8 vs fp32: {self.agreement:.2f}%",
                 f"max |Δ| logits: {self.max_abs_diff:.4g}"]
        if self.cpu:
            saturation = ("can saturate (x86 without VNNI)" if self.u8s8_may_saturate else "cannot saturate")
            lines.append(f"checked on: {self.cpu}; ONNX Runtime int8 path {self.int8_path}, its u8s8 sums "
                         f"{saturation}")
        return lines


class BelowThreshold(GenetError):
    """The int8 model disagrees with the fp32 one too often (or gave non-finite logits): nothing written."""

    exit_code = 1

    def __init__(self, check: CheckResult, settings: QuantizeSettings, output: Path):
        super().__init__(f"{output}: int8 top-1 agreement {check.agreement:.2f}% is below --min-agreement "
                         f"{settings.min_agreement:.2f}% (max |Δ| logits {check.max_abs_diff:.4g}): nothing "
                         f"written (--keep-below keeps it)")
        self.check = check


def is_quantized(model: onnx.ModelProto) -> bool:
    """True when the graph holds quantization ops (QDQ pairs, QLinear*, integer convolutions)."""
    return any(node.op_type in QUANTIZED_OPS for node in model.graph.node)


def _dims(value_info: onnx.ValueInfoProto) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in value_info.type.tensor_type.shape.dim]


def check_genet_onnx(model: onnx.ModelProto, where: Path) -> int | None:
    """Refuse anything but a float GENet export; returns its static batch size (None when dynamic).

    A GENet export has one float input 'image' N×3×32×32 and one output 'class' N×10; only the
    batch axis may be dynamic (the calibrator feeds whole images and cannot guess a height).
    """
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    outputs = list(model.graph.output)
    if [i.name for i in inputs] != [ONNX_INPUT_NAME] or [o.name for o in outputs] != [ONNX_OUTPUT_NAME]:
        raise GenetError(f"{where}: not a GENet export: inputs {[i.name for i in inputs]}, outputs "
                         f"{[o.name for o in outputs]} (expected '{ONNX_INPUT_NAME}' and '{ONNX_OUTPUT_NAME}', "
                         f"as pthtar2onnx.py writes)")
    if is_quantized(model):
        raise GenetError(f"{where}: already quantized (holds "
                         f"{', '.join(sorted({n.op_type for n in model.graph.node} & QUANTIZED_OPS))}); "
                         f"give the fp32 model")
    if inputs[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise GenetError(f"{where}: input '{ONNX_INPUT_NAME}' is not float32; give the fp32 export")
    dims = _dims(inputs[0])
    if len(dims) != 4 or dims[1:] != [CHANNELS, IMAGE_SIZE, IMAGE_SIZE]:
        shown = "×".join("?" if d is None else str(d) for d in dims)
        raise GenetError(f"{where}: input '{ONNX_INPUT_NAME}' is {shown}, expected N×{CHANNELS}×{IMAGE_SIZE}×"
                         f"{IMAGE_SIZE} with only the batch axis dynamic (the calibrator cannot handle other "
                         f"dynamic axes; export with pthtar2onnx.py)")
    out_dims = _dims(outputs[0])
    if len(out_dims) != 2 or out_dims[1] not in (None, NUM_CLASSES):
        raise GenetError(f"{where}: output '{ONNX_OUTPUT_NAME}' has shape {out_dims}, expected N×{NUM_CLASSES}")
    check_finite_weights(model, where)
    return dims[0]


def check_finite_weights(model: onnx.ModelProto, where: Path) -> None:
    """Refuse weights holding NaN or Inf: the calibrator cannot give them a scale."""
    from onnx import numpy_helper

    for init in model.graph.initializer:
        values = numpy_helper.to_array(init)
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise GenetError(f"{where}: weight '{init.name}' holds NaN or Inf; give a model with finite weights")


def load_fp32_model(path: str | os.PathLike) -> tuple[onnx.ModelProto, int | None]:
    """The checked fp32 GENet model at opset ≥ 13 (converted in memory), and its static batch size."""
    path = Path(path)
    if not path.is_file():
        raise GenetError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:        # protobuf's DecodeError and friends
        raise GenetError(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    batch = check_genet_onnx(model, path)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < PER_CHANNEL_OPSET:
        from onnx import version_converter

        try:
            model = version_converter.convert_version(model, PER_CHANNEL_OPSET)
        except Exception as exc:    # the converter raises plain RuntimeError / ValueError
            raise GenetError(f"{path}: cannot convert opset {opset} to {PER_CHANNEL_OPSET} for per-channel "
                             f"int8 ({first_line(exc)}); re-export with --opset 13") from None
    return model, batch


def calibration_images(datasets_path: str | os.PathLike, settings: QuantizeSettings, log: Log) -> np.ndarray:
    """The first ``settings.calib`` training images, normalized as preprocess.py does."""
    split = load_split(datasets_path, settings.calib_split, log=log)
    if len(split.data) < settings.calib:
        raise GenetError(f"{datasets_path}: the {settings.calib_split} split holds {len(split.data)} images, "
                         f"fewer than --calib {settings.calib}")
    return normalize(split.data[:settings.calib])


def check_images(datasets_path: str | os.PathLike, count: int, log: Log,
                 at_most: bool = False) -> tuple[np.ndarray, np.ndarray, bool]:
    """The first ``count`` test images (normalized), their labels, and whether they are generated data.

    ``at_most``: ``count`` is the default, not asked for: a smaller test split is used whole, with a note.
    """
    split = load_split(datasets_path, "test", log=log)
    if at_most and 0 < len(split.data) < count:
        log(f"note: {datasets_path}: the test split holds {len(split.data)} images; checking on all of them "
            f"(fewer than the default --check {count})")
        count = len(split.data)
    if len(split.data) < count:
        raise GenetError(f"{datasets_path}: the test split holds {len(split.data)} images, fewer than --check {count}")
    return normalize(split.data[:count]), np.asarray(split.labels[:count]), split.generated


def _batches(images: np.ndarray, batch: int):
    for start in range(0, len(images), batch):
        yield images[start:start + batch]


def calibration_batch(count: int, static_batch: int | None) -> int:
    """Images per calibration call: the static batch, else the largest divisor of ``count`` up to 32.

    Every call gets the same number of images: the entropy and percentile calibrators stack the
    activations of all calls into one array and fail on a smaller last batch.
    """
    if static_batch:
        return static_batch
    return max(size for size in range(1, CALIBRATION_BATCH + 1) if count % size == 0)


class _Calibration:
    """ONNX Runtime's CalibrationDataReader protocol over an array of images."""

    def __init__(self, images: np.ndarray, batch: int):
        self._batches = _batches(images, batch)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {ONNX_INPUT_NAME: batch}


def quantize_static_int8(model: onnx.ModelProto, output: Path, images: np.ndarray, method: str,
                         static_batch: int | None, reduce_range: bool = True) -> None:
    """Calibrate on ``images`` and write the QDQ int8 model (per-channel int8 weights, uint8 activations).

    ``reduce_range``: weights in 7 bits ([-64, 64]), so that two u8×s8 products never overflow the
    16-bit sums of the x86 kernels without VNNI (docs/int8.md has the measured cost and gain).

    ONNX Runtime's pre-processing (shape inference, constant folding) comes first, and activations
    are uint8 with int8 weights (U8S8): WRN-16-8 at batch 16 ran 2.7x faster pre-processed than not,
    and U8S8 3.7x faster than S8S8, which was no faster than fp32 (benchmarks/int8_variants.py and
    its output in benchmarks/results/).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    # The pre-processed model and the calibrator's augmented one live in a folder of their own.
    with tempfile.TemporaryDirectory(prefix="genet-quantize-") as scratch, _quiet_quantizer():
        source, prepared = Path(scratch) / "fp32.onnx", Path(scratch) / "fp32_prepared.onnx"
        onnx.save(model, str(source))
        quant_pre_process(str(source), str(prepared))
        quantize_static(str(prepared), str(output), _Calibration(images, calibration_batch(len(images), static_batch)),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=methods[method], reduce_range=reduce_range)


@contextlib.contextmanager
def _quiet_quantizer():
    """ONNX Runtime's quantizer logs notes (BN weights, pre-processing) to the root logger and its
    histogram calibrators print progress to stdout, which holds only results here: both silenced."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def _logits(model_path: Path, images: np.ndarray, static_batch: int | None, bar) -> np.ndarray:
    batch = static_batch or CHECK_BATCH
    rows = []
    with open_runner(model_path, "onnxruntime", RunnerOptions(device="cpu")) as runner:
        for part in _batches(images, batch):
            count = len(part)
            if static_batch and count < batch:      # a static-batch model takes whole batches only
                part = np.concatenate([part, np.zeros((batch - count, *part.shape[1:]), part.dtype)])
            rows.append(runner.run(part)[:count])
            bar.update(count)
    return np.concatenate(rows)


def compare_models(fp32_path: Path, int8_path: Path, images: np.ndarray, labels: np.ndarray,
                   static_batch: int | None, quiet: bool = False) -> CheckResult:
    """Both models over the same images: top-1 of each, their agreement and the largest |Δ| of the logits."""
    with progress_bar(len(images), "check: fp32", quiet) as bar:      # each bar counts the images
        fp32 = _logits(fp32_path, images, static_batch, bar)
    with progress_bar(len(images), "check: int8", quiet) as bar:
        int8 = _logits(int8_path, images, static_batch, bar)
    finite = bool(np.isfinite(fp32).all() and np.isfinite(int8).all())
    top_fp32, top_int8 = fp32.argmax(1), int8.argmax(1)
    cpu = this_cpu()
    return CheckResult(
        cpu=cpu.label(), int8_path=cpu.int8_path, u8s8_may_saturate=cpu.u8s8_may_saturate,
        images=len(images),
        top1_fp32=100.0 * float((top_fp32 == labels).mean()),
        top1_int8=100.0 * float((top_int8 == labels).mean()),
        agreement=100.0 * float((top_fp32 == top_int8).mean()),
        max_abs_diff=float(np.abs(fp32 - int8).max()) if finite else math.nan)


def passes(check: CheckResult, settings: QuantizeSettings) -> bool:
    """Agreement at or above the threshold, and finite logits (NaN fails)."""
    return check.agreement >= settings.min_agreement and math.isfinite(check.max_abs_diff)


def is_report(path: Path) -> bool:
    """A quantize.py report: the JSON beside the model is implied, not named, so only ours is replaced."""
    try:
        return is_quantize_report(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return False


def model_opset(path: str | os.PathLike) -> int:
    """The default-domain opset an ONNX file is written at."""
    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def report(source: Path, datasets_path: str | os.PathLike, settings: QuantizeSettings, check: CheckResult,
           passed: bool, opset: int = PER_CHANNEL_OPSET) -> dict:
    import onnxruntime as ort

    return {
        "model_fp32": str(source),
        "datasets_path": str(datasets_path),
        "format": "QDQ", "activations": "uint8 per-tensor",
        "weights": "int8 per-channel" + (", 7-bit range (--reduce-range)" if settings.reduce_range else ""),
        "reduce_range": settings.reduce_range,
        "opset": opset,
        "calibration": {"split": settings.calib_split, "images": settings.calib, "method": settings.method},
        "check": {"split": "test", **asdict(check)},
        "data": "GENERATED (genet.data.synthetic, NOT CIFAR-10)" if check.generated else "as given",
        "min_agreement": settings.min_agreement,
        "passed": passed,
        "onnxruntime": ort.__version__,
    }


def quantize_model(source: str | os.PathLike, datasets_path: str | os.PathLike, output: str | os.PathLike,
                   settings: QuantizeSettings = QuantizeSettings(), log: Log = print,
                   quiet: bool = False, named: bool = True) -> tuple[CheckResult, bool]:
    """fp32 GENet ONNX → int8 ONNX at ``output`` plus its JSON report; returns the check and whether it passed.

    Below ``settings.min_agreement`` (or with non-finite logits) nothing is written and
    BelowThreshold is raised, unless ``settings.keep_below``. Bad input raises GenetError before
    anything is written.
    """
    source, output = Path(source), Path(output)
    if output.suffix != ".onnx":
        raise GenetError(f"{output}: the int8 model's name must end in .onnx (benchmark.py picks the backend by it)")
    check_output_file(output, ONNX_MODEL, inputs=[source, datasets_path], named=named,
                      ours=lambda path: is_report(quantize_report_path(path)), ours_what="quantize.py's model")
    check_output_file(quantize_report_path(output), JSON_FILE, inputs=[source], named=False, ours=is_report,
                      ours_what="a quantize.py report")
    model, static_batch = load_fp32_model(source)
    if static_batch and settings.calib % static_batch:
        raise GenetError(f"{source}: --calib {settings.calib} is not a multiple of the model's static batch "
                         f"{static_batch}: give a multiple, or export with a dynamic batch")
    calibration = calibration_images(datasets_path, settings, log)
    held_out, labels, generated = check_images(datasets_path, settings.check, log, settings.check_at_most)
    with atomic_files([output, quantize_report_path(output)], [".onnx", ".json"]) as (model_tmp, json_tmp):
        log(f"calibrating on {settings.calib} {settings.calib_split} images ({settings.method}"
            f"{', 7-bit weights' if settings.reduce_range else ''})")
        quantize_static_int8(model, model_tmp, calibration, settings.method, static_batch, settings.reduce_range)
        check = replace(compare_models(source, model_tmp, held_out, labels, static_batch, quiet),
                        generated=generated)
        passed = passes(check, settings)
        if not passed and not settings.keep_below:
            raise BelowThreshold(check, settings, output)     # the temporary files are removed
        payload = report(source, datasets_path, settings, check, passed, model_opset(model_tmp))
        json_tmp.write_text(json.dumps(payload, indent=2) + "\n")
    return check, passed
