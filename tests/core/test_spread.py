"""Repeats, spread, the tie rule, the percentile sample minimum and the load reading (genet.core.stats, load)."""

from __future__ import annotations

import math

import pytest

import genet.core.load as load_module
from genet.core.load import LoadReading
from genet.core.stats import (
    clearly_above,
    is_unstable,
    percentile_min_samples,
    percentile_text,
    spread,
    summarize,
)


def test_spread_gives_median_quartiles_and_cv_of_the_repeats():
    found = spread([100.0, 110.0, 90.0, 105.0, 95.0])
    assert (found["repeats"], found["median"], found["q1"], found["q3"]) == (5, 100.0, 95.0, 105.0)
    assert (found["min"], found["max"]) == (90.0, 110.0)
    assert found["cv"] == pytest.approx(math.sqrt(62.5) / 100.0)
    assert spread([7.0])["cv"] == 0.0 and spread([]) == {}


def test_the_tie_rule_needs_the_interquartile_ranges_apart():
    best, close, far = spread([100, 102, 104, 106, 108]), spread([95, 97, 103, 105, 107]), spread([80, 81, 82, 83, 84])
    assert clearly_above(best, far) and not clearly_above(best, close)
    assert clearly_above(spread([2.0]), spread([1.0])) and not clearly_above(spread([1.0]), spread([1.0]))
    assert not clearly_above(spread([float("nan")]), spread([1.0]))


def test_a_cv_of_ten_percent_or_nan_is_unstable():
    assert is_unstable({"cv": 0.10}) and is_unstable({"cv": float("nan")}) and not is_unstable({"cv": 0.099})


@pytest.mark.parametrize("percentile, need", [(50, 2), (90, 10), (95, 20), (99, 100)])
def test_a_percentile_needs_one_sample_expected_above_it(percentile, need):
    assert percentile_min_samples(percentile) == need


def test_a_percentile_from_too_few_samples_is_marked_not_printed():
    few, enough = summarize([1.0] * 99), summarize([1.0] * 100)
    assert percentile_text(few, "p99") == "n<100" and percentile_text(enough, "p99") == "1.0000"
    assert percentile_text(summarize([2.0]), "median") == "n<2"


def test_load_above_the_core_count_before_or_after_is_high(monkeypatch):
    readings = iter([(1.5, 1.0, 1.0), (2.5, 1.0, 1.0)])
    monkeypatch.setattr(load_module.os, "getloadavg", lambda: next(readings))
    monkeypatch.setattr(load_module.os, "cpu_count", lambda: 2)
    reading = LoadReading.start()
    assert not reading.high
    assert reading.finish().high and reading.to_json() == {"load_before": 1.5, "load_after": 2.5, "cores": 2,
                                                           "high_load": True}


def test_no_load_average_is_not_high(monkeypatch):
    def missing():
        raise OSError("no load average")

    monkeypatch.setattr(load_module.os, "getloadavg", missing)
    assert not LoadReading.start().finish().high
