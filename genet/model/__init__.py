"""Step 4.1, the PyTorch model: the network (`network`), which variant a checkpoint holds (`variant`), loading and
saving checkpoints (`checkpoint`), BatchNorm folding (`fold`) and the small trainer (`train`). It may import core,
formats and data.
"""
