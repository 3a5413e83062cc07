"""The double-entry ledger: accounts, entries (balanced transactions) and their postings.

Append-only: rows are inserted by ``zhibo.ledger`` and never updated or deleted (the migration
adds triggers that refuse UPDATE and DELETE on all three tables). A correction is a new entry
that reverses an old one. Amounts are integer fen; debit > 0, credit < 0.

Postings carry no foreign keys: per-row referential-integrity triggers cost more than the rest
of a bulk insert together (measured: 50k against 140k postings/s). Integrity holds because
``post`` writes an entry, its postings and their accounts in one transaction, nothing is
ever deleted, and ``zhibo ledger check`` reports any posting whose entry or account is missing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId, Currency

#: Keys and codes are identifiers: compare them byte-wise ("C"), which is also several times
#: cheaper for the unique indexes than a linguistic collation.
Identifier = String(200, collation="C").with_variant(String(200), "sqlite")


class LedgerAccount(Base):
    """An account, created the first time a posting names its code.

    The code is the account's identity (``brand_payable:17``,
    ``commission_payable:streamer:5``); ``kind`` and ``owner`` are parsed from it so that
    reports can group by kind without string functions.
    """

    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The full account code, e.g. ``commission_payable:streamer:5``.
    code: Mapped[str] = mapped_column(Identifier, unique=True)
    #: The code's first segment, e.g. ``commission_payable``.
    kind: Mapped[str] = mapped_column(String(64), index=True)
    #: The rest of the code (``streamer:5``, ``17``), or None for a platform-wide account.
    owner: Mapped[str | None] = mapped_column(String(136))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    """One balanced transaction: its postings sum to zero in every currency."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_order_id", "order_id"),
        # Partial: most entries reverse nothing, and NULLs need no place in the index.
        Index(
            "uq_ledger_entries_reverses_entry_id",
            "reverses_entry_id",
            unique=True,
            postgresql_where=text("reverses_entry_id IS NOT NULL"),
            sqlite_where=text("reverses_entry_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: Idempotency key, chosen by the poster (e.g. ``order:123:paid``); unique in the ledger.
    key: Mapped[str] = mapped_column(Identifier, unique=True)
    #: What the movement is: ``order_paid``, ``commission``, ``refund``, ``reversal`` ...
    kind: Mapped[str] = mapped_column(String(32))
    #: When the movement counts for balances (``as_of``), tz-aware UTC.
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the ledger recorded it.
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The order the movement belongs to, if any. No foreign key on purpose: the ledger takes
    #: bulk postings at COPY speed and must not lock order rows; ``zhibo ledger check`` runs
    #: the order-tracing checks instead.
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    #: A reference outside the ledger: settlement run id, payout batch id ...
    ref: Mapped[str | None] = mapped_column(String(200))
    memo: Mapped[str] = mapped_column(Text, default="")
    #: Hash of the entry's content (kind, time, order, ref, memo, postings): re-posting a key
    #: with the same hash is a duplicate, with another hash a conflict.
    content_hash: Mapped[str] = mapped_column(String(32))
    #: The entry this one reverses. Unique: an entry is reversed at most once.
    reverses_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))


class LedgerPosting(Base):
    """One line of an entry: an amount on one account. Debit > 0, credit < 0, never 0."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="amount_nonzero"),
        Index("ix_ledger_postings_account_id", "account_id"),
    )

    #: The entry (``ledger_entries.id``) this posting belongs to.
    entry_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: Position of the posting in its entry, from 0.
    line: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    #: The account (``ledger_accounts.id``).
    account_id: Mapped[int] = mapped_column(BigInteger)
    #: Signed amount in minor units of ``currency`` (fen for CNY): debit > 0, credit < 0.
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Currency)
