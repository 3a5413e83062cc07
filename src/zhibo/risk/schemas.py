"""What the risk engine hands out: findings, each traceable to the rule version that made it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zhibo.risk.rules import Measure, Rule, RuleState, Severity

#: The columns of ``findings.csv`` (``user_ids`` and ``evidence`` as JSON text).
CSV_COLUMNS = (
    "detector",
    "rule_id",
    "rule_version",
    "rule_state",
    "severity",
    "measures",
    "entity_type",
    "entity_id",
    "user_ids",
    "window_start",
    "window_end",
    "evidence",
)


class Finding(BaseModel):
    """One finding: which rule (id and version) saw what, where, and the evidence behind it.

    A shadow rule's finding has no ``measures``; ``evidence`` holds the inputs (text spans,
    orders, windows and feature values) from which :func:`zhibo.risk.replay.replay` re-runs the
    same rule version."""

    model_config = ConfigDict(frozen=True)

    detector: str
    rule_id: str
    rule_version: int
    rule_state: RuleState
    severity: Severity
    measures: list[Measure] = Field(default_factory=list)
    #: ``seller`` (shop, room or streamer), ``product``, ``comment``, ``text`` ...
    entity_type: str
    entity_id: int | str
    user_ids: list[int | str] = Field(default_factory=list)
    window_start: datetime | None = None
    window_end: datetime | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, rule: Rule, **fields: Any) -> Finding:
        """A finding of ``rule``: its id, version, state, severity and the measures its state
        applies, with the rest from ``fields``."""
        return cls(
            detector=rule.detector,
            rule_id=rule.id,
            rule_version=rule.version,
            rule_state=rule.state,
            severity=rule.severity,
            measures=rule.measures_to_apply(),
            **fields,
        )
