"""Compare two runs' dumps image by image: how far a candidate's logits (an NPU's, an fp16
engine's) stray from a reference's (ONNX Runtime's), and whether the predictions agree.

An element passes when ``|a - b| <= atol + rtol * |b|`` (``b`` the reference), as in
``numpy.isclose``; NaN or Inf on either side fails. The relative difference reported is ``|a - b| / |b|`` over elements
whose reference is not zero. Top-5 agreement means the same five classes, in any order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from genet.core.errors import GenetError, name_some
from genet.formats.dumps import DumpSet
from genet.reports.accuracy import rank_classes

WORST_SHOWN = 10
_TOP5 = 5


@dataclass(frozen=True)
class Tolerance:
    """An element passes when ``|a - b| <= atol + rtol * |b|``, ``b`` the reference."""

    atol: float
    rtol: float

    def __post_init__(self):
        for name in ("atol", "rtol"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise GenetError(f"{name} must be a finite number >= 0, got {value}")

    def rule(self) -> str:
        return f"|a - b| <= atol + rtol x |reference| (atol={self.atol:g}, rtol={self.rtol:g})"


@dataclass
class FileDiff:
    stem: str
    max_abs: float
    max_rel: float
    top1_candidate: int
    top1_reference: int
    within_tolerance: bool


@dataclass
class Comparison:
    candidate: str
    reference: str
    images: int                          # images present in both
    only_candidate: list[str]
    only_reference: list[str]
    max_abs: float
    max_rel: float
    top1_agree: int
    top5_agree: int
    out_of_tolerance: int                # images with at least one element past the tolerance (or NaN/Inf)
    non_finite: int                      # images whose logits hold NaN or Inf on either side
    tolerance: Tolerance
    worst: list[FileDiff] = field(default_factory=list)

    @property
    def same_images(self) -> bool:
        return not self.only_candidate and not self.only_reference

    @property
    def passed(self) -> bool:
        return self.same_images and self.images > 0 and self.out_of_tolerance == 0


def compare_dumps(candidate: DumpSet, reference: DumpSet, tolerance: Tolerance,
                  worst_shown: int = WORST_SHOWN) -> Comparison:
    if candidate.num_classes != reference.num_classes:
        raise GenetError(f"{candidate.source}: dumps hold {candidate.num_classes} values, but those in "
                         f"{reference.source} hold {reference.num_classes}")
    ref_row = {stem: i for i, stem in enumerate(reference.stems)}
    common = [stem for stem in candidate.stems if stem in ref_row]
    cand_row = {stem: i for i, stem in enumerate(candidate.stems)}
    a = candidate.logits[[cand_row[s] for s in common]].astype(np.float64)
    b = reference.logits[[ref_row[s] for s in common]].astype(np.float64)
    only_candidate = sorted(set(candidate.stems).difference(ref_row))
    only_reference = sorted(set(reference.stems).difference(cand_row))

    diff = np.abs(a - b)
    magnitude = np.abs(b)
    rel = np.divide(diff, magnitude, out=np.zeros_like(diff), where=magnitude > 0)
    non_finite = ~(np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1))
    # Written as "not within" so that a NaN anywhere fails.
    bad_rows = ~(diff <= tolerance.atol + tolerance.rtol * magnitude).all(axis=1)
    top_a, top_b = rank_classes(a, _TOP5), rank_classes(b, _TOP5)
    top5_same = (np.sort(top_a, axis=1) == np.sort(top_b, axis=1)).all(axis=1)
    row_abs, row_rel = diff.max(axis=1, initial=0.0), rel.max(axis=1, initial=0.0)

    order = np.argsort(np.where(non_finite, -np.inf, -row_abs), kind="stable")[:worst_shown]
    worst = [FileDiff(common[i], float(row_abs[i]), float(row_rel[i]), int(top_a[i, 0]), int(top_b[i, 0]),
                      not bad_rows[i]) for i in order]
    return Comparison(
        candidate=str(candidate.source), reference=str(reference.source), images=len(common),
        only_candidate=only_candidate, only_reference=only_reference,
        max_abs=float(row_abs.max(initial=0.0)), max_rel=float(row_rel.max(initial=0.0)),
        top1_agree=int((top_a[:, 0] == top_b[:, 0]).sum()), top5_agree=int(top5_same.sum()),
        out_of_tolerance=int(bad_rows.sum()), non_finite=int(non_finite.sum()), tolerance=tolerance, worst=worst)


def _share(count: int, total: int) -> str:
    return f"{count}/{total} ({100.0 * count / total:.2f}%)" if total else f"{count}/0"


def report_lines(c: Comparison) -> list[str]:
    lines = [f"candidate: {c.candidate}", f"reference: {c.reference}",
             f"images compared: {c.images}"]
    if c.only_candidate:
        lines.append(f"only in candidate: {len(c.only_candidate)} ({name_some(c.only_candidate)})")
    if c.only_reference:
        lines.append(f"only in reference: {len(c.only_reference)} ({name_some(c.only_reference)})")
    if c.images:
        lines += [f"max abs diff: {c.max_abs:.6g}",
                  f"max rel diff: {c.max_rel:.6g} (information only: the verdict uses the rule below)",
                  f"top-1 agreement: {_share(c.top1_agree, c.images)}",
                  f"top-5 agreement (same five classes): {_share(c.top5_agree, c.images)}",
                  f"rule: an element passes when {c.tolerance.rule()}",
                  f"images past the rule: {_share(c.out_of_tolerance, c.images)}"]
        if c.non_finite:
            lines.append(f"images with NaN or Inf logits (either side): {_share(c.non_finite, c.images)}")
        lines.append(f"worst {len(c.worst)} by max abs diff:")
        lines += [f"  {w.stem}: abs {w.max_abs:.6g} rel {w.max_rel:.6g} top-1 {w.top1_candidate} vs "
                  f"{w.top1_reference}{'' if w.within_tolerance else '  PAST TOLERANCE'}" for w in c.worst]
    verdict = "PASS" if c.passed else "FAIL"
    reasons = []
    if not c.same_images:
        reasons.append("the image sets differ")
    if c.non_finite:
        reasons.append(f"{c.non_finite} image(s) with NaN or Inf logits")
    if c.out_of_tolerance:
        reasons.append(f"{c.out_of_tolerance} image(s) past the tolerance")
    if not c.images:
        reasons.append("no image in common")
    lines.append(f"{verdict}" + (f": {'; '.join(reasons)}" if reasons else ""))
    return lines


def comparison_payload(c: Comparison) -> dict:
    return {
        "candidate": c.candidate, "reference": c.reference, "images": c.images,
        "only_candidate": c.only_candidate, "only_reference": c.only_reference,
        "max_abs_diff": c.max_abs, "max_rel_diff": c.max_rel,
        "top1_agreement": c.top1_agree, "top5_agreement": c.top5_agree,
        "out_of_tolerance": c.out_of_tolerance, "non_finite": c.non_finite, "atol": c.tolerance.atol,
        "rtol": c.tolerance.rtol, "rule": "|a - b| <= atol + rtol * |reference|", "passed": c.passed,
        "worst": [vars(w) for w in c.worst],
    }
