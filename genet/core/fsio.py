"""Safe output: a result appears whole or not at all, and nothing is replaced that the user did not name.

Output files follow the rule of compilers and ``cp``: a file the user names explicitly is replaced;
a default or derived name, a file of another kind than the tool writes, or one of the command's own
inputs is not (``check_output_file``). Files are written under a temporary name beside the target
and renamed onto it once complete (``atomic_path``, ``atomic_files``); folders are built beside
the target and swapped in (``atomic_dir``). The temporary names carry the writer's process id,
``.{name}.{pid}.{random}.tmp`` (and ``.old`` for a folder being swapped out), so that a later
run can remove what a killed run left behind — only when that process is gone
(``remove_dead_leftovers``).

An existing folder is replaced only when it is empty or holds nothing but the names the caller
says its kind of output has (``ours``: ``00000.bin`` and ``val_label.txt`` for preprocess.py, …):
a folder with anything else in it is the user's. Never the current folder or one above it, nor a
folder that is, holds, or lies inside one of the run's inputs.

A work folder that several runs of one command write into (the demo's) is claimed name by name
(``claim_folder``): a name in it that the command did not write itself is refused.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from genet.core.errors import GenetError

_SWAP_TRIES = 20            # concurrent writers of one folder: each try moves the other's result aside


def _ensure_parent(path: Path) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise GenetError(f"{path}: output folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GenetError(f"{path}: output folder {parent} is not writable")
    return parent


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def temp_name(target: Path, kind: str = "tmp") -> Path:
    """A fresh name beside ``target`` of the pattern ``remove_dead_leftovers`` knows (``kind``: tmp or old)."""
    return target.parent / f"{_temp_prefix(target)}{secrets.token_hex(4)}.{kind}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:         # someone else's process: alive
        return True
    return True


def remove_dead_leftovers(target: Path) -> None:
    """Remove the temporary files and folders of ``target`` that killed runs left beside it.

    Only names of our own pattern (``.{name}.{pid}.{random}.tmp…`` / ``.old``) whose process no
    longer exists are removed; those of a run still going are left alone.
    """
    parent = target.parent if str(target.parent) else Path(".")
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[A-Za-z0-9_]+\.(tmp|old)(\.[A-Za-z0-9.]+)?")
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        found = pattern.fullmatch(name)
        if not found or int(found.group(1)) == os.getpid() or _pid_alive(int(found.group(1))):
            continue
        leftover = parent / name
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                leftover.unlink()


@dataclass(frozen=True)
class OutputKind:
    """What a tool writes: ``what`` in words, the name endings it has (none: any), and a test of a file's content."""

    what: str
    suffixes: tuple[str, ...]
    looks_like: Callable[[Path], bool]

    def holds(self, path: Path) -> bool:
        """Whether the existing file ``path`` is of this kind: by its name's ending and its content."""
        if self.suffixes and not path.name.lower().endswith(self.suffixes):
            return False
        try:
            return self.looks_like(path)
        except (OSError, ValueError, UnicodeError):
            return False


def _head(path: Path, size: int = 65536) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def _is_text(path: Path) -> bool:
    head = _head(path)
    if b"\0" in head:
        return False
    head.decode("utf-8", errors="strict" if len(head) < 65536 else "ignore")
    return True


def _is_json(path: Path) -> bool:
    json.loads(path.read_text(encoding="utf-8"))
    return True


def text_kind(what: str, *suffixes: str) -> OutputKind:
    return OutputKind(what, suffixes, _is_text)


# torch.save writes a zip archive (older releases: a pickle); an ONNX ModelProto opens with ir_version (field 1).
CHECKPOINT = OutputKind("a PyTorch checkpoint", (".tar", ".pth", ".pt", ".ckpt"),
                        lambda path: _head(path, 4) in (b"PK\x03\x04",) or _head(path, 1) == b"\x80")
ONNX_MODEL = OutputKind("an ONNX model", (".onnx",), lambda path: _head(path, 1) == b"\x08")
JSON_FILE = OutputKind("a JSON file", (".json",), _is_json)
PNG_IMAGE = OutputKind("a PNG image", (".png",), lambda path: _head(path, 8) == b"\x89PNG\r\n\x1a\n")


def check_output_file(path: str | os.PathLike, kind: OutputKind | None = None,
                      inputs: Sequence[str | os.PathLike] = (), named: bool = True,
                      ours: Callable[[Path], bool] | None = None, ours_what: str = "a file genet wrote") -> Path:
    """Refuse an output file path that cannot or must not be written; return it.

    The rule (that of compilers and ``cp``): an output the user names explicitly is replaced.
    Never replaced: a folder or anything but a regular file; a file that is one of the command's
    ``inputs`` or lies inside an input folder; a file of another ``kind`` than the tool writes;
    and, under a name the user did not give (``named`` false: a default, or a name derived from
    another), a file unless ``ours`` says genet wrote it (``ours_what`` names it in the error). Also
    refused: a missing or read-only parent.
    """
    target = Path(path)
    if target.is_dir():
        raise GenetError(f"{target}: is a folder; give a file name for this output")
    if target.exists() and not target.is_file():
        raise GenetError(f"{target}: exists and is not a regular file")
    _ensure_parent(target)
    if target.exists():
        _check_replaceable_file(target, kind, inputs, named, ours, ours_what)
    return target


def _check_replaceable_file(target: Path, kind: OutputKind | None, inputs: Sequence[str | os.PathLike],
                            named: bool, ours: Callable[[Path], bool] | None, ours_what: str) -> None:
    resolved = target.resolve()
    for item in inputs:
        source = Path(item)
        if source.exists() and (resolved == source.resolve() or source.resolve() in resolved.parents):
            where = "is" if resolved == source.resolve() else "lies inside"
            raise GenetError(f"{target}: {where} the input {item} of this command; give the output another name")
    if not named:
        if ours is None or not ours(target):
            raise GenetError(f"{target}: exists and is not {ours_what}; this name was not given on the command "
                             f"line, so it is not replaced: move the file away or name the output")
    elif kind is not None and not kind.holds(target):
        raise GenetError(f"{target}: exists and is not {kind.what}, which this output is; genet does not "
                         f"replace it: give another name")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception (Ctrl-C and SIGTERM included) the temporary file is removed and ``path`` is
    left untouched. ``suffix`` keeps an extension on the temporary name for tools that look at it.
    """
    with atomic_files([path], [suffix]) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_files(paths: Sequence[str | os.PathLike], suffixes: Sequence[str] | None = None) -> Iterator[list[Path]]:
    """Temporary paths for several outputs of one run, renamed onto ``paths`` together at the end.

    Every path is checked before the caller writes anything; on failure none is replaced.
    """
    targets = [check_output_file(p) for p in paths]
    suffixes = list(suffixes or [""] * len(targets))
    temps: list[Path] = []
    try:
        for target, suffix in zip(targets, suffixes):
            remove_dead_leftovers(target)
            try:
                fd, name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=f".tmp{suffix}",
                                            dir=target.parent if str(target.parent) else ".")
            except OSError as exc:
                raise GenetError(f"{target}: cannot write: {exc.strerror}") from None
            os.close(fd)
            temps.append(Path(name))
        yield temps
        for tmp, target in zip(temps, targets):
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
    except BaseException:
        for target in targets:
            _remove_own_temps(target)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


def check_apart(output: str | os.PathLike, inputs: Sequence[str | os.PathLike]) -> None:
    """Refuse an output folder that is, holds, or lies inside one of the run's inputs."""
    resolved = Path(output).resolve()
    for item in inputs:
        source = Path(item).resolve()
        if _overlaps(resolved, source):
            relation = ("is" if resolved == source else "holds" if resolved in source.parents else "lies inside")
            raise GenetError(f"{output}: the output folder {relation} the input {item}; give another output folder")


def check_replaceable_dir(path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = (),
                          ours: Callable[[str], bool] | None = None) -> Path:
    """Refuse a folder that ``atomic_dir`` must not replace (see the module docstring); return it."""
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise GenetError(f"{path}: give the output folder a name of its own (not . or ..)")
    resolved = target.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise GenetError(f"{path}: is the current folder or holds it; give another output folder")
    check_apart(target, inputs)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise GenetError(f"{target}: exists and is not a folder")
    if target.is_dir():
        try:
            names = os.listdir(target)
        except OSError as exc:
            raise GenetError(f"{target}: cannot read the existing folder: {exc.strerror}") from None
        if names and not (ours and all(ours(name) for name in names)):
            strangers = sorted(name for name in names if not (ours and ours(name)))
            raise GenetError(f"{target}: exists and holds files genet did not write ({', '.join(strangers[:3])}"
                             f"{', ...' if len(strangers) > 3 else ''}); give a new or empty output folder")
    return target


def _swap_in(tmp: Path, target: Path, parent: Path) -> None:
    """Rename ``tmp`` onto ``target``, moving an existing ``target`` aside first; the last writer wins.

    If the rename fails or is interrupted once the old folder is aside, the old folder is put back
    (decided from what is on disk, not from a flag a signal could interrupt before it is set).
    """
    for _ in range(_SWAP_TRIES):
        try:
            os.rename(tmp, target)          # succeeds when target is missing (or an empty folder)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        aside = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".old", dir=parent))
        try:
            with contextlib.suppress(FileNotFoundError):      # gone: another run moved it aside first
                os.rename(target, aside / "x")
            os.rename(tmp, target)
        except BaseException as exc:
            _put_back(aside, target)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                continue                    # another run's folder came in between: move it aside too
            raise
        shutil.rmtree(aside, ignore_errors=True)
        return
    raise GenetError(f"{target}: other runs keep replacing this folder; run one at a time")


def _put_back(aside: Path, target: Path) -> None:
    """Move the old folder in ``aside`` back to ``target`` unless a new one is in place; remove ``aside``."""
    if os.path.lexists(aside / "x") and not os.path.lexists(target):
        with contextlib.suppress(OSError):
            os.rename(aside / "x", target)
    shutil.rmtree(aside, ignore_errors=True)


def _remove_own_temps(target: Path) -> None:
    """Remove this process's temporaries of ``target``, found by name (pid in it).

    A signal can arrive after ``mkdtemp``/``mkstemp`` created a name and before the caller holds
    it; looking on disk finds it all the same. An ``.old`` folder's contents go back first.
    """
    parent = target.parent if str(target.parent) else Path(".")
    pattern = re.compile(rf"{re.escape(_temp_prefix(target))}[A-Za-z0-9_]+\.(tmp|old)(\.[A-Za-z0-9.]+)?")
    with contextlib.suppress(OSError):
        for name in os.listdir(parent):
            found = pattern.fullmatch(name)
            if not found:
                continue
            leftover = parent / name
            if found.group(1) == "old" and leftover.is_dir():
                _put_back(leftover, target)
            elif leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = (),
               ours: Callable[[str], bool] | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; swap it in for ``path`` on success.

    ``path`` is checked first (``check_replaceable_dir``: ``inputs`` are the run's inputs, ``ours``
    tells the names of files this kind of output holds). An existing ``path`` is replaced only once
    the new one is complete; on failure, Ctrl-C and SIGTERM included, the temporary folder is
    removed and ``path`` keeps its old contents.
    """
    target = check_replaceable_dir(path, inputs, ours)
    parent = _ensure_parent(target)
    remove_dead_leftovers(target)
    try:
        try:
            tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=parent))
        except OSError as exc:
            raise GenetError(f"{target}: cannot write: {exc.strerror}") from None
        yield tmp
        os.chmod(tmp, 0o755)
        _swap_in(tmp, target, parent)
    except BaseException:
        _remove_own_temps(target)
        raise


def claim_folder(folder: Path, names: Sequence[str], listing: str, owner: str, option: str) -> None:
    """Refuse a work folder where one of ``names`` exists but was not written by ``owner``; then record them.

    ``owner`` (the demo) keeps the names it writes in the folder's ``listing`` file, one a line: it replaces its
    own outputs of an earlier run, never a user's file. ``option`` is the command-line option naming the folder.
    """
    if folder.exists() and not folder.is_dir():
        raise GenetError(f"{folder}: exists and is not a folder ({option})")
    record = folder / listing
    ours = set(record.read_text(encoding="utf-8").split("\n")) if record.is_file() else set()
    strangers = [name for name in names if os.path.lexists(folder / name) and name not in ours]
    if strangers:
        raise GenetError(f"{folder}: holds {', '.join(strangers)}, which {owner} did not write and would replace; "
                         f"move them or give a new or empty {option}")
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(record, "\n".join(sorted(ours | set(names))) + "\n")


def remove_listed(folder: Path, listing: str, keep: Sequence[str | os.PathLike] = ()) -> None:
    """Remove what ``claim_folder``'s ``listing`` records as written by an earlier run, so that no result of it
    stands beside this run's; never a name that is, holds or lies inside one of ``keep`` (this run's inputs)."""
    record = folder / listing
    names = [name for name in record.read_text(encoding="utf-8").split("\n") if name] if record.is_file() else []
    kept = [Path(path).resolve() for path in keep]
    for name in names:
        path = (folder / name).absolute()
        if not os.path.lexists(path) or any(_overlaps(path, k) for k in kept):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
