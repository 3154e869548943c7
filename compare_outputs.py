#!/usr/bin/env python3
"""Compare two runs' dumps (max abs/rel difference, top-1/top-5 agreement). See --help."""
from genet.core.launch import launch

if __name__ == "__main__":
    launch("genet.cli.compare_outputs")
