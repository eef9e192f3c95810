"""fieldapp.forms.sandbox: the XLSForm compile in a child process with time and memory limits."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from fieldapp.forms.sandbox import CompileLimits, compile_in_child
from fieldapp.forms.xlsform import FormCompileError, UnreadableFormFile, compile_xlsform

GOOD = b"""
| survey   |         |         |       |
|          | type    | name    | label |
|          | integer | age     | Age   |
| settings |         |         |       |
|          | form_id | version |       |
|          | visit   | 1       |       |
"""


def slow_form(questions: int = 6_000) -> bytes:
    """A valid markdown form that takes pyxform seconds (within the row limits)."""
    rows = "\n".join(
        f"| | select_one yn | q{i} | Question {i} | ${{q{i - 1}}} = 'yes' |"
        if i
        else "| | select_one yn | q0 | Question 0 | |"
        for i in range(questions)
    )
    return (
        "| survey |\n| | type | name | label | relevant |\n"
        + rows
        + "\n| choices |\n| | list_name | name | label |\n| | yn | yes | Yes |\n| | yn | no | No |"
        + "\n| settings |\n| | form_id | version |\n| | slow | 1 |\n"
    ).encode()


def run(data: bytes, filename: str = "visit.md", **limits: float) -> object:
    return compile_in_child(
        data, filename=filename, max_bytes=10 * 1024 * 1024, limits=CompileLimits(**limits)
    )


def no_child_left() -> bool:
    return not [p for p in multiprocessing.active_children() if p.name == "fieldapp-xlsform"]


def test_the_child_compiles_exactly_what_compile_xlsform_does() -> None:
    assert run(GOOD) == compile_xlsform(GOOD, filename="visit.md")
    assert no_child_left()


def test_form_problems_come_back_with_their_locations() -> None:
    with pytest.raises(FormCompileError) as info:
        run(GOOD.replace(b"integer", b"integr"))
    err = info.value
    assert (err.code, err.http_status) == ("form.invalid", 422)
    (problem,) = err.problems
    assert (problem.code, problem.sheet, problem.row) == ("xlsform.unknown_type", "survey", 2)
    assert err.details == [problem.to_dict()]


def test_unreadable_files_come_back_with_their_codes() -> None:
    with pytest.raises(UnreadableFormFile) as info:
        run(b"PK\x03\x04garbage", filename="visit.xlsx")
    assert (info.value.code, info.value.http_status) == ("file.corrupt", 400)


def test_a_compile_over_the_time_limit_is_stopped_with_a_clear_error() -> None:
    started = time.monotonic()
    with pytest.raises(FormCompileError) as info:
        run(slow_form(), timeout=0.3)
    elapsed = time.monotonic() - started
    err = info.value
    assert (err.code, err.http_status) == ("xlsform.too_slow", 422)
    assert "0.3 seconds" in err.message
    assert err.details[0]["code"] == "xlsform.too_slow"
    assert elapsed < 5, "answered soon after the limit, not when pyxform would have finished"
    assert no_child_left(), "the child was killed and reaped"


def test_a_compile_over_the_memory_limit_is_refused() -> None:
    with pytest.raises(FormCompileError) as info:
        run(slow_form(2_000), memory_mb=1)
    assert (info.value.code, info.value.http_status) == ("xlsform.too_much_memory", 422)
    assert "1 MB" in info.value.message
    assert no_child_left()


def test_the_next_compile_after_a_killed_one_works() -> None:
    with pytest.raises(FormCompileError):
        run(slow_form(), timeout=0.2)
    assert run(GOOD) == compile_xlsform(GOOD, filename="visit.md")
