"""Tests of genet.model: the network, its variants, checkpoints and training."""
