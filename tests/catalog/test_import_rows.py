"""One import row: every field's rule, without a database; and the ``--map`` option."""

from __future__ import annotations

from typing import Any

import pytest

from zhibo.catalog.importer.fields import BadMapping, UnknownField, parse_mapping
from zhibo.catalog.importer.rows import check_row
from zhibo.models.product import ProductStatus

GOOD: dict[str, Any] = {
    "product_id": "SKU-1",
    "brand": "Acme",
    "category": "beauty/skincare",
    "title": "保湿面霜 Moisturiser 50ml",
    "description": "Rich cream.",
    "price_fen": "9900",
    "reference_price_fen": "",
    "commission_rate_bp": "2000",
    "stock": "100",
}


def problems(**changes: Any) -> list[tuple[str, str]]:
    checked = check_row(1, GOOD | changes)
    return [(field, reason) for field, reason, _ in checked.problems]


def test_a_good_row_becomes_canonical_values() -> None:
    checked = check_row(7, GOOD | {"currency": "cny", "status": " Delisted "})
    assert checked.problems == []
    row = checked.row
    assert row is not None
    assert (row.row, row.product_id, row.brand, row.category) == (
        7,
        "SKU-1",
        "Acme",
        "beauty/skincare",
    )
    assert (row.price_fen, row.reference_price_fen, row.commission_rate_bp, row.stock) == (
        9900,
        None,
        2000,
        100,
    )
    assert row.currency == "CNY"
    assert row.status == ProductStatus.DELISTED


def test_absent_currency_and_status_are_left_to_the_upsert() -> None:
    row = check_row(1, GOOD).row
    assert row is not None
    assert row.currency is None and row.status is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"title": ""}, [("title", "required")]),
        ({"title": "   "}, [("title", "required")]),
        ({"title": None}, [("title", "required")]),
        ({"product_id": ""}, [("product_id", "required")]),
        ({"brand": ""}, [("brand", "required")]),
        ({"price_fen": "-5"}, [("price_fen", "must be >= 0")]),
        ({"price_fen": -5}, [("price_fen", "must be >= 0")]),
        ({"price_fen": "12.5"}, [("price_fen", "must be an integer number of fen")]),
        ({"price_fen": 12.5}, [("price_fen", "must be an integer number of fen")]),
        ({"price_fen": 12.0}, [("price_fen", "must be an integer number of fen")]),
        ({"price_fen": "12.0"}, [("price_fen", "must be an integer number of fen")]),
        ({"price_fen": "1e3"}, [("price_fen", "must be an integer number of fen")]),
        ({"price_fen": "¥12"}, [("price_fen", "must be an integer number of fen")]),
        ({"price_fen": "１２"}, [("price_fen", "must be an integer number of fen")]),
        ({"price_fen": "١٢"}, [("price_fen", "must be an integer number of fen")]),
        ({"price_fen": ""}, [("price_fen", "required")]),
        ({"price_fen": True}, [("price_fen", "must be an integer number of fen, not a boolean")]),
        ({"price_fen": "9" * 40}, [("price_fen", "must be <= 1000000000000000")]),
        ({"price_fen": "-" + "9" * 40}, [("price_fen", "must be >= 0")]),
        ({"reference_price_fen": "-1"}, [("reference_price_fen", "must be >= 0")]),
        ({"commission_rate_bp": "10001"}, [("commission_rate_bp", "must be <= 10000")]),
        ({"commission_rate_bp": "-1"}, [("commission_rate_bp", "must be >= 0")]),
        (
            {"commission_rate_bp": "20.5"},
            [("commission_rate_bp", "must be an integer number of basis points")],
        ),
        ({"stock": "-3"}, [("stock", "must be >= 0")]),
        ({"stock": "3.5"}, [("stock", "must be an integer number of units")]),
        ({"title": "x" * 501}, [("title", "must be at most 500 characters (got 501)")]),
        ({"title": "bad\x00title"}, [("title", "contains control characters")]),
        ({"title": "two\nlines"}, [("title", "contains control characters")]),
        ({"description": "nul\x00"}, [("description", "contains control characters")]),
        ({"product_id": "x" * 101}, [("product_id", "must be at most 100 characters (got 101)")]),
        (
            {"category": "beauty//skincare"},
            [("category", "empty segment in the path (write a/b/c)")],
        ),
        ({"category": "/beauty"}, [("category", "empty segment in the path (write a/b/c)")]),
        ({"currency": "yuan"}, [("currency", "must be at most 3 characters (got 4)")]),
        ({"currency": "C1Y"}, [("currency", "must be a 3-letter ISO 4217 code")]),
        ({"status": "gone"}, [("status", "must be one of active|delisted")]),
        ({"brand": ["Acme"]}, [("brand", "must be a string or an integer, not list")]),
        ({"title": 42}, [("title", "must be a string, not int")]),
    ],
)
def test_each_bad_value_is_named_with_its_reason(
    changes: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert problems(**changes) == expected
    assert check_row(1, GOOD | changes).row is None


def test_all_problems_of_a_row_are_reported_at_once() -> None:
    found = problems(title="", price_fen="-1", commission_rate_bp="10001", stock="x")
    assert [field for field, _ in found] == ["title", "price_fen", "commission_rate_bp", "stock"]


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0), ("007", 7), (" 12 ", 12), ("+5", 5), (9900, 9900)]
)
def test_integers_are_read_exactly(text: Any, value: int) -> None:
    row = check_row(1, GOOD | {"price_fen": text}).row
    assert row is not None and row.price_fen == value


def test_limits_are_inclusive() -> None:
    row = check_row(1, GOOD | {"title": "x" * 500, "commission_rate_bp": "10000"}).row
    assert row is not None and len(row.title) == 500 and row.commission_rate_bp == 10_000


def test_integer_ids_and_text_are_accepted_from_typed_sources() -> None:
    row = check_row(1, GOOD | {"product_id": 123, "brand": 7, "description": None}).row
    assert row is not None
    assert (row.product_id, row.brand, row.description) == ("123", "7", "")


def test_category_segments_are_trimmed() -> None:
    row = check_row(1, GOOD | {"category": " beauty / skincare "}).row
    assert row is not None and row.category == "beauty/skincare"


def test_mapping_option() -> None:
    assert parse_mapping(["sku=product_id", "name=title, cost=price_fen"]) == {
        "sku": "product_id",
        "name": "title",
        "cost": "price_fen",
    }
    with pytest.raises(BadMapping, match="not FILE_COLUMN=FIELD"):
        parse_mapping(["sku"])
    with pytest.raises(BadMapping, match="not FILE_COLUMN=FIELD"):
        parse_mapping(["=title"])
    with pytest.raises(UnknownField, match="'sku_code' is not an import field"):
        parse_mapping(["sku=sku_code"])
    with pytest.raises(BadMapping, match="several columns are mapped onto 'title'"):
        parse_mapping(["a=title", "b=title"])
