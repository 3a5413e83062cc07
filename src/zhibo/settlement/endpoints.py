"""HTTP endpoints for settlement: each streamer, partner and brand reads only its own
commission, balances, statements and upcoming payouts; operators run settlements, compare
policies and choose the active one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from zhibo.kit.api import ALL_ROLES, DB, ERROR_RESPONSES, READERS, ReadDB, require
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden, InvalidInput
from zhibo.kit.pagination import Page
from zhibo.kit.time import utcnow
from zhibo.models import Role
from zhibo.models.settlement import PayeeKind
from zhibo.settlement import choices, service, slots, statements
from zhibo.settlement.accrual import accrue
from zhibo.settlement.schemas import (
    AccruedOut,
    ActivePolicyOut,
    BalanceOut,
    BrandBalanceOut,
    CommissionOut,
    CompareCreate,
    PolicyChoiceOut,
    PolicyChoose,
    PolicyOut,
    PolicyRef,
    RunCreate,
    RunOut,
    SlotFeeCreate,
    SlotFeeOut,
    StatementOut,
    UpcomingOut,
)

router = APIRouter(prefix="/v1/settlement", tags=["settlement"], responses=ERROR_RESPONSES)

Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=500)]
Anyone = Annotated[Principal, Depends(require(*ALL_ROLES))]
Payees = Annotated[Principal, Depends(require(Role.STREAMER, Role.PARTNER, *READERS))]
Earners = Annotated[Principal, Depends(require(Role.STREAMER, Role.PARTNER, Role.BRAND, *READERS))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
PayeeKindQuery = Annotated[
    PayeeKind | None, Query(description="Global readers: whose (streamer or partner)")
]
PayeeIdQuery = Annotated[int | None, Query(ge=1, description="Global readers: the payee's id")]


@router.get("/commissions", response_model=Page[CommissionOut])
def list_commissions(
    db: DB, principal: Earners, cursor: Cursor = None, limit: Limit = 50
) -> Page[CommissionOut]:
    """Orders with their commission breakdown (rate in force, platform fee, partner share,
    streamer share, tax; full and net of refunds), scoped to the caller."""
    items, next_cursor = statements.list_commissions(db, principal, cursor, limit)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/commissions/{order_id}", response_model=CommissionOut)
def get_commission(db: DB, principal: Earners, order_id: int) -> CommissionOut:
    return statements.get_commission(db, principal, order_id)


@router.get("/balance", response_model=BalanceOut)
def get_balance(
    db: DB,
    principal: Payees,
    payee_kind: PayeeKindQuery = None,
    payee_id: PayeeIdQuery = None,
) -> BalanceOut:
    """Pending commission, reserve held, paid so far and any carried negative balance."""
    kind, subject = statements.payee_of(principal, payee_kind, payee_id)
    return statements.balance_for(db, kind, subject)


@router.get("/brand-balance", response_model=BrandBalanceOut)
def get_brand_balance(
    db: DB,
    principal: Annotated[Principal, Depends(require(Role.BRAND, *READERS))],
    brand_id: Annotated[int | None, Query(ge=1)] = None,
) -> BrandBalanceOut:
    """What the platform owes a brand for goods sold, net of commission and refunds."""
    if principal.role == Role.BRAND:
        if brand_id not in (None, principal.subject_id):
            raise Forbidden("brand_id: a brand reads its own balance")
        brand_id = principal.subject_id
    if brand_id is None:
        raise InvalidInput("brand_id: required for global readers")
    return statements.brand_balance(db, brand_id)


@router.get("/statements", response_model=Page[StatementOut])
def list_statements(
    db: ReadDB,
    principal: Payees,
    payee_kind: PayeeKindQuery = None,
    payee_id: PayeeIdQuery = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[StatementOut]:
    """Payout statements (one per settlement run with money for the payee), without lines."""
    kind, subject = statements.payee_of(principal, payee_kind, payee_id)
    items, next_cursor = statements.list_statements(db, kind, subject, cursor, limit)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/statements/{statement_id}", response_model=StatementOut)
def get_statement(db: DB, principal: Payees, statement_id: int) -> StatementOut:
    """One statement with its lines: orders settled, claw-backs, slot fees."""
    return statements.get_statement(db, principal, statement_id)


@router.get("/upcoming", response_model=UpcomingOut)
def upcoming(
    db: DB,
    principal: Payees,
    payee_kind: PayeeKindQuery = None,
    payee_id: PayeeIdQuery = None,
) -> UpcomingOut:
    """Commission not yet settled, by the day the active policy makes it payable."""
    return service.upcoming_for(db, principal, payee_kind, payee_id)


@router.get("/slot-fees", response_model=Page[SlotFeeOut])
def list_slot_fees(
    db: DB,
    principal: Annotated[
        Principal, Depends(require(Role.BRAND, Role.STREAMER, Role.PARTNER, *READERS))
    ],
    session_id: Annotated[int | None, Query(ge=1)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[SlotFeeOut]:
    """Slot fees (坑位费): a brand sees its products', a streamer its sessions', a partner its
    streamers'."""
    items, next_cursor = slots.list_slot_fees(db, principal, cursor, limit, session_id)
    return Page(items=items, next_cursor=next_cursor)


@router.post("/slot-fees", response_model=SlotFeeOut, status_code=201)
def agree_slot_fee(
    db: DB,
    principal: Annotated[Principal, Depends(require(Role.BRAND, Role.OPERATOR))],
    body: SlotFeeCreate,
) -> SlotFeeOut:
    """A brand (for its own products) or an operator agrees a session-product's slot fee, up
    front: fixed, or refundable pro rata to ``sales_target_fen``. Agreeing the same terms
    again is a no-op; other terms are a 409."""
    return slots.agree(db, principal, body, utcnow())


@router.get("/slot-fees/{session_id}/{product_id}", response_model=SlotFeeOut)
def get_slot_fee(
    db: DB,
    principal: Annotated[
        Principal, Depends(require(Role.BRAND, Role.STREAMER, Role.PARTNER, *READERS))
    ],
    session_id: int,
    product_id: int,
) -> SlotFeeOut:
    return slots.get_slot_fee(db, principal, session_id, product_id)


@router.post("/slot-fees/{session_id}/{product_id}/settle", response_model=SlotFeeOut)
def settle_slot_fee(db: DB, principal: Operator, session_id: int, product_id: int) -> SlotFeeOut:
    """Settle after the session ended: refund the brand's pro-rata part, credit the streamer
    (less tax). Settlement runs do this for every ended session too."""
    return slots.settle(db, principal, session_id, product_id, utcnow())


@router.get("/policies", response_model=list[PolicyOut])
def built_in_policies(_principal: Anyone) -> list[PolicyOut]:
    from zhibo.settlement.policy import BUILT_IN

    return [service.policy_out(policy) for policy in BUILT_IN.values()]


@router.get("/policy", response_model=ActivePolicyOut)
def active_policy(db: DB, _principal: Anyone) -> ActivePolicyOut:
    """The active settlement policy and the history of operators' choices."""
    return ActivePolicyOut(
        active=service.policy_out(choices.active_policy(db)),
        history=[service.choice_out(row) for row in choices.policy_history(db)],
    )


@router.put("/policy", response_model=PolicyChoiceOut)
def choose_policy(db: DB, principal: Operator, body: PolicyChoose) -> PolicyChoiceOut:
    policy = service.policy_from_ref(body.policy)
    row = choices.choose_policy(
        db, policy, chosen_by=f"token:{principal.token_id}", reason=body.reason
    )
    return service.choice_out(row)


@router.post("/accrue", response_model=AccruedOut)
def accrue_commission(db: DB, _principal: Operator) -> AccruedOut:
    result = accrue(db)
    return AccruedOut(orders=result.orders, refunds=result.refunds)


@router.post("/runs", response_model=RunOut)
def run_settlement(request: Request, _principal: Operator, body: RunCreate) -> RunOut:
    """Settle as of a day (idempotent: the same day again returns the same run)."""
    policy = service.policy_from_ref(PolicyRef(name=body.policy)) if body.policy else None
    report = service.run(request.app.state.engine, body.as_of, policy)
    return RunOut.model_validate(report.as_dict())


@router.post("/compare")
def compare(
    db: DB,
    _principal: Annotated[Principal, Depends(require(*READERS))],
    body: CompareCreate,
) -> dict[str, Any]:
    """What-if: replay order history under each policy without touching the ledger."""
    policies = [service.policy_from_ref(ref) for ref in body.policies]
    return service.compare_policies(
        db, policies, body.paid_from, body.paid_to, project_pending=body.project_pending
    )
