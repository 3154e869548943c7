"""genet: offline inference for GENet (Gather-Excite WideResNets) on CIFAR-10.

The top-level scripts of the repository (preprocess.py, get_info.py, pthtar2onnx.py,
benchmark.py, cifar10_acc_eval.py, ...) are thin command-line front ends over this package.
"""

__version__ = "0.1.0"
