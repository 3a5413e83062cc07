"""CSV cells meant for spreadsheets: formulas become text, numbers stay numbers."""

from __future__ import annotations

import pytest

from zhibo.kit.spreadsheet import safe_cell


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1+cmd|x", "'+1+cmd|x"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-100", "-100"),
        ("+3.5", "+3.5"),
        ("-1e5", "-1e5"),
        ("Cream =50ml", "Cream =50ml"),
        ("", ""),
        ("1101**********1233", "1101**********1233"),
    ],
)
def test_safe_cell(text: str, shown: str) -> None:
    assert safe_cell(text) == shown
