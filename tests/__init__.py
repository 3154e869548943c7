"""genet's test suite: one folder per package folder (tests/core mirrors genet/core, …), end-to-end runs of the
scripts and the demo in tests/pipelines. Shared fixtures are in conftest.py; helpers are imported by package name
(``from tests.runner_helpers import tiny_onnx``). docs/testing.md
"""
