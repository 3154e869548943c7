"""Test stand-in for ``ais_bench.infer.interface.InferSession``, running a stub .om with ONNX Runtime.

Follows the documented interface: ``InferSession(device_id, model_path)``, ``get_inputs()``,
``infer(feeds, mode="static")`` returning a list of numpy arrays, and ``summary().exec_time_list``
(the compute time of each call, in ms). Each session is recorded like the stub executables.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from stub_tools import record, session  # noqa: E402


class InferSession:
    def __init__(self, device_id: int, model_path: str, acl_json_path: str | None = None, debug: bool = False,
                 loop: int = 1):
        record("ais_bench.InferSession", [f"device_id={device_id}", f"model_path={model_path}"])
        if not str(model_path).endswith(".om") or not Path(model_path).is_file():
            raise RuntimeError(f"load model from file {model_path} failed")
        self._session = session(str(model_path))
        self._times_ms: list[float] = []

    def get_inputs(self):
        return [SimpleNamespace(name=i.name, shape=list(i.shape), datatype="FLOAT32")
                for i in self._session.get_inputs()]

    def infer(self, feeds, mode: str = "static", custom_sizes=100000, out_array: bool = True):
        name = self._session.get_inputs()[0].name
        tick = time.perf_counter()
        outputs = self._session.run(None, {name: feeds[0]})
        self._times_ms.append(1000 * (time.perf_counter() - tick))
        return outputs

    def summary(self):
        return SimpleNamespace(exec_time_list=list(self._times_ms))

    def free_resource(self) -> None:
        self._session = None
