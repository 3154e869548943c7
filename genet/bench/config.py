"""What one benchmark run does, checked once: ``BenchConfig``.

Every setting is validated here, when the config is made, and a bad one raises ``SettingError``
naming the field (``batch_size``); ``benchmark.py`` re-spells those names as the flags the user
typed (``-batch_size``). The rest of the engine takes a config as valid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from genet.core.errors import SettingError
from genet.formats.dumps import dump_folder
from genet.runners.base import RunnerOptions, check_backend

# Pure inference and each size of a sweep run for at least MIN_SECONDS of timed calls and MIN_CALLS calls
# (docs/metrics.md, "Sized by time"): at 1 s, a call of 10 ms is timed 100 times, enough for a p99, and a
# six-size sweep stays under ten seconds of timed calls. Five repeats give a median and an interquartile range.
MIN_SECONDS = 1.0
MIN_CALLS = 10
REPEATS = 5
MIN_SECONDS_ENV = "GENET_MIN_SECONDS"   # the defaults, for quick runs (the test suite): 0 = sized by -round alone
REPEATS_ENV = "GENET_REPEATS"


def _env_number(name: str, default: float, kind: type) -> float:
    try:
        return kind(os.environ.get(name, default))
    except ValueError:
        raise SettingError(f"${name}={os.environ[name]!r}: not a number") from None


def default_min_seconds() -> float:
    return float(_env_number(MIN_SECONDS_ENV, MIN_SECONDS, float))


def default_repeats() -> int:
    return int(_env_number(REPEATS_ENV, REPEATS, int))


@dataclass
class BenchConfig:
    """What to run and where to write; no ``info_path``, ``packed_input`` or ``input_files`` and ``rounds`` set =
    pure inference. ``input_files``: images given by name, one per file (ais_bench's ``--input``)."""

    model_path: Path
    batch_size: int
    device_id: int = 0
    backend: str = "auto"
    options: RunnerOptions = field(default_factory=RunnerOptions)
    input_width: int | None = None
    input_height: int | None = None
    info_path: Path | None = None
    packed_input: Path | None = None
    input_files: tuple[Path, ...] = ()
    auto_packed: bool = True            # use images.npy beside the .bin files when proven identical to them
    rounds: int | None = None
    output_dir: Path = Path("result")
    binary: bool = False
    packed_output: bool = False
    warmup: int = 2
    prefetch_depth: int = 8
    seed: int = 0
    progress: bool = True
    command_line: Sequence[str] = ()
    dump_suffix: str = ""               # dumpOutput_device{id}{suffix}: a sweep keeps each batch size apart
    min_seconds: float = field(default_factory=default_min_seconds)    # pure inference: least timed seconds
    repeats: int = field(default_factory=default_repeats)              # blocks of the run the spread is taken over
    warn_unstable: bool = True          # log a large spread or a high load (a sweep says it once, for all sizes)

    def __post_init__(self) -> None:
        check_backend(self.backend)
        for name, least in (("batch_size", 1), ("device_id", 0), ("warmup", 0), ("prefetch_depth", 1),
                            ("input_width", 1), ("input_height", 1)):
            value = getattr(self, name)
            if value is not None and value < least:
                raise SettingError(f"{{{name}}}={{value}}: must be ≥ {least}", value=value)
        if self.repeats < 1:
            raise SettingError("{repeats}={value}: must be ≥ 1", value=self.repeats)
        if not self.min_seconds >= 0:
            raise SettingError("{min_seconds}={value}: must be ≥ 0", value=self.min_seconds)
        if self.rounds is not None and not self.pure_inference:
            raise SettingError("{rounds} is pure-inference mode, which reads no inputs: leave out {info_path} "
                               "(and {packed_input}), or {rounds}")
        if self.rounds is None and self.pure_inference:
            raise SettingError("give {info_path}=INFO (a run over a dataset) or {rounds}=N (pure inference)")
        if self.rounds is not None and self.rounds < 1:
            raise SettingError("{rounds}={value}: must be ≥ 1", value=self.rounds)

    @property
    def pure_inference(self) -> bool:
        return self.info_path is None and self.packed_input is None and not self.input_files

    @property
    def dump_dir(self) -> Path:
        """``dumpOutput_device{id}`` in the output folder, with the sweep's per-batch suffix."""
        final = dump_folder(self.output_dir, self.device_id)
        return final.with_name(final.name + self.dump_suffix)
