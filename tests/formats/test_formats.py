"""The shared file formats: info lines, label lines, dumps and the five-line perf report."""

from __future__ import annotations

import numpy as np
import pytest

from genet.core.errors import GenetError
from genet.formats.dumps import format_row, read_dump, scan_dumps, write_dump
from genet.formats.info import InfoEntry, format_info, read_info
from genet.formats.labels import read_labels, write_labels
from genet.formats.perf_report import PerfReport, parse_perf_txt, seed_interface_figure

SEED_PERF = """[e2e] throughputRate: 132.777, latency: 75314.4
[data read] throughputRate: 134.331, moduleLatency: 7.44429
[preprocess] throughputRate: 134.114, moduleLatency: 7.45634
[inference] throughputRate: 134.244, Interface throughputRate: 809.813, moduleLatency: 1.35099
[postprocess] throughputRate: 134.257, moduleLatency: 7.44838
"""


def test_info_round_trip_with_a_path_holding_spaces(tmp_path):
    entries = [InfoEntry(0, "./prep dataset/00000.bin", 32, 32), InfoEntry(1, "./prep dataset/00001.bin", 32, 32)]
    (tmp_path / "a.info").write_text(format_info(entries) + "\n")
    assert read_info(tmp_path / "a.info") == entries
    assert entries[1].stem == "00001"


@pytest.mark.parametrize("line", ["0 ./x.bin 32", "zero ./x.bin 32 32", "0 ./x.bin 32 wide"])
def test_malformed_info_line_names_file_and_line(tmp_path, line):
    (tmp_path / "b.info").write_text(f"0 ./ok.bin 32 32\n{line}\n")
    with pytest.raises(GenetError, match=r"b\.info:2: malformed info line"):
        read_info(tmp_path / "b.info")


def test_labels_round_trip_and_refusals(tmp_path):
    write_labels(tmp_path / "val_label.txt", [("00000.bin", 3), ("00001.bin", 8)])
    assert (tmp_path / "val_label.txt").read_text() == "00000.bin 3\n00001.bin 8\n"
    assert read_labels(tmp_path / "val_label.txt") == {"00000": 3, "00001": 8}
    (tmp_path / "twice.txt").write_text("00000.bin 3\n00000.bin 4\n")
    with pytest.raises(GenetError, match=r"twice\.txt:2: 00000\.bin is labelled twice"):
        read_labels(tmp_path / "twice.txt")
    (tmp_path / "bad.txt").write_text("00000.bin cat\n")
    with pytest.raises(GenetError, match=r"bad\.txt:1: malformed label line"):
        read_labels(tmp_path / "bad.txt")


def test_txt_dumps_round_trip_float32_exactly(tmp_path):
    values = np.random.default_rng(0).standard_normal(10).astype(np.float32) * 1e3
    values[0] = np.float32(1 / 3)
    write_dump(tmp_path, "00007", values)
    write_dump(tmp_path, "00008", values, binary=True)
    assert format_row(values).count(" ") == 9
    assert np.array_equal(read_dump(tmp_path / "00007_1.txt"), values)
    assert np.array_equal(read_dump(tmp_path / "00008_1.bin"), values)
    assert sorted(scan_dumps(tmp_path)) == ["00007", "00008"]


def test_two_dumps_of_one_image_are_refused(tmp_path):
    write_dump(tmp_path, "00001", np.zeros(10))
    write_dump(tmp_path, "00001", np.zeros(10), binary=True)
    with pytest.raises(GenetError, match="two dumps for one image"):
        scan_dumps(tmp_path)


def test_perf_report_speaks_the_seed_format():
    report = parse_perf_txt(SEED_PERF)
    assert report.interface_throughput == 809.813 and report.e2e_latency_ms == 75314.4
    assert report.to_txt() == SEED_PERF
    assert seed_interface_figure(report.to_txt()) == 809.813


def test_perf_parser_reads_the_ascend_tools_own_tags_and_suffixes():
    text = SEED_PERF.replace("[inference]", "[infer]").replace("[postprocess]", "[post]")
    text = text.replace("809.813,", "809.813samples/s,")
    assert parse_perf_txt(text).interface_throughput == 809.813
    assert seed_interface_figure(text) == 809.813


def test_perf_parser_refuses_other_text():
    with pytest.raises(GenetError, match=r"no \[e2e\] line"):
        parse_perf_txt("GPU Compute Time: mean = 1 ms", "log.txt")
    with pytest.raises(GenetError, match="has no Interface throughputRate"):
        parse_perf_txt(SEED_PERF.replace("Interface throughputRate: 809.813, ", ""))


def test_perf_report_rounds_like_the_ascend_tool():
    report = PerfReport(*([1234.56789] * 11))
    assert "throughputRate: 1234.57," in report.to_txt()
