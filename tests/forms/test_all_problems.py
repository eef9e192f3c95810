"""An upload with several independent errors is refused once, listing every one of them with
sheet, row and column (pyxform itself stops at its first)."""

from __future__ import annotations

import textwrap

import pytest

from fieldapp.forms.xlsform import FormCompileError, compile_xlsform
from tests.conftest import post_file
from tests.forms.several_problems import EXPECTED, SEVERAL_PROBLEMS


def _located(details):
    return [(d["code"], d["sheet"], d["row"], d["column"]) for d in details]


def test_the_api_lists_every_independent_problem(client, api_token):
    headers = {"Authorization": f"Bearer {api_token('designer')}"}
    response = post_file(client, "/api/v1/forms", SEVERAL_PROBLEMS, "several.md", headers=headers)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "form.invalid"
    assert _located(error["details"]) == EXPECTED
    assert "6 problems" in error["message"]
    assert all(d["message"] for d in error["details"])


def test_the_problem_pyxform_found_is_listed_once():
    with pytest.raises(FormCompileError) as caught:
        compile_xlsform(SEVERAL_PROBLEMS, filename="several.md")
    # pyxform stopped at the unknown choice list; fieldapp's message for it appears once
    codes = [p.code for p in caught.value.problems]
    assert codes.count("xlsform.choice_list_missing") == 1
    assert len(caught.value.problems) == len(EXPECTED)


def test_a_form_pyxform_accepts_gets_none_of_the_extra_problems():
    good = textwrap.dedent("""
        | survey   |                 |      |           |
        |          | type            | name | label     |
        |          | select_one yn   | q    | Q ${q}    |
        |          | text            | r    | R         |
        | choices  |                 |      |           |
        |          | list_name       | name | label     |
        |          | yn              | yes  | Yes       |
        | settings |                 |      |           |
        |          | form_id         | instance_name |  |
        |          | good            | concat(${r}, 'x') | |
    """).encode()
    assert compile_xlsform(good, filename="good.md").warnings == ()


def test_a_choices_column_that_is_no_name_is_named_as_the_reason():
    kobo = textwrap.dedent("""
        | survey  |               |      |       |
        |         | type          | name | label |
        |         | select_one yn | q    | Q     |
        | choices |               |      |       |       |
        |         | list_name     | name | label | $kuid |
        |         | yn            | yes  | Yes   | c1    |
    """).encode()
    with pytest.raises(FormCompileError) as caught:
        compile_xlsform(kobo, filename="kobo.md")
    [problem] = caught.value.problems
    assert (problem.code, problem.sheet, problem.row, problem.column) == (
        "xlsform.choice_column_invalid",
        "choices",
        1,
        "$kuid",
    )
    assert "ODK Collect" in problem.message
