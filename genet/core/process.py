"""Child processes that never outlive the process that started them.

``run_in_group`` runs a command in a process group of its own: when this process is stopped (Ctrl-C,
SIGTERM, SIGHUP) the whole group is stopped too (its processes get ``STOP_GRACE_S`` to clean up, then
are killed), and on Linux the kernel sends the child SIGTERM when this process dies, even by SIGKILL.
The demo (genet.cli.demo) runs each of its steps so.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

from genet.core.errors import Terminated

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
STOP_GRACE_S = 10                       # a stopped group's processes get this long to clean up, then are killed
PR_SET_PDEATHSIG = 1                    # linux/prctl.h


def _prepare_child(parent_pid: int) -> None:
    """In the child, before it runs: take the stop signals again, and on Linux have the kernel send it SIGTERM
    when the parent dies, even by SIGKILL."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:      # the parent died before the request was made
            os._exit(128 + signal.SIGTERM)


def stop_group(process: subprocess.Popen, signum: int) -> None:
    """Pass ``signum`` to the child's whole process group; kill what is left after ``STOP_GRACE_S``."""
    try:
        os.killpg(process.pid, signum)
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def run_in_group(argv: Sequence[str], cwd: str | os.PathLike | Path, env: Mapping[str, str]) -> int:
    """Run ``argv`` in ``cwd`` in a process group of its own and wait for it; its exit status.

    A stop signal (or any exception) while it runs stops the whole group before it is raised on.
    """
    process = None
    # A signal that comes while the child is being started is held until `process` is known.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        try:
            process = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), start_new_session=True,
                                       preexec_fn=functools.partial(_prepare_child, os.getpid()))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return process.wait()
    except BaseException as exc:
        if process is not None:
            stop_group(process, exc.signum if isinstance(exc, Terminated) else signal.SIGINT)
        raise
