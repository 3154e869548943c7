"""created_ahead: a helper process creates a writer's files while the writer is still busy."""

from __future__ import annotations

import os
import time

import pytest

from genet.fsio import created_ahead

from conftest import assert_reaped

PATTERN = "{:05d}.part"


def names(count: int) -> list[str]:
    return [PATTERN.format(index) for index in range(count)]


def test_helper_creates_every_file_empty(tmp_path, spawned):
    with created_ahead(tmp_path, PATTERN, 300):
        pass
    assert sorted(os.listdir(tmp_path)) == names(300)
    assert all((tmp_path / name).stat().st_size == 0 for name in names(300))
    assert_reaped(spawned[0])


def test_writer_and_helper_share_the_files(tmp_path, spawned):
    """The writer opens with O_CREAT and no O_EXCL: each file is written once, whoever made it."""
    with created_ahead(tmp_path, PATTERN, 2000):
        folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        for name in names(2000):
            fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=folder)
            os.write(fd, name.encode())
            os.close(fd)
        os.close(folder)
    assert sorted(os.listdir(tmp_path)) == names(2000)
    assert all((tmp_path / name).read_bytes() == name.encode() for name in names(2000))


def test_helper_stops_at_the_first_file_the_writer_made(tmp_path, spawned):
    (tmp_path / PATTERN.format(3)).write_bytes(b"mine")
    with created_ahead(tmp_path, PATTERN, 10):
        pass
    assert sorted(os.listdir(tmp_path)) == names(4)
    assert (tmp_path / PATTERN.format(3)).read_bytes() == b"mine"


def test_helper_is_killed_when_the_writer_fails(tmp_path, spawned):
    with pytest.raises(KeyboardInterrupt):
        with created_ahead(tmp_path, PATTERN, 10**7):
            deadline = time.monotonic() + 30
            while not os.listdir(tmp_path) and time.monotonic() < deadline:     # the helper has started
                time.sleep(0.01)
            raise KeyboardInterrupt
    assert_reaped(spawned[0])
    before = len(os.listdir(tmp_path))
    assert 0 < before < 10**7
    time.sleep(0.1)
    assert len(os.listdir(tmp_path)) == before       # nothing is creating files any more


def test_helper_gives_up_quietly_on_a_missing_folder(tmp_path, spawned, capfd):
    with created_ahead(tmp_path / "absent", PATTERN, 10):
        pass
    assert_reaped(spawned[0])
    assert capfd.readouterr() == ("", "")


def test_without_posix_spawn_nothing_is_started(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "posix_spawn")
    with created_ahead(tmp_path, PATTERN, 10):
        pass
    assert os.listdir(tmp_path) == []


def test_helper_ignores_the_environment(tmp_path, spawned, monkeypatch):
    """-I -S: a PYTHONSTARTUP or PYTHONPATH of the user's cannot break the helper."""
    startup = tmp_path / "startup.py"
    startup.write_text("raise SystemExit(3)\n")
    monkeypatch.setenv("PYTHONSTARTUP", str(startup))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "nowhere"))
    folder = tmp_path / "out"
    folder.mkdir()
    with created_ahead(folder, PATTERN, 3):
        pass
    assert sorted(os.listdir(folder)) == names(3)
