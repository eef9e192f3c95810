"""An XLSForm with several independent errors, shared by the API and browser tests."""

from __future__ import annotations

import textwrap

#: rows (header = row 1): 4 bad relevant, 6 unknown reference, 7 unknown choice list,
#: 8 invalid name, 9 save_to without an entities sheet; settings row 2 bad instance_name
SEVERAL_PROBLEMS = textwrap.dedent("""
    | survey   |                   |          |            |                 |          |
    |          | type              | name     | label      | relevant        | save_to  |
    |          | text              | a        | A          |                 |          |
    |          | integer           | b        | B          |                 |          |
    |          | text              | c        | C          | ${a} = 'x' and  |          |
    |          | text              | d        | D          |                 |          |
    |          | text              | e        | E ${zzz}   |                 |          |
    |          | select_one nolist | f        | F          |                 |          |
    |          | text              | 1bad     | G          |                 |          |
    |          | text              | h        | H          |                 | prop     |
    | choices  |                   |          |            |                 |          |
    |          | list_name         | name     | label      |                 |          |
    |          | yn                | yes      | Yes        |                 |          |
    | settings |                   |          |            |                 |          |
    |          | form_id           | instance_name |       |                 |          |
    |          | several           | concat(${a} |         |                 |          |
""").encode()

#: (code, sheet, row, column) of every problem the upload must report
EXPECTED = [
    ("xlsform.expression_invalid", "survey", 4, "relevant"),
    ("xlsform.PYREF_003", "survey", 6, "label"),
    ("xlsform.choice_list_missing", "survey", 7, "type"),
    ("xlsform.NAMES_008", "survey", 8, "name"),
    ("xlsform.ENTITY_001", "survey", 9, "save_to"),
    ("xlsform.expression_invalid", "settings", 2, "instance_name"),
]
