"""Inference backends behind one interface: ONNX Runtime, PyTorch, Ascend (ais_bench), OpenVINO (optional)."""

from genet.runners.base import (
                   BACKENDS,
                   DEVICES,
                   GRAPH_OPT_LEVELS,
                   PRECISIONS,
                   CallTimes,
                   Runner,
                   RunnerOptions,
                   backend_for,
                   open_runner,
)

__all__ = ["BACKENDS", "DEVICES", "GRAPH_OPT_LEVELS", "PRECISIONS", "CallTimes", "Runner", "RunnerOptions",
           "backend_for", "open_runner"]
