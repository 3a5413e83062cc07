"""Tips on the ledger: each stage of a tip is one balanced, keyed entry (debit > 0, credit < 0).

* ``tip:{id}:paid`` when the tip is sent: ``cash`` +A (the viewer's payment),
  ``tips_held:streamer:{s}`` −A (held for the streamer during the hold period).
* ``tip:{id}:credited`` when the hold ends: ``tips_held:streamer:{s}`` +A,
  ``tips_payable:streamer:{s}`` −(A − F), ``platform_tip_revenue`` −F, where F is the setting
  ``tip_platform_share_bp`` of A (rounded half away from zero; 0 by default, so no line).
* ``tip:{id}:refunded`` when the streamer was sanctioned for the session: the viewer is paid
  back (``cash`` −A) from wherever the tip has reached: from ``tips_held`` if it was still held,
  else from ``tips_payable`` (A − F) and ``platform_tip_revenue`` (F) as credited. A credited
  tip refunded puts the streamer's tips payable into debit: a claw-back, carried as a negative
  balance like a commission claw-back (docs/settlement.md).

Every entry's ``ref`` is ``tip:{id}``, which :func:`tip_traces` (registered with
``zhibo.ledger.register_order_check``) uses to prove each tip against its postings.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.orm import Session

from zhibo.config import get_settings
from zhibo.kit.money import apply_bp
from zhibo.ledger import (
    Entry,
    EntryNotFound,
    Posting,
    Problem,
    get_entry,
    post,
    register_order_check,
)
from zhibo.models.identity import Tip

CASH = "cash"
PLATFORM_TIP_REVENUE = "platform_tip_revenue"
LIST_LIMIT = 100


def tips_held(streamer_id: int) -> str:
    return f"tips_held:streamer:{streamer_id}"


def tips_payable(streamer_id: int) -> str:
    return f"tips_payable:streamer:{streamer_id}"


def _key(tip: Tip, stage: str) -> str:
    return f"tip:{tip.id}:{stage}"


def _postings(lines: list[tuple[str, int]], currency: str) -> tuple[Posting, ...]:
    return tuple(Posting(account, amount, currency) for account, amount in lines if amount)


def paid_entry(tip: Tip) -> Entry:
    return Entry(
        key=_key(tip, "paid"),
        kind="tip_paid",
        postings=_postings(
            [(CASH, tip.amount_fen), (tips_held(tip.streamer_id), -tip.amount_fen)], tip.currency
        ),
        effective_at=tip.sent_at,
        ref=f"tip:{tip.id}",
    )


def credited_entry(tip: Tip, share_bp: int | None = None) -> Entry:
    assert tip.credited_at is not None
    bp = get_settings().tip_platform_share_bp if share_bp is None else share_bp
    fee = apply_bp(tip.amount_fen, bp)
    return Entry(
        key=_key(tip, "credited"),
        kind="tip_credited",
        postings=_postings(
            [
                (tips_held(tip.streamer_id), tip.amount_fen),
                (tips_payable(tip.streamer_id), -(tip.amount_fen - fee)),
                (PLATFORM_TIP_REVENUE, -fee),
            ],
            tip.currency,
        ),
        effective_at=tip.credited_at,
        ref=f"tip:{tip.id}",
        memo=f"platform share {bp} bp",
    )


def refunded_entry(db: Session, tip: Tip) -> Entry:
    """The refund of whatever stage the tip reached: the credited entry, if posted, is undone
    line by line (so a later change of the platform share cannot unbalance it)."""
    assert tip.refunded_at is not None
    try:
        credited = get_entry(db, _key(tip, "credited"))
    except EntryNotFound:
        credited = None
    if credited is None:
        lines = [(tips_held(tip.streamer_id), tip.amount_fen), (CASH, -tip.amount_fen)]
        memo = "refunded while held"
    else:
        lines = [
            (p.account, -p.amount_fen)
            for p in credited.postings
            if p.account != tips_held(tip.streamer_id)
        ]
        lines.append((CASH, -tip.amount_fen))
        memo = "claw-back after crediting"
    return Entry(
        key=_key(tip, "refunded"),
        kind="tip_refund",
        postings=_postings(lines, tip.currency),
        effective_at=tip.refunded_at,
        ref=f"tip:{tip.id}",
        memo=f"{memo}: {tip.refund_reason or ''}".replace("\x00", "")[:2000],
    )


def post_paid(db: Session, tip: Tip) -> None:
    post(db, [paid_entry(tip)])


def post_credited(db: Session, tips: list[Tip]) -> None:
    share = get_settings().tip_platform_share_bp
    if tips:
        post(db, [credited_entry(tip, share) for tip in tips])


def post_refunded(db: Session, tips: list[Tip]) -> None:
    if tips:
        post(db, [refunded_entry(db, tip) for tip in tips])


def backfill(db: Session, batch: int = 1_000) -> int:
    """Post the entries every tip's stage calls for (tips made before tips were on the ledger):
    paid, then credited, then refunded. Keys are deterministic, so entries already there count
    as duplicates and running it twice changes nothing. Returns how many entries were new.
    A legacy credited tip is credited at today's platform share."""
    from sqlalchemy import select

    from zhibo.models.identity import TipStatus

    posted = 0
    last = 0
    while True:
        tips = db.scalars(select(Tip).where(Tip.id > last).order_by(Tip.id).limit(batch)).all()
        if not tips:
            return posted
        last = tips[-1].id
        posted += post(db, [paid_entry(tip) for tip in tips]).posted
        credited = [tip for tip in tips if tip.credited_at is not None]
        if credited:
            share = get_settings().tip_platform_share_bp
            posted += post(db, [credited_entry(tip, share) for tip in credited]).posted
        refunded = [tip for tip in tips if tip.status == TipStatus.REFUNDED]
        if refunded:
            posted += post(db, [refunded_entry(db, tip) for tip in refunded]).posted


# One row per tip whose entries are missing or whose postings disagree with its status:
# the cash it holds (A unless refunded) and what is still held for the streamer (A while held).
_TIP_TRACES = """
SELECT t.id, t.status, t.amount_fen, t.credited_at,
       coalesce(s.has_paid, 0), coalesce(s.has_credited, 0), coalesce(s.has_refunded, 0),
       coalesce(s.cash, 0), coalesce(s.held, 0)
FROM tips t
LEFT JOIN (
    SELECT e.ref,
           max(CASE WHEN e.kind = 'tip_paid' THEN 1 ELSE 0 END) AS has_paid,
           max(CASE WHEN e.kind = 'tip_credited' THEN 1 ELSE 0 END) AS has_credited,
           max(CASE WHEN e.kind = 'tip_refund' THEN 1 ELSE 0 END) AS has_refunded,
           sum(CASE WHEN a.code = 'cash' THEN lp.amount_fen ELSE 0 END) AS cash,
           sum(CASE WHEN a.kind = 'tips_held' THEN lp.amount_fen ELSE 0 END) AS held
    FROM ledger_entries e
    JOIN ledger_postings lp ON lp.entry_id = e.id
    JOIN ledger_accounts a ON a.id = lp.account_id
    WHERE e.kind IN ('tip_paid', 'tip_credited', 'tip_refund')
    GROUP BY e.ref
) s ON s.ref = 'tip:' || CAST(t.id AS VARCHAR(20))
WHERE coalesce(s.has_paid, 0) = 0
   OR coalesce(s.has_credited, 0) <> CASE WHEN t.credited_at IS NULL THEN 0 ELSE 1 END
   OR coalesce(s.has_refunded, 0) <> CASE WHEN t.status = 'refunded' THEN 1 ELSE 0 END
   OR coalesce(s.cash, 0) <> CASE WHEN t.status = 'refunded' THEN 0 ELSE t.amount_fen END
   OR coalesce(s.held, 0) <> CASE WHEN t.status = 'held' THEN -t.amount_fen ELSE 0 END
ORDER BY t.id LIMIT :limit
"""


def tip_traces(db: Session) -> Iterator[Problem]:
    """Every tip has the entries its stage calls for, and its postings agree with it.

    Registered with ``zhibo.ledger.register_order_check``; one set-based query."""
    for row in db.execute(text(_TIP_TRACES), {"limit": LIST_LIMIT}):
        tip_id, status, amount, credited_at, paid, credited, refunded, cash, held = row
        missing = []
        if not paid:
            missing.append(f"tip:{tip_id}:paid")
        if credited_at is not None and not credited:
            missing.append(f"tip:{tip_id}:credited")
        if status == "refunded" and not refunded:
            missing.append(f"tip:{tip_id}:refunded")
        if missing:
            yield Problem(None, missing[0], f"tip {tip_id} ({status}) has no entry {missing[0]}")
            continue
        extra = [
            f"tip:{tip_id}:{stage}"
            for stage, has, should in (
                ("credited", credited, credited_at is not None),
                ("refunded", refunded, status == "refunded"),
            )
            if has and not should
        ]
        if extra:
            yield Problem(None, extra[0], f"tip {tip_id} ({status}) should not have {extra[0]}")
            continue
        yield Problem(
            None,
            f"tip:{tip_id}:paid",
            f"tip {tip_id} ({status}, {amount} fen): its postings leave {cash} fen in cash and "
            f"{held} fen held for the streamer",
        )


register_order_check(tip_traces)
