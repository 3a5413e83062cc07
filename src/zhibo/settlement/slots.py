"""Slot fees (坑位费): a fixed fee a brand pays for a product's place in a session, or one
refunded pro rata to a sales target agreed up front (``commission.slot_fee_refund``).

The fee is agreed per shelf item; after the session ends, ``settle_slot_fee`` measures the
product's sales in the session (amount paid net of refunds), gives the brand back its part and
credits the rest to the streamer, less tax withheld; the next settlement run pays it out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhibo import ledger
from zhibo.kit.errors import Conflict, InvalidInput, NotFound
from zhibo.kit.money import apply_bp
from zhibo.kit.time import ensure_utc
from zhibo.models import LiveSession, Order, Product, ShelfItem, SlotFeeTerms
from zhibo.models.session import SessionStatus
from zhibo.settlement import postings
from zhibo.settlement.commission import slot_fee_refund
from zhibo.settlement.config import SettlementSettings, get_settlement_settings


class SlotFeeAlreadySettled(Conflict):
    """A slot fee is settled once."""


class SessionNotEnded(Conflict):
    """Slot fees are settled after the session ends, when its sales are known."""


def agree_slot_fee(
    db: Session,
    shelf_item_id: int,
    *,
    slot_fee_fen: int,
    sales_target_fen: int | None,
    at: datetime,
) -> SlotFeeTerms:
    if slot_fee_fen < 0:
        raise InvalidInput(f"slot_fee_fen: must not be negative, got {slot_fee_fen}")
    if sales_target_fen is not None and sales_target_fen <= 0:
        raise InvalidInput(f"sales_target_fen: must be positive, got {sales_target_fen}")
    item = db.get(ShelfItem, shelf_item_id)
    if item is None:
        raise NotFound(f"shelf_item_id: no shelf item with id {shelf_item_id}")
    terms = db.get(SlotFeeTerms, shelf_item_id)
    if terms is not None and terms.settled_at is not None:
        raise SlotFeeAlreadySettled(f"shelf_item_id: slot fee of {shelf_item_id} was settled")
    if terms is None:
        terms = SlotFeeTerms(shelf_item_id=shelf_item_id, currency=item.currency)
        db.add(terms)
    terms.slot_fee_fen = slot_fee_fen
    terms.sales_target_fen = sales_target_fen
    terms.agreed_at = ensure_utc(at, "at")
    item.slot_fee_fen = slot_fee_fen
    db.flush()
    return terms


def settle_slot_fee(
    db: Session, shelf_item_id: int, at: datetime, settings: SettlementSettings | None = None
) -> SlotFeeTerms:
    settings = settings or get_settlement_settings()
    terms = db.get(SlotFeeTerms, shelf_item_id)
    if terms is None:
        raise NotFound(f"shelf_item_id: no slot fee agreed for shelf item {shelf_item_id}")
    if terms.settled_at is not None:
        raise SlotFeeAlreadySettled(f"shelf_item_id: slot fee of {shelf_item_id} was settled")
    item = db.get(ShelfItem, shelf_item_id)
    assert item is not None
    live = db.get(LiveSession, item.session_id)
    assert live is not None
    if live.status != SessionStatus.ENDED:
        raise SessionNotEnded(f"session {live.id} is {live.status}")
    product = db.get(Product, item.product_id)
    assert product is not None
    sales = int(
        db.scalar(
            select(func.coalesce(func.sum(Order.amount_fen - Order.refunded_fen), 0)).where(
                Order.session_id == item.session_id, Order.product_id == item.product_id
            )
        )
        or 0
    )
    refund = slot_fee_refund(terms.slot_fee_fen, terms.sales_target_fen, sales)
    kept = terms.slot_fee_fen - refund
    tax = apply_bp(kept, settings.tax_bp)
    when = ensure_utc(at, "at")
    lines = [
        (postings.CASH, terms.slot_fee_fen),
        (postings.brand_payable(product.brand_id), -refund),
        (postings.payable("streamer", live.streamer_id), -(kept - tax)),
        (postings.TAX_WITHHELD, -tax),
    ]
    entry_postings = tuple(
        ledger.Posting(account, amount, terms.currency) for account, amount in lines if amount
    )
    if len(entry_postings) >= 2:
        ledger.post(
            db,
            [
                ledger.Entry(
                    key=f"slot_fee:{shelf_item_id}",
                    kind="slot_fee",
                    postings=entry_postings,
                    effective_at=when,
                    ref=f"shelf_item:{shelf_item_id}",
                    memo=f"sales {sales} fen against target {terms.sales_target_fen}",
                )
            ],
        )
    terms.refunded_fen = refund
    terms.tax_fen = tax
    terms.streamer_id = live.streamer_id
    terms.settled_at = when
    db.flush()
    return terms
