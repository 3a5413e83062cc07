"""Settlement's part of ``zhibo ledger check``: every accrued order traces to its postings.

Set-based SQL, one query per rule, each listing at most ``LIST_LIMIT`` problems:

* an accrued order (amount > 0) has its ``order_paid`` and ``commission`` entries;
* each refund applied to commission has its ``refund`` entry;
* per order, the postings on commission-payable accounts equal the payees' commission net of
  refunds (streamer net of tax, plus partner) — amounts, not just presence;
* every payout batch that moved money has its ledger entry;
* every slot fee agreed has its payment entry, and every one settled its settlement entry.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.orm import Session

from zhibo.ledger import Problem

LIST_LIMIT = 100

_MISSING_ORDER_ENTRIES = """
SELECT oc.order_id, k.kind FROM order_commissions oc
CROSS JOIN (SELECT 'order_paid' AS kind UNION ALL SELECT 'commission') k
WHERE oc.amount_fen > 0 AND NOT EXISTS (
    SELECT 1 FROM ledger_entries e WHERE e.order_id = oc.order_id AND e.kind = k.kind
)
ORDER BY oc.order_id LIMIT :limit
"""
_MISSING_REFUND_ENTRIES = """
SELECT cr.order_id, cr.refund_id FROM commission_refunds cr
WHERE NOT EXISTS (
    SELECT 1 FROM ledger_entries e
    WHERE e.order_id = cr.order_id AND e.kind = 'refund'
      AND e.key = 'refund:' || CAST(cr.refund_id AS VARCHAR(20))
)
ORDER BY cr.order_id LIMIT :limit
"""
_PAYABLE_MISMATCH = """
SELECT oc.order_id, coalesce(p.total, 0),
       -((oc.streamer_fen - oc.refunded_streamer_fen) - (oc.tax_fen - oc.refunded_tax_fen)
         + (oc.partner_fen - oc.refunded_partner_fen)) AS expected
FROM order_commissions oc
LEFT JOIN (
    SELECT e.order_id, sum(lp.amount_fen) AS total
    FROM ledger_entries e
    JOIN ledger_postings lp ON lp.entry_id = e.id
    JOIN ledger_accounts a ON a.id = lp.account_id
    WHERE e.order_id IS NOT NULL AND a.kind = 'commission_payable'
      AND e.kind IN ('commission', 'refund')
    GROUP BY e.order_id
) p ON p.order_id = oc.order_id
WHERE coalesce(p.total, 0) <> -((oc.streamer_fen - oc.refunded_streamer_fen)
      - (oc.tax_fen - oc.refunded_tax_fen) + (oc.partner_fen - oc.refunded_partner_fen))
ORDER BY oc.order_id LIMIT :limit
"""
_MISSING_PAYOUT_ENTRIES = """
SELECT b.id, b.entry_key FROM payout_batches b
WHERE (b.paid_fen <> 0 OR b.reserve_held_fen <> 0 OR b.reserve_released_fen <> 0)
  AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.key = b.entry_key)
ORDER BY b.id LIMIT :limit
"""

_MISSING_SLOT_FEE_ENTRIES = """
SELECT t.shelf_item_id, k.suffix FROM slot_fee_terms t
CROSS JOIN (SELECT '\\:paid' AS suffix UNION ALL SELECT '') k
WHERE t.slot_fee_fen > 0 AND (k.suffix <> '' OR t.settled_at IS NOT NULL)
  AND NOT EXISTS (
    SELECT 1 FROM ledger_entries e
    WHERE e.key = 'slot_fee:' || CAST(t.shelf_item_id AS VARCHAR(20)) || k.suffix
)
ORDER BY t.shelf_item_id LIMIT :limit
"""


def order_traces(db: Session) -> Iterator[Problem]:
    """Registered with ``zhibo.ledger.register_order_check``."""
    limit = {"limit": LIST_LIMIT}
    for order_id, kind in db.execute(text(_MISSING_ORDER_ENTRIES), limit):
        yield Problem(int(order_id), None, f"accrued order has no {kind} entry")
    for order_id, refund_id in db.execute(text(_MISSING_REFUND_ENTRIES), limit):
        yield Problem(
            int(order_id), f"refund:{refund_id}", "refund applied to commission has no entry"
        )
    for order_id, total, expected in db.execute(text(_PAYABLE_MISMATCH), limit):
        yield Problem(
            int(order_id),
            None,
            f"commission payable postings total {total} fen, the commission rows say {expected}",
        )
    for batch_id, key in db.execute(text(_MISSING_PAYOUT_ENTRIES), limit):
        yield Problem(None, key, f"payout batch {batch_id} has no ledger entry")
    for shelf_item_id, suffix in db.execute(text(_MISSING_SLOT_FEE_ENTRIES), limit):
        yield Problem(
            None,
            f"slot_fee:{shelf_item_id}{suffix}",
            f"slot fee of shelf item {shelf_item_id} has no "
            f"{'payment' if suffix else 'settlement'} entry",
        )
