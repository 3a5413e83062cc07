"""Validate one raw row into canonical values, or say which fields are wrong and why.

The same rules hold for every source: CSV cells (strings), JSON values and Parquet values.
Money is an integer number of fen and rates an integer number of basis points: ``"12.5"``,
``12.5`` and ``12.0`` are refused, never rounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zhibo.catalog.importer.readers import Problem
from zhibo.models.product import ProductStatus

MAX_FEN = 10**15
MAX_STOCK = 10**15
MAX_RATE_BP = 10_000
#: Column limits of the tables the values land in (characters, not bytes).
MAX_PRODUCT_ID = 100
MAX_BRAND = 200
MAX_TITLE = 500
MAX_DESCRIPTION = 20_000
MAX_CATEGORY_PATH = 400
MAX_CATEGORY_NAME = 100

_INTEGER = re.compile(r"[+-]?[0-9]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
#: Control characters (and lone surrogates) have no place in a one-line field.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
#: A description may hold tabs and line breaks, but no other control character (PostgreSQL
#: refuses NUL in text).
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class CheckedRow:
    """A row whose fields are all valid; brand and category still to be resolved."""

    row: int
    product_id: str
    #: A brand id (all digits) or name, as written.
    brand: str
    #: A category path, e.g. ``beauty/skincare``.
    category: str
    title: str
    description: str
    price_fen: int
    reference_price_fen: int | None
    commission_rate_bp: int
    stock: int
    #: None when the row does not say: CNY for a new product, unchanged for an existing one.
    currency: str | None
    #: None when the row does not say: active for a new product, unchanged otherwise.
    status: ProductStatus | None
    #: Optional fields the row leaves out altogether (``description``, ``reference_price_fen``):
    #: an existing product keeps its values of them.
    absent: frozenset[str] = frozenset()


@dataclass(slots=True)
class Checked:
    """The outcome of checking one row: the row, or its problems (and the references that are
    valid on their own, so unknown brands and categories can be reported alongside)."""

    number: int
    row: CheckedRow | None
    problems: list[Problem]
    brand: str | None
    category: str | None


def _text(
    values: Mapping[str, Any],
    name: str,
    problems: list[Problem],
    *,
    max_length: int,
    required: bool = True,
    integer_ok: bool = False,
    multiline: bool = False,
) -> str | None:
    value = values.get(name)
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value.strip()
    elif integer_ok and isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        kind = "a string or an integer" if integer_ok else "a string"
        problems.append((name, f"must be {kind}, not {type(value).__name__}", value))
        return None
    if not text:
        if required:
            problems.append((name, "required", value if value is not None else ""))
            return None
        return ""
    if len(text) > max_length:
        reason = f"must be at most {max_length} characters (got {len(text)})"
        problems.append((name, reason, value))
        return None
    if not text.isprintable() and (_CONTROL_MULTILINE if multiline else _CONTROL).search(text):
        problems.append((name, "contains control characters", value))
        return None
    return text


def _integer(
    values: Mapping[str, Any],
    name: str,
    problems: list[Problem],
    *,
    unit: str,
    maximum: int,
    required: bool = True,
) -> int | None:
    value = values.get(name)
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 16:
        number = int(value)  # the common case, a plain CSV cell: at most 10**16 - 1
        if number > maximum:
            problems.append((name, f"must be <= {maximum}", value))
            return None
        return number
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append((name, "required", "" if value is None else value))
        return None
    if isinstance(value, bool):
        problems.append((name, f"must be an integer number of {unit}, not a boolean", value))
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        digits = value.strip()
        if len(digits.lstrip("+-").lstrip("0")) > 20:  # far out of range; int() would be slow
            number = -1 if digits.startswith("-") else maximum + 1
        else:
            number = int(digits)
    else:
        problems.append((name, f"must be an integer number of {unit}", value))
        return None
    if number < 0:
        problems.append((name, "must be >= 0", value))
        return None
    if number > maximum:
        problems.append((name, f"must be <= {maximum}", value))
        return None
    return number


def _category(values: Mapping[str, Any], problems: list[Problem]) -> str | None:
    path = _text(values, "category", problems, max_length=MAX_CATEGORY_PATH)
    if path is None:
        return None
    names = [name.strip() for name in path.split("/")]
    if any(not name for name in names):
        problems.append(("category", "empty segment in the path (write a/b/c)", path))
        return None
    if any(len(name) > MAX_CATEGORY_NAME for name in names):
        reason = f"a category name must be at most {MAX_CATEGORY_NAME} characters"
        problems.append(("category", reason, path))
        return None
    return "/".join(names)


def _currency(values: Mapping[str, Any], problems: list[Problem]) -> str | None:
    text = _text(values, "currency", problems, max_length=3, required=False)
    if not text:
        return None
    code = text.upper()
    if not _CURRENCY.fullmatch(code):
        problems.append(("currency", "must be a 3-letter ISO 4217 code", values.get("currency")))
        return None
    return code


def _status(values: Mapping[str, Any], problems: list[Problem]) -> ProductStatus | None:
    text = _text(values, "status", problems, max_length=20, required=False)
    if not text:
        return None
    try:
        return ProductStatus(text.lower())
    except ValueError:
        choices = "|".join(status.value for status in ProductStatus)
        problems.append(("status", f"must be one of {choices}", values.get("status")))
        return None


#: Fields whose absence from a row (not an empty value) leaves an existing product's value.
KEPT_WHEN_ABSENT = ("description", "reference_price_fen")


def check_row(row: int, values: Mapping[str, Any]) -> Checked:
    """Check every field of one raw row (missing keys count as empty values)."""
    problems: list[Problem] = []
    product_id = _text(values, "product_id", problems, max_length=MAX_PRODUCT_ID, integer_ok=True)
    brand = _text(values, "brand", problems, max_length=MAX_BRAND, integer_ok=True)
    category = _category(values, problems)
    title = _text(values, "title", problems, max_length=MAX_TITLE)
    description = _text(
        values,
        "description",
        problems,
        max_length=MAX_DESCRIPTION,
        required=False,
        multiline=True,
    )
    price = _integer(values, "price_fen", problems, unit="fen", maximum=MAX_FEN)
    reference = _integer(
        values, "reference_price_fen", problems, unit="fen", maximum=MAX_FEN, required=False
    )
    rate = _integer(
        values, "commission_rate_bp", problems, unit="basis points", maximum=MAX_RATE_BP
    )
    stock = _integer(values, "stock", problems, unit="units", maximum=MAX_STOCK)
    currency = _currency(values, problems)
    status = _status(values, problems)
    if problems:
        return Checked(row, None, problems, brand, category)
    assert product_id is not None and brand is not None and category is not None
    assert title is not None and description is not None
    assert price is not None and rate is not None and stock is not None
    checked = CheckedRow(
        row=row,
        product_id=product_id,
        brand=brand,
        category=category,
        title=title,
        description=description,
        price_fen=price,
        reference_price_fen=reference,
        commission_rate_bp=rate,
        stock=stock,
        currency=currency,
        status=status,
        absent=frozenset(name for name in KEPT_WHEN_ABSENT if name not in values),
    )
    return Checked(row, checked, problems, brand, category)
