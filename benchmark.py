#!/usr/bin/env python3
"""The guide's step 5: the Ascend benchmark tool's command line on ONNX Runtime / PyTorch / Ascend. See --help."""
from genet.core.launch import launch

if __name__ == "__main__":
    launch("genet.cli.benchmark")
