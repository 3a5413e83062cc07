"""Which settlement policy is in force: an operator's choice, kept with its history."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.kit.time import utcnow
from zhibo.models import PolicyChoice
from zhibo.settlement.policy import BUILT_IN, DEFAULT_POLICY, SettlementPolicy, parse_policy


def active_policy(db: Session) -> SettlementPolicy:
    """The latest choice, or the built-in default when no operator has chosen yet."""
    latest = db.scalar(select(PolicyChoice).order_by(PolicyChoice.id.desc()).limit(1))
    if latest is None:
        return BUILT_IN[DEFAULT_POLICY]
    return parse_policy(json.loads(latest.document), "active policy")


def choose_policy(
    db: Session, policy: SettlementPolicy, *, chosen_by: str = "", reason: str = ""
) -> PolicyChoice:
    row = PolicyChoice(
        name=policy.name,
        version=policy.version,
        digest=policy.digest,
        document=policy.canonical_json(),
        chosen_at=utcnow(),
        chosen_by=chosen_by[:100],
        reason=reason,
    )
    db.add(row)
    db.flush()
    return row


def policy_history(db: Session, limit: int = 100) -> Sequence[PolicyChoice]:
    return db.scalars(select(PolicyChoice).order_by(PolicyChoice.id.desc()).limit(limit)).all()
