"""The canonical import fields and how a file's columns are mapped onto them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from zhibo.kit.errors import InvalidInput

#: Fields every file must have (a column, or for JSON lines a key in at least one row).
REQUIRED_FIELDS: tuple[str, ...] = (
    "product_id",
    "brand",
    "category",
    "title",
    "price_fen",
    "commission_rate_bp",
    "stock",
)
#: Fields a file may leave out: ``description`` (empty) and ``reference_price_fen`` (none) for
#: new products, ``currency`` (CNY) and ``status`` (active); an existing product keeps its value
#: of a field the row leaves out (an empty cell, by contrast, clears a description or reference).
OPTIONAL_FIELDS: tuple[str, ...] = ("description", "reference_price_fen", "currency", "status")
CANONICAL_FIELDS: tuple[str, ...] = REQUIRED_FIELDS + OPTIONAL_FIELDS
#: The field name used in reject reports for problems of a whole row (unreadable, malformed).
ROW = "_row"


class BadMapping(InvalidInput):
    """A ``--map`` option is not ``file_column=field``, or maps two columns onto one field."""


class UnknownField(InvalidInput):
    """A ``--map`` option names a target that is not a canonical import field."""


class MissingColumns(InvalidInput):
    """The file lacks a required field altogether."""


class DuplicateColumn(InvalidInput):
    """Two columns of the file feed the same field."""


def parse_mapping(options: Iterable[str]) -> dict[str, str]:
    """``["sku=product_id", "name=title,cost=price_fen"]`` → ``{file column: field}``."""
    mapping: dict[str, str] = {}
    for option in options:
        for pair in option.split(","):
            source, equals, target = pair.partition("=")
            source, target = source.strip(), target.strip()
            if not equals or not source or not target:
                raise BadMapping(f"--map: {pair!r} is not FILE_COLUMN=FIELD")
            if target not in CANONICAL_FIELDS:
                choices = ", ".join(CANONICAL_FIELDS)
                raise UnknownField(f"--map: {target!r} is not an import field ({choices})")
            if source in mapping and mapping[source] != target:
                raise BadMapping(f"--map: column {source!r} is mapped twice")
            mapping[source] = target
    targets = list(mapping.values())
    for target in set(targets):
        if targets.count(target) > 1:
            raise BadMapping(f"--map: several columns are mapped onto {target!r}")
    return mapping


def field_of(column: str, mapping: Mapping[str, str]) -> str | None:
    """The field a file column feeds, or None when it is ignored.

    A mapped column feeds its target; a column named like a field feeds it unless another
    column is mapped onto that field (the mapping wins; the same-named column is ignored).
    """
    if column in mapping:
        return mapping[column]
    if column in CANONICAL_FIELDS and column not in mapping.values():
        return column
    return None


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """Which file columns feed which fields, and which columns are ignored."""

    #: (column index in the file, field) for every used column.
    selected: tuple[tuple[int, str], ...]
    ignored: tuple[str, ...]


def plan_columns(columns: Sequence[str], mapping: Mapping[str, str], file: str) -> ColumnPlan:
    """Check a file's header against the canonical fields; refuse an unusable header."""
    selected: list[tuple[int, str]] = []
    ignored: list[str] = []
    fed: dict[str, str] = {}
    for index, column in enumerate(columns):
        field = field_of(column, mapping)
        if field is None:
            if column:
                ignored.append(column)
            continue
        if field in fed:
            raise DuplicateColumn(f"{column}: the file has two columns for field {field!r}")
        fed[field] = column
        selected.append((index, field))
    check_required(fed.keys(), mapping, file, present=columns)
    return ColumnPlan(tuple(selected), tuple(ignored))


def check_required(
    fields: Iterable[str], mapping: Mapping[str, str], file: str, present: Iterable[str]
) -> None:
    found = set(fields)
    missing = [field for field in REQUIRED_FIELDS if field not in found]
    if not missing:
        return
    sources = {target: source for source, target in mapping.items()}
    present = set(present)
    notes = [
        f"{field} (mapped from {sources[field]!r}, which the file does not have)"
        if field in sources and sources[field] not in present
        else field
        for field in missing
    ]
    raise MissingColumns(
        f"{file}: missing required field(s): {', '.join(notes)}; "
        "rename columns with --map FILE_COLUMN=FIELD"
    )
