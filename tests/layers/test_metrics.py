"""Per-layer metrics: msaccucmp's formulas over a data set, NaN-safe, and the verdict's thresholds."""

import math

import numpy as np
import pytest

from genet.layers.compare import Threshold, failure
from genet.layers.metrics import LayerStats, image_cosines
from genet.layers.protowire import WireError, parse


def stats_of(reference, run) -> LayerStats:
    stats = LayerStats()
    stats.update(np.asarray(reference, np.float32), np.asarray(run, np.float32))
    return stats


def test_identical_outputs_have_cosine_one_and_no_error():
    a = np.random.default_rng(0).standard_normal((4, 8, 5, 5)).astype(np.float32)
    stats = stats_of(a, a.copy())
    assert stats.cosines == [1.0] * 4
    assert (stats.max_abs, stats.mean_relative, stats.relative_euclidean) == (0.0, 0.0, 0.0)
    assert stats.sqnr_db == math.inf
    assert failure(stats, Threshold(0.9999)) is None


def test_zero_outputs():
    zeros = np.zeros((2, 6), np.float32)
    assert image_cosines(zeros, zeros).tolist() == [1.0, 1.0]            # as msaccucmp
    ones = np.ones((2, 6), np.float32)
    assert image_cosines(ones, zeros).tolist() == [0.0, 0.0]
    assert stats_of(zeros, ones).relative_euclidean == math.inf


def test_formulas_against_hand_computed_values():
    reference = np.array([[1.0, -2.0, 0.0, 4.0]])
    run = np.array([[1.5, -2.0, 1.0, 3.0]])
    stats = stats_of(reference, run)
    assert stats.max_abs == pytest.approx(1.0)
    # msaccucmp's MeanRelativeError: |x/y - 1| where |y| > eps, 0 elsewhere, over all n elements
    assert stats.mean_relative == pytest.approx((0.5 + 0.0 + 0.0 + 0.25) / 4)
    assert stats.relative_euclidean == pytest.approx(math.sqrt((0.25 + 1 + 1) / 21))
    assert stats.sqnr_db == pytest.approx(10 * math.log10(21 / 2.25))
    cosine = (1.5 - 2 * -2 + 12) / (math.sqrt(21) * math.sqrt(1.5 ** 2 + 4 + 1 + 9))
    assert stats.cosine_min == pytest.approx(cosine)


def test_batches_add_up_to_the_whole():
    rng = np.random.default_rng(1)
    reference = rng.standard_normal((6, 3, 4, 4)).astype(np.float32)
    run = reference + 0.01 * rng.standard_normal(reference.shape).astype(np.float32)
    whole, parts = stats_of(reference, run), LayerStats()
    for start in range(0, 6, 4):
        parts.update(reference[start:start + 4], run[start:start + 4])
    for key, value in whole.summary().items():
        assert parts.summary()[key] == pytest.approx(value), key


def test_a_nan_is_counted_makes_the_cosine_nan_and_fails():
    reference = np.ones((2, 4), np.float32)
    run = reference.copy()
    run[1, 2] = np.nan
    run[0, 0] = np.inf
    stats = stats_of(reference, run)
    assert (stats.run_nan, stats.run_inf) == (1, 1)
    assert math.isnan(stats.cosine_min)
    assert stats.max_abs == 0.0                     # the finite elements agree
    assert "1 NaN and 1 infinite value(s) in its output" in failure(stats, Threshold(0.5))


def test_a_nan_in_the_reference_fails_too():
    reference = np.ones((1, 4), np.float32)
    reference[0, 1] = np.nan
    assert "reference's output holds 1 NaN" in failure(stats_of(reference, np.ones((1, 4))), Threshold(0.5))


def test_a_scale_error_the_cosine_cannot_see_fails_on_the_distance():
    reference = np.random.default_rng(2).standard_normal((3, 50)).astype(np.float32)
    stats = stats_of(reference, 1.5 * reference)
    assert stats.cosine_min == pytest.approx(1.0)
    assert stats.relative_euclidean == pytest.approx(0.5)
    assert "relative Euclidean distance 0.5" in failure(stats, Threshold(0.9999))


def test_threshold_distance_is_that_of_an_orthogonal_error_at_the_cosine():
    threshold = Threshold(0.99)
    assert threshold.distance == pytest.approx(math.sqrt(0.02))
    with pytest.raises(Exception, match="cosine threshold"):
        Threshold(1.5)


def test_protowire_reads_packed_and_unpacked_repeated_fields_and_skips_unknown_ones():
    schema = {1: ("dim", "uint", True), 2: ("name", "string", False), 3: ("level", "int", False)}
    packed = bytes([0x0A, 0x03, 0x01, 0x96, 0x01, 0x48, 0x01, 0x12, 0x02]) + b"ab"    # 0x48: unknown field 9
    assert parse(packed, schema) == {"dim": [1, 150], "name": "ab", "level": 0}
    unpacked = bytes([0x08, 7, 0x08, 9, 0x28, 5]) + bytes([0x18]) + bytes([0xFF] * 9 + [0x01])
    message = parse(unpacked, schema)
    assert message["dim"] == [7, 9] and message["level"] == -1 and message["name"] == ""
    with pytest.raises(WireError):
        parse(bytes([0x12, 0x05, 0x61]), schema)                  # a string cut short
