"""``--export-times FILE``: every timed model call of a run, as trtexec's ``--exportTimes`` gives them.

The file is JSON: ``{"unit": "s", "calls": [...]}`` for one run, or ``{"unit": "s", "batches":
{"16": [...], ...}}`` for a sweep, ``{"devices": {"0": [...], ...}}`` for several devices. Each
call is ``{"start", "end", "compute", "h2d", "d2h"}``: start and end of the runner call from the
first call's start, the device-only compute seconds, and the copies where the backend times
them apart (else null). See ``genet.bench.figures.call_records``.
"""

from __future__ import annotations

import json
import os

from genet.core.fsio import JSON_FILE, check_output_file, write_text_atomic


def check_export_path(path: str | os.PathLike | None) -> None:
    """Refuse an unusable ``--export-times`` path before the run (a folder, a missing parent)."""
    if path is not None:
        check_output_file(path, JSON_FILE)


def write_call_times(path: str | os.PathLike, calls: list[dict] | dict[str, list[dict]],
                     key: str = "batches") -> None:
    """Write the per-call records of one run (a list) or of several (a dict under ``key``)."""
    payload = {"unit": "s", "calls": calls} if isinstance(calls, list) else {"unit": "s", key: calls}
    write_text_atomic(path, json.dumps(payload) + "\n")
