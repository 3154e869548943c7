"""Fault injection: signals at random (seeded) points, a full disk, concurrent runs.

After every fault the invariant holds: the old output is intact OR the new output is complete
(byte for byte a reference run's), and no leftover (``.NAME.PID.*.tmp`` / ``.old``) remains
once a later run has started. The harness at the top serves every stage; the preprocess cases
follow, then the benchmark cases.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import pytest

import genet.data.preprocess
from genet.cli.preprocess import main as preprocess_main
from genet.core.errors import GenetError
from tests.conftest import REPO
from tests.data_helpers import make_datasets_path

# === Harness ===================================================================================


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file of ``folder`` (one level) with its bytes; None when the folder does not exist."""
    if not folder.is_dir():
        return None
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def leftovers(parent: Path) -> list[str]:
    """Temporary names of genet's atomic writers in ``parent``."""
    return sorted(name for name in os.listdir(parent) if name.startswith(".") and (".tmp" in name or ".old" in name))


def assert_old_or_new(out: Path, old: dict | None, new: dict, where: str) -> str:
    """The invariant on ``out``: exactly the old contents or exactly the new; returns which."""
    now = snapshot(out)
    if now == old:
        return "old"
    assert now == new, f"{where}: {out} is neither the old output nor a complete new one: " \
                       f"{sorted(now or {})[:5]}..."
    return "new"


def start_script(script: str, argv: Sequence[str], cwd: Path) -> subprocess.Popen:
    """A repository script in a fresh interpreter, as a user runs it."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, str(REPO / script), *argv], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def signal_after(process: subprocess.Popen, delay: float, signum: int, timeout: float = 120) -> int:
    """Deliver ``signum`` ``delay`` seconds after start (unless it ended first); return the exit status.

    The delay only chooses the moment of the fault: the verdict is the invariant on the files.
    """
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signum)
    process.wait(timeout=timeout)
    return process.returncode


def seeded_delays(seed: int, count: int, longest: float) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0, longest) for _ in range(count)]


# === preprocess.py ==============================================================================

IMAGES = 1000


@pytest.fixture(scope="module")
def prep_case(tmp_path_factory):
    """A data set, the reference output of ``preprocess.py DATA OUT`` and an older, different output."""
    root = tmp_path_factory.mktemp("faults")
    datasets = make_datasets_path(root / "data", test=IMAGES)
    reference, old = root / "reference", root / "old"
    assert preprocess_main([str(datasets), str(reference), "--quiet"]) == 0
    assert preprocess_main([str(datasets), str(old), "--limit", "7", "--quiet"]) == 0
    return datasets, snapshot(reference), snapshot(old)


def fresh_target(tmp_path: Path, old: dict) -> Path:
    """``tmp_path/outs/prep`` holding the old output, alone in its folder."""
    out = tmp_path / "outs" / "prep"
    out.mkdir(parents=True)
    for name, data in old.items():
        (out / name).write_bytes(data)
    return out


def run_with_signals(tmp_path: Path, prep_case, seed: int, runs: int) -> list[str]:
    datasets, new, old = prep_case
    outcomes = []
    for run, delay in enumerate(seeded_delays(seed, runs, longest=2.5)):
        signum = (signal.SIGTERM, signal.SIGINT)[run % 2]
        out = fresh_target(tmp_path / f"run{run}", old)
        code = signal_after(start_script("preprocess.py", [str(datasets), str(out), "--quiet"], tmp_path), delay,
                            signum)
        where = f"seed {seed}, run {run}: {signal.Signals(signum).name} after {delay:.2f} s, exit {code}"
        outcomes.append(assert_old_or_new(out, old, new, where))
        assert leftovers(out.parent) == [], where               # a handled signal cleans up
    return outcomes


def test_signals_at_random_points_keep_old_or_give_new(tmp_path, prep_case):
    run_with_signals(tmp_path, prep_case, seed=0, runs=2)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 6))
def test_signals_at_random_points_many_seeds(tmp_path, prep_case, seed):
    run_with_signals(tmp_path, prep_case, seed=seed, runs=8)


@pytest.mark.slow
def test_sigterm_while_writing_leaves_nothing_and_sigkill_leftovers_go_with_the_next_run(tmp_path, prep_case):
    datasets, new, old = prep_case
    out = fresh_target(tmp_path, old)
    for signum in (signal.SIGTERM, signal.SIGKILL):
        process = start_script("preprocess.py", [str(datasets), str(out)], tmp_path)
        while not leftovers(out.parent) and process.poll() is None:      # wait until it writes
            time.sleep(0.01)
        assert process.poll() is None, "finished before it could be stopped: give it more images"
        process.send_signal(signum)
        process.wait(timeout=60)
        assert snapshot(out) == old
        if signum == signal.SIGTERM:
            assert process.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in process.stderr.read()
            assert leftovers(out.parent) == []
        else:
            assert leftovers(out.parent) != []                   # a killed process cannot clean up ...
    assert preprocess_main([str(datasets), str(out), "--quiet"]) == 0
    assert snapshot(out) == new and leftovers(out.parent) == []  # ... the next run removes what it left


@pytest.mark.parametrize("seed", range(3))
def test_disk_full_at_a_random_image_keeps_the_old_output(tmp_path, prep_case, monkeypatch, seed):
    datasets, new, old = prep_case
    fail_at = random.Random(seed).randrange(IMAGES)
    real_write = genet.data.preprocess._write_file
    written = []

    def write(path, image):
        if len(written) == fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(path)
        real_write(path, image)

    monkeypatch.setattr(genet.data.preprocess, "_write_file", write)
    out = fresh_target(tmp_path, old)
    with pytest.raises(GenetError, match=f"cannot write {fail_at:05d}.bin: No space left"):
        preprocess_main([str(datasets), str(out), "--quiet"])
    assert snapshot(out) == old and leftovers(out.parent) == []


def test_disk_full_while_saving_the_packed_array_keeps_the_old_output(tmp_path, prep_case, monkeypatch):
    datasets, new, old = prep_case

    def full(path, array):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(genet.data.preprocess.np, "save", full)
    out = fresh_target(tmp_path, old)
    with pytest.raises(GenetError, match="cannot write images.npy: No space left"):
        preprocess_main([str(datasets), str(out), "--packed", "--limit", "20", "--quiet"])
    assert snapshot(out) == old and leftovers(out.parent) == []


@pytest.mark.slow
@pytest.mark.parametrize("runs", [3])
def test_concurrent_runs_on_one_output_end_with_one_complete_output(tmp_path, prep_case, runs):
    datasets, new, old = prep_case
    out = fresh_target(tmp_path, old)
    processes = [start_script("preprocess.py", [str(datasets), str(out), "--quiet"], tmp_path) for _ in range(runs)]
    results = [(process.wait(timeout=120), process.stderr.read()) for process in processes]
    assert all(code in (0, 2) for code, _ in results), results
    assert all(err.count("\n") == 1 for code, err in results if code == 2), results
    assert any(code == 0 for code, _ in results), results
    assert snapshot(out) == new and leftovers(out.parent) == []


# === benchmark.py (the runner helper adds its cases here) ========================================
