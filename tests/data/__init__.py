"""Tests of genet.data: the CIFAR-10 reader, the generated data set, preprocess.py and what it does on faults."""
