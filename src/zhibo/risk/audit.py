"""The risk audit log: every decision (finding recorded, measure applied or reversed, case
opened or decided, appeal filed or decided) as one append-only row with its actor, inputs and
reason. The database refuses UPDATE and DELETE on the table (migration 0010's triggers)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.kit.auth import Principal
from zhibo.models.risk import RiskAuditEntry

#: Actors that are not a person.
REALTIME = "system:realtime"
ORDERS = "system:orders"
SYSTEM = "system"


def actor_of(principal: Principal) -> str:
    """``compliance#7`` (role and token id) or ``streamer:3`` (a scoped role and its subject)."""
    if principal.subject_id is not None:
        return f"{principal.role}:{principal.subject_id}"
    if principal.token_id is not None:
        return f"{principal.role}#{principal.token_id}"
    return f"{principal.role}:cli"


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


def record(
    db: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    case_id: int | None = None,
    subject: str = "",
    rule_key: str = "",
    inputs: dict[str, Any] | None = None,
    reason: str = "",
) -> RiskAuditEntry:
    entry = RiskAuditEntry(
        at=at,
        actor=actor,
        action=action,
        case_id=case_id,
        subject=subject,
        rule_key=rule_key,
        inputs=dumps(inputs or {}),
        reason=reason,
    )
    db.add(entry)
    return entry


def entries(db: Session, case_id: int | None = None, limit: int = 1000) -> Sequence[RiskAuditEntry]:
    query = select(RiskAuditEntry).order_by(RiskAuditEntry.id).limit(limit)
    if case_id is not None:
        query = query.where(RiskAuditEntry.case_id == case_id)
    return db.scalars(query).all()
