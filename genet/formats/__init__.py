"""The files of the pipeline, one module per format (docs/formats.md), each with its file names: the `.info` list
(`info`, `listing`), `val_label.txt` (`labels`), per-image dumps (`dumps`), the perf report and its JSON twin
(`perf_report`, which holds the one rule of which figures are one NPU chip's), the sweep file (`sweep_file`), the
several-device report (`devices_report`), quantize.py's report (`quantize_report`), the packed `images.npy`
manifest (`packed`) and `--export-times` (`calltimes`). Reading or writing a format imports nothing above
`genet.core`.
"""
