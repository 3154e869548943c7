"""Tests of genet.cli: the command lines (benchmark.py, get_info.py, the demo's step plan), in process."""
