"""Atomic file and folder output: a result appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import GenetError


def _ensure_parent(path: Path) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise GenetError(f"{path}: output folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GenetError(f"{path}: output folder {parent} is not writable")
    return parent


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    ``suffix`` keeps an extension on the temporary name for tools that look at it.
    """
    target = Path(path)
    parent = _ensure_parent(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=parent)
    except OSError as exc:
        raise GenetError(f"{target}: cannot write: {exc.strerror}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; swap it in for ``path`` on success.

    An existing ``path`` is replaced only once the new one is complete; on failure the
    temporary folder is removed and ``path`` keeps its old contents.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise GenetError(f"{target}: exists and is not a folder")
    parent = _ensure_parent(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise GenetError(f"{target}: cannot write: {exc.strerror}") from exc
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.replace(target, old / "x")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_at(folder_fd: int, name: str, data: bytes | memoryview) -> None:
    """Write ``data`` to the file ``name`` of the open folder ``folder_fd``: three system calls, no path walk.

    The file is created or truncated (not ``O_EXCL``: ``created_ahead``'s helper may have
    made it already, empty). Writes that the kernel cuts short are resumed.
    """
    view = memoryview(data).cast("B")
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=folder_fd)
    try:
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


# The helper process of ``created_ahead``: plain Python, started with -I -S, so it is running
# within about 10 ms. Ctrl-C is left to the caller, which kills the helper on the way out.
_CREATE_FILES = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
folder, pattern, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    for index in range(count):
        os.close(os.open(pattern.format(index), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=folder_fd))
except OSError:
    pass
"""


@contextlib.contextmanager
def created_ahead(folder: Path, pattern: str, count: int) -> Iterator[None]:
    """Create the empty files ``pattern.format(i)``, i < ``count``, in ``folder`` from a helper process.

    Creating a file costs kernel time whatever it will hold (tens of µs to ms apiece on
    ext4), so a writer of many files can have them created while it is still importing and
    computing their contents. The caller opens each file with ``O_CREAT`` and without
    ``O_EXCL``: whichever of the two comes first creates it, and the helper stops at the
    first file the caller made (the caller has caught up, or the helper met an error the
    caller will meet and report too). On leaving, the helper is waited for; on an exception
    it is killed first, so the folder can then be removed. Without ``posix_spawn`` (Windows)
    nothing is started and the caller creates every file itself.
    """
    try:
        helper = os.posix_spawn(sys.executable, [sys.executable, "-I", "-S", "-c", _CREATE_FILES, str(folder),
                                                 pattern, str(count)], os.environ)
    except (AttributeError, OSError, TypeError):    # no posix_spawn, or no interpreter to start (embedded)
        yield
        return
    try:
        yield
    except BaseException:
        os.kill(helper, signal.SIGKILL)
        raise
    finally:
        os.waitpid(helper, 0)
