"""The one renderer of tables and plots (genet.core.render)."""

from __future__ import annotations

import contextlib

import genet.core.render as render
from genet.core.render import Panel, Series, csv_text, markdown_table, plot_by_batch


def test_a_lined_up_markdown_table():
    assert markdown_table(["batch", "fps"], [["1", "12.5"], ["16", "1234.0"]], lined_up=True) == [
        "| batch |    fps |", "|------:|-------:|", "|     1 |   12.5 |", "|    16 | 1234.0 |"]


def test_a_plain_markdown_table_and_its_empty_cells():
    assert markdown_table(["batch", "a", "b"], [["1", "", "3.0"]], empty="-") == [
        "| batch | a | b |", "|---|---|---|", "| 1 | - | 3.0 |"]


def test_csv_text():
    assert csv_text(["batch", "note"], [[1, "a,b"], [16, ""]]) == 'batch,note\n1,"a,b"\n16,\n'


def test_plot_by_batch_writes_a_png(tmp_path):
    panel = Panel("batch size", "images/s", "Throughput",
                  [Series("a", {1: 10.0, 4: 30.0}, ring=4), Series("b", {1: 5.0, 16: 8.0}, marker="s",
                                                                   ring=16, ring_label="best", ring_color="red")])
    plot_by_batch(tmp_path / "p.png", [panel, panel], size=(6, 3), dpi=50, title="two panels")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_y_axis_starts_at_zero(tmp_path, monkeypatch):
    limits = []
    original = render.png_figure

    @contextlib.contextmanager
    def recording(path, dpi, **subplots):
        with original(path, dpi, **subplots) as (fig, axes):
            yield fig, axes
            limits.extend(ax.get_ylim() for ax in axes.flat)

    monkeypatch.setattr(render, "png_figure", recording)
    panel = Panel("batch size", "images/s", "Throughput", [Series("a", {1: 1400.0, 4: 1500.0})])
    plot_by_batch(tmp_path / "p.png", [panel], size=(4, 3), dpi=50)
    assert len(limits) == 1 and limits[0][0] == 0 and limits[0][1] >= 1500
