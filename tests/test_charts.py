"""Chart geometry (fieldapp.web.charts): round axes, bars proportional to their values and
inside the viewBox, long labels shortened, lines ordered in time."""

from __future__ import annotations

from datetime import date

import pytest

from fieldapp.web import charts


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20), (260, 500)]
)
def test_axis_top_is_round_and_holds_the_value(value, top):
    assert charts.nice_max(value) == top


@pytest.mark.parametrize(
    ("top", "expected"),
    [(10, [0, 2, 4, 6, 8, 10]), (27, [0, 9, 18, 27]), (100, [0, 20, 40, 60, 80, 100]), (1, [0, 1])],
)
def test_ticks_are_whole_steps(top, expected):
    assert charts.ticks(top) == expected


def test_columns_are_proportional_and_inside_the_view_box():
    chart = charts.column_chart([("a", 0), ("b", 4), ("c", 8)])
    a, b, c = chart.columns
    assert a.height == 0
    assert c.height == pytest.approx(2 * b.height)
    for col in chart.columns:
        assert 0 <= col.x and col.x + col.width <= chart.width
        assert chart.top <= col.y <= chart.bottom
    assert c.show_label  # the newest week is always labelled
    assert not charts.column_chart([("a", 0)]).columns[0].height


def test_bars_shorten_long_labels_and_keep_the_full_one():
    label = "a very long display name of a worker, longer than any chart row"
    chart = charts.bar_chart([(label, 6), ("b", 3)])
    first, second = chart.rows
    assert first.label == label
    assert len(first.short_label) == charts.LABEL_CHARS and first.short_label.endswith("…")
    assert first.width == pytest.approx(2 * second.width)
    assert chart.left + first.width <= chart.width
    assert second.y > first.y


def test_lines_run_left_to_right_in_time_and_up_with_the_value():
    chart = charts.line_chart(
        [("PHQ", "series-phq", [(date(2026, 6, 1), 16.0), (date(2026, 4, 1), 9.0)])],
        top_value=27,
        guides=[("10", 10)],
    )
    (line,) = chart.lines
    early, late = line.markers
    assert early.on < late.on and early.x < late.x
    assert late.y < early.y  # 16 is drawn above 9
    assert line.points == f"{early.x},{early.y} {late.x},{late.y}"
    assert (chart.first, chart.last) == (date(2026, 4, 1), date(2026, 6, 1))
    expected = chart.bottom - (chart.bottom - chart.top) * 10 / 27
    assert chart.guides[0].y == pytest.approx(expected, abs=0.01)


def test_repeated_names_get_their_key_and_unique_ones_stay_alone():
    labels = charts.distinct_labels(
        [("Almaty social worker", "worker1"), ("Dana", "dana"), ("Almaty social worker", "worker3")]
    )
    assert labels == ["Almaty social worker (worker1)", "Dana", "Almaty social worker (worker3)"]
    # the unassigned row has no key and keeps its name even when repeated
    assert charts.distinct_labels([("nobody", None), ("nobody", None)]) == ["nobody", "nobody"]
