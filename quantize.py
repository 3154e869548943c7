#!/usr/bin/env python3
"""int8: ``python3 quantize.py genet_gpu.onnx ${datasets_path} -o genet_int8.onnx``. See --help."""
from genet.core.launch import launch

if __name__ == "__main__":
    launch("genet.cli.quantize")
