"""Step 5, running a model. One run is the engine (`engine`) over plug-ins: its settings (`config`), where its
images come from (`sources`, cut and read ahead by `batches`), the untimed calls before it (`warmup`), where the
logits go (`sinks`), its outputs as one transaction (`outputs`) and its figures (`figures`). The drivers over it:
batch-size sweeps (`sweep`), several devices (`devices`) and ais_bench's command line and files (`aisbench`).
It may import everything below it (core, formats, data, model, runners), never reports.
"""
