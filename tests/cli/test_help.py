"""Every command's --help: the one style of genet/cli/common.py, the guide's words, and what the README promises."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from genet.cli.benchmark import build_parser as benchmark_parser
from tests.conftest import REPO


def test_benchmark_help_lists_ais_bench_flags(capsys):
    """The README says `benchmark.py --help` lists every option: ais_bench's command line included."""
    with pytest.raises(SystemExit):
        benchmark_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    for flag in ("--model", "--input", "--output", "--output_dirname", "--outfmt", "--loop", "--batchsize",
                 "--dymBatch", "--warmup_count", "--device ID[,ID...]"):
        assert f"\n  {flag} " in text, flag


CLI_PROGS = {
    "acc_eval": "cifar10_acc_eval.py", "benchmark": "benchmark.py", "compare_layers": "compare_layers.py",
    "compare_outputs": "compare_outputs.py", "demo": "python3 -m genet.demo", "get_info": "get_info.py",
    "parse": "test/parse.py", "parse_profile": "test/parse.py profile", "perf_compare": "test/perf_compare.py",
    "preprocess": "preprocess.py", "pthtar2onnx": "pthtar2onnx.py", "quantize": "quantize.py",
    "synthetic": "python3 -m genet.cli.synthetic", "train": "train.py",
}
SHELL_USAGE = {"env.sh": "usage: source test/env.sh", "infer_bin.sh": "usage: bash test/infer_bin.sh",
               "onnx2om.sh": "usage: bash test/onnx2om.sh", "perf_g.sh": "usage: bash test/perf_g.sh",
               "eval_acc_perf.sh": "usage: bash test/eval_acc_perf.sh"}
# A real random-number seed option may say "seed"; nothing else in a --help may.
RNG_SEED = re.compile(r"--seed( SEED)?|random(-number)? seed|deterministic for a --seed", re.I)


def forbidden_words(text: str) -> list[str]:
    return re.findall(r"\bseed\w*|\bsession\w*|\bissue \d+|\bhelper\b|\bround of\b", RNG_SEED.sub("", text), re.I)


def cli_help(name: str, monkeypatch) -> str:
    monkeypatch.delenv("GENET_PROG", raising=False)
    module = importlib.import_module(f"genet.cli.{name}")
    return module.build_parser().format_help()


def test_every_command_is_listed():
    modules = {path.stem for path in (REPO / "genet" / "cli").glob("*.py")} - {"__init__", "common", "plans"}
    assert modules == set(CLI_PROGS)


@pytest.mark.parametrize("name", sorted(CLI_PROGS))
def test_python_help_follows_the_one_style(name, monkeypatch):
    text = cli_help(name, monkeypatch)
    assert text.startswith(f"usage: {CLI_PROGS[name]} "), text.splitlines()[0]
    examples = text[text.rfind("\nexample"):]
    assert re.match(r"\nexamples?:\s", examples) and "python3 " in examples, f"{name}: no example line"
    assert forbidden_words(text) == [], name


@pytest.mark.parametrize("script", sorted(SHELL_USAGE))
def test_shell_help_follows_the_one_style(script):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("GENET_PROG", None)
    done = subprocess.run(["bash", str(REPO / "test" / script), "--help"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(SHELL_USAGE[script]), done.stdout.splitlines()[0]
    assert forbidden_words(done.stdout) == [], script


def test_forbidden_words_are_found():
    assert forbidden_words("as in the seed guide; the --seed SEED option; a random seed") == ["seed"]
    assert forbidden_words("one session; issue 13") == ["session", "issue 13"]
