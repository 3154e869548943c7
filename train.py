#!/usr/bin/env python3
"""``python3 train.py <datasets_path> [--output genet.pth.tar]``: a quick GENet for the pipeline. See --help."""
from genet.cli.train import run

if __name__ == "__main__":
    run()
