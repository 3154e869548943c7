#!/usr/bin/env python3
"""Front end of genet.cli.benchmark: the seed's benchmark.x86_64 command line on ONNX Runtime / PyTorch / Ascend."""

from genet.cli.benchmark import run

if __name__ == "__main__":
    run()
