"""What comes in and out of settlement: commission breakdowns, balances, statements, upcoming
payouts, runs, comparisons and policy choices. Money is integer fen, rates basis points."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from zhibo.kit.schemas import Fen, InSchema, OutSchema
from zhibo.models.settlement import ItemKind, PayeeKind


class CommissionOut(OutSchema):
    """An order's commission and its split; ``current_*`` are net of refunds so far."""

    order_id: int
    streamer_id: int
    partner_id: int | None
    brand_id: int
    amount_fen: int
    currency: str
    commission_rate_bp: int
    platform_fee_bp: int
    partner_share_bp: int
    tax_bp: int
    commission_fen: int
    platform_fee_fen: int
    partner_fen: int
    streamer_fen: int
    tax_fen: int
    refunded_amount_fen: int
    current_commission_fen: int
    current_platform_fee_fen: int
    current_partner_fen: int
    current_streamer_fen: int
    current_tax_fen: int
    #: The streamer's share net of tax: what the streamer is paid.
    current_streamer_net_fen: int
    paid_at: datetime
    #: Day of the settlement run that settled it, if any.
    settled_on: date | None = None


class BalanceOut(OutSchema):
    payee_kind: PayeeKind
    payee_id: int
    currency: str = "CNY"
    #: Earned, not yet settled (net of refunds and tax).
    pending_fen: int
    #: Held back as a refund reserve, to be released.
    reserve_fen: int
    #: Paid out so far.
    paid_fen: int
    #: Negative balance carried to the next payout (claw-backs not yet recovered), ≤ 0.
    carried_fen: int
    #: Ledger balances of the payee's accounts (debit > 0, credit < 0).
    ledger: dict[str, int]


class BrandBalanceOut(OutSchema):
    brand_id: int
    currency: str = "CNY"
    #: Owed to the brand for goods sold, net of commission and refunds.
    payable_fen: int


class StatementLine(OutSchema):
    #: ``tip`` / ``tip_clawback`` lines are tips paid out or clawed back (``source_id``: the tip).
    kind: ItemKind | Literal["tip", "tip_clawback"]
    order_id: int | None
    source_id: int
    #: The order's commission (net of refunds at settlement), or the tip as the viewer paid it;
    #: negative for a claw-back.
    commission_fen: int
    #: This payee's part of it (the streamer's net of tax; of a tip, net of the platform's
    #: share); negative for a claw-back.
    amount_fen: int
    tax_fen: int


class StatementOut(OutSchema):
    """One payout batch, readable by the payee: what it was paid and why."""

    id: int
    run_id: int
    as_of: date
    payee_kind: PayeeKind
    payee_id: int
    currency: str
    policy: dict[str, Any]
    orders: int
    commission_fen: int
    tax_fen: int
    clawback_fen: int
    carried_in_fen: int
    reserve_held_fen: int
    reserve_released_fen: int
    reserve_release_on: date | None
    paid_fen: int
    carried_out_fen: int
    #: Credited tips paid out in this batch (streamers), their amount and tip claw-backs.
    tips: int = 0
    tips_fen: int = 0
    tip_clawback_fen: int = 0
    #: The tips parts of ``carried_in_fen`` and ``carried_out_fen``.
    tip_carried_in_fen: int = 0
    tip_carried_out_fen: int = 0
    lines: list[StatementLine] = Field(default_factory=list)
    lines_truncated: bool = False


class UpcomingDay(OutSchema):
    payable_on: date
    orders: int
    #: Commission payable that day (the payee's part, before any reserve).
    commission_fen: int
    #: Reserve released that day.
    reserve_release_fen: int


class UpcomingOut(OutSchema):
    payee_kind: PayeeKind
    payee_id: int
    policy: dict[str, Any]
    days: list[UpcomingDay]
    #: Orders earned but not yet confirmed: their day is not known yet.
    awaiting_event_orders: int
    awaiting_event_fen: int


class RunCreate(InSchema):
    as_of: date
    #: A built-in policy name; default: the active policy.
    policy: str | None = Field(default=None, max_length=64)


class PolicyRef(InSchema):
    """A built-in policy by ``name``, or a policy ``document`` (the file format, as JSON)."""

    name: str | None = Field(default=None, max_length=64)
    document: dict[str, Any] | None = None


class CompareCreate(InSchema):
    policies: list[PolicyRef] = Field(min_length=1, max_length=8)
    #: Replay orders paid from this day (default: all).
    paid_from: date | None = None
    paid_to: date | None = None
    #: Estimate the event of orders still waiting for it (payment + median observed lag).
    project_pending: bool = False


class PolicyChoose(InSchema):
    policy: PolicyRef
    reason: str = Field(default="", max_length=2000)


class PolicyOut(OutSchema):
    name: str
    version: int
    digest: str
    document: dict[str, Any]


class PolicyChoiceOut(PolicyOut):
    chosen_at: datetime | None = None
    chosen_by: str = ""
    reason: str = ""


class RunOut(OutSchema):
    """A settlement run's outcome (the same as ``zhibo settle run --json``)."""

    run_id: int
    as_of: date
    policy: dict[str, Any]
    status: str
    resumed: bool
    accrued_orders: int
    accrued_refunds: int
    orders_settled: int
    clawbacks: int
    batches: int
    commission_fen: int
    clawback_fen: int
    reserve_held_fen: int
    reserve_released_fen: int
    paid_fen: int
    carried_fen: int
    #: Tips paid out and clawed back by the run (``settlement.tips``).
    tips_paid: int = 0
    tips_fen: int = 0
    tip_clawbacks: int = 0
    tip_clawback_fen: int = 0
    seconds: float
    phases: dict[str, float]


class AccruedOut(OutSchema):
    orders: int
    refunds: int


class ActivePolicyOut(OutSchema):
    active: PolicyOut
    history: list[PolicyChoiceOut]


class SlotFeeCreate(InSchema):
    """A brand's slot fee (坑位费) for its product's place in a session: fixed (no
    ``sales_target_fen``) or refunded pro rata to the shortfall against the target."""

    session_id: int = Field(strict=True, ge=1)
    product_id: int = Field(strict=True, ge=1)
    slot_fee_fen: Fen
    #: Sales (amount paid net of refunds) agreed up front; null for a fixed fee.
    sales_target_fen: int | None = Field(default=None, strict=True, gt=0, le=10**15)


class SlotFeeOut(OutSchema):
    shelf_item_id: int
    session_id: int
    product_id: int
    brand_id: int
    streamer_id: int
    #: ``fixed`` (kept whole) or ``target`` (refunded pro rata to the sales shortfall).
    kind: str
    slot_fee_fen: int
    sales_target_fen: int | None
    currency: str
    agreed_at: datetime
    settled_at: datetime | None
    #: The product's sales in the session when the fee was settled, in fen.
    sales_fen: int | None
    #: Given back to the brand, in fen.
    refunded_fen: int | None
    #: Tax withheld from the part the streamer kept, in fen.
    tax_fen: int | None
    #: Paid to the streamer (kept less tax), in fen.
    streamer_net_fen: int | None
