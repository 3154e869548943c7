#!/usr/bin/env python3
"""The guide's step 3.2: ``python3 preprocess.py ${datasets_path} ./prep_dataset`` writes the .bin files. See --help."""
from genet.core.launch import launch

if __name__ == "__main__":
    launch("genet.cli.preprocess")
