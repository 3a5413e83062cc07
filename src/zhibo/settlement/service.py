"""Settlement's use cases, for the API and the command line.

The pieces live in their own modules (``accrual``, ``run``, ``statements``, ``compare``,
``slots``, ``choices``); this module resolves what callers name (a policy by name or
document, the caller's payee) and composes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zhibo.kit.auth import Principal
from zhibo.kit.errors import InvalidInput
from zhibo.kit.time import start_of_day
from zhibo.models import Order, PolicyChoice, SettlementItem, SettlementRun
from zhibo.models.settlement import ItemKind, PayeeKind
from zhibo.settlement import accrual, choices, compare, statements
from zhibo.settlement.config import SettlementSettings
from zhibo.settlement.policy import (
    BUILT_IN,
    SettlementPolicy,
    UnknownPolicy,
    parse_policy,
    resolve_policy,
)
from zhibo.settlement.run import RunReport, run_settlement
from zhibo.settlement.schemas import PolicyChoiceOut, PolicyOut, PolicyRef, UpcomingOut


def on_order_paid(db: Session, order_id: int) -> None:
    """Accrue the order's commission and post its entries, in the payment's transaction
    (idempotent: a second call, or a batch accrual afterwards, changes nothing)."""
    accrual.accrue_order(db, order_id)


def on_order_refunded(db: Session, refund_id: int) -> bool:
    """Apply the refund to the order's commission in the refund's transaction; False when it
    is left to the next accrual (a settlement run is in progress)."""
    return accrual.apply_refund(db, refund_id) is not None


def order_settled() -> ColumnElement[bool]:
    """SQL condition on ``orders``: a settlement run has made the order's commission payable
    (the order is settled whether or not its row was moved to ``settled``)."""
    return (
        select(SettlementItem.source_id)
        .where(SettlementItem.kind == ItemKind.COMMISSION, SettlementItem.source_id == Order.id)
        .exists()
    )


def settled_at(db: Session, order_ids: Sequence[int]) -> dict[int, datetime]:
    """When each of ``order_ids`` that is settled was settled (its run's day, 00:00 UTC)."""
    if not order_ids:
        return {}
    rows = db.execute(
        select(SettlementItem.source_id, SettlementRun.as_of)
        .join(SettlementRun, SettlementRun.id == SettlementItem.run_id)
        .where(
            SettlementItem.kind == ItemKind.COMMISSION,
            SettlementItem.source_id.in_(sorted(set(order_ids))),
        )
    )
    return {int(order_id): start_of_day(day) for order_id, day in rows}


def policy_from_ref(ref: PolicyRef) -> SettlementPolicy:
    """A built-in by name, or a document; never a file path (the API must not read files)."""
    if (ref.name is None) == (ref.document is None):
        raise InvalidInput("policy: give exactly one of name (a built-in) or document")
    if ref.name is not None:
        if ref.name not in BUILT_IN:
            known = ", ".join(sorted(BUILT_IN))
            raise UnknownPolicy(f"policy.name: {ref.name!r} is not a built-in ({known})")
        return BUILT_IN[ref.name]
    return parse_policy(ref.document, "policy.document")


def policy_out(policy: SettlementPolicy) -> PolicyOut:
    return PolicyOut(
        name=policy.name,
        version=policy.version,
        digest=policy.digest,
        document=policy.model_dump(mode="json"),
    )


def choice_out(row: PolicyChoice) -> PolicyChoiceOut:
    return PolicyChoiceOut(
        name=row.name,
        version=row.version,
        digest=row.digest,
        document=json.loads(row.document),
        chosen_at=row.chosen_at,
        chosen_by=row.chosen_by,
        reason=row.reason,
    )


def run(
    engine: Engine,
    as_of: date,
    policy: SettlementPolicy | None = None,
    settings: SettlementSettings | None = None,
) -> RunReport:
    """Settle as of ``as_of``; ``policy`` None uses the active policy (or, for a day already
    started, the policy it recorded)."""
    return run_settlement(engine, as_of, policy, settings)


def resolve(name_or_file: str | None) -> SettlementPolicy | None:
    """For the command line: a built-in name or a policy file."""
    return resolve_policy(name_or_file) if name_or_file else None


def compare_policies(
    db: Session,
    policies: list[SettlementPolicy],
    paid_from: date | None = None,
    paid_to: date | None = None,
    settings: SettlementSettings | None = None,
    *,
    project_pending: bool = False,
) -> dict[str, Any]:
    if not policies:
        raise InvalidInput("policy: name at least one policy to compare")
    return compare.compare(
        db, policies, settings, paid_from, paid_to, project_pending=project_pending
    )


def upcoming_for(
    db: Session,
    principal: Principal,
    payee_kind: PayeeKind | None,
    payee_id: int | None,
) -> UpcomingOut:
    kind, subject = statements.payee_of(principal, payee_kind, payee_id)
    return statements.upcoming(db, kind, subject, choices.active_policy(db))
