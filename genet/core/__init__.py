"""The shared ground every stage stands on: user-facing errors (`errors`), what a stage says to the user
(`console`), safe file output (`fsio`), starting a script when a requirement is missing (`launch`) and the
data set's constants (`constants`). It imports only the standard library, numpy and tqdm.
"""
