"""What goes into the ledger and what comes out: postings, entries, results, check reports.

These are plain frozen dataclasses rather than Pydantic models: settlement builds hundreds of
thousands of them per run, and a slotted dataclass costs a fraction of a validated model. The
rules are enforced once, in bulk, by :func:`zhibo.ledger.post`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zhibo.kit.errors import Conflict, InvalidInput, NotFound


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of an entry: ``amount_fen`` on ``account``. Debit > 0, credit < 0.

    ``account`` is a code such as ``brand_payable:17`` or ``commission_payable:streamer:5``
    (lower-case segments separated by ``:``); the account is created on first use.
    ``amount_fen`` is in minor units of ``currency`` (fen for CNY), never 0.
    """

    account: str
    amount_fen: int
    currency: str = "CNY"


@dataclass(frozen=True, slots=True)
class Entry:
    """One balanced transaction: per currency, its postings sum to zero.

    ``key`` is the idempotency key, unique in the ledger: posting the same key with the same
    content again changes nothing; with other content it is refused.
    """

    key: str
    kind: str
    postings: tuple[Posting, ...]
    effective_at: datetime
    order_id: int | None = None
    ref: str | None = None
    memo: str = ""
    #: Key of the entry this one reverses; set only by :func:`zhibo.ledger.reverse`.
    reverses: str | None = None


@dataclass(frozen=True, slots=True)
class PostResult:
    """How many entries of a batch were written, and how many were already there."""

    posted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing ``check`` found wrong, named by the order and/or entry it concerns."""

    order_id: int | None
    entry_key: str | None
    what: str

    def as_dict(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "entry_key": self.entry_key, "what": self.what}


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """The result of :func:`zhibo.ledger.check`."""

    balanced: bool
    #: Sum of every posting per currency; zero in a sound ledger.
    trial_balance: dict[str, int]
    entries: int
    postings: int
    accounts: int
    problems: list[Problem] = field(default_factory=list)
    #: Problems found beyond those listed (each query reports at most a bounded number).
    more_problems: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "balanced": self.balanced,
            "trial_balance": self.trial_balance,
            "entries": self.entries,
            "postings": self.postings,
            "accounts": self.accounts,
            "problems": [problem.as_dict() for problem in self.problems],
            "more_problems": self.more_problems,
        }


class Unbalanced(InvalidInput):
    """An entry's postings do not sum to zero in some currency."""


class InvalidEntry(InvalidInput):
    """An entry breaks a rule (postings, amounts, currency, time, key); the detail says which."""


class IdempotencyConflict(Conflict):
    """The key was already posted with different content."""


class EntryNotFound(NotFound):
    """No entry has this key."""


class AlreadyReversed(Conflict):
    """The entry has been reversed already; an entry is reversed at most once."""


class ReversalNotReversible(Conflict):
    """A reversal cannot itself be reversed: post a new entry with the intended amounts."""
