"""Slot fees (坑位费): a fixed fee a brand pays for a product's place in a session, or one
refunded pro rata to a sales target agreed up front (``commission.slot_fee_refund``).

Terms are agreed per session-product (its shelf item) before the session ends, once: the same
terms again are a no-op, other terms a ``SlotFeeAlreadyAgreed`` conflict (a contract is not
rewritten; the ledger is corrected by reversals, never by updates). The brand's payment is
posted at agreement (``slot_fee:{item}:paid``: ``cash`` +F, ``slot_fees_held`` −F). After the
session ends, ``settle_slot_fee`` (or the next settlement run, for every ended session)
measures the product's sales in the session (amount paid net of refunds), gives the brand back
its part and credits the rest to the streamer, less tax withheld (``slot_fee:{item}``:
``slot_fees_held`` +F, ``brand_payable`` −refund, streamer's ``commission_payable`` −(kept −
tax), ``tax_withheld`` −tax); the settlement run pays it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from zhibo import ledger
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhibo.kit.money import apply_bp
from zhibo.kit.pagination import decode_cursor, encode_cursor
from zhibo.kit.time import ensure_utc
from zhibo.models import LiveSession, Order, Product, Role, ShelfItem, SlotFeeTerms, Streamer
from zhibo.models.session import SessionStatus
from zhibo.settlement import postings
from zhibo.settlement.commission import slot_fee_refund
from zhibo.settlement.config import SettlementSettings, get_settlement_settings
from zhibo.settlement.schemas import SlotFeeCreate, SlotFeeOut

#: Where a brand's slot fee waits between payment and the end of the session (liability).
SLOT_FEES_HELD = "slot_fees_held"


class SlotFeeAlreadySettled(Conflict):
    """A slot fee is settled once."""


class SlotFeeAlreadyAgreed(Conflict):
    """Slot-fee terms are agreed once; the same terms again are accepted as a retry."""


class SessionNotEnded(Conflict):
    """Slot fees are settled after the session ends, when its sales are known."""


class SessionAlreadyEnded(Conflict):
    """Slot-fee terms are agreed up front, before the session ends."""


def _post(
    db: Session, key: str, lines: list[tuple[str, int]], currency: str, **fields: Any
) -> None:
    entry_postings = tuple(
        ledger.Posting(account, amount, currency) for account, amount in lines if amount
    )
    if len(entry_postings) >= 2:
        ledger.post(db, [ledger.Entry(key=key, postings=entry_postings, **fields)])


def agree_slot_fee(
    db: Session,
    shelf_item_id: int,
    *,
    slot_fee_fen: int,
    sales_target_fen: int | None,
    at: datetime,
) -> SlotFeeTerms:
    """Record the terms of a shelf item's slot fee and post the brand's payment."""
    if type(slot_fee_fen) is not int or slot_fee_fen < 0:
        raise InvalidInput(f"slot_fee_fen: must be a non-negative integer, got {slot_fee_fen!r}")
    if sales_target_fen is not None and (
        type(sales_target_fen) is not int or sales_target_fen <= 0
    ):
        raise InvalidInput(f"sales_target_fen: must be positive, got {sales_target_fen!r}")
    when = ensure_utc(at, "at")
    item = db.get(ShelfItem, shelf_item_id)
    if item is None:
        raise NotFound(f"shelf_item_id: no shelf item with id {shelf_item_id}")
    terms = db.get(SlotFeeTerms, shelf_item_id, with_for_update=True)
    if terms is not None:
        if terms.settled_at is not None:
            raise SlotFeeAlreadySettled(f"shelf_item_id: slot fee of {shelf_item_id} was settled")
        if (terms.slot_fee_fen, terms.sales_target_fen) != (slot_fee_fen, sales_target_fen):
            raise SlotFeeAlreadyAgreed(
                f"slot_fee_fen: terms for shelf item {shelf_item_id} were agreed at "
                f"{terms.slot_fee_fen} fen (target {terms.sales_target_fen}); they are not "
                "changed"
            )
        return terms
    live = db.get(LiveSession, item.session_id)
    assert live is not None
    if live.status == SessionStatus.ENDED:
        raise SessionAlreadyEnded(
            f"session_id: session {live.id} has ended; slot fees are agreed up front"
        )
    terms = SlotFeeTerms(
        shelf_item_id=shelf_item_id,
        currency=item.currency,
        slot_fee_fen=slot_fee_fen,
        sales_target_fen=sales_target_fen,
        agreed_at=when,
    )
    db.add(terms)
    item.slot_fee_fen = slot_fee_fen
    db.flush()
    _post(
        db,
        f"slot_fee:{shelf_item_id}:paid",
        [(postings.CASH, slot_fee_fen), (SLOT_FEES_HELD, -slot_fee_fen)],
        terms.currency,
        kind="slot_fee_paid",
        effective_at=when,
        ref=f"shelf_item:{shelf_item_id}",
        memo=f"target {sales_target_fen}" if sales_target_fen else "fixed",
    )
    return terms


def settle_slot_fee(
    db: Session, shelf_item_id: int, at: datetime, settings: SettlementSettings | None = None
) -> SlotFeeTerms:
    """Settle an agreed slot fee after its session ended: refund, streamer's part, tax."""
    settings = settings or get_settlement_settings()
    when = ensure_utc(at, "at")
    terms = db.get(SlotFeeTerms, shelf_item_id, with_for_update=True)
    if terms is None:
        raise NotFound(f"shelf_item_id: no slot fee agreed for shelf item {shelf_item_id}")
    if terms.settled_at is not None:
        raise SlotFeeAlreadySettled(f"shelf_item_id: slot fee of {shelf_item_id} was settled")
    item = db.get(ShelfItem, shelf_item_id)
    assert item is not None
    live = db.get(LiveSession, item.session_id)
    assert live is not None
    if live.status != SessionStatus.ENDED:
        raise SessionNotEnded(f"session_id: session {live.id} is {live.status}, not ended")
    product = db.get(Product, item.product_id)
    assert product is not None
    sales = session_sales_fen(db, item.session_id, item.product_id)
    refund = slot_fee_refund(terms.slot_fee_fen, terms.sales_target_fen, sales)
    kept = terms.slot_fee_fen - refund
    tax = apply_bp(kept, settings.tax_bp)
    _post(
        db,
        f"slot_fee:{shelf_item_id}",
        [
            (SLOT_FEES_HELD, terms.slot_fee_fen),
            (postings.brand_payable(product.brand_id), -refund),
            (postings.payable("streamer", live.streamer_id), -(kept - tax)),
            (postings.TAX_WITHHELD, -tax),
        ],
        terms.currency,
        kind="slot_fee",
        effective_at=when,
        ref=f"shelf_item:{shelf_item_id}",
        memo=f"sales {sales} fen against target {terms.sales_target_fen}",
    )
    terms.sales_fen = sales
    terms.refunded_fen = refund
    terms.tax_fen = tax
    terms.streamer_id = live.streamer_id
    terms.settled_at = when
    db.flush()
    return terms


def session_sales_fen(db: Session, session_id: int, product_id: int) -> int:
    """The product's sales in the session: amount paid net of refunds so far, in fen."""
    return int(
        db.scalar(
            select(func.coalesce(func.sum(Order.amount_fen - Order.refunded_fen), 0)).where(
                Order.session_id == session_id, Order.product_id == product_id
            )
        )
        or 0
    )


def settle_due_slot_fees(
    db: Session, at: datetime, settings: SettlementSettings | None = None, *, limit: int = 1_000
) -> int:
    """Settle up to ``limit`` agreed slot fees whose session ended before ``at`` (a settlement
    run calls this for its day). Returns how many were settled."""
    due = db.scalars(
        select(SlotFeeTerms.shelf_item_id)
        .join(ShelfItem, ShelfItem.id == SlotFeeTerms.shelf_item_id)
        .join(LiveSession, LiveSession.id == ShelfItem.session_id)
        .where(
            SlotFeeTerms.settled_at.is_(None),
            LiveSession.status == SessionStatus.ENDED,
            LiveSession.ended_at < at,
        )
        .order_by(SlotFeeTerms.shelf_item_id)
        .limit(limit)
    ).all()
    for shelf_item_id in due:
        settle_slot_fee(db, shelf_item_id, at, settings)
    return len(due)


# --- what callers name: a session and a product, within their scope -------------------------


def _visible_to(principal: Principal) -> Select[*tuple[Any, ...]]:
    query = (
        select(SlotFeeTerms, ShelfItem, LiveSession, Product)
        .join(ShelfItem, ShelfItem.id == SlotFeeTerms.shelf_item_id)
        .join(LiveSession, LiveSession.id == ShelfItem.session_id)
        .join(Product, Product.id == ShelfItem.product_id)
    )
    if principal.is_global:
        return query
    subject = principal.subject_id
    if principal.role == Role.BRAND:
        return query.where(Product.brand_id == subject)
    if principal.role == Role.STREAMER:
        return query.where(LiveSession.streamer_id == subject)
    if principal.role == Role.PARTNER:
        return query.join(Streamer, Streamer.id == LiveSession.streamer_id).where(
            Streamer.partner_id == subject
        )
    raise Forbidden(f"role {principal.role} may not read slot fees")


def slot_fee_out(
    terms: SlotFeeTerms, item: ShelfItem, live: LiveSession, product: Product
) -> SlotFeeOut:
    return SlotFeeOut(
        shelf_item_id=item.id,
        session_id=live.id,
        product_id=product.id,
        brand_id=product.brand_id,
        streamer_id=live.streamer_id,
        kind="target" if terms.sales_target_fen is not None else "fixed",
        slot_fee_fen=terms.slot_fee_fen,
        sales_target_fen=terms.sales_target_fen,
        currency=terms.currency,
        agreed_at=terms.agreed_at,
        settled_at=terms.settled_at,
        sales_fen=terms.sales_fen,
        refunded_fen=terms.refunded_fen,
        tax_fen=terms.tax_fen,
        streamer_net_fen=(
            None
            if terms.settled_at is None
            else terms.slot_fee_fen - (terms.refunded_fen or 0) - (terms.tax_fen or 0)
        ),
    )


def _shelf_item_for(db: Session, principal: Principal, session_id: int, product_id: int) -> int:
    """The shelf item a caller agrees terms for, naming the field that does not fit."""
    live = db.get(LiveSession, session_id)
    if live is None:
        raise InvalidInput(f"session_id: no session with id {session_id}")
    product = db.get(Product, product_id)
    brand_scoped = principal.role == Role.BRAND
    if product is None or (brand_scoped and product.brand_id != principal.subject_id):
        # A brand naming another brand's product learns no more than for an unknown one.
        raise InvalidInput(f"product_id: no product with id {product_id}")
    item_id = db.scalar(
        select(ShelfItem.id).where(
            ShelfItem.session_id == session_id, ShelfItem.product_id == product_id
        )
    )
    if item_id is None:
        raise InvalidInput(
            f"product_id: product {product_id} is not on session {session_id}'s shelf"
        )
    return int(item_id)


def agree(db: Session, principal: Principal, data: SlotFeeCreate, at: datetime) -> SlotFeeOut:
    """A brand (its own products) or an operator agrees a session-product's slot fee."""
    if not (principal.role == Role.BRAND or principal.role == Role.OPERATOR):
        raise Forbidden(f"role {principal.role} may not agree slot fees")
    shelf_item_id = _shelf_item_for(db, principal, data.session_id, data.product_id)
    agree_slot_fee(
        db,
        shelf_item_id,
        slot_fee_fen=data.slot_fee_fen,
        sales_target_fen=data.sales_target_fen,
        at=at,
    )
    return get_slot_fee(db, principal, data.session_id, data.product_id)


def get_slot_fee(db: Session, principal: Principal, session_id: int, product_id: int) -> SlotFeeOut:
    row = db.execute(
        _visible_to(principal).where(
            ShelfItem.session_id == session_id, ShelfItem.product_id == product_id
        )
    ).first()
    if row is None:
        raise NotFound(f"slot fee: none agreed for product {product_id} in session {session_id}")
    return slot_fee_out(*row)


def settle(
    db: Session,
    principal: Principal,
    session_id: int,
    product_id: int,
    at: datetime,
    settings: SettlementSettings | None = None,
) -> SlotFeeOut:
    """Operators settle a slot fee after the session (runs also do it for ended sessions)."""
    if principal.role != Role.OPERATOR:
        raise Forbidden(f"role {principal.role} may not settle slot fees")
    shelf_item_id = _shelf_item_for(db, principal, session_id, product_id)
    settle_slot_fee(db, shelf_item_id, at, settings)
    return get_slot_fee(db, principal, session_id, product_id)


def list_slot_fees(
    db: Session,
    principal: Principal,
    cursor: str | None,
    limit: int,
    session_id: int | None = None,
) -> tuple[list[SlotFeeOut], str | None]:
    query = _visible_to(principal)
    if session_id is not None:
        query = query.where(ShelfItem.session_id == session_id)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(SlotFeeTerms.shelf_item_id > after)
    rows: Sequence[Any] = db.execute(
        query.order_by(SlotFeeTerms.shelf_item_id).limit(limit + 1)
    ).all()
    next_cursor = encode_cursor(rows[limit - 1][0].shelf_item_id) if len(rows) > limit else None
    return [slot_fee_out(*row) for row in rows[:limit]], next_cursor
