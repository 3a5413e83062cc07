"""Settlement: commission per order, announced rate changes, slot-fee terms, the active policy's
history, settlement runs, the items they settled and the payout batches (statements) per payee.

Money columns are integer fen; each row's parts come from ``zhibo.settlement.commission`` and
so always add up (see its rounding rule).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.kit.errors import IllegalTransition
from zhibo.kit.states import require_state
from zhibo.models._types import BigId, Currency, enum_column


class CommissionRateChange(Base):
    """A brand's announced change of a product's commission rate.

    A decrease takes effect only ``lock_days`` after it is announced (orders paid in between
    earn the old, higher rate); an increase takes effect when announced.
    """

    __tablename__ = "commission_rate_changes"
    __table_args__ = (
        CheckConstraint("old_rate_bp BETWEEN 0 AND 10000", name="old_rate_range"),
        CheckConstraint("new_rate_bp BETWEEN 0 AND 10000", name="new_rate_range"),
        CheckConstraint("effective_at >= announced_at", name="effective_after_announced"),
        Index("ix_commission_rate_changes_product_time", "product_id", "announced_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    #: Rate before the change, in basis points of the amount paid.
    old_rate_bp: Mapped[int] = mapped_column(Integer)
    #: Rate after the change, in basis points of the amount paid.
    new_rate_bp: Mapped[int] = mapped_column(Integer)
    announced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When orders start earning ``new_rate_bp``.
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderCommission(Base):
    """An order's commission and its split, computed when the order was paid.

    ``*_fen`` columns are the full parts at payment; ``refunded_*_fen`` the cumulative parts
    given back by refunds so far (pro rata, see ``zhibo.settlement.commission``).
    """

    __tablename__ = "order_commissions"
    __table_args__ = (
        CheckConstraint(
            "platform_fee_fen + partner_fen + streamer_fen = commission_fen", name="parts_add_up"
        ),
        CheckConstraint("commission_fen >= 0", name="commission_nonnegative"),
        CheckConstraint("tax_fen >= 0 AND tax_fen <= streamer_fen", name="tax_within_share"),
        CheckConstraint(
            "refunded_commission_fen >= 0 AND refunded_commission_fen <= commission_fen",
            name="refund_within_commission",
        ),
        Index("ix_order_commissions_streamer", "streamer_id"),
        Index("ix_order_commissions_partner", "partner_id"),
        Index("ix_order_commissions_brand", "brand_id"),
    )

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id"), primary_key=True, autoincrement=False
    )
    streamer_id: Mapped[int] = mapped_column(BigInteger)
    partner_id: Mapped[int | None] = mapped_column(BigInteger)
    brand_id: Mapped[int] = mapped_column(BigInteger)
    #: Amount the buyer paid, in fen (copied from the order at payment).
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Currency, default="CNY")
    #: Commission rate in force (after any rate lock), in basis points.
    commission_rate_bp: Mapped[int] = mapped_column(Integer)
    #: Platform service fee rate, in basis points of the commission.
    platform_fee_bp: Mapped[int] = mapped_column(Integer)
    #: Partner's share of the commission after the platform fee, in basis points (contract).
    partner_share_bp: Mapped[int] = mapped_column(Integer)
    #: Tax withheld from the streamer's share, in basis points.
    tax_bp: Mapped[int] = mapped_column(Integer)
    #: Commission on the amount paid, in fen.
    commission_fen: Mapped[int] = mapped_column(BigInteger)
    #: Platform service fee, in fen.
    platform_fee_fen: Mapped[int] = mapped_column(BigInteger)
    #: Partner's share, in fen.
    partner_fen: Mapped[int] = mapped_column(BigInteger)
    #: Streamer's share before tax (the remainder of the split), in fen.
    streamer_fen: Mapped[int] = mapped_column(BigInteger)
    #: Tax withheld from the streamer's share, in fen.
    tax_fen: Mapped[int] = mapped_column(BigInteger)
    #: Sum of refunds applied so far, in fen of the amount paid.
    refunded_amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_commission_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_platform_fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_partner_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_streamer_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_tax_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SettlementPending(Base):
    """An accrued order whose commission no settlement run has made payable yet.

    Written with the commission row, deleted by the run that itemises the order, in the same
    transaction as its settlement item: a run reads only what is still to settle, not the
    whole history, and never updates ``orders`` (a million-row update rewrites every row and
    its six indexes; deleting from this one-column table marks a tuple). An order's settled
    state is the existence of its ``commission`` settlement item.
    """

    __tablename__ = "settlement_pending"

    #: The order (``orders.id``); no foreign key, like the other bulk-written settlement rows.
    #: On SQLite an INTEGER key is the rowid itself: one b-tree, not a table and an index.
    order_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)


class CommissionRefund(Base):
    """One refund applied to an order's commission (append-only)."""

    __tablename__ = "commission_refunds"

    refund_id: Mapped[int] = mapped_column(
        ForeignKey("refunds.id"), primary_key=True, autoincrement=False
    )
    order_id: Mapped[int] = mapped_column(BigInteger, index=True)
    #: Commission given back by this refund (difference of cumulative parts), in fen.
    commission_fen: Mapped[int] = mapped_column(BigInteger)
    partner_fen: Mapped[int] = mapped_column(BigInteger)
    streamer_fen: Mapped[int] = mapped_column(BigInteger)
    tax_fen: Mapped[int] = mapped_column(BigInteger)
    #: True when the order had already been settled: the amount is clawed back.
    after_settlement: Mapped[bool] = mapped_column(default=False)
    refunded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SlotFeeTerms(Base):
    """A slot fee (坑位费) agreed for a product in a session: fixed, or refundable pro rata to a
    sales target."""

    __tablename__ = "slot_fee_terms"
    __table_args__ = (
        CheckConstraint("slot_fee_fen >= 0", name="slot_fee_nonnegative"),
        CheckConstraint(
            "sales_target_fen IS NULL OR sales_target_fen > 0", name="sales_target_positive"
        ),
    )

    shelf_item_id: Mapped[int] = mapped_column(
        ForeignKey("shelf_items.id"), primary_key=True, autoincrement=False
    )
    #: Fee the brand pays for the place, in fen.
    slot_fee_fen: Mapped[int] = mapped_column(BigInteger)
    #: Sales (amount paid, net of refunds) the fee was agreed against; NULL for a fixed fee.
    sales_target_fen: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Currency, default="CNY")
    agreed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The product's sales in the session (amount paid net of refunds) when the fee was
    #: settled, in fen: the input of the refund decision.
    sales_fen: Mapped[int | None] = mapped_column(BigInteger)
    #: Set when the fee was settled after the session: what the brand got back, in fen.
    refunded_fen: Mapped[int | None] = mapped_column(BigInteger)
    #: Tax withheld from the part the streamer kept, in fen (set at settlement).
    tax_fen: Mapped[int | None] = mapped_column(BigInteger)
    #: The streamer whose session it was.
    streamer_id: Mapped[int | None] = mapped_column(BigInteger)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PolicyChoice(Base):
    """The active settlement policy, as set by an operator; the latest row is in force."""

    __tablename__ = "settlement_policy_choices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    #: SHA-256 of the policy's canonical JSON.
    digest: Mapped[str] = mapped_column(String(64))
    #: The policy document itself, so a file-based policy survives its file.
    document: Mapped[str] = mapped_column(Text)
    chosen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    chosen_by: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")


class RunStatus(StrEnum):
    #: Started: orders are being made payable (itemised), chunk by chunk. A rerun for the same
    #: day resumes it.
    RUNNING = "running"
    #: Every item is in; payout batches are being written, payee chunk by payee chunk.
    BATCHING = "batching"
    COMPLETED = "completed"


class RunNotRunning(IllegalTransition):
    """Only a running settlement run can start batching."""


class RunNotBatching(IllegalTransition):
    """Only a batching settlement run can complete."""


class SettlementRun(Base):
    """One settlement as of a day, under one policy (recorded by name, version and digest)."""

    __tablename__ = "settlement_runs"
    __table_args__ = (Index("uq_settlement_runs_as_of", "as_of", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    policy_name: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[int] = mapped_column(Integer)
    policy_digest: Mapped[str] = mapped_column(String(64))
    policy_document: Mapped[str] = mapped_column(Text)
    status: Mapped[RunStatus] = mapped_column(
        enum_column(RunStatus, "settlement_run_status"), default=RunStatus.RUNNING
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    orders_settled: Mapped[int] = mapped_column(BigInteger, default=0)
    batches: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Sum paid out by this run's batches, in fen.
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)

    def start_batching(self) -> None:
        require_state(
            "settlement run", self.status, [RunStatus.RUNNING], "start batching", RunNotRunning
        )
        self.status = RunStatus.BATCHING

    def complete(self, at: datetime) -> None:
        require_state(
            "settlement run", self.status, [RunStatus.BATCHING], "complete", RunNotBatching
        )
        self.status = RunStatus.COMPLETED
        self.finished_at = at


class ItemKind(StrEnum):
    #: An order's commission, settled once.
    COMMISSION = "commission"
    #: A refund after settlement: the commission it takes back (negative amounts).
    CLAWBACK = "clawback"
    #: A slot fee kept by the streamer after the session.
    SLOT_FEE = "slot_fee"


class SettlementItem(Base):
    """What a settlement run made payable for one source (an order, a refund, a slot fee),
    split between the streamer and its partner. The primary key is (kind, source): nobody is
    paid twice for the same thing, whichever run or process gets there first.

    Written a million rows per run at a time, so each row costs as little as it can: no
    surrogate id, no foreign key to the run, and one secondary index, on the run: a BRIN index
    on PostgreSQL (items are appended run by run, so the run id follows the physical order and
    the index is a few pages, nearly free to maintain); a statement's lines are the run's items
    filtered by payee.
    """

    __tablename__ = "settlement_items"
    __table_args__ = (Index("ix_settlement_items_run", "run_id", postgresql_using="brin"),)

    kind: Mapped[ItemKind] = mapped_column(
        enum_column(ItemKind, "settlement_item_kind"), primary_key=True
    )
    #: The order id (commission), refund id (claw-back) or shelf item id (slot fee).
    source_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: The run that settled it (``settlement_runs.id``).
    run_id: Mapped[int] = mapped_column(BigInteger)
    #: The order concerned (commission and claw-back items).
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    streamer_id: Mapped[int] = mapped_column(BigInteger)
    partner_id: Mapped[int | None] = mapped_column(BigInteger)
    #: Commission (net of refunds so far) this item settles, in fen; negative for a clawback.
    commission_fen: Mapped[int] = mapped_column(BigInteger)
    #: Streamer's share net of tax, in fen; negative for a clawback.
    streamer_fen: Mapped[int] = mapped_column(BigInteger)
    #: Tax withheld from the streamer's share, in fen.
    tax_fen: Mapped[int] = mapped_column(BigInteger)
    #: Partner's share, in fen; negative for a clawback.
    partner_fen: Mapped[int] = mapped_column(BigInteger)


class PayeeKind(StrEnum):
    STREAMER = "streamer"
    PARTNER = "partner"


class PayoutBatch(Base):
    """One payee's payout from one run: its statement.

    ``paid_fen = max(0, net)`` and ``carried_out_fen = min(0, net)`` where
    ``net = commission_fen - clawback_fen + tips_fen - tip_clawback_fen + carried_in_fen -
    reserve_held_fen + reserve_released_fen``: a negative balance is carried to the payee's next
    batch, never lost (its tips part, ``tip_carried_*``, stays on ``tips_payable``).
    """

    __tablename__ = "payout_batches"
    __table_args__ = (
        Index("uq_payout_batches_payee_run", "payee_kind", "payee_id", "run_id", unique=True),
        Index("ix_payout_batches_release", "payee_kind", "payee_id", "reserve_release_on"),
        CheckConstraint("paid_fen >= 0", name="paid_nonnegative"),
        CheckConstraint("carried_out_fen <= 0", name="carried_nonpositive"),
        CheckConstraint("reserve_held_fen >= 0", name="reserve_nonnegative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("settlement_runs.id"))
    payee_kind: Mapped[PayeeKind] = mapped_column(enum_column(PayeeKind, "payee_kind"))
    payee_id: Mapped[int] = mapped_column(BigInteger)
    as_of: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(Currency, default="CNY")
    orders: Mapped[int] = mapped_column(BigInteger, default=0)
    #: New commission settled for this payee (its share, net of tax), in fen.
    commission_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Tax withheld on the orders settled, in fen (streamers only).
    tax_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Commission clawed back for refunds after settlement, in fen (positive).
    clawback_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Negative balance carried from the payee's previous batch, in fen (≤ 0).
    carried_in_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Reserve held back from this batch, in fen.
    reserve_held_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Reserves of earlier batches released into this one, in fen.
    reserve_released_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Paid to the payee, in fen.
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Negative balance carried to the next batch, in fen (≤ 0).
    carried_out_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Credited tips paid out in this batch (streamers only; see ``TipPayoutItem``).
    tips: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: Their amount: what was credited to ``tips_payable`` (after the platform's share), in fen.
    tips_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: Tips refunded after an earlier payout, clawed back, in fen (positive).
    tip_clawback_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: The tips part of ``carried_in_fen`` (≤ 0): left on ``tips_payable``.
    tip_carried_in_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: The tips part of ``carried_out_fen`` (≤ 0).
    tip_carried_out_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: Day this batch's reserve is released (NULL when nothing was held).
    reserve_release_on: Mapped[date | None] = mapped_column(Date)
    #: The batch that released this batch's reserve.
    reserve_released_by: Mapped[int | None] = mapped_column(BigInteger)
    #: Idempotency key of the ledger entry that moved the money.
    entry_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TipPayoutKind(StrEnum):
    #: A credited tip paid out to its streamer, once.
    TIP = "tip"
    #: A paid-out tip refunded afterwards: what it paid, taken back (negative).
    CLAWBACK = "clawback"


class TipPayoutItem(Base):
    """What a settlement run paid (or clawed back) for one tip: the primary key is (kind, tip),
    so a tip is paid out once and clawed back once, whichever run or process gets there first.
    """

    __tablename__ = "tip_payout_items"
    __table_args__ = (Index("ix_tip_payout_items_run", "run_id"),)

    kind: Mapped[TipPayoutKind] = mapped_column(
        enum_column(TipPayoutKind, "tip_payout_kind"), primary_key=True
    )
    #: The tip (``tips.id``).
    tip_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: The run that settled it (``settlement_runs.id``).
    run_id: Mapped[int] = mapped_column(BigInteger)
    streamer_id: Mapped[int] = mapped_column(BigInteger)
    #: The tip as the viewer paid it, in fen (negative for a claw-back).
    tip_amount_fen: Mapped[int] = mapped_column(BigInteger)
    #: The streamer's part: what the tip's credited entry put on ``tips_payable`` (negative for
    #: a claw-back), in fen.
    amount_fen: Mapped[int] = mapped_column(BigInteger)
