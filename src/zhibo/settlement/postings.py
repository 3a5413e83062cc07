"""The ledger entries settlement posts, built from plain numbers (no database).

Chart of accounts (see ``zhibo.ledger.accounts``) and the entries, debit > 0, credit < 0:

* ``order:{id}:paid`` at payment: ``cash`` +A, ``buyer_payments_held`` −A.
* ``order:{id}:commission`` at payment: ``buyer_payments_held`` +A, ``brand_payable:{brand}``
  −(A − C), ``platform_fee_revenue`` −F, ``commission_payable:partner:{p}`` −P,
  ``commission_payable:streamer:{s}`` −(S − T), ``tax_withheld`` −T. Commission payable is
  the commission earned and not yet settled.
* ``refund:{refund_id}`` at the refund: the same accounts in reverse, pro rata, and ``cash``
  −R. After settlement the streamer's payable goes into debit: the claw-back, recovered from
  the next payout.
* ``payout:{day}:{payee}`` per payout batch: ``commission_payable`` +X, ``tips_payable`` +T
  (a streamer's credited tips paid out), ``reserve`` −held +released, ``payouts`` −paid;
  ``payout:{day}:{payee}:sent``: ``payouts`` +paid, ``cash``
  −paid.
"""

from __future__ import annotations

from datetime import datetime

from zhibo.ledger import Entry, Posting
from zhibo.settlement.commission import Split

BUYER_PAYMENTS_HELD = "buyer_payments_held"
PLATFORM_FEE = "platform_fee_revenue"
TAX_WITHHELD = "tax_withheld"
CASH = "cash"


def brand_payable(brand_id: int) -> str:
    return f"brand_payable:{brand_id}"


def payable(payee_kind: str, payee_id: int) -> str:
    return f"commission_payable:{payee_kind}:{payee_id}"


def reserve(payee_kind: str, payee_id: int) -> str:
    return f"reserve:{payee_kind}:{payee_id}"


def payouts(payee_kind: str, payee_id: int) -> str:
    return f"payouts:{payee_kind}:{payee_id}"


def _postings(lines: list[tuple[str, int]], currency: str) -> tuple[Posting, ...]:
    return tuple(Posting(account, amount, currency) for account, amount in lines if amount)


def order_entries(
    *,
    order_id: int,
    amount_fen: int,
    currency: str,
    brand_id: int,
    streamer_id: int,
    partner_id: int | None,
    split: Split,
    paid_at: datetime,
) -> list[Entry]:
    if amount_fen == 0:
        return []
    paid = Entry(
        key=f"order:{order_id}:paid",
        kind="order_paid",
        postings=_postings([(CASH, amount_fen), (BUYER_PAYMENTS_HELD, -amount_fen)], currency),
        effective_at=paid_at,
        order_id=order_id,
    )
    lines = [
        (BUYER_PAYMENTS_HELD, amount_fen),
        (brand_payable(brand_id), -(amount_fen - split.commission_fen)),
        (PLATFORM_FEE, -split.platform_fee_fen),
        (payable("streamer", streamer_id), -split.streamer_net_fen),
        (TAX_WITHHELD, -split.tax_fen),
    ]
    if partner_id is not None:
        lines.append((payable("partner", partner_id), -split.partner_fen))
    elif split.partner_fen:
        raise ValueError(f"order {order_id}: a partner share without a partner")
    commission = Entry(
        key=f"order:{order_id}:commission",
        kind="commission",
        postings=_postings(lines, currency),
        effective_at=paid_at,
        order_id=order_id,
    )
    return [paid, commission] if len(commission.postings) >= 2 else [paid]


def refund_entry(
    *,
    refund_id: int,
    order_id: int,
    amount_fen: int,
    currency: str,
    brand_id: int,
    streamer_id: int,
    partner_id: int | None,
    taken_back: Split,
    refunded_at: datetime,
    after_settlement: bool,
) -> Entry:
    lines = [
        (CASH, -amount_fen),
        (brand_payable(brand_id), amount_fen - taken_back.commission_fen),
        (PLATFORM_FEE, taken_back.platform_fee_fen),
        (payable("streamer", streamer_id), taken_back.streamer_net_fen),
        (TAX_WITHHELD, taken_back.tax_fen),
    ]
    if partner_id is not None:
        lines.append((payable("partner", partner_id), taken_back.partner_fen))
    return Entry(
        key=f"refund:{refund_id}",
        kind="refund",
        postings=_postings(lines, currency),
        effective_at=refunded_at,
        order_id=order_id,
        memo="claw-back after settlement" if after_settlement else "before settlement",
    )


def payout_entries(
    *,
    key: str,
    payee_kind: str,
    payee_id: int,
    currency: str,
    settled_fen: int,
    reserve_change_fen: int,
    paid_fen: int,
    at: datetime,
    ref: str,
    tips_settled_fen: int = 0,
) -> list[Entry]:
    """``settled_fen`` leaves commission payable and ``tips_settled_fen`` tips payable (a
    streamer's); ``reserve_change_fen`` (held − released) goes to the reserve and ``paid_fen``
    to the payee."""
    lines = [
        (payable(payee_kind, payee_id), settled_fen),
        (f"tips_payable:{payee_kind}:{payee_id}", tips_settled_fen),
        (reserve(payee_kind, payee_id), -reserve_change_fen),
        (payouts(payee_kind, payee_id), -paid_fen),
    ]
    entries = []
    postings = _postings(lines, currency)
    if len(postings) >= 2:
        entries.append(Entry(key, "payout", postings, at, ref=ref))
    if paid_fen:
        sent = _postings([(payouts(payee_kind, payee_id), paid_fen), (CASH, -paid_fen)], currency)
        entries.append(Entry(f"{key}:sent", "payout_sent", sent, at, ref=ref))
    return entries
