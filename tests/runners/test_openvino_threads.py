"""OpenVINO --threads it would not run are refused, not silently lowered."""

from __future__ import annotations

import pytest

from genet.core.errors import GenetError
from genet.runners import RunnerOptions, open_runner
from tests.runner_helpers import tiny_onnx

pytest.importorskip("openvino", reason="the openvino package is not installed (pip install genet[openvino])")


def test_more_threads_than_cores_are_refused(tmp_path):
    from genet.runners.openvino import usable_cpus

    model = tiny_onnx(tmp_path / "t1.onnx")
    asked = usable_cpus() + 1
    with pytest.raises(GenetError, match=f"not --threads {asked}"):
        open_runner(model, "openvino", RunnerOptions(threads=asked))
