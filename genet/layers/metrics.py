"""How far one run's layer output is from the reference's, reduced batch by batch to statistics.

Per image: the cosine similarity of the two flattened outputs (kept, one float per image, so that
the minimum and the median over the data set can be reported). Over every element of every image:
the largest absolute error, the mean relative error, the relative Euclidean distance and the SQNR.
The names and formulas follow msaccucmp's built-in algorithms (CANN 8.1.RC1,
``tools/operator_cmp/compare/algorithm_manager/builtin_algorithm/alg_*.py``) where they mean the
same, computed over the whole data set instead of one dump:

- MaxAbsoluteError ``max |x - y|``;
- MeanRelativeError ``mean(|x / y - 1|)``, an element whose reference ``|y|`` is not above
  ``FLOAT_EPSILON`` counting 0 (msaccucmp's rule);
- RelativeEuclideanDistance ``sqrt(sum (x - y)^2 / sum y^2)`` (0 for two equal outputs; where the
  reference is all zeros and the run is not, infinite, where msaccucmp would print 0);
- SQNR ``10 log10(sum y^2 / sum (x - y)^2)`` dB, infinite for equal outputs (ONNX Runtime's
  ``qdq_loss_debug`` reports it, over all batches joined into one number, as here).

NaN-safe: a NaN or an infinity in either output is counted (per side) and the element is left out
of the error sums; the cosine of an image holding one is NaN, so that every threshold comparison
fails on it. Two all-zero outputs have cosine 1 (as msaccucmp); one all-zero output against a
non-zero one has cosine 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

FLOAT_EPSILON = float(np.finfo(float).eps)      # msaccucmp's ConstManager.FLOAT_EPSILON


def _rows(reference: np.ndarray, run: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Both outputs as B×n float32 rows, non-finite elements set to 0, and which rows held one (None: none did).

    Sums are taken in float64 (``dtype=np.float64`` casts in buffers, without float64 copies of the
    arrays): the product of two float32 values is exact in float64.
    """
    ref = np.asarray(reference, np.float32).reshape(len(reference), -1)
    got = np.asarray(run, np.float32).reshape(len(run), -1)
    if np.isfinite(ref).all() and np.isfinite(got).all():
        return ref, got, None
    bad = ~(np.isfinite(ref) & np.isfinite(got))
    ref, got = np.where(bad, np.float32(0), ref), np.where(bad, np.float32(0), got)
    return ref, got, bad.any(axis=1)


def _row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b, dtype=np.float64)


def _cosines(ref: np.ndarray, got: np.ndarray, diff: np.ndarray, ref_sq: np.ndarray,
             bad_rows: np.ndarray | None) -> np.ndarray:
    """Per-row cosine from the rows, their difference and the reference's squared norms."""
    ref_norm, got_norm = np.sqrt(ref_sq), np.sqrt(_row_dot(got, got))
    ref_zero, got_zero = ref_norm <= FLOAT_EPSILON, got_norm <= FLOAT_EPSILON
    with np.errstate(invalid="ignore", divide="ignore"):
        cosines = np.clip(_row_dot(ref, got) / (ref_norm * got_norm), -1.0, 1.0)
    cosines = np.where(ref_zero | got_zero, np.where(ref_zero & got_zero, 1.0, 0.0), cosines)
    cosines = np.where(~diff.any(axis=1), 1.0, cosines)         # equal outputs: exactly 1
    return cosines if bad_rows is None else np.where(bad_rows, np.nan, cosines)


def image_cosines(reference: np.ndarray, run: np.ndarray) -> np.ndarray:
    """The cosine similarity of each image's flattened outputs (rows of two B×… arrays), float64."""
    ref, got, bad_rows = _rows(reference, run)
    return _cosines(ref, got, got - ref, _row_dot(ref, ref), bad_rows)


@dataclass
class LayerStats:
    """The running statistics of one layer of one run against the reference."""

    shape: tuple[int, ...] = ()                 # one image's output shape
    cosines: list[float] = field(default_factory=list)
    max_abs: float = 0.0
    relative_sum: float = 0.0
    elements: int = 0                           # every element compared (msaccucmp's n)
    diff_squares: float = 0.0
    ref_squares: float = 0.0
    run_nan: int = 0
    run_inf: int = 0
    ref_nan: int = 0
    ref_inf: int = 0

    def update(self, reference: np.ndarray, run: np.ndarray) -> None:
        """Add one batch (B×… arrays of the same shape)."""
        self.shape = tuple(reference.shape[1:])
        self._count_non_finite(reference, run)
        ref, got, bad_rows = _rows(reference, run)
        diff = got - ref
        ref_sq = _row_dot(ref, ref)
        self.cosines.extend(_cosines(ref, got, diff, ref_sq, bad_rows).tolist())
        self.diff_squares += float(np.einsum("ij,ij->", diff, diff, dtype=np.float64))
        self.ref_squares += float(ref_sq.sum())
        np.abs(diff, out=diff)
        self.max_abs = max(self.max_abs, float(diff.max(initial=0.0)))
        magnitude = np.abs(ref)
        small = magnitude <= FLOAT_EPSILON
        np.divide(diff, magnitude, out=diff, where=~small)
        diff[small] = 0.0
        self.relative_sum += float(diff.sum(dtype=np.float64))
        self.elements += int(ref.size)

    def _count_non_finite(self, reference: np.ndarray, run: np.ndarray) -> None:
        for array, side in ((run, "run"), (reference, "ref")):
            if not np.isfinite(array).all():
                setattr(self, f"{side}_nan", getattr(self, f"{side}_nan") + int(np.isnan(array).sum()))
                setattr(self, f"{side}_inf", getattr(self, f"{side}_inf") + int(np.isinf(array).sum()))

    @property
    def images(self) -> int:
        return len(self.cosines)

    @property
    def cosine_min(self) -> float:
        return float(np.min(self.cosines)) if self.cosines else math.nan

    @property
    def cosine_median(self) -> float:
        return float(np.median(self.cosines)) if self.cosines else math.nan

    @property
    def mean_relative(self) -> float:
        return self.relative_sum / self.elements if self.elements else math.nan

    @property
    def relative_euclidean(self) -> float:
        if self.diff_squares == 0.0:
            return 0.0
        return math.sqrt(self.diff_squares / self.ref_squares) if self.ref_squares > 0.0 else math.inf

    @property
    def sqnr_db(self) -> float:
        if self.diff_squares == 0.0:
            return math.inf
        return 10.0 * math.log10(self.ref_squares / self.diff_squares) if self.ref_squares > 0.0 else -math.inf

    @property
    def non_finite(self) -> int:
        """NaN and infinite elements on either side."""
        return self.run_nan + self.run_inf + self.ref_nan + self.ref_inf

    def summary(self) -> dict[str, float | int]:
        return {"images": self.images, "cosine_min": self.cosine_min, "cosine_median": self.cosine_median,
                "max_abs_error": self.max_abs, "mean_relative_error": self.mean_relative,
                "relative_euclidean_distance": self.relative_euclidean, "sqnr_db": self.sqnr_db,
                "nan": self.run_nan, "inf": self.run_inf, "reference_nan": self.ref_nan,
                "reference_inf": self.ref_inf}
