"""benchmark.py on an int8 model: a warning when this CPU's int8 kernels are not those quantize.py checked it on.

quantize.py's report (``genet_int8.json`` beside the model) records the CPU of its accuracy check and
ONNX Runtime's u8s8 path there (genet.core.cpuinfo). On x86 without VNNI those kernels sum pairs of
products in 16 bits and can saturate, with VNNI or AMX they cannot: the same QDQ file can give other
logits, and so another accuracy, on a CPU of the other kind, unless its weights are 7-bit (quantize.py's
default, ``reduce_range``). One line, once per model and process.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from genet.core.cpuinfo import CpuInfo, this_cpu
from genet.core.errors import GenetError
from genet.formats.quantize_report import is_quantize_report, parse_quantize_report, quantize_report_path

_warned: set[str] = set()


def other_int8_path(model_path: str | os.PathLike, backend: str, precision: str, device: str,
                    cpu: CpuInfo | None = None) -> str | None:
    """The warning for an int8 ONNX Runtime run on a CPU whose u8s8 kernels saturate where the check's did
    not (or the reverse); None when they agree, or when nothing says where the check ran."""
    if backend != "onnxruntime" or precision != "int8" or not device.startswith("CPU"):
        return None
    report_path = quantize_report_path(model_path)
    try:
        data = json.loads(report_path.read_text(encoding="utf-8"))
        report = parse_quantize_report(report_path, data) if is_quantize_report(data) else None
    except (OSError, ValueError, GenetError):
        return None
    if report is None or report.u8s8_may_saturate is None or not report.cpu or report.reduce_range:
        return None         # 7-bit weights: no u8s8 sum saturates, the logits are the same on every x86 CPU
    cpu = cpu or this_cpu()
    if report.u8s8_may_saturate == cpu.u8s8_may_saturate:
        return None
    kind = {True: "sum u8s8 products in 16 bits and can saturate (x86 without VNNI)",
            False: "do not saturate (VNNI/AMX)"}
    return (f"warning: {report_path} checked {Path(model_path).name} on {report.cpu}, whose ONNX Runtime int8 "
            f"kernels ({report.int8_path}) {kind[report.u8s8_may_saturate]}; this {cpu.label()} takes the "
            f"{cpu.int8_path} kernels, which {kind[cpu.u8s8_may_saturate]}: its logits can differ from those "
            f"checked; compare this run's outputs with the fp32 model's with compare_outputs.py")


def warn_other_int8_path(model_path: str | os.PathLike, backend: str, precision: str, device: str) -> None:
    """Print other_int8_path's warning to stderr, once per model in this process (a sweep runs many sizes)."""
    key = str(Path(model_path).resolve())
    if key in _warned:
        return
    warning = other_int8_path(model_path, backend, precision, device)
    if warning:
        _warned.add(key)
        print(warning, file=sys.stderr, flush=True)
