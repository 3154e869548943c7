"""Every command's --help: the one style of genet/cli/common.py, the guide's words, and what the README promises."""

from __future__ import annotations

import pytest

from genet.cli.benchmark import build_parser as benchmark_parser


def test_benchmark_help_lists_ais_bench_flags(capsys):
    """The README says `benchmark.py --help` lists every option: ais_bench's command line included."""
    with pytest.raises(SystemExit):
        benchmark_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    for flag in ("--model", "--input", "--output", "--output_dirname", "--outfmt", "--loop", "--batchsize",
                 "--dymBatch", "--warmup_count", "--device ID[,ID...]"):
        assert f"\n  {flag} " in text, flag
