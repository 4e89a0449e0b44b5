"""The report as pictures: participation per profession over time, and the
profession x profession heat map. PNG bytes from matplotlib's Agg backend.

Rendering is CPU work of tens of milliseconds: the feature runs these functions in a
worker thread (``asyncio.to_thread``). Each call builds its own ``Figure`` (no pyplot
and its global state), so two renders at once cannot mix. All texts come in as
arguments: the captions live in the catalogues.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from commands.stats.report import MIN_CELL, suppress

WIDTH_PX = 1000
HEIGHT_PX = 600
DPI = 100
_PALETTE = (
    "#1b6ca8",
    "#e07a1f",
    "#3a9d5d",
    "#c23b3b",
    "#7d5ba6",
    "#8c6d31",
    "#d15fa6",
    "#5f7f8c",
    "#b5b52c",
    "#2bb0b0",
)


@dataclass(frozen=True)
class ChartTexts:
    title: str
    x_label: str
    y_label: str
    note: str


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _figure() -> Figure:
    return Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")


def participation_chart(
    periods: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], texts: ChartTexts
) -> bytes:
    """Grouped bars: one group per period (week), one bar per profession. Values below
    ``MIN_CELL`` are left out of the picture."""
    figure = _figure()
    axes = figure.add_subplot()
    count = max(len(series), 1)
    width = 0.8 / count
    for index, (label, values) in enumerate(series):
        heights = [suppress(v) or 0 for v in values]
        positions = [p - 0.4 + width * (index + 0.5) for p in range(len(periods))]
        axes.bar(positions, heights, width=width, label=label, color=_PALETTE[index % len(_PALETTE)])
    axes.set_xticks(range(len(periods)), list(periods))
    axes.set_title(texts.title)
    axes.set_xlabel(texts.x_label)
    axes.set_ylabel(texts.y_label)
    if series:
        axes.legend(fontsize="small", ncols=2)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.text(0.01, 0.005, texts.note, fontsize="small", color="#555555")
    return _png(figure)


def heat_map(labels: Sequence[str], matrix: Sequence[Sequence[int]], texts: ChartTexts) -> bytes:
    """Rows answer columns; cells below ``MIN_CELL`` are blank and marked "<3"."""
    figure = _figure()
    axes = figure.add_subplot()
    values = [[float(v) if suppress(v) is not None else math.nan for v in row] for row in matrix]
    if not values:
        values = [[math.nan]]
    image = axes.imshow(values, cmap="Blues", vmin=0, aspect="auto")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(len(labels)), list(labels), rotation=30, ha="right")
    axes.set_yticks(range(len(labels)), list(labels))
    for r, row in enumerate(matrix):
        for c, value in enumerate(row):
            text = f"<{MIN_CELL}" if suppress(value) is None else str(value)
            axes.text(c, r, text, ha="center", va="center", fontsize="small", color="#222222")
    axes.set_title(texts.title)
    axes.set_xlabel(texts.x_label)
    axes.set_ylabel(texts.y_label)
    figure.text(0.01, 0.005, texts.note, fontsize="small", color="#555555")
    return _png(figure)
