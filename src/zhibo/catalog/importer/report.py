"""The reject report: a CSV file, one line per problem of a refused row.

Columns: ``row`` (the row number the reader gave: the record number after the header for CSV,
the line number for JSON lines, the 1-based row for Parquet), ``field`` (a canonical field, or
``_row`` when the row as a whole could not be read), ``reason``, and ``value``, the offending
value, cut to ``MAX_VALUE_CHARS`` characters, a formula-like value marked as text
(zhibo.kit.spreadsheet).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path

from zhibo.catalog.importer.service import Reject
from zhibo.kit.errors import InvalidInput
from zhibo.kit.spreadsheet import safe_cell

COLUMNS = ("row", "field", "reason", "value")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_VALUE_CHARS = 200


class UnwritableReport(InvalidInput):
    """The reject report cannot be written where it should go."""


def default_path(file: Path) -> Path:
    """``products.csv`` → ``products.rejects.csv`` beside it."""
    return file.with_name(f"{file.stem}.rejects.csv")


def cell(value: object) -> str:
    """The value as text, cut, with control characters (NUL, ...) shown as ``\\xNN``."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + "…"
    if not text.isprintable():
        text = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    return safe_cell(text)  # the report is opened in spreadsheets: no formulas


class RejectReport:
    """Written as the import goes, so a killed import still leaves the rejects so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_symlink():
            # A link planted where the report goes would make the import overwrite its target.
            raise UnwritableReport(f"--rejects: {path} is a symbolic link; not writing through it")
        try:
            self._stream = path.open("w", encoding="utf-8", errors="backslashreplace", newline="")
        except OSError as exc:
            raise UnwritableReport(f"--rejects: cannot write {path} ({exc.strerror})") from exc
        self._writer = csv.writer(self._stream)
        self._writer.writerow(COLUMNS)
        self.lines = 0

    def write(self, rejects: Iterable[Reject]) -> None:
        for reject in rejects:
            self._writer.writerow((reject.row, reject.field, reject.reason, cell(reject.value)))
            self.lines += 1
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()
