"""What a batch needs against what the machine has: the one bound on a run's host memory.

A run holds its input batches in host memory: the batches read ahead (``prefetch_depth``), one per
stream in flight, the one being read and the warm-up batch. Their size is known before the first
batch (rows × bytes per image); a batch size whose buffers alone exceed the memory free now is
refused before anything is allocated or written. The model's own activations are not counted
(they depend on the backend): a batch that passes this check can still run out of memory, which
``--best`` treats as the end of its search.
"""

from __future__ import annotations

import os

from genet.core.errors import GenetError


class BatchTooLarge(GenetError):
    """A batch size whose input buffers do not fit in the memory free on this machine."""


def available_bytes() -> int | None:
    """Memory free for a new allocation now (MemAvailable), or None when the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(count: int) -> str:
    return f"{count / 2**30:.1f} GiB"


# What the run keeps per batch until its end (the batch's span, its timings, its call record): an upper bound.
RECORD_BYTES_PER_BATCH = 1024


def check_batch_fits(rows: int, bytes_per_image: int, buffers: int, where: str, batches: int = 0) -> None:
    """Refuse ``buffers`` batches of ``rows`` images, plus the records of ``batches`` batches, that do not fit in
    the memory free now."""
    inputs, records = rows * bytes_per_image * buffers, batches * RECORD_BYTES_PER_BATCH
    have = available_bytes()
    if have is not None and inputs > have:
        raise BatchTooLarge(f"{where}: batch {rows} needs {_gib(inputs)} for its {buffers} input buffers "
                            f"({bytes_per_image} bytes per image), more than the {_gib(have)} free on this machine "
                            f"(out of memory); give a smaller -batch_size")
    if have is not None and inputs + records > have:
        raise BatchTooLarge(f"{where}: {batches} batches need {_gib(records)} for their timing records, more than "
                            f"the {_gib(have - inputs)} free on this machine besides the batches (out of memory); "
                            f"give fewer -round batches")
