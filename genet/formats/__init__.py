"""The files of the pipeline, one module per format (docs/formats.md): the `.info` list (`info`, `listing`),
`val_label.txt` (`labels`), per-image dumps (`dumps`), the perf report and its JSON twin (`perf_report`), the
packed `images.npy` manifest (`packed`) and `--export-times` (`calltimes`). Reading or writing a format imports
nothing above `genet.core`.
"""
