"""Small models and generated inputs for the runner tests (random data, not CIFAR-10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from genet.convert.export import export_onnx, onnx_session
from genet.formats.dumps import dump_name, read_dump
from genet.formats.info import InfoEntry, write_info

SHAPE = (3, 32, 32)


class TinyNet(nn.Module):
    """conv → ReLU → global average pool → linear: milliseconds per thousand images."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1).flatten(1))


def tiny_onnx(path: Path, batch_size: int | None = None, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    export_onnx(TinyNet(), path, batch_size=batch_size)
    return path


def write_bins(folder: Path, count: int, seed: int = 0, info_name: str = "prep_bin.info",
               relative_to: Path | None = None) -> tuple[Path, np.ndarray]:
    """``count`` random 3×32×32 float32 .bin files (00000.bin, ...) and their info file.

    Paths in the info file are absolute, or ``./``-relative to ``relative_to`` when given
    (as get_info.py writes them).
    """
    data = folder / "prep_dataset"
    data.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(seed).standard_normal((count, *SHAPE), dtype=np.float32)
    entries = []
    for i, image in enumerate(images):
        path = data / f"{i:05d}.bin"
        image.tofile(path)
        shown = f"./{path.relative_to(relative_to)}" if relative_to else str(path)
        entries.append(InfoEntry(i, shown, SHAPE[2], SHAPE[1]))
    info = folder / info_name
    write_info(info, entries)
    return info, images


def direct_onnx(path: Path, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Logits from a plain ONNX Runtime session, batch by batch (a static model gets zero padding)."""
    session = onnx_session(path)
    static = session.get_inputs()[0].shape[0]
    rows = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        real = len(batch)
        if isinstance(static, int) and real < static:
            batch = np.concatenate([batch, np.zeros((static - real, *SHAPE), np.float32)])
        rows.append(session.run(["class"], {"image": batch})[0][:real])
    return np.concatenate(rows)


def read_dumps(folder: Path, count: int, binary: bool = False) -> np.ndarray:
    """The dumps of images 00000 .. count-1, through the project's own reader."""
    return np.array([read_dump(folder / dump_name(f"{i:05d}", binary)) for i in range(count)])
