# ruff: noqa: RUF001 - Cyrillic labels are the point of these forms
"""Writes the corpus workbooks of this folder from the tables below (a record of how they were
made, like scripts/build_programme_forms.py for forms/).

Run ``.venv/bin/python tests/forms/corpus/build_corpus.py`` to write the ``.xlsx`` files. The one
legacy ``.xls`` (``legacy_visit.xls``) is written only when the ``xlwt`` package can be imported
(it is not a dependency of fieldapp: install it into a throwaway virtualenv to rebuild the file).
The media files beside the workbooks are written by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

Sheet = list[list[object]]

#: a test-only RSA public key, made for these tests (its private half was thrown away: the
#: server never decrypts, and the tests build the envelope Collect would send)
PUBLIC_KEY = (
    (HERE / "encryption-test-key.pub").read_text().strip()
    if (HERE / "encryption-test-key.pub").exists()
    else ""
)

YN = [["yn", "yes", "Yes"], ["yn", "no", "No"]]

FORMS: dict[str, dict[str, Sheet]] = {
    # KoboToolbox export: no version, no form_id, $kuid/$autoname columns, labels with codes
    "kobo_household_survey.xlsx": {
        "survey": [
            [
                "type",
                "name",
                "label::English (en)",
                "label::Français (fr)",
                "required",
                "$kuid",
                "$autoname",
            ],
            ["start", "start", "", "", "", "a1b2c3", "start"],
            ["end", "end", "", "", "", "d4e5f6", "end"],
            [
                "text",
                "respondent",
                "Respondent name",
                "Nom du répondant",
                "true",
                "g7h8i9",
                "respondent",
            ],
            [
                "integer",
                "hh_size",
                "Household size",
                "Taille du ménage",
                "true",
                "j1k2l3",
                "hh_size",
            ],
            [
                "select_one yn",
                "has_water",
                "Safe water?",
                "Eau potable ?",
                "false",
                "m4n5o6",
                "has_water",
            ],
            ["select_multiple needs", "needs", "Needs", "Besoins", "false", "p7q8r9", "needs"],
        ],
        "choices": [
            ["list_name", "name", "label::English (en)", "label::Français (fr)"],
            ["yn", "yes", "Yes", "Oui"],
            ["yn", "no", "No", "Non"],
            ["needs", "food", "Food", "Nourriture"],
            ["needs", "shelter", "Shelter", "Abri"],
            ["needs", "health", "Health", "Santé"],
        ],
        "settings": [["form_title", "style"], ["Household survey", "pages"]],
    },
    # language columns without codes, Cyrillic (Russian and Kazakh), no version
    "legacy_visit.xls": {
        "survey": [
            ["type", "name", "label::English", "label::Russian", "label::Kazakh", "relevant"],
            ["text", "family", "Family name", "Фамилия семьи", "Отбасы тегі", ""],
            [
                "select_one yn",
                "at_home",
                "Was anyone at home?",
                "Был ли кто-нибудь дома?",
                "Үйде біреу болды ма?",
                "",
            ],
            ["text", "notes", "Notes", "Заметки", "Жазбалар", "${at_home} = 'yes'"],
            ["date", "next_visit", "Next visit", "Следующий визит", "Келесі бару", ""],
        ],
        "choices": [
            ["list_name", "name", "label::English", "label::Russian", "label::Kazakh"],
            ["yn", "yes", "Yes", "Да", "Иә"],
            ["yn", "no", "No", "Нет", "Жоқ"],
        ],
        "settings": [
            ["form_id", "form_title", "default_language"],
            ["legacy_visit", "Legacy visit", "English"],
        ],
    },
    # typographic quotes as Excel's autocorrect writes them
    "typographic_quotes.xlsx": {
        "survey": [
            ["type", "name", "label", "relevant", "required", "constraint"],
            ["select_one kind", "kind", "Kind of visit", "", "yes", ""],
            [
                "text",
                "other_kind",
                "Which other kind?",
                "${kind} = \u2018other\u2019",
                "${kind} = \u201cother\u201d",
                "",
            ],
            ["text", "code", "Code", "", "", "string-length(.) < 10 or . = \u2018none\u2019"],
        ],
        "choices": [
            ["list_name", "name", "label"],
            ["kind", "home", "Home"],
            ["kind", "school", "School"],
            ["kind", "other", "Other"],
        ],
        "settings": [["form_id", "version"], ["typographic_quotes", "2024051501"]],
    },
    "or_other.xlsx": {
        "survey": [
            ["type", "name", "label"],
            ["select_one fruit or_other", "fruit", "Favourite fruit"],
            ["select_multiple fruit or_other", "fruits", "Fruits eaten this week"],
        ],
        "choices": [
            ["list_name", "name", "label"],
            ["fruit", "apple", "Apple"],
            ["fruit", "banana", "Banana"],
        ],
        "settings": [["form_id", "version"], ["or_other", "3"]],
    },
    "select_one_external.xlsx": {
        "survey": [
            ["type", "name", "label", "choice_filter"],
            ["select_one region", "region", "Region", ""],
            ["select_one_external district", "district", "District", "region=${region}"],
        ],
        "choices": [
            ["list_name", "name", "label"],
            ["region", "north", "North"],
            ["region", "south", "South"],
        ],
        "external_choices": [
            ["list_name", "name", "label", "region"],
            ["district", "n1", "North one", "north"],
            ["district", "n2", "North two", "north"],
            ["district", "s1", "South one", "south"],
        ],
        "settings": [["form_id", "version"], ["select_one_external", "1"]],
    },
    # choices from CSV, XML and GeoJSON media files
    "select_from_files.xlsx": {
        "survey": [
            ["type", "name", "label", "parameters"],
            ["select_one_from_file villages.csv", "village", "Village", ""],
            ["select_multiple_from_file sites.xml", "sites", "Sites visited", ""],
            ["select_one_from_file points.geojson", "point", "Water point", ""],
            ["select_one_from_file schools.csv", "school", "School", "value=code label=title"],
        ],
        "settings": [["form_id", "version"], ["select_from_files", "1"]],
    },
    "pulldata.xlsx": {
        "survey": [
            ["type", "name", "label", "calculation"],
            ["text", "item", "Item code (rice, oil)", ""],
            ["calculate", "price", "", "pulldata('prices', 'price', 'key', ${item})"],
            ["note", "price_note", "The usual price is ${price}", ""],
        ],
        "settings": [["form_id", "version"], ["pulldata", "1"]],
    },
    "cascading_selects.xlsx": {
        "survey": [
            ["type", "name", "label", "choice_filter"],
            ["select_one state", "state", "State", ""],
            ["select_one lga", "lga", "LGA", "state=${state}"],
            ["select_one ward", "ward", "Ward", "state=${state} and lga=${lga}"],
        ],
        "choices": [
            ["list_name", "name", "label", "state", "lga"],
            ["state", "kano", "Kano", "", ""],
            ["state", "kaduna", "Kaduna", "", ""],
            ["lga", "nassarawa", "Nassarawa", "kano", ""],
            ["lga", "zaria", "Zaria", "kaduna", ""],
            ["ward", "gama", "Gama", "kano", "nassarawa"],
            ["ward", "tudun", "Tudun Wada", "kaduna", "zaria"],
        ],
        "settings": [["form_id", "version"], ["cascading_selects", "1"]],
    },
    "table_list.xlsx": {
        "survey": [
            ["type", "name", "label", "appearance"],
            ["begin_group", "services", "Services used", "table-list"],
            ["select_one freq", "clinic", "Clinic", ""],
            ["select_one freq", "school", "School", ""],
            ["select_one freq", "market", "Market", ""],
            ["end_group", "", "", ""],
            ["begin_group", "grid", "Grid", "field-list"],
            ["select_one yn", "header", "Answer", "label"],
            ["select_one yn", "q1", "Has a bed net", "list-nolabel"],
            ["select_one yn", "q2", "Has a latrine", "list-nolabel"],
            ["end_group", "", "", ""],
        ],
        "choices": [
            ["list_name", "name", "label"],
            ["freq", "never", "Never"],
            ["freq", "sometimes", "Sometimes"],
            ["freq", "often", "Often"],
            *YN,
        ],
        "settings": [["form_id", "version"], ["table_list", "1"]],
    },
    "nested_repeats.xlsx": {
        "survey": [
            ["type", "name", "label", "repeat_count"],
            ["integer", "n_households", "How many households?", ""],
            ["begin_repeat", "household", "Household", "${n_households}"],
            ["text", "head", "Head of household", ""],
            ["begin_repeat", "member", "Member", ""],
            ["text", "member_name", "Name", ""],
            ["begin_repeat", "vaccination", "Vaccination", ""],
            ["text", "vaccine", "Vaccine", ""],
            ["date", "vaccine_date", "Date", ""],
            ["end_repeat", "", "", ""],
            ["end_repeat", "", "", ""],
            ["end_repeat", "", "", ""],
        ],
        "settings": [["form_id", "version"], ["nested_repeats", "1"]],
    },
    "encrypted.xlsx": {
        "survey": [
            ["type", "name", "label"],
            ["text", "name", "Name"],
            ["integer", "age", "Age"],
        ],
        "settings": [["form_id", "version", "public_key"], ["encrypted", "1", PUBLIC_KEY]],
    },
    # entity registration and a follow-up reading the list it creates
    "patient_registration.xlsx": {
        "survey": [
            ["type", "name", "label", "save_to"],
            ["text", "patient_name", "Patient name", "full_name"],
            ["integer", "age", "Age", "age"],
            ["select_one yn", "pregnant", "Pregnant?", "pregnant"],
        ],
        "choices": [["list_name", "name", "label"], *YN],
        "entities": [["list_name", "label"], ["patients", "${patient_name}"]],
        "settings": [["form_id", "version"], ["patient_registration", "1"]],
    },
    "patient_followup.xlsx": {
        "survey": [
            ["type", "name", "label", "save_to", "calculation"],
            ["select_one_from_file patients.csv", "patient", "Patient", "", ""],
            [
                "calculate",
                "known_age",
                "",
                "",
                "instance('patients')/root/item[name=${patient}]/age",
            ],
            ["integer", "weight", "Weight (kg)", "weight", ""],
            ["select_one yn", "pregnant", "Pregnant?", "pregnant", ""],
        ],
        "choices": [["list_name", "name", "label"], *YN],
        "entities": [["list_name", "entity_id"], ["patients", "${patient}"]],
        "settings": [["form_id", "version"], ["patient_followup", "1"]],
    },
    "arabic_labels.xlsx": {
        "survey": [
            [
                "type",
                "name",
                "label::العربية (ar)",
                "label::English (en)",
                "hint::العربية (ar)",
                "hint::English (en)",
            ],
            [
                "text",
                "child_name",
                "اسم الطفل",
                "Child's name",
                "الاسم الأول فقط",
                "First name only",
            ],
            ["select_one lang", "home_language", "لغة البيت", "Home language", "", ""],
            ["integer", "age", "العمر", "Age", "", ""],
        ],
        "choices": [
            ["list_name", "name", "label::العربية (ar)", "label::English (en)"],
            ["lang", "ar", "العربية", "Arabic"],
            ["lang", "ru", "الروسية", "Russian"],
            ["lang", "kk", "الكازاخية", "Kazakh"],
        ],
        "settings": [
            ["form_id", "version", "default_language"],
            ["arabic_labels", "1", "العربية (ar)"],
        ],
    },
    "hausa_labels.xlsx": {
        "survey": [
            ["type", "name", "label::Hausa (ha)", "label::English (en)"],
            ["text", "sunan", "Sunan mai amsa", "Respondent's name"],
            ["select_one eeee", "yana_da_ruwa", "Akwai ruwan sha mai tsafta?", "Safe water?"],
            ["integer", "yara", "Yara nawa ne a gidan?", "How many children in the household?"],
        ],
        "choices": [
            ["list_name", "name", "label::Hausa (ha)", "label::English (en)"],
            ["eeee", "eh", "Eh", "Yes"],
            ["eeee", "a_a", "A'a", "No"],
        ],
        "settings": [["form_id", "version"], ["hausa_labels", "1"]],
    },
    # a form id with a space, as in ODK's own "Spec test" sample, and no version
    "spec_test.xlsx": {
        "survey": [
            ["type", "name", "label", "relevant"],
            ["text", "family", "Family", ""],
            ["integer", "children", "Children", "${family} != 'none'"],
        ],
        "settings": [["form_id", "form_title"], ["Spec test", "Spec test"]],
    },
}


def write_xlsx(path: Path, sheets: dict[str, Sheet]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)


def write_xls(path: Path, sheets: dict[str, Sheet]) -> None:
    import xlwt  # type: ignore[import-not-found]

    book = xlwt.Workbook(encoding="utf-8")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value != "":
                    sheet.write(r, c, value)
    book.save(str(path))


def main() -> int:
    for name, sheets in FORMS.items():
        path = HERE / name
        if name.endswith(".xls"):
            try:
                write_xls(path, sheets)
            except ImportError:
                print(f"skipped {name}: xlwt is not installed", file=sys.stderr)
                continue
        else:
            write_xlsx(path, sheets)
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
