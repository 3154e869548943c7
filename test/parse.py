"""Print the figures of a perf report, trtexec/ais_bench log or accuracy JSON; see genet.cli.parse."""

import os
import sys

# Run as `python3 test/parse.py ...` from the repository root, with or without genet installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from genet.core.launch import launch  # noqa: E402

if __name__ == "__main__":
    launch("genet.cli.parse")
