"""Accuracy of a run's dumps against val_label.txt (seed step 6); see genet.cli.acc_eval."""

from genet.cli.acc_eval import run

if __name__ == "__main__":
    run()
