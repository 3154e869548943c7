"""Step 5, running a model. One run is the engine (`engine`) over plug-ins: its settings (`config`), where its
images come from (`sources`, cut and read ahead by `batches`), the untimed calls before it (`warmup`), where the
logits go (`sinks`), its outputs as one transaction (`outputs`), its figures (`figures`) and the warning when
this CPU's int8 kernels are not those quantize.py checked the model on (`int8_path`). The drivers over it:
batch-size sweeps (`sweep`), several devices (`devices`) and ais_bench's command line and files (`aisbench`).
It may import everything below it (core, formats, data, model, runners), never reports.
"""
