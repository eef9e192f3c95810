"""Charts drawn on the server: the geometry of small SVG charts, computed in Python.

The functions here only compute positions; ``templates/_charts.html`` turns them into SVG, so
that every label passes through Jinja's autoescaping like any other text on a page. Each chart
has a ``viewBox`` of about a phone's width (360 units), so that its text is readable at 390 px
and it scales down with the page instead of scrolling sideways; the page shows the same numbers
in a small table next to it for screen readers and for reading exact values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

#: width of every chart's viewBox (user units ≈ CSS pixels on a phone)
WIDTH = 360
#: characters of a row label kept in a horizontal bar chart (the label has the chart's width, above
#: its bar; the full label is in a tooltip and in the numbers table)
LABEL_CHARS = 44


def nice_max(value: float, *, minimum: float = 1) -> float:
    """A round upper bound for an axis that holds ``value`` (1, 2 or 5 times a power of ten)."""
    value = max(value, minimum)
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)  # pragma: no cover - the loop always returns


def ticks(top: float, most: int = 5) -> list[float]:
    """Axis values from 0 to ``top`` in whole steps that divide it, at most ``most`` intervals.

    A round step (1, 2 or 5 times a power of ten) is preferred: 10 → 0, 2, 4 ... 10; 27 (a
    questionnaire's maximum) → 0, 9, 18, 27; 100 → 0, 20 ... 100.
    """
    whole = round(top)
    if whole < 1 or abs(top - whole) > 1e-9:
        return [0.0, top]
    steps = [s for s in range(1, whole + 1) if whole % s == 0 and whole // s <= most]
    round_steps = [s for s in steps if int(str(s).rstrip("0") or "0") in (1, 2, 5)]
    step = (round_steps or steps)[0]
    return [float(v) for v in range(0, whole + 1, step)]


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt(value: float) -> str:
    """A number as an axis or value label: no ``.0`` on whole numbers."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


@dataclass(frozen=True)
class Tick:
    value: str
    y: float


@dataclass(frozen=True)
class Column:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    #: whether the x-axis label is drawn under this column (every other one when crowded)
    show_label: bool


@dataclass(frozen=True)
class ColumnChart:
    """Vertical bars over a category axis (submissions per week)."""

    width: int
    height: int
    left: float
    bottom: float
    top: float
    columns: tuple[Column, ...]
    ticks: tuple[Tick, ...]

    @property
    def empty(self) -> bool:
        return not any(c.value for c in self.columns)


def column_chart(points: Sequence[tuple[str, int]], *, height: int = 200) -> ColumnChart:
    """Columns for ``(label, value)`` pairs, left to right."""
    left, right, top, bottom = 34.0, 8.0, 14.0, height - 30.0
    top_value = nice_max(max((v for _, v in points), default=0))
    slot = (WIDTH - left - right) / max(len(points), 1)
    every = 1 if slot >= 40 else 2 if slot >= 20 else 3
    columns = []
    for i, (label, value) in enumerate(points):
        bar_height = (bottom - top) * value / top_value
        columns.append(
            Column(
                label=label,
                value=value,
                x=round(left + i * slot + slot * 0.15, 2),
                y=round(bottom - bar_height, 2),
                width=round(slot * 0.7, 2),
                height=round(bar_height, 2),
                show_label=(len(points) - 1 - i) % every == 0,
            )
        )
    return ColumnChart(
        width=WIDTH,
        height=height,
        left=left,
        bottom=bottom,
        top=top,
        columns=tuple(columns),
        ticks=tuple(
            Tick(fmt(t), round(bottom - (bottom - top) * t / top_value, 2))
            for t in ticks(top_value)
        ),
    )


@dataclass(frozen=True)
class Row:
    label: str
    short_label: str
    value: int
    y: float
    width: float


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one labelled row each (overdue visits per worker)."""

    width: int
    height: int
    left: float
    row_height: float
    bar_height: float
    rows: tuple[Row, ...]


def bar_chart(points: Sequence[tuple[str, int]]) -> BarChart:
    """One horizontal bar per ``(label, value)``, in the order given, each label above its bar.

    A label has the chart's whole width, so names that differ only at the end (``Almaty social
    worker`` and ``Almaty social worker 2``) stay apart; see also :func:`distinct_labels`.
    """
    left, right, label_height, bar_height, pad = 0.0, 36.0, 16.0, 16.0, 6.0
    row_height = label_height + bar_height + 8.0
    top_value = max((v for _, v in points), default=0) or 1
    rows = tuple(
        Row(
            label=label,
            short_label=shorten(label),
            value=value,
            y=pad + i * row_height + label_height,
            width=round(max((WIDTH - left - right) * value / top_value, 1.0), 2),
        )
        for i, (label, value) in enumerate(points)
    )
    return BarChart(
        width=WIDTH,
        height=int(pad * 2 + row_height * max(len(rows), 1)),
        left=left,
        row_height=row_height,
        bar_height=bar_height,
        rows=rows,
    )


def distinct_labels(names: Sequence[tuple[str, str | None]]) -> list[str]:
    """Row labels for ``(name, key)`` pairs: the name, with the key added where names repeat.

    Two workers both called "Almaty social worker" get "Almaty social worker (worker1)" and
    "Almaty social worker (worker3)"; a unique name is left alone.
    """
    counts: dict[str, int] = {}
    for name, _ in names:
        counts[name] = counts.get(name, 0) + 1
    return [f"{name} ({key})" if counts[name] > 1 and key else name for name, key in names]


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    value: float
    on: date

    @property
    def text(self) -> str:
        return fmt(self.value)


@dataclass(frozen=True)
class Line:
    """One series: its name, CSS class and points (``polyline`` format)."""

    name: str
    css: str
    points: str
    markers: tuple[Marker, ...]


@dataclass(frozen=True)
class Guide:
    """A horizontal reference line (a band's threshold)."""

    label: str
    y: float


@dataclass(frozen=True)
class LineChart:
    """Values over dates: one line per series on a shared value axis."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    lines: tuple[Line, ...]
    ticks: tuple[Tick, ...]
    guides: tuple[Guide, ...]
    first: date | None
    last: date | None


def line_chart(
    series: Sequence[tuple[str, str, Sequence[tuple[date, float]]]],
    *,
    top_value: float,
    guides: Sequence[tuple[str, float]] = (),
    height: int = 190,
) -> LineChart:
    """Lines for ``(name, css class, [(date, value), ...])`` on a time axis.

    :param top_value: the top of the value axis (a questionnaire's maximum score).
    :param guides: ``(label, value)`` reference lines, such as a band's lower bound.
    """
    left, right, top, bottom = 34.0, WIDTH - 12.0, 12.0, height - 28.0
    dates = sorted({d for _, _, pts in series for d, _ in pts})
    first, last = (dates[0], dates[-1]) if dates else (None, None)
    span = (last - first).days if first and last else 0

    def x_of(on: date) -> float:
        if not span or first is None:
            return (left + right) / 2
        return round(left + (right - left) * (on - first).days / span, 2)

    def y_of(value: float) -> float:
        value = min(max(value, 0.0), top_value)
        return round(bottom - (bottom - top) * value / top_value, 2)

    lines = []
    for name, css, pts in series:
        ordered = sorted(pts)
        markers = tuple(Marker(x_of(d), y_of(v), v, d) for d, v in ordered)
        lines.append(
            Line(
                name=name,
                css=css,
                points=" ".join(f"{m.x},{m.y}" for m in markers),
                markers=markers,
            )
        )
    return LineChart(
        width=WIDTH,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        lines=tuple(lines),
        ticks=tuple(Tick(fmt(t), y_of(t)) for t in ticks(top_value)),
        guides=tuple(Guide(label, y_of(value)) for label, value in guides),
        first=first,
        last=last,
    )
