"""Tests of genet.layers: one layer name per node for every run."""
