"""``python -m genet.demo``: the command line lives in genet.cli.demo."""
import sys

from genet.core.launch import launch

if __name__ == "__main__":
    sys.argv[0] = "python -m genet.demo"
    launch("genet.cli.demo")
