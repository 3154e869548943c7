"""Per-layer analysis: one name per layer shared by every run (``names``), the layer-by-layer
comparison of runs (``compare_layers.py``) and the per-layer time profile (``benchmark.py --profile``).

It may import the model, formats, runners and core packages; nothing below it imports it.
"""
