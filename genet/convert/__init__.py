"""Step 4.2, the model files for inference: checkpoint → ONNX with its check (`export`) and the int8 twin with its
accuracy cost (`quantize`). It may import core, formats, data, model and runners (quantize checks with a runner).
"""
