"""fieldapp.forms.diff: what a new version of a form changes, from real pyxform output.

Each test compiles two XLSForms (markdown tables, pyxform's own format), reads them as fieldapp
stores them (the field tree JSON and the entity declarations) and compares.
"""

# XLSForms are markdown tables here; their rows are as wide as the form needs.
# ruff: noqa: RUF001

from __future__ import annotations

from typing import Any

from fieldapp.forms.diff import FormDiff, diff_versions, xlsform_type
from fieldapp.forms.services import _entity_json
from fieldapp.forms.xform import field_tree_to_json, fields_from_json, parse_xform
from fieldapp.forms.xlsform import compile_xlsform

SETTINGS = """
| settings |
|          | form_id | version | form_title | default_language |
|          | visit   | {v}     | Home visit | English (en)     |
"""

V1 = """
| survey |
|        | type                  | name      | label::English (en) | label::Русский (ru) | hint::English (en) | relevant        | constraint | required | save_to    |
|        | text                  | family    | Family code         | Код семьи           |                    |                 |            | yes      |            |
|        | integer               | age       | Age                 | Возраст             | In years           |                 | . < 120    |          | age        |
|        | select_one condition  | condition | Condition           | Состояние           |                    |                 |            |          | risk_level |
|        | begin_group           | home      | Home                | Дом                 |                    |                 |            |          |            |
|        | text                  | address   | Address             | Адрес               |                    |                 |            |          |            |
|        | integer               | rooms     | Rooms               | Комнаты             |                    |                 |            |          |            |
|        | end_group             |           |                     |                     |                    |                 |            |          |            |
|        | begin_repeat          | kids      | Children            | Дети                |                    |                 |            |          |            |
|        | text                  | kid_name  | Name                | Имя                 |                    |                 |            |          |            |
|        | select_one yn         | school    | At school?          | В школе?            |                    |                 |            |          |            |
|        | end_repeat            |           |                     |                     |                    |                 |            |          |            |
|        | text                  | notes     | Notes               | Заметки             |                    | ${age} > 17     |            |          |            |
| choices |
|         | list_name | name   | label::English (en) | label::Русский (ru) |
|         | condition | good   | Good                | Хорошо              |
|         | condition | partly | Partly              | Частично            |
|         | condition | bad    | Bad                 | Плохо               |
|         | yn        | yes    | Yes                 | Да                  |
|         | yn        | no     | No                  | Нет                 |
| entities |
|          | list_name  | label     |
|          | households | ${family} |
"""


def version(md: str, v: str = "1") -> dict[str, Any]:
    """A version as fieldapp stores it."""
    info = parse_xform(compile_xlsform((md + SETTINGS.format(v=v)).encode(), filename="x.md").xform)
    return {
        "fields": field_tree_to_json(info.fields),
        "entities": [_entity_json(e) for e in info.entities],
        "languages": list(info.languages),
    }


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> FormDiff:
    return diff_versions(
        fields_from_json(old["fields"]) if old else None,
        fields_from_json(new["fields"]),
        old_entities=old["entities"] if old else (),
        new_entities=new["entities"],
        old_languages=old["languages"] if old else (),
        new_languages=new["languages"],
        default_language="English (en)",
    )


def by_name(result: FormDiff) -> dict[str, Any]:
    return {q.name: q for q in result.questions}


def test_the_same_form_has_no_differences() -> None:
    assert diff(version(V1), version(V1, "2")).empty


def test_a_first_version_adds_every_question() -> None:
    result = diff(None, version(V1))
    names = [q.name for q in result.questions if q.change == "added"]
    assert names[:4] == ["family", "age", "condition", "home"]
    assert [e.change for e in result.entities] == ["added"]
    assert {p.property for p in result.properties if p.change == "newly_saved"} == {
        "age",
        "risk_level",
    }


def test_added_removed_and_renamed_questions() -> None:
    v2 = V1.replace(
        "|        | text                  | notes     | Notes               | Заметки             |                    | ${age} > 17     |            |          |            |",
        "|        | text                  | remarks   | Remarks             | Примечания          |                    |                 |            |          |            |\n"
        "|        | date                  | next_date | Next visit          | Следующий визит     |                    |                 |            |          |            |",
    )
    result = diff(version(V1), version(v2, "2"))
    changes = {q.name: q.change for q in result.questions}
    assert changes == {"remarks": "added", "next_date": "added", "notes": "removed"}
    removed = by_name(result)["notes"]
    assert removed.count == ("answered", (("notes", False),), None)
    added = by_name(result)["next_date"]
    assert (added.type, added.label, added.count) == ("date", "Next visit", None)


def test_type_label_hint_relevance_constraint_required_changes() -> None:
    v2 = (
        V1.replace(
            "| integer               | age       | Age                 | Возраст             | In years           |                 | . < 120    |",
            "| text                  | age       | Age (years)         | Возраст             | Whole years        |                 | . != ''    |",
        )
        .replace(
            "| Notes               | Заметки             |                    | ${age} > 17     |",
            "| Notes               | Заметки             |                    | ${age} > 21     |",
        )
        .replace(
            "| Family code         | Код семьи           |                    |                 |            | yes      |",
            "| Family code         | Код семьи           |                    |                 |            |          |",
        )
    )
    result = diff(version(V1), version(v2, "2"))
    age = by_name(result)["age"]
    assert age.change == "changed"
    got = {(a.attribute, a.language): (a.old, a.new) for a in age.attributes}
    assert got[("type", None)] == ("integer", "text")
    assert got[("label", "English (en)")] == ("Age", "Age (years)")
    assert ("label", "Русский (ru)") not in got
    assert got[("hint", "English (en)")] == ("In years", "Whole years")
    assert got[("constraint", None)] == (". < 120", ". != ''")
    # the answers already received are counted where they are: answers at /data/age
    assert age.count == ("answered", (("age", False),), None)
    notes = by_name(result)["notes"]
    assert [(a.attribute, a.old, a.new) for a in notes.attributes] == [
        ("relevance", " /data/age  > 17", " /data/age  > 21")
    ]
    family = by_name(result)["family"]
    assert [(a.attribute, a.old, a.new) for a in family.attributes] == [("required", True, False)]
    # a question whose type stays the same is not counted
    assert family.count is None
    # the case property saved from age now gets text
    (prop,) = [p for p in result.properties if p.property == "age"]
    assert (prop.change, prop.old_type, prop.new_type) == ("type_changed", "integer", "text")


def test_choices_added_removed_and_relabelled_per_language() -> None:
    v2 = (
        V1.replace(
            "|         | condition | partly | Partly              | Частично            |\n", ""
        )
        .replace(
            "|         | condition | bad    | Bad                 | Плохо               |",
            "|         | condition | bad    | Bad                 | Очень плохо         |\n"
            "|         | condition | unknown | Unknown            | Неизвестно          |",
        )
        .replace(
            "|         | yn        | no     | No                  | Нет                 |",
            "|         | yn        | no     | Not at school       | Нет                 |",
        )
    )
    result = diff(version(V1), version(v2, "2"))
    condition = by_name(result)["condition"]
    got = [(c.change, c.value, c.language, c.old, c.new) for c in condition.choices]
    assert ("removed", "partly", None, None, None) in got
    assert ("relabelled", "bad", "Русский (ru)", "Плохо", "Очень плохо") in got
    assert ("added", "unknown", None, None, None) in got
    removed = next(c for c in condition.choices if c.change == "removed")
    assert removed.count == ("chose", (("condition", False),), "partly")
    assert removed.labels == {"English (en)": "Partly", "Русский (ru)": "Частично"}
    # a choice inside a repeat is counted inside the repeat's instances
    school = by_name(result)["school"]
    (relabelled,) = school.choices
    assert relabelled.count == ("chose", (("kids", True), ("school", False)), "no")
    assert result.count_keys == [
        ("chose", (("condition", False),), "partly"),
        ("chose", (("condition", False),), "bad"),
        ("chose", (("kids", True), ("school", False)), "no"),
    ]


def test_moved_within_a_group_and_to_another_group() -> None:
    v2 = (
        V1.replace(
            "|        | text                  | address   | Address             | Адрес               |                    |                 |            |          |            |\n"
            "|        | integer               | rooms     | Rooms               | Комнаты             |                    |                 |            |          |            |\n",
            "|        | integer               | rooms     | Rooms               | Комнаты             |                    |                 |            |          |            |\n"
            "|        | text                  | address   | Address             | Адрес               |                    |                 |            |          |            |\n",
        )
        .replace(
            "|        | text                  | kid_name  | Name                | Имя                 |                    |                 |            |          |            |\n",
            "",
        )
        .replace(
            "|        | end_group             |",
            "|        | text                  | kid_name  | Name                | Имя                 |                    |                 |            |          |            |\n"
            "|        | end_group             |",
        )
    )
    result = diff(version(V1), version(v2, "2"))
    questions = by_name(result)
    kid = questions["kid_name"]
    assert (kid.change, kid.old_path, kid.path) == (
        "moved",
        "/data/kids/kid_name",
        "/data/home/kid_name",
    )
    assert kid.count == ("answered", (("kids", True), ("kid_name", False)), None)
    # one of address/rooms changed place in the group; the answers stay where they were
    reordered = [q for q in result.questions if q.name in ("address", "rooms")]
    assert len(reordered) == 1
    assert reordered[0].change == "moved"
    assert reordered[0].old_path == reordered[0].path
    assert reordered[0].count is None


def test_save_to_and_entity_changes_become_case_property_effects() -> None:
    v2 = (
        V1.replace(
            "| . < 120    |          | age        |", "| . < 120    |          |            |"
        )
        .replace(
            "|          |            |\n|        | begin_group ",
            "|          | condition  |\n|        | begin_group ",
        )
        .replace(
            "|                    |                 |            |          | risk_level |",
            "|                    |                 |            |          |            |",
        )
        .replace(
            "|        | integer               | rooms     | Rooms               | Комнаты             |                    |                 |            |          |            |",
            "|        | integer               | rooms     | Rooms               | Комнаты             |                    |                 |            |          | risk_level |",
        )
    )
    result = diff(version(V1), version(v2, "2"))
    props = {p.property: p for p in result.properties}
    assert props["age"].change == "no_longer_saved"
    assert props["risk_level"].change == "source_changed"
    assert (props["risk_level"].old_question, props["risk_level"].new_question) == (
        "/data/condition",
        "/data/home/rooms",
    )
    shown = result.to_json()
    messages = [e["message"] for e in shown["effects"]]
    assert "Property `age` of `households` is no longer updated by this form." in messages
    save_to = [
        (a.attribute, a.old, a.new)
        for a in by_name(result)["age"].attributes
        if a.attribute == "save_to"
    ]
    assert save_to == [("save_to", "age", None)]


def test_entity_declaration_removed() -> None:
    v2 = (
        V1.split("| entities |", maxsplit=1)[0]
        .replace("| age        |", "|            |")
        .replace("| risk_level |", "|            |")
    )
    result = diff(version(V1), version(v2, "2"))
    assert [(e.change, e.dataset) for e in result.entities] == [("removed", "households")]
    assert {p.change for p in result.properties} == {"no_longer_saved"}
    shown = result.to_json()
    assert any(
        e["message"] == "This form no longer creates or updates cases of `households`."
        for e in shown["effects"]
    )


def test_a_new_language_is_reported_once_not_per_label() -> None:
    old = version(V1)
    new = version(V1.replace("Код семьи", "Код семьи (новый)"), "2")
    new["languages"] = [*new["languages"], "Қазақша (kk)"]
    result = diff(old, new)
    assert result.languages_added == ("Қазақша (kk)",)
    family = by_name(result)["family"]
    assert [(a.attribute, a.language) for a in family.attributes] == [("label", "Русский (ru)")]


def test_to_json_counts_and_effects() -> None:
    v2 = V1.replace(
        "|         | condition | partly | Partly              | Частично            |\n", ""
    ).replace("| integer               | age       |", "| text                  | age       |")
    result = diff(version(V1), version(v2, "2"))
    counts = {
        ("chose", (("condition", False),), "partly"): {"1": 30, "2": 7},
        ("answered", (("age", False),), None): {"1": 120},
    }
    shown = result.to_json(counts)
    assert shown["summary"] == {"added": 0, "removed": 0, "changed": 2, "moved": 0}
    condition = next(q for q in shown["questions"] if q["name"] == "condition")
    assert condition["choices"][0] == {
        "change": "removed",
        "value": "partly",
        "labels": {"English (en)": "Partly", "Русский (ru)": "Частично"},
        "submissions": {"total": 37, "by_version": {"1": 30, "2": 7}},
    }
    messages = [e["message"] for e in shown["effects"]]
    assert "Choice `partly` of `condition` removed: 37 submissions used it." in messages
    assert (
        "Question `age` type changed from integer to text: 120 submissions have an answer."
        in messages
    )
    # without counts, nothing is claimed about submissions
    assert all(q["submissions"] is None for q in result.to_json()["questions"])


def test_xlsform_types() -> None:
    info = parse_xform(
        compile_xlsform(
            (
                """
| survey |
|        | type     | name | label |
|        | image    | p    | Photo |
|        | geopoint | g    | Where |
|        | decimal  | d    | Num   |
|        | note     | n    | Note  |
"""
                + SETTINGS.format(v="1")
            ).encode(),
            filename="x.md",
        ).xform
    )
    assert [xlsform_type(f) for f in info.fields[:4]] == ["image", "geopoint", "decimal", "note"]
