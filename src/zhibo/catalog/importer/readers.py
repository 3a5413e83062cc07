"""Stream rows out of import files: CSV, JSON lines and Parquet.

A reader yields one :class:`Record` per data row: its 1-based row number and the raw values of
the canonical fields (extra columns are dropped), or, when the row itself cannot be read
(malformed CSV or JSON, undecodable bytes, a line too long), the problem instead. A broken row
never stops the file; an unusable file (unknown format, no header, missing required field)
raises an :class:`~zhibo.kit.errors.InvalidInput` before the first row.

Nothing holds more than one row (CSV, JSON lines) or one batch (Parquet) in memory.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

from zhibo.catalog.importer.fields import (
    REQUIRED_FIELDS,
    ROW,
    ColumnPlan,
    check_required,
    field_of,
    plan_columns,
)
from zhibo.kit.errors import InvalidInput

#: A problem of one row: (field, reason, the offending value).
Problem = tuple[str, str, object]
#: Longer physical lines are refused (a row is at most ~100 kB; this bounds memory).
MAX_LINE_BYTES = 1 << 20
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class MissingFile(InvalidInput):
    """The file to import does not exist or is not a regular file."""


class UnsupportedFormat(InvalidInput):
    """The file's extension names no format the importer reads."""


class UnreadableFile(InvalidInput):
    """The file cannot be read as its format at all (no header, not Parquet, ...)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One data row: its raw canonical values, or why it could not be read."""

    row: int
    values: Mapping[str, Any] | None
    problems: tuple[Problem, ...] = ()


class Source(Protocol):
    """An open import file."""

    path: Path
    #: Columns (or JSON keys) the import ignores, for the summary.
    ignored: set[str]

    def __iter__(self) -> Iterator[Record]: ...

    def progress(self) -> tuple[int, int]:
        """(done, total) in the reader's own unit (bytes or rows)."""
        ...

    def close(self) -> None: ...


def detect_format(path: Path) -> str:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(SUFFIXES)
        raise UnsupportedFormat(f"{path.name}: unknown format {path.suffix!r} (known: {known})")
    return kind


def open_source(path: Path, mapping: Mapping[str, str], batch_rows: int = 2_000) -> Source:
    """Open ``path`` by its extension and check its columns against the canonical fields."""
    kind = detect_format(path)
    if not path.is_file():
        raise MissingFile(f"{path}: " + ("not a file" if path.exists() else "no such file"))
    try:
        if kind == "csv":
            return CsvSource(path, mapping)
        if kind == "jsonl":
            return JsonLinesSource(path, mapping)
        return ParquetSource(path, mapping, batch_rows)
    except OSError as exc:
        raise UnreadableFile(f"{path}: {exc.strerror or exc}") from exc


def _physical_lines(stream: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """Lines as bytes, with a flag for lines cut at ``MAX_LINE_BYTES`` (the rest skipped)."""
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            yield line[:MAX_LINE_BYTES], True
        else:
            yield line, False


def _excerpt(text: str) -> str:
    return text.rstrip("\r\n")


class _LineFeed:
    """The csv reader's input: decoded lines, with the ones of a bad record pushed back.

    A class, not a generator, so that it can yield again after reporting the end (lines pushed
    back after the csv reader failed at the end of the file).
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._lines = _physical_lines(stream)
        self._first = True
        self.pending: deque[tuple[str, str]] = deque()
        #: Lines (text, problem) consumed by the record being parsed.
        self.consumed: list[tuple[str, str]] = []

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self.pending:
            text, problem = self.pending.popleft()
        else:
            raw, too_long = next(self._lines)
            if self._first:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
                self._first = False
            problem = f"line longer than {MAX_LINE_BYTES} bytes" if too_long else ""
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                text = raw.decode("utf-8", errors="replace")
                problem = problem or f"not valid UTF-8 (byte {exc.start + 1} of the line)"
        self.consumed.append((text, problem))
        return text


class CsvSource:
    """A CSV file with a header line, UTF-8 (a BOM is allowed), comma-separated, ``"``-quoted.

    Row numbers count records after the header (blank lines count but are skipped). A record
    the csv module refuses, or with the wrong number of fields, is rejected; when it spans
    several lines (an unclosed quote swallowing the next lines), only its first line is
    rejected and the following lines are read again as records of their own.
    """

    def __init__(self, path: Path, mapping: Mapping[str, str]) -> None:
        self.path = path
        self._stream: BinaryIO = path.open("rb")
        self._size = path.stat().st_size
        try:
            self._feed = _LineFeed(self._stream)
            self._reader = csv.reader(self._feed, strict=True)
            header = self._header()
            self._width = len(header)
            self._plan: ColumnPlan = plan_columns(header, mapping, path.name)
        except BaseException:
            self._stream.close()
            raise
        self.ignored = set(self._plan.ignored)

    def _header(self) -> list[str]:
        try:
            header = next(self._reader)
        except StopIteration:
            raise UnreadableFile(
                f"{self.path.name}: empty file (a CSV needs a header line)"
            ) from None
        except csv.Error as exc:
            raise UnreadableFile(f"{self.path.name}: malformed header line ({exc})") from exc
        problems = [problem for _, problem in self._feed.consumed if problem]
        if problems:
            raise UnreadableFile(f"{self.path.name}: header line {problems[0]}")
        return [name.strip() for name in header]

    def __iter__(self) -> Iterator[Record]:
        number = 0
        feed = self._feed
        selected = self._plan.selected
        while True:
            feed.consumed = []
            error = ""
            try:
                fields: list[str] = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                fields, error = [], f"malformed CSV: {exc}"
            consumed = feed.consumed
            if not consumed:
                return
            number += 1
            if not error and not fields:
                continue  # a blank line
            if not error and len(fields) != self._width:
                error = f"expected {self._width} fields, found {len(fields)}"
            if error:
                # Read the lines after the first again: they are probably records of their own.
                feed.pending.extendleft(reversed(consumed[1:]))
                yield Record(number, None, ((ROW, error, _excerpt(consumed[0][0])),))
                continue
            line_problem = next((problem for _, problem in consumed if problem), "")
            if line_problem:
                raw = "".join(text for text, _ in consumed)
                yield Record(number, None, ((ROW, line_problem, _excerpt(raw)),))
                continue
            yield Record(number, {name: fields[index] for index, name in selected})

    def progress(self) -> tuple[int, int]:
        return (self._stream.tell() if not self._stream.closed else self._size), self._size

    def close(self) -> None:
        self._stream.close()


class JsonLinesSource:
    """One JSON object per line, UTF-8. Row numbers are line numbers (blank lines skipped).

    There is no header: a required field is missing from the file when no row has it, which
    is checked by a first pass that usually stops after the first line.
    """

    def __init__(self, path: Path, mapping: Mapping[str, str]) -> None:
        self.path = path
        self._mapping = dict(mapping)
        self._size = path.stat().st_size
        self.ignored: set[str] = set()
        self._check_fields()
        self._stream: BinaryIO = path.open("rb")

    def _fields(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in obj.items():
            name = field_of(key, self._mapping)
            if name is None:
                if len(self.ignored) < 100:
                    self.ignored.add(key)
            else:
                values[name] = value
        return values

    def _check_fields(self) -> None:
        seen: set[str] = set()
        keys: set[str] = set()
        parsed_any = False
        with self.path.open("rb") as stream:
            for raw, too_long in _physical_lines(stream):
                if too_long:
                    continue
                try:
                    obj = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(obj, dict):
                    continue
                parsed_any = True
                for key in obj:
                    if key not in keys:
                        keys.add(key)
                        name = field_of(key, self._mapping)
                        if name is not None:
                            seen.add(name)
                if all(name in seen for name in REQUIRED_FIELDS):
                    return
        if parsed_any:  # an empty file, or one of broken lines only, is rejected row by row
            check_required(seen, self._mapping, self.path.name, present=keys)

    def __iter__(self) -> Iterator[Record]:
        number = 0
        first = True
        for raw, too_long in _physical_lines(self._stream):
            number += 1
            if first:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
                first = False
            if too_long:
                reason = f"line longer than {MAX_LINE_BYTES} bytes"
                yield Record(number, None, ((ROW, reason, _decoded(raw)),))
                continue
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                reason = f"malformed JSON: {exc}"
                yield Record(number, None, ((ROW, reason, _decoded(raw)),))
                continue
            if not isinstance(obj, dict):
                reason = f"a JSON object expected, found {type(obj).__name__}"
                yield Record(number, None, ((ROW, reason, _decoded(raw)),))
                continue
            yield Record(number, self._fields(obj))

    def progress(self) -> tuple[int, int]:
        return (self._stream.tell() if not self._stream.closed else self._size), self._size

    def close(self) -> None:
        self._stream.close()


def _decoded(raw: bytes) -> str:
    return _excerpt(raw.decode("utf-8", errors="replace"))


@dataclass(frozen=True, slots=True)
class _Unreadable:
    reason: str


@dataclass
class ParquetSource:
    """A Parquet file, read in batches of the used columns only; row numbers are 1-based."""

    path: Path
    mapping: Mapping[str, str]
    batch_rows: int = 2_000
    ignored: set[str] = field(default_factory=set)
    _done: int = 0

    def __post_init__(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            self._file = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise UnreadableFile(f"{self.path.name}: not a readable Parquet file ({exc})") from exc
        names = list(self._file.schema_arrow.names)
        plan = plan_columns(names, self.mapping, self.path.name)
        self._columns = [(names[index], name) for index, name in plan.selected]
        self.ignored = set(plan.ignored)
        self._total = self._file.metadata.num_rows

    def __iter__(self) -> Iterator[Record]:
        import pyarrow as pa

        number = 0
        batches = self._file.iter_batches(
            batch_size=self.batch_rows, columns=[column for column, _ in self._columns]
        )
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise UnreadableFile(
                    f"{self.path.name}: unreadable after row {number} ({exc}); "
                    "the rows before it were imported"
                ) from exc
            columns = [
                (name, _column_values(batch.column(index)))
                for index, (_, name) in enumerate(self._columns)
            ]
            for offset in range(batch.num_rows):
                number += 1
                values = {name: column[offset] for name, column in columns}
                unreadable = tuple(
                    (name, value.reason, "")
                    for name, value in values.items()
                    if isinstance(value, _Unreadable)
                )
                yield Record(number, None if unreadable else values, unreadable)
            self._done = number

    def progress(self) -> tuple[int, int]:
        return self._done, self._total

    def close(self) -> None:
        self._file.close()


def _column_values(column: Any) -> list[Any]:
    try:
        return list(column.to_pylist())
    except Exception:
        # One bad value (e.g. invalid UTF-8) must not lose the batch: convert value by value.
        values: list[Any] = []
        for index in range(len(column)):
            try:
                values.append(column[index].as_py())
            except Exception as exc:
                values.append(_Unreadable(f"unreadable value ({type(exc).__name__})"))
        return values
