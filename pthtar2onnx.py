#!/usr/bin/env python3
"""The guide's step 4.2: ``python3 pthtar2onnx.py ${model_path}`` writes genet_gpu.onnx. See --help."""
from genet.core.launch import launch

if __name__ == "__main__":
    launch("genet.cli.pthtar2onnx")
