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


def is_quantize_report(data: object) -> bool:
    return isinstance(data, dict) and REPORT_KEYS <= data.keys()


def parse_quantize_report(path: str | os.PathLike, data: dict) -> QuantizeReport:
    try:
        check = data["check"]
        return QuantizeReport(str(path), int(check["images"]), float(check["agreement"]), bool(data["passed"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise GenetError(f"{Path(path)}: not quantize.py's report ({exc})") from None
