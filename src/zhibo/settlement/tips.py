"""Tips in settlement runs: credited tips are paid out to their streamer in the streamer's
payout batch, beside commission, and tips refunded after they were paid out are clawed back.

* **Itemise** (once per run, after the commission items): every tip credited by the end of the
  run's day, not refunded and not paid out yet becomes a ``tip`` item; its amount is what the
  tip's credited entry (``tip:{id}:credited``) put on ``tips_payable:streamer:{s}``, read from
  the ledger, so a later change of ``tip_platform_share_bp`` cannot change what is paid. Every
  tip paid out and refunded since (by the end of the run's day) becomes a ``clawback`` item of
  the same amount, negated. ``tip_payout_items`` is unique per (kind, tip): a tip is paid once
  and clawed back once, whichever run or process gets there first.
* **Batch** (``run._batch``): the tips part of the streamer's batch is
  ``tips − tip claw-backs + tips carried in`` and the commission part is as before; the two are
  netted into one payout. What the batch cannot cover is carried to the next batch, and each
  account keeps its own part of it (:func:`split_carry`), so ``tips_payable`` never absorbs a
  commission claw-back or the reverse.

Tips are not split with partners: a tip's only deduction is the platform's share, kept when it
is credited (``identity.tip_ledger``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import String, cast, exists, func, literal, select
from sqlalchemy.orm import Session, aliased

from zhibo.kit.time import start_of_day
from zhibo.models import LedgerAccount, LedgerEntry, LedgerPosting
from zhibo.models.identity import Tip, TipStatus
from zhibo.models.settlement import TipPayoutItem, TipPayoutKind

_COLUMNS = ["run_id", "kind", "tip_id", "streamer_id", "tip_amount_fen", "amount_fen"]


def _insert(db: Session) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING``: an item another run or process took is skipped."""
    from sqlalchemy.dialects import postgresql, sqlite

    if db.get_bind().dialect.name == "postgresql":
        return postgresql.insert(TipPayoutItem)
    return sqlite.insert(TipPayoutItem)


def itemise(db: Session, run_id: int, as_of: date) -> None:
    """The run's tip and tip claw-back items (idempotent)."""
    end = start_of_day(as_of + timedelta(days=1))
    taken = aliased(TipPayoutItem)
    key = literal("tip:") + cast(Tip.id, String(20)) + literal(":credited")
    payable_code = literal("tips_payable:streamer:") + cast(Tip.streamer_id, String(20))
    # The credited entry must exist (a tip is paid only as far as the ledger credited it); its
    # tips_payable line may be absent (a 100 % platform share): then nothing is owed.
    payable_line = (
        select(func.coalesce(func.sum(LedgerPosting.amount_fen), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerPosting.entry_id == LedgerEntry.id, LedgerAccount.code == payable_code)
        .scalar_subquery()
    )
    tips = (
        select(
            literal(run_id),
            literal(TipPayoutKind.TIP.value),
            Tip.id,
            Tip.streamer_id,
            Tip.amount_fen,
            -payable_line,
        )
        .join(LedgerEntry, LedgerEntry.key == key)
        .where(
            Tip.status == TipStatus.CREDITED,
            Tip.credited_at < end,
            ~exists().where(taken.kind == TipPayoutKind.TIP, taken.tip_id == Tip.id),
        )
    )
    paid = aliased(TipPayoutItem)
    clawbacks = (
        select(
            literal(run_id),
            literal(TipPayoutKind.CLAWBACK.value),
            paid.tip_id,
            paid.streamer_id,
            -paid.tip_amount_fen,
            -paid.amount_fen,
        )
        .join(Tip, Tip.id == paid.tip_id)
        .where(
            paid.kind == TipPayoutKind.TIP,
            Tip.status == TipStatus.REFUNDED,
            Tip.refunded_at < end,
            ~exists().where(taken.kind == TipPayoutKind.CLAWBACK, taken.tip_id == paid.tip_id),
        )
    )
    for query in (tips, clawbacks):
        db.execute(_insert(db).from_select(_COLUMNS, query).on_conflict_do_nothing())


@dataclass
class TipTotals:
    tips: int = 0
    tips_fen: int = 0
    clawbacks: int = 0
    clawback_fen: int = 0


def run_totals(db: Session, run_id: int) -> dict[int, TipTotals]:
    """Per streamer: the run's tips paid and clawed back (claw-backs positive)."""
    item = TipPayoutItem
    found: dict[int, TipTotals] = {}
    for streamer_id, kind, count, amount in db.execute(
        select(item.streamer_id, item.kind, func.count(), func.sum(item.amount_fen))
        .where(item.run_id == run_id)
        .group_by(item.streamer_id, item.kind)
    ).all():
        totals = found.setdefault(int(streamer_id), TipTotals())
        if kind == TipPayoutKind.TIP:
            totals.tips, totals.tips_fen = int(count), int(amount or 0)
        else:
            totals.clawbacks, totals.clawback_fen = int(count), -int(amount or 0)
    return found


def split_carry(commission_net: int, tips_net: int) -> tuple[int, int]:
    """How a batch's shortfall is carried: ``(commission part, tips part)``, both ≤ 0, adding
    up to ``min(0, commission_net + tips_net)``. A part that is owed money covers the other's
    shortfall first; what remains negative stays with the part it came from."""
    if commission_net + tips_net >= 0:
        return 0, 0
    if commission_net >= 0:
        return 0, commission_net + tips_net
    if tips_net >= 0:
        return commission_net + tips_net, 0
    return commission_net, tips_net
