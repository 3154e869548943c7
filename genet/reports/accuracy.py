"""Top-k accuracy of dumped logits against ``val_label.txt`` (seed step 6).

Matching is strict where the seed's script silently skews its figures: a labelled image
without a dump, a dump without a label, two dumps of one image, a dump with the wrong
number of values and non-finite logits are errors naming the files.

Ties: classes are ranked by a *stable* sort of the negated logits, so among equal logits
the lowest class index ranks first (logits ``[2, 5, 5]`` predict class 1, then class 2).

The JSON keeps the seed's schema (``title`` and a ``value`` list of ``key``/``value``
strings, ``Top1 accuracy`` .. ``Top5 accuracy`` as ``"94.22%"``) and adds ``Error@1`` and
``Error@5`` entries; per-class figures and the confusion matrix go in top-level keys, so
the seed's ``test/parse.py`` (which picks the entries whose key contains ``Top``) still works.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from genet.core.constants import CIFAR10_CLASSES
from genet.core.errors import GenetError, name_some
from genet.core.fsio import write_text_atomic
from genet.core.render import png_figure
from genet.formats.dumps import DumpSet

TOP_K = 5
TITLE = "Overall statistical evaluation"
GENERATED_DATA = "generated (NOT CIFAR-10)"     # the JSON's "data" for figures on genet.data.synthetic images


@dataclass
class Matched:
    """Dumps paired with their labels; ``missing`` lists labelled images left without a dump."""

    logits: np.ndarray
    labels: np.ndarray
    missing: list[str] = field(default_factory=list)


def match_labels(dumps: DumpSet, labels: dict[str, int], label_path: str | os.PathLike,
                 allow_missing: bool = False) -> Matched:
    unlabelled = [i for i, stem in enumerate(dumps.stems) if stem not in labels]
    if unlabelled:
        raise GenetError(f"{dumps.source}: {len(unlabelled)} dump(s) have no label in {label_path}: "
                         f"{dumps.describe(unlabelled)}")
    missing = sorted(set(labels).difference(dumps.stems))
    if missing and not allow_missing:
        raise GenetError(f"{label_path}: {len(missing)} labelled image(s) have no dump in {dumps.source}: "
                         f"{name_some(missing)} (--allow-missing evaluates the rest)")
    y = np.fromiter((labels[s] for s in dumps.stems), dtype=np.int64, count=len(dumps.stems))
    out_of_range = np.flatnonzero(y >= dumps.num_classes)
    if out_of_range.size:
        i = out_of_range[0]
        raise GenetError(f"{label_path}: {dumps.stems[i]} has label {y[i]}, but the dumps hold "
                         f"{dumps.num_classes} classes ({out_of_range.size} such label(s))")
    return Matched(dumps.logits, y, missing)


def rank_classes(logits: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best classes of each row, best first; equal logits rank the lower index first."""
    return np.argsort(-logits, axis=1, kind="stable")[:, :k]


def percent(count: int, total: int) -> float:
    """The guide's rounding: percent to 2 decimals."""
    return round(100.0 * count / total, 2)


@dataclass
class Accuracy:
    images: int
    classes: int
    topk_correct: tuple[int, ...]   # images whose label is among the best k, k = 1..TOP_K
    confusion: np.ndarray           # [true class, predicted class] counts
    missing: list[str] = field(default_factory=list)

    def top(self, k: int) -> float:
        return percent(self.topk_correct[k - 1], self.images)

    def error(self, k: int) -> float:
        return percent(self.images - self.topk_correct[k - 1], self.images)


def evaluate(matched: Matched) -> Accuracy:
    logits, y = matched.logits, matched.labels
    classes = logits.shape[1]
    ranked = rank_classes(logits, TOP_K)
    hits_at_rank = (ranked == y[:, None]).sum(axis=0)
    cumulative = np.cumsum(hits_at_rank)
    # With fewer than TOP_K classes every label is within the top k for k >= classes.
    topk = tuple(int(cumulative[min(k, classes) - 1]) for k in range(1, TOP_K + 1))
    confusion = np.bincount(y * classes + ranked[:, 0], minlength=classes * classes).reshape(classes, classes)
    return Accuracy(len(y), classes, topk, confusion, list(matched.missing))


def class_names(classes: int) -> list[str]:
    return list(CIFAR10_CLASSES) if classes == len(CIFAR10_CLASSES) else [f"class {i}" for i in range(classes)]


def _entry(key: str, value: str) -> dict[str, str]:
    return {"key": key, "value": value}


def accuracy_payload(acc: Accuracy, per_class: bool = False, generated: bool = False) -> dict:
    """The seed's JSON object, plus Error@1/@5, missing images, optional per-class figures, and
    ``"data": GENERATED_DATA`` when the images were generated."""
    entries = [_entry("Number of images", str(acc.images)), _entry("Number of classes", str(acc.classes))]
    entries += [_entry(f"Top{k} accuracy", f"{acc.top(k):.2f}%") for k in range(1, TOP_K + 1)]
    entries += [_entry("Error@1", str(acc.error(1))), _entry("Error@5", str(acc.error(TOP_K)))]
    payload: dict = {"title": TITLE, "value": entries}
    if generated:
        payload["data"] = GENERATED_DATA
    if acc.missing:
        entries.append(_entry("Images without a dump (not counted)", str(len(acc.missing))))
        payload["images_without_dump"] = acc.missing
    if per_class:
        names = class_names(acc.classes)
        totals, correct = acc.confusion.sum(axis=1), np.diag(acc.confusion)
        payload["per_class"] = [
            {"class": c, "name": names[c], "images": int(totals[c]), "correct": int(correct[c]),
             "accuracy": f"{percent(int(correct[c]), int(totals[c])):.2f}%" if totals[c] else "n/a"}
            for c in range(acc.classes)
        ]
        payload["confusion_matrix"] = {"rows": "true class", "columns": "predicted class (top-1)",
                                       "classes": names, "counts": acc.confusion.tolist()}
    return payload


def accuracy_json(payload: dict) -> str:
    # One line, as the seed's json.dump writes it.
    return json.dumps(payload) + "\n"


def write_accuracy_json(path: str | os.PathLike, payload: dict) -> None:
    write_text_atomic(path, accuracy_json(payload))


def summary_line(acc: Accuracy, generated: bool = False) -> str:
    line = (f"{acc.images} images, {acc.classes} classes: top-1 {acc.top(1):.2f}% (Error@1 {acc.error(1):.2f}), "
            f"top-5 {acc.top(TOP_K):.2f}% (Error@5 {acc.error(TOP_K):.2f})")      # two decimals: docs/metrics.md
    if generated:
        line += f" [data: {GENERATED_DATA}]"
    if acc.missing:
        line += f"; {len(acc.missing)} labelled image(s) had no dump and are not counted"
    return line


def plot_confusion(acc: Accuracy, path: str | os.PathLike, title: str = "Confusion matrix (top-1)") -> None:
    """A heat map of the confusion matrix, counts written in the cells, written in place to ``path``
    (the caller makes it one of the run's atomic outputs)."""
    names = class_names(acc.classes)
    size = max(5.0, 0.6 * acc.classes + 2)
    with png_figure(path, dpi=120, figsize=(size, size * 0.85)) as (fig, ax):
        image = ax.imshow(acc.confusion, cmap="Blues", vmin=0)
        fig.colorbar(image, ax=ax, label="images")
        ax.set(xticks=range(acc.classes), yticks=range(acc.classes), xlabel="predicted class",
               ylabel="true class", title=title)
        ax.set_xticklabels(names, rotation=45, ha="right")
        ax.set_yticklabels(names)
        if acc.classes <= 20:
            threshold = acc.confusion.max() / 2
            for (row, col), count in np.ndenumerate(acc.confusion):
                ax.text(col, row, str(count), ha="center", va="center", fontsize=7,
                        color="white" if count > threshold else "black")
