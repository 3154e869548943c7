"""Steps 6 and 7, reading what runs wrote: every report through one registry (`read`: genet's and the vendor
tools' reports; `figures`: what they give; `vendor_logs`: the tools' text output), accuracy from dumps (`accuracy`),
two runs' outputs compared (`compare`), the device comparison table (`perf_table`) and the demo's summary
(`summary`). Reading a report never imports the run engine (genet.bench) or a runner.
"""
