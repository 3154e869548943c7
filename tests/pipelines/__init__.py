"""Whole pipelines: the test/*.sh scripts against the stub tools, and the demo end to end (subprocesses)."""
