"""Child processes that do not outlive their parent (genet.core.process), as the demo runs its steps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genet.core.errors import Terminated
from genet.core.process import run_in_group
from tests.conftest import REPO


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for init to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_the_exit_status_is_the_childs(tmp_path):
    assert run_in_group(["bash", "-c", "exit 3"], tmp_path, os.environ) == 3
    assert run_in_group(["bash", "-c", "pwd > where"], tmp_path, os.environ) == 0
    assert (tmp_path / "where").read_text().strip() == str(tmp_path)


def test_sigterm_stops_the_childs_whole_process_tree(tmp_path):
    """The child shell starts a grandchild, then sends SIGTERM to its parent: neither may outlive it."""
    pid_file = tmp_path / "grandchild.pid"
    script = f"sleep 300 & echo $! > {pid_file}; kill -TERM $PPID; wait"
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(Terminated(signum)))
    try:
        with pytest.raises(Terminated):
            run_in_group(["bash", "-c", script], tmp_path, os.environ)
    finally:
        signal.signal(signal.SIGTERM, previous)
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 30        # SIGKILL is sent by now; the kernel takes a moment to end it
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)


KILLED_PARENT = """
import os, sys
from genet.core.process import run_in_group
run_in_group(["bash", "-c", "echo $$ > " + sys.argv[1] + "; exec sleep 300"], ".", os.environ)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_a_child_does_not_outlive_a_parent_killed_by_sigkill(tmp_path):
    pid_file = tmp_path / "step.pid"
    parent = subprocess.Popen([sys.executable, "-c", KILLED_PARENT, str(pid_file)], cwd=tmp_path,
                              env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (pid_file.is_file() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    step = int(pid_file.read_text())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while alive(step) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(step)
