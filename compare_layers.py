#!/usr/bin/env python3
"""Compare runs of one model layer by layer against the first (PyTorch, ONNX, int8, fp16, OpenVINO, NPU). See --help."""
from genet.core.launch import launch

if __name__ == "__main__":
    launch("genet.cli.compare_layers")
