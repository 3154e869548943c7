"""Test stand-in for Huawei's ais_bench package (its ``infer.interface.InferSession`` only); see ../../stub_tools.py."""
