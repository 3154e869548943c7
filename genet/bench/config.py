"""What one benchmark run does, checked once: ``BenchConfig``.

Every setting is validated here, when the config is made, and a bad one raises ``SettingError``
naming the field (``batch_size``); ``benchmark.py`` re-spells those names as the flags the user
typed (``-batch_size``). The rest of the engine takes a config as valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from genet.core.errors import SettingError
from genet.formats.dumps import dump_folder
from genet.runners.base import RunnerOptions, check_backend


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

    def __post_init__(self) -> None:
        check_backend(self.backend)
        for name, least in (("batch_size", 1), ("device_id", 0), ("warmup", 0), ("prefetch_depth", 1),
                            ("input_width", 1), ("input_height", 1)):
            value = getattr(self, name)
            if value is not None and value < least:
                raise SettingError(f"{{{name}}}={{value}}: must be ≥ {least}", value=value)
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
