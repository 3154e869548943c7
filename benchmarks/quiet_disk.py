"""Keeping file deletions away from timed file creations (shared by the benchmarks).

On an ext4 without a journal, as on our VMs (``/proc/fs/jbd2`` is empty), the inode
allocator avoids reusing inodes freed in the last 60 s, or the last 6 minutes while their
inode-table block is not yet written back (``recently_deleted()`` in fs/ext4/ialloc.c). It
checks the free inodes one by one, so in a block group full of recently freed inodes every
creation scans the whole group: 10,000 files then take 3-4 s of kernel time instead of
0.2-0.5 s. A benchmark that deletes its last output before each timed run mostly measures
that. So: nothing is deleted while a benchmark runs (outputs are moved aside and deleted at
the end), and before it starts the disk is synced and left alone for six minutes, which ages
every earlier deletion past the window (a minute is not enough: creating files next to
recently freed inodes dirties their inode-table block again, which brings back the six
minutes).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SETTLE_SECONDS = 361


def set_aside(path: Path) -> None:
    """Move ``path`` (when present) into ``set_aside/`` beside it, to be deleted after the timings."""
    if path.exists():
        trash = path.parent / "set_aside"
        trash.mkdir(exist_ok=True)
        path.rename(trash / f"{path.name}.{len(os.listdir(trash))}")


def settle(seconds: float = SETTLE_SECONDS) -> None:
    """Write back every dirty block, then wait ``seconds`` so that earlier deletions age out."""
    os.sync()
    if seconds > 0:
        print(f"letting earlier file deletions age out: sync, then {seconds:g} s without deleting anything "
              f"(--settle 0 skips this)", flush=True)
        time.sleep(seconds)
