#!/usr/bin/env python3
"""The guide's step 3.3: ``python3 get_info.py bin ./prep_dataset ./genet_prep_bin.info 32 32``. See --help."""
from genet.core.launch import launch

if __name__ == "__main__":
    launch("genet.cli.get_info")
