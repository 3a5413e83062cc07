"""Small builders with keyword defaults: each makes one row and returns it (flushed)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from zhibo.kit.auth import create_token
from zhibo.models import (
    Brand,
    Category,
    LiveRoom,
    LiveSession,
    Order,
    Partner,
    PartnerKind,
    Product,
    Role,
    ShelfItem,
    Streamer,
    Viewer,
)
from zhibo.models.category import RiskClass
from zhibo.models.session import SessionStatus
from zhibo.models.streamer import StreamerStatus

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
_counter = itertools.count(1)


def _add(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def category(
    session: Session,
    *,
    name: str | None = None,
    parent: Category | None = None,
    risk_class: RiskClass = RiskClass.LOW,
) -> Category:
    name = name or f"category-{next(_counter)}"
    path = f"{parent.path}/{name}" if parent else name
    return _add(
        session,
        Category(
            name=name, path=path, risk_class=risk_class, parent_id=parent.id if parent else None
        ),
    )


def brand(session: Session, *, name: str | None = None, **fields: Any) -> Brand:
    return _add(session, Brand(name=name or f"brand-{next(_counter)}", created_at=T0, **fields))


def product(
    session: Session,
    *,
    brand_row: Brand | None = None,
    category_row: Category | None = None,
    price_fen: int = 9900,
    commission_rate_bp: int = 2000,
    stock: int = 100,
    **fields: Any,
) -> Product:
    brand_row = brand_row or brand(session)
    category_row = category_row or category(session)
    return _add(
        session,
        Product(
            brand_id=brand_row.id,
            category_id=category_row.id,
            external_id=fields.pop("external_id", f"sku-{next(_counter)}"),
            title=fields.pop("title", "保湿面霜 Moisturiser 50ml"),
            description="",
            price_fen=price_fen,
            commission_rate_bp=commission_rate_bp,
            stock=stock,
            created_at=T0,
            updated_at=T0,
            **fields,
        ),
    )


def partner(
    session: Session, *, name: str | None = None, kind: PartnerKind = PartnerKind.AGENCY
) -> Partner:
    return _add(
        session, Partner(name=name or f"partner-{next(_counter)}", kind=kind, created_at=T0)
    )


def streamer(
    session: Session,
    *,
    partner_row: Partner | None = None,
    status: StreamerStatus = StreamerStatus.ACTIVE,
    **fields: Any,
) -> Streamer:
    return _add(
        session,
        Streamer(
            display_name=fields.pop("display_name", f"streamer-{next(_counter)}"),
            partner_id=partner_row.id if partner_row else None,
            status=status,
            birth_date=date(1995, 5, 5),
            created_at=T0,
            **fields,
        ),
    )


def viewer(session: Session, *, is_minor: bool = False) -> Viewer:
    return _add(session, Viewer(account_created_at=T0, real_name_verified=True, is_minor=is_minor))


def room(session: Session, *, streamer_row: Streamer | None = None) -> LiveRoom:
    streamer_row = streamer_row or streamer(session)
    return _add(session, LiveRoom(streamer_id=streamer_row.id, title="room", created_at=T0))


def live_session(
    session: Session,
    *,
    room_row: LiveRoom | None = None,
    status: SessionStatus = SessionStatus.SCHEDULED,
) -> LiveSession:
    room_row = room_row or room(session)
    row = LiveSession(
        room_id=room_row.id,
        streamer_id=room_row.streamer_id,
        title="session",
        status=SessionStatus.SCHEDULED,
        scheduled_start_at=T0,
    )
    if status in (SessionStatus.LIVE, SessionStatus.SUSPENDED, SessionStatus.ENDED):
        row.start(T0)
    if status == SessionStatus.SUSPENDED:
        row.suspend(T0, "test")
    if status == SessionStatus.ENDED:
        row.end(T0)
    return _add(session, row)


def shelf_item(
    session: Session,
    *,
    session_row: LiveSession,
    product_row: Product,
    commission_rate_bp: int = 2000,
    slot_fee_fen: int = 0,
) -> ShelfItem:
    return _add(
        session,
        ShelfItem(
            session_id=session_row.id,
            product_id=product_row.id,
            commission_rate_bp=commission_rate_bp,
            slot_fee_fen=slot_fee_fen,
            position=0,
            added_at=T0,
        ),
    )


def order(
    session: Session,
    *,
    session_row: LiveSession,
    product_row: Product,
    buyer: Viewer | None = None,
    quantity: int = 1,
) -> Order:
    buyer = buyer or viewer(session)
    streamer_row = session.get(Streamer, session_row.streamer_id)
    return _add(
        session,
        Order(
            buyer_id=buyer.id,
            product_id=product_row.id,
            quantity=quantity,
            unit_price_fen=product_row.price_fen,
            amount_fen=product_row.price_fen * quantity,
            commission_rate_bp=product_row.commission_rate_bp,
            session_id=session_row.id,
            room_id=session_row.room_id,
            streamer_id=session_row.streamer_id,
            partner_id=streamer_row.partner_id if streamer_row else None,
            paid_at=T0,
            refunded_fen=0,
        ),
    )


def token(session: Session, role: Role, subject_id: int | None = None) -> dict[str, str]:
    """Authorization headers for a fresh token of ``role``."""
    clear, _ = create_token(session, role, subject_id)
    return {"Authorization": f"Bearer {clear}"}
