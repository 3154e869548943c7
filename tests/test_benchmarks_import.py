"""The scripts under benchmarks/ still import what they use: a rename in genet breaks none of them silently
(they run by hand, rarely, so nothing else would notice)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

LOAD_EACH = """
import os, runpy, sys
for path in sys.argv[1:]:
    sys.path.insert(0, os.path.dirname(path))                   # as `python3 benchmarks/x.py` has it
    runpy.run_path(path, run_name="benchmark_import_check")     # not __main__: defines, runs nothing
"""


def test_every_benchmark_script_imports():
    scripts = sorted(str(path) for path in (REPO / "benchmarks").glob("*.py"))
    assert len(scripts) >= 10
    done = subprocess.run([sys.executable, "-c", LOAD_EACH, *scripts], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
