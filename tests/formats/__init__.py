"""Tests of genet.formats: the file formats of docs/formats.md (info, labels, dumps, perf report, packed manifest)."""
