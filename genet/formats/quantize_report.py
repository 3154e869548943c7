"""quantize.py's report ``genet_int8.json``, beside the int8 model it describes (docs/int8.md).

Written by genet.convert.quantize; read here (the demo's summary quotes it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from genet.core.errors import GenetError

REPORT_KEYS = frozenset({"calibration", "check", "passed"})     # what makes a JSON one of these reports


def quantize_report_path(model_path: str | os.PathLike) -> Path:
    """``genet_int8.onnx`` → ``genet_int8.json``: the check's figures beside the model."""
    return Path(model_path).with_suffix(".json")


@dataclass
class QuantizeReport:
    path: str
    check_images: int           # test images the int8 model was checked on against fp32
    agreement: float            # top-1 agreement with fp32, %
    passed: bool                # at or above the threshold (else kept only with --keep-below)
    cpu: str | None = None      # the CPU the check ran on, with its instruction set (None: an older report)
    int8_path: str | None = None    # ONNX Runtime's u8s8 kernels there (avx2, avx512_vnni, amx, ...)
    u8s8_may_saturate: bool | None = None
    reduce_range: bool = False  # 7-bit weights (--reduce-range)

    def checked_on(self) -> str:
        """'CPU: AMD EPYC (2 cores, AVX2), int8 path avx2' ('' for a report that does not say)."""
        return f"{self.cpu}, int8 path {self.int8_path}" if self.cpu and self.int8_path else ""


def is_quantize_report(data: object) -> bool:
    return isinstance(data, dict) and REPORT_KEYS <= data.keys()


def parse_quantize_report(path: str | os.PathLike, data: dict) -> QuantizeReport:
    try:
        check = data["check"]
        saturate = check.get("u8s8_may_saturate")
        return QuantizeReport(str(path), int(check["images"]), float(check["agreement"]), bool(data["passed"]),
                              cpu=str(check["cpu"]) if check.get("cpu") else None,
                              int8_path=str(check["int8_path"]) if check.get("int8_path") else None,
                              u8s8_may_saturate=None if saturate is None else bool(saturate),
                              reduce_range=bool(data.get("reduce_range", False)))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GenetError(f"{Path(path)}: not quantize.py's report ({exc})") from None
