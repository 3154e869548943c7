"""quantize.py's check: its progress bars count the images checked, once per model."""

from __future__ import annotations

import contextlib

import numpy as np

import genet.convert.quantize as quantize
from tests.runner_helpers import tiny_onnx


def test_check_bars_count_images(tmp_path, monkeypatch):
    bars = []

    @contextlib.contextmanager
    def recording_bar(total, description, quiet=False, **kwargs):
        counted = []
        bars.append((description, total, counted))

        class Bar:
            def update(self, n=1):
                counted.append(n)
        yield Bar()

    monkeypatch.setattr(quantize, "progress_bar", recording_bar)
    model = tiny_onnx(tmp_path / "m.onnx")
    images = np.random.default_rng(0).standard_normal((50, 3, 32, 32), dtype=np.float32)
    check = quantize.compare_models(model, model, images, np.zeros(50, np.int64), None)
    assert check.images == 50 and check.agreement == 100.0
    assert [(total, sum(counted)) for _, total, counted in bars] == [(50, 50), (50, 50)]
