"""Shared fixtures: small GENet checkpoints and the reference key/shape listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genet.model.checkpoint import save_checkpoint
from genet.model.network import build_model
from genet.model.variant import Variant

REPO = Path(__file__).resolve().parent.parent
# Benchmarks in the tests are sized by -round alone, one repeat (the old, quick behaviour), in this process and in
# the scripts it starts; the tests of time sizing and repeats give --min-seconds and --repeats themselves.
os.environ.setdefault("GENET_MIN_SECONDS", "0")
os.environ.setdefault("GENET_REPEATS", "1")
# Keys and shapes of the reference implementation's state_dicts (BayesWatch/pytorch-GENet @ 3fbf99f),
# one entry per variant: copied into the repository so that the tests stand alone.
SAMPLES = REPO / "tests" / "samples"
STATE_DICTS_JSON = SAMPLES / "genet_state_dicts.json"
TINY = Variant(depth=10, width=1)


def run_script(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a repository script in a fresh interpreter, as a user would.

    A first argument ending in ``.py`` that is not absolute names a script of the repository.
    """
    if args and args[0].endswith(".py") and not os.path.isabs(args[0]):
        args = (str(REPO / args[0]), *args[1:])
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, *args], cwd=cwd or REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def reference_state_dicts() -> dict:
    if not STATE_DICTS_JSON.exists():
        pytest.fail(f"{STATE_DICTS_JSON} is missing: the reference key listing ships with the tests")
    return json.loads(STATE_DICTS_JSON.read_text())


@pytest.fixture
def make_checkpoint(tmp_path):
    """Write a randomly initialised (seeded) GENet checkpoint; returns its path."""

    def make(variant: Variant = TINY, name: str = "genet.pth.tar", seed: int = 0, wrap: str = "reference") -> Path:
        torch.manual_seed(seed)
        model = build_model(variant)
        randomize_batchnorm(model, seed)
        state = model.state_dict()
        path = tmp_path / name
        if wrap == "reference":
            save_checkpoint(path, state, epoch=5, error_history=[50.0, 40.0])
        elif wrap == "bare":
            torch.save(state, path)
        elif wrap == "dataparallel":
            save_checkpoint(path, {f"module.{k}": v for k, v in state.items()}, epoch=5)
        else:
            raise ValueError(wrap)
        return path

    return make


def randomize_batchnorm(model: torch.nn.Module, seed: int) -> None:
    """Give BN layers non-trivial statistics, so that a wrong BN wiring shows in the outputs."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.weight.data = 0.5 + torch.rand(n, generator=generator)
            module.bias.data = 0.1 * torch.randn(n, generator=generator)
            module.running_mean.data = 0.1 * torch.randn(n, generator=generator)
            module.running_var.data = 0.5 + torch.rand(n, generator=generator)
