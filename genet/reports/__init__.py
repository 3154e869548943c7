"""Steps 6 and 7, reading what runs wrote: every report's figures (`read`), accuracy from dumps (`accuracy`), two runs'
outputs compared (`compare`) and the device comparison table (`perf_table`). Reading a report never imports the
run engine (genet.bench) or a runner.
"""
