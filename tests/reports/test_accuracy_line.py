"""cifar10_acc_eval.py's console line: percentages with two decimals, as docs/metrics.md writes them."""

from __future__ import annotations

import numpy as np

from genet.reports.accuracy import Accuracy, summary_line


def test_console_line_has_two_decimals():
    acc = Accuracy(images=1000, classes=10, topk_correct=(987, 990, 995, 999, 1000), confusion=np.zeros((10, 10), int))
    assert summary_line(acc) == "1000 images, 10 classes: top-1 98.70% (Error@1 1.30), top-5 100.00% (Error@5 0.00)"
