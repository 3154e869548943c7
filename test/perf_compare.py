"""The guide's device comparison table (section 7.4); see genet.cli.perf_compare."""

import os
import sys

# Run as `python3 test/perf_compare.py ...` from the repository root, with or without genet installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from genet.core.launch import launch  # noqa: E402

if __name__ == "__main__":
    launch("genet.cli.perf_compare")
