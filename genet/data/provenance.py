"""Where a data set came from: generated stand-ins carry a mark, so every figure computed on them says so.

``genet.data.synthetic`` writes ``GENERATED_MARK`` into the ``cifar-10-batches-py/`` folder it makes;
``preprocess.py`` copies it into its output folder when its input carried it; readers of those
folders (accuracy, the demo's summary) call ``is_generated`` and label their figures.
"""

from __future__ import annotations

import os
from pathlib import Path

from genet.core.constants import CIFAR10_ARCHIVE, CIFAR10_FOLDER, GENERATED_ARCHIVE

GENERATED_MARK = "GENERATED-NOT-CIFAR10.txt"
GENERATED_NOTE = ("GENERATED DATA: these images were drawn by genet.data.synthetic (one pattern per class), "
                  "they are NOT CIFAR-10. Accuracy on them shows that the pipeline works end to end; "
                  "it is not a CIFAR-10 accuracy.")


def mark_generated(folder: str | os.PathLike) -> None:
    """Write the mark into ``folder`` (a folder being built: the caller writes it atomically)."""
    (Path(folder) / GENERATED_MARK).write_text(GENERATED_NOTE + "\n", encoding="utf-8")


def is_generated(path: str | os.PathLike) -> bool:
    """True when ``path`` (a folder, or a file inside one) holds generated data.

    Decides as the reader finds the data (``genet.data.cifar.find_source``): the folder's own mark,
    else the ``cifar-10-batches-py/`` below it (a ``datasets_path``), else the generator's
    archive when no official one is there. A file counts by its name or its folder's mark.
    """
    place = Path(path)
    if not place.is_dir():
        return place.name == GENERATED_ARCHIVE or (place.parent / GENERATED_MARK).is_file()
    if (place / GENERATED_MARK).is_file():
        return True
    if (place / CIFAR10_FOLDER).is_dir():
        return (place / CIFAR10_FOLDER / GENERATED_MARK).is_file()
    return (place / GENERATED_ARCHIVE).is_file() and not (place / CIFAR10_ARCHIVE).exists()
