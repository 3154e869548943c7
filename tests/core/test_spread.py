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
                                                           "others_cpu_cores": None, "high_load": True}


def test_no_load_average_is_not_high(monkeypatch):
    def missing():
        raise OSError("no load average")

    monkeypatch.setattr(load_module.os, "getloadavg", missing)
    assert not LoadReading.start().finish().high


def fake_clocks(monkeypatch, busy, own, wall, load=0.1):
    """The machine's busy seconds, this process's CPU seconds and the wall clock at start() and finish()."""
    clocks = {"busy": iter(busy), "own": iter(own), "wall": iter(wall)}
    monkeypatch.setattr(load_module, "machine_busy_seconds", lambda: next(clocks["busy"]))
    monkeypatch.setattr(load_module, "own_cpu_seconds", lambda: next(clocks["own"]))
    monkeypatch.setattr(load_module.time, "monotonic", lambda: next(clocks["wall"]))
    monkeypatch.setattr(load_module.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(load_module.os, "cpu_count", lambda: 2)


def test_another_busy_process_makes_the_load_high_though_the_load_average_lags(monkeypatch):
    # genet used 1 CPU second in 2 s; the machine was busy 3 s: the others kept one core busy
    fake_clocks(monkeypatch, busy=[100.0, 103.0], own=[10.0, 11.0], wall=[0.0, 2.0])
    reading = LoadReading.start().finish()
    assert reading.others_cores == pytest.approx(1.0) and reading.high
    assert reading.to_json()["others_cpu_cores"] == pytest.approx(1.0)
    assert reading.text() == "load average 0.10/0.10 (before/after) on 2 cores, other processes 1.00 cores"


def test_a_machine_busy_only_with_genet_is_not_high(monkeypatch):
    fake_clocks(monkeypatch, busy=[100.0, 101.1], own=[10.0, 11.0], wall=[0.0, 2.0])
    reading = LoadReading.start().finish()
    assert reading.others_cores == pytest.approx(0.05) and not reading.high


def test_a_reading_too_short_says_nothing_of_the_others(monkeypatch):
    fake_clocks(monkeypatch, busy=[100.0, 100.5], own=[10.0, 10.0], wall=[0.0, 0.1])
    assert LoadReading.start().finish().others_cores is None            # 0.1 s: too few 10 ms ticks


def test_without_proc_stat_nothing_is_said_of_the_others(monkeypatch, tmp_path):
    monkeypatch.setattr(load_module, "PROC_STAT", str(tmp_path / "missing"))
    assert load_module.machine_busy_seconds() is None
    assert LoadReading.start().finish().others_cores is None


def test_the_busy_seconds_are_proc_stat_cpu_line_less_idle_and_iowait(monkeypatch, tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 50 1000 10 3 2 40 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    monkeypatch.setattr(load_module, "PROC_STAT", str(stat))
    assert load_module.machine_busy_seconds() == pytest.approx(200 / load_module.os.sysconf("SC_CLK_TCK"))
