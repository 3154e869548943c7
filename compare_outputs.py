"""Compare two runs' dumps (max abs/rel difference, top-1/top-5 agreement); see genet.cli.compare_outputs."""

from genet.cli.compare_outputs import run

if __name__ == "__main__":
    run()
