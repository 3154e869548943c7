"""Ascend backend: an ATC-converted ``.om`` model through the ``ais_bench`` Python API.

Needs an Ascend host with CANN and the ``ais_bench`` + ``aclruntime`` wheels
(``from ais_bench.infer.interface import InferSession``). An .om has a fixed input shape
(one model per batch size, as the seed converts them), so the last partial batch is padded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genet.core.errors import GenetError
from genet.runners.base import CallTimes, Runner, RunnerOptions, base_versions, static_shape

NEEDS_ASCEND = ("runs only on an Ascend host with CANN and the ais_bench Python package "
                "(ais_bench + aclruntime wheels); here, run the .onnx model (ONNX Runtime) or the .pth.tar "
                "checkpoint (PyTorch) instead")


def _import_infer_session():
    try:
        from ais_bench.infer.interface import InferSession
    except ImportError:
        return None
    return InferSession


class AscendRunner(Runner):
    name = "ascend"
    OPTIONS = frozenset()

    def __init__(self, model_path: Path, options: RunnerOptions):
        super().__init__(model_path, options)
        infer_session = _import_infer_session()
        if infer_session is None:
            raise GenetError(f"{model_path}: an .om model {NEEDS_ASCEND}")
        try:
            self._session = infer_session(options.device_id, str(model_path))
        except Exception as exc:     # aclruntime reports load failures as RuntimeError or its own types
            raise GenetError(f"{model_path}: ais_bench cannot load the model on device "
                             f"{options.device_id} ({str(exc).strip()[:200]})") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise GenetError(f"{model_path}: expected one N×C×H×W image input, found "
                             f"{[(i.name, list(i.shape)) for i in inputs]}")
        self._input_shape = static_shape(inputs[0].shape)

    @property
    def device_name(self) -> str:
        return f"Ascend NPU device {self.options.device_id}"

    def versions(self) -> dict[str, str]:
        from importlib.metadata import PackageNotFoundError, version

        found = base_versions()
        for package in ("ais_bench", "aclruntime"):
            try:
                found[package] = version(package)
            except PackageNotFoundError:
                found[package] = "unknown"
        return found

    def _last_compute_ms(self) -> float:
        # Older ais_bench releases spell the method "sumary".
        summary = getattr(self._session, "summary", None) or self._session.sumary
        return float(summary().exec_time_list[-1])

    def run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, CallTimes]:
        outputs = self._session.infer([np.ascontiguousarray(batch)], mode="static")
        logits = np.asarray(outputs[0]).reshape(len(batch), -1)
        return self.check_logits(logits, len(batch)), CallTimes(self._last_compute_ms() / 1000.0)

    def profiler(self):
        raise GenetError(f"{self.model_path}: genet does not profile an .om itself: run ais_bench with --profiler 1 "
                         f"(msprof), then read its op_summary_*.csv with test/parse.py profile "
                         f"(--atc-json the model's atc --mode=1 JSON for layer names)")

    def close(self) -> None:
        session, self._session = getattr(self, "_session", None), None
        if session is not None and hasattr(session, "free_resource"):
            session.free_resource()
