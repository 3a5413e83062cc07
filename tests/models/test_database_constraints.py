"""The database itself refuses what the rules forbid, on SQLite and PostgreSQL alike, even when
the application layer is bypassed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, StatementError

from tests import builders as b
from zhibo.kit.db import session_factory
from zhibo.models import Category, Product

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def parents(engine: Engine) -> dict[str, int]:
    with session_factory(engine)() as session:
        brand = b.brand(session)
        category = b.category(session)
        session.commit()
        return {"brand_id": brand.id, "category_id": category.id}


def product_row(parents: dict[str, int], **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        **parents,
        "external_id": "x",
        "title": "t",
        "description": "",
        "price_fen": 100,
        "currency": "CNY",
        "commission_rate_bp": 100,
        "stock": 1,
        "status": "active",
        "sales_30d": 0,
        "created_at": T0,
        "updated_at": T0,
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    "overrides",
    [
        {"price_fen": -1},
        {"commission_rate_bp": 10_001},
        {"commission_rate_bp": -1},
        {"stock": -1},
        {"reference_price_fen": -5},
        {"category_id": 987_654},
    ],
)
def test_check_and_foreign_key_constraints(
    engine: Engine, parents: dict[str, int], overrides: dict[str, object]
) -> None:
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert(Product.__table__), product_row(parents, **overrides))


def test_enum_values_are_checked_by_the_database(engine: Engine, parents: dict[str, int]) -> None:
    # Raw SQL bypasses SQLAlchemy's own enum validation: the CHECK constraint must catch it.
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text("INSERT INTO categories (name, path, risk_class) VALUES ('a', 'a', 'extreme')")
        )
    with pytest.raises(StatementError), engine.begin() as connection:
        connection.execute(
            insert(Category.__table__), {"name": "b", "path": "b", "risk_class": "extreme"}
        )


def test_naive_datetimes_are_refused(engine: Engine, parents: dict[str, int]) -> None:
    with pytest.raises(StatementError, match="naive"), engine.begin() as connection:
        connection.execute(
            insert(Product.__table__), product_row(parents, created_at=datetime(2026, 1, 1))
        )


def test_times_come_back_as_utc(engine: Engine, parents: dict[str, int]) -> None:
    from datetime import timedelta, timezone

    beijing = timezone(timedelta(hours=8))
    with engine.begin() as connection:
        connection.execute(
            insert(Product.__table__),
            product_row(parents, created_at=datetime(2026, 11, 11, 20, 0, tzinfo=beijing)),
        )
    with session_factory(engine)() as session:
        product = session.query(Product).one()
        assert product.created_at == datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
        assert product.created_at.tzinfo is not None
