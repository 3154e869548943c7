"""Step 5, running a model: the engine of one run (`engine`), where its images come from (`sources`), and the
drivers over it: batch-size sweeps (`sweep`), several devices (`devices`) and ais_bench's command line and files
(`aisbench`). It may import everything below it (core, formats, data, model, runners), never reports.
"""
