"""CSV cells that a spreadsheet opens as text, never as a formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by Excel, LibreOffice and Google Sheets (CSV injection, CWE-1236): an imported title
``=HYPERLINK(...)`` or ``=cmd|' /C calc'!A0`` would act on the machine of whoever opens the
report. Such cells get a leading apostrophe, the spreadsheets' own "this is text" mark; plain
numbers (``-5``, ``+3.2``) are left as they are.
"""

from __future__ import annotations

import re

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it: formulas neutralised, numbers untouched."""
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
