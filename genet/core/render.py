"""The one renderer of tables and plots: Markdown and CSV tables, and PNG figures of figures against batch size.

perf_compare.py's table (genet.reports.perf_table), the sweep's ``.csv`` and ``.png`` (genet.bench.sweep) and the
demo's ``summary.md`` (genet.reports.summary) are drawn here. matplotlib is imported only when a PNG is drawn.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from dataclasses import dataclass, field
from typing import Iterator, Sequence

Cells = Sequence[str]


def markdown_table(header: Cells, rows: Sequence[Cells], lined_up: bool = False, empty: str = "") -> list[str]:
    """A Markdown table, one string a line; an empty cell is written as ``empty``.

    ``lined_up``: every column padded to its widest cell and right-aligned (``|---:|``), so that the table
    reads as a table in a terminal too; else the plain form ``| a | b |`` under ``|---|---|``.
    """
    rows = [[cell or empty for cell in row] for row in rows]
    if not lined_up:
        return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                *("| " + " | ".join(row) + " |" for row in rows)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Cells) -> str:
        return "| " + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|", *map(line, rows)]


def csv_text(header: Cells, rows: Sequence[Sequence[object]]) -> str:
    """A CSV table (``\\n`` line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


@contextlib.contextmanager
def png_figure(path: str | os.PathLike, dpi: int, **subplots) -> Iterator[tuple[object, object]]:
    """``(figure, axes)`` of ``plt.subplots(**subplots)``, saved as a PNG at ``path`` when the block ends.

    ``path`` is written in place: the caller makes it one of its run's atomic outputs.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(**subplots)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=dpi)
    finally:
        plt.close(fig)


@dataclass
class Series:
    """One line of a panel: a value per batch size; ``ring`` rings one batch's point (the best one)."""

    label: str
    values: dict[int, float]
    marker: str = "o"
    ring: int | None = None
    ring_label: str | None = None       # the ring's own legend entry (none: it is part of the line's)
    ring_color: str | None = None       # default: the line's colour
    ring_size: float = 12
    errors: dict[int, tuple[float, float]] | None = None    # batch → (low, high): an error bar (the IQR)


@dataclass
class Panel:
    xlabel: str
    ylabel: str
    title: str
    series: list[Series] = field(default_factory=list)


def plot_by_batch(path: str | os.PathLike, panels: Sequence[Panel], size: tuple[float, float], dpi: int,
                  title: str | None = None) -> None:
    """Panels side by side of values against batch size (log-2 axis, one tick per batch size), written to ``path``."""
    with png_figure(path, dpi, ncols=len(panels), figsize=size, squeeze=False) as (fig, axes):
        for ax, panel in zip(axes[0], panels, strict=True):
            batches = sorted({bs for series in panel.series for bs in series.values})
            colours = [_draw_line(ax, series) for series in panel.series]
            for series, colour in zip(panel.series, colours):        # the rings above every line
                if series.ring is not None:
                    _draw_ring(ax, series, colour)
            ax.set_xscale("log", base=2)
            ax.set_xticks(batches, [str(bs) for bs in batches])
            ax.minorticks_off()
            ax.set(xlabel=panel.xlabel, ylabel=panel.ylabel, title=panel.title)
            ax.set_ylim(bottom=0)       # from 0: a cut axis makes small differences look large
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title, fontsize=9)


def _draw_line(ax, series: Series) -> str:
    batches = sorted(series.values)
    values = [series.values[bs] for bs in batches]
    if series.errors:
        low = [max(value - series.errors.get(bs, (value, value))[0], 0.0) for bs, value in zip(batches, values)]
        high = [max(series.errors.get(bs, (value, value))[1] - value, 0.0) for bs, value in zip(batches, values)]
        bars = ax.errorbar(batches, values, yerr=[low, high], marker=series.marker, label=series.label, capsize=3)
        return bars.lines[0].get_color()
    line, = ax.plot(batches, values, marker=series.marker, label=series.label)
    return line.get_color()


def _draw_ring(ax, series: Series, colour: str) -> None:
    ax.plot([series.ring], [series.values[series.ring]], marker="o", markersize=series.ring_size, fillstyle="none",
            color=series.ring_color or colour, label=series.ring_label)
