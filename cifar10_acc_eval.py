#!/usr/bin/env python3
"""The guide's step 6: accuracy of a run's dumps against val_label.txt. See --help."""
from genet.core.launch import launch

if __name__ == "__main__":
    launch("genet.cli.acc_eval")
