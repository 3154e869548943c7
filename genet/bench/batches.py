"""The run's images in batches: the batch plan, each batch read into one array, and a thread reading ahead.

``plan_batches`` cuts ``count`` images into batches; a static-batch model gets its last partial
batch padded with zero images, whose outputs the caller drops. ``read_batches`` reads each batch
from an image source (``genet.bench.sources``) and ``Prefetcher`` runs it on a thread, a few
batches ahead of the model.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Generic, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from genet.bench.sources import ImageShape, ImageSource


@dataclass(frozen=True)
class BatchSpan:
    start: int
    stop: int
    rows: int            # the model's batch: stop - start, or the static batch size (padding)

    @property
    def real(self) -> int:
        return self.stop - self.start


def plan_batches(count: int, batch_size: int, pad_to_batch: bool) -> list[BatchSpan]:
    """Batches of ``batch_size``; the last partial one padded to it when ``pad_to_batch``."""
    return [BatchSpan(start, min(start + batch_size, count),
                      batch_size if pad_to_batch else min(batch_size, count - start))
            for start in range(0, count, batch_size)]


@dataclass
class Batch:
    number: int
    stems: Sequence[str]       # of the real images (empty for random images)
    images: np.ndarray         # rows×C×H×W float32; rows past ``real`` are padding
    real: int
    read_start: float          # perf_counter() stamps of the data-read and preprocess stages
    read_end: float
    prep_end: float


def read_batches(source: ImageSource, spans: Iterable[BatchSpan], shape: ImageShape) -> Iterator[Batch]:
    """Read each span into a fresh array (data read), then zero its padding rows (preprocess)."""
    for number, span in enumerate(spans):
        read_start = time.perf_counter()
        images = np.empty((span.rows, *shape), dtype=np.float32)
        source.read_into(span.start, span.stop, images)
        read_end = time.perf_counter()
        if span.rows > span.real:
            images[span.real:] = 0.0
        yield Batch(number, source.stems[span.start:span.stop], images, span.real, read_start, read_end,
                    time.perf_counter())


T = TypeVar("T")
_END = object()


class Prefetcher(Generic[T]):
    """Run an iterator on a thread, ``depth`` items ahead of the consumer.

    An exception in the producer is re-raised in the consumer; closing early (the consumer
    failed) stops the producer at its next item.
    """

    def __init__(self, items: Iterable[T], depth: int = 8):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(items,), name="genet-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, items: Iterable[T]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:     # handed to the consumer, which re-raises it
            self._put(exc)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> "Prefetcher[T]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
