#!/usr/bin/env python3
"""Seed step 4.2: ``python3 pthtar2onnx.py ${model_path}`` writes genet_gpu.onnx. See --help."""
from genet.cli.pthtar2onnx import run

if __name__ == "__main__":
    run()
