"""Tests of genet.bench: the run engine, its input sources, batch sweeps, several devices and ais_bench."""
