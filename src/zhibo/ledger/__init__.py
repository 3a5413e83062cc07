"""The double-entry ledger: every fen that moves is a balanced, idempotent, append-only entry.

It owns accounts (created on first use from codes like ``commission_payable:streamer:5``),
entries with their postings (debit > 0, credit < 0, integer minor units), reversals as the
only correction, balances as of any time, and ``check``, which proves the books balance.
It decides no amounts: settlement computes them (and owns the rounding rule); the ledger
refuses anything that does not balance. See ``docs/ledger.md``.
"""

from zhibo.kit.errors import InvalidInput
from zhibo.ledger.checks import check, register_order_check
from zhibo.ledger.schemas import (
    AlreadyReversed,
    Entry,
    EntryNotFound,
    IdempotencyConflict,
    InvalidEntry,
    LedgerReport,
    Posting,
    PostResult,
    Problem,
    ReversalNotReversible,
    Unbalanced,
)
from zhibo.ledger.service import (
    balance,
    balances,
    content_hash,
    entries_for_order,
    get_entry,
    post,
    reverse,
)

__all__ = [
    "AlreadyReversed",
    "Entry",
    "EntryNotFound",
    "IdempotencyConflict",
    "InvalidEntry",
    "InvalidInput",
    "LedgerReport",
    "PostResult",
    "Posting",
    "Problem",
    "ReversalNotReversible",
    "Unbalanced",
    "balance",
    "balances",
    "check",
    "content_hash",
    "entries_for_order",
    "get_entry",
    "post",
    "register_order_check",
    "reverse",
]
