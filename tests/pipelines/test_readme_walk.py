"""The README's walk, run as written: every shell block in order, in a fresh copy of the tracked files.

What a new user does after a fresh clone: the README's two commands, then steps 3-7 copy-pasted in order.
The test extracts every ```bash block of README.md and runs its commands in one bash process (so that
``datasets_path=...`` carries from step to step), in a folder holding a copy of the repository's
tracked files, and fails on the first command that fails, naming it.

Differences from a user's shell, and why:

- No virtual environment is created or activated: ``python3 -m venv .venv``, ``.venv/bin/pip install ...``
  and ``source .venv/bin/activate`` are left out, and ``.venv/bin/python`` is read as ``python3``. The
  ``python3`` on PATH is the interpreter running this test (its venv has requirements-dev.txt and genet
  installed), which the README's setup gives a user too.
- The test suite itself (``... -m pytest``) is not run from inside the test suite.
- A command whose comment says ``# needs an Ascend host`` or ``# needs an NVIDIA GPU`` is not run. The
  README must show beside it what to run on a CPU instead: the next command, commented
  ``# on a CPU instead``, or the words ``nothing to run on a CPU`` in its own comment. The test checks that.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DEVICE_MARKS = ("# needs an Ascend host", "# needs an NVIDIA GPU")
INSTEAD_MARK = "# on a CPU instead"
NOTHING_MARK = "nothing to run on a CPU"
SETUP = (re.compile(r"^python3 -m venv \.venv$"), re.compile(r"^\.venv/bin/pip install "),
         re.compile(r"-m pytest\b"), re.compile(r"^source \.venv/bin/activate$"))
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def shell_lines(readme: str) -> list[str]:
    """Every command line of the README's ```bash blocks, in order (a line ending in \\ joins the next)."""
    lines: list[str] = []
    for block in BLOCK.findall(readme):
        pending = ""
        for line in block.splitlines():
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            line = pending + line
            pending = ""
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def comment_of(line: str) -> str:
    """The trailing comment of a command line ('' when none); quotes are honoured."""
    index = line.find(" #")
    while index != -1:
        head = line[:index]
        try:
            shlex.split(head)
            return line[index + 1:]
        except ValueError:      # the '#' is inside quotes
            index = line.find(" #", index + 1)
    return ""


def plan(lines: list[str]) -> tuple[list[str], list[str]]:
    """(commands to run, device-only commands skipped), setup parts left out as the docstring says."""
    run: list[str] = []
    skipped: list[str] = []
    for number, line in enumerate(lines):
        comment = comment_of(line)
        if any(mark in comment for mark in DEVICE_MARKS):
            following = lines[number + 1] if number + 1 < len(lines) else ""
            assert NOTHING_MARK in comment or INSTEAD_MARK in comment_of(following), (
                f"README: a device-only command shows no CPU command beside it: {line}")
            skipped.append(line)
            continue
        command = line[:len(line) - len(comment)].strip() if comment else line
        parts = [part.strip() for part in command.split("&&")]
        kept = [part for part in parts if not any(pattern.search(part) for pattern in SETUP)]
        if kept:
            run.append(" && ".join(part.replace(".venv/bin/python", "python3") for part in kept))
    return run, skipped


def test_plan_reads_the_marks():
    lines = ["python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/python -m genet.demo",
             "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/python -m pytest -q",
             "source .venv/bin/activate",
             "bash x.sh '# not a comment'   # needs an Ascend host",
             "python3 y.py   # on a CPU instead: y",
             "bash z.sh    # needs an NVIDIA GPU; nothing to run on a CPU"]
    run, skipped = plan(lines)
    assert run == ["python3 -m genet.demo", "python3 y.py"]
    assert skipped == [lines[3], lines[5]]
    with pytest.raises(AssertionError, match="no CPU command"):
        plan(["bash x.sh   # needs an Ascend host", "python3 y.py"])


NOT_SOURCES = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache"}


def repository_files() -> list[str]:
    """The files a fresh clone has: git's tracked files, or, in a copy without .git (as CI runs the suite, from
    the tracked files alone), every file but the venv and caches."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True)
    if listed.returncode == 0:
        return [name for name in listed.stdout.decode().split("\0") if name]
    return [str(path.relative_to(REPO)) for path in REPO.rglob("*")
            if path.is_file() and not NOT_SOURCES & set(path.relative_to(REPO).parts)]


@pytest.mark.slow
def test_readme_walk_runs_as_written(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands, skipped = plan(shell_lines(readme))
    assert len(commands) >= 15 and skipped, "the README's blocks were not found"
    clone = tmp_path / "genet"
    for name in repository_files():
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            (clone / name).write_bytes((REPO / name).read_bytes())
    script = ["set -eo pipefail"]
    for command in commands:
        script += [f"echo {shlex.quote('README$ ' + command)}", "started=$EPOCHREALTIME", command,
                   'echo "README-took $started $EPOCHREALTIME"']
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=clone, env=env, capture_output=True,
                            text=True, timeout=1500)
    ran = [line for line in result.stdout.splitlines() if line.startswith("README$ ")]
    failed = ran[-1] if ran else "?"
    assert result.returncode == 0, (f"README command failed (exit {result.returncode}): {failed}\n--- stdout tail\n"
                                    f"{result.stdout[-3000:]}\n--- stderr tail\n{result.stderr[-3000:]}")
    assert len(ran) == len(commands)
    took = [float(b) - float(a) for a, b in (line.split()[1:] for line in result.stdout.splitlines()
                                             if line.startswith("README-took "))]
    for command, seconds in zip(commands, took):       # shown by pytest -rP
        print(f"{seconds:7.1f} s  {command[:110]}")
