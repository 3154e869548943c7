#!/usr/bin/env python3
"""``python3 train.py <datasets_path> [--output genet.pth.tar]``: a quick GENet for the pipeline. See --help."""
from genet.core.launch import launch

if __name__ == "__main__":
    launch("genet.cli.train")
