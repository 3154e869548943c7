"""The shared ground every stage stands on: user-facing errors (`errors`), what a stage says to the user
(`console`), safe file output and claiming a work folder (`fsio`), child processes that die with their parent
(`process`), Markdown/CSV tables and PNG plots (`render`), starting a script when a requirement is missing
(`launch`), the CPU a figure was measured on (`cpuinfo`) and the data set's constants (`constants`). It
imports only the standard library, numpy and tqdm (and matplotlib inside `render`'s plot functions).
"""
