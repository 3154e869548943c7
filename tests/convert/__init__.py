"""Tests of genet.convert: ONNX export (pthtar2onnx.py) and int8 quantization (quantize.py)."""
