"""Risk endpoints: check a text against the running text rules; cases, decisions, appeals,
notices and the audit log (compliance officers and operators decide; a streamer or viewer sees
only its own cases and notices, and appeals)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from zhibo.kit.api import ALL_ROLES, DB, ERROR_RESPONSES, READERS, require
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden
from zhibo.models import Role
from zhibo.models.risk import CaseStatus
from zhibo.risk import audit, cases, notices
from zhibo.risk.replay import ReplayResult
from zhibo.risk.screens import check_text

router = APIRouter(prefix="/v1/risk", tags=["risk"], responses=ERROR_RESPONSES)

Anyone = Annotated[Principal, Depends(require(*ALL_ROLES))]


class TextCheck(BaseModel):
    text: str = Field(max_length=20_000)
    #: Only rules reading this field (``title``, ``description``, ``comment``, ``transcript``).
    field: str | None = None


class TextMatchOut(BaseModel):
    term: str
    category: str
    start: int
    end: int
    normalized: str
    text: str
    form: str
    contact: str | None
    detector: str
    rule_id: str
    rule_version: int
    rule_state: str
    severity: str
    measures: list[str]


@router.post("/check-text", response_model=list[TextMatchOut])
def check_text_endpoint(body: TextCheck, _principal: Anyone) -> list[TextMatchOut]:
    """Banned absolute terms, health claims and off-platform contacts in a text, with offsets in
    the text as sent and the rule (id, version, state) that reports each (see docs/risk.md)."""
    return [TextMatchOut(**item.as_dict()) for item in check_text(body.text, field=body.field)]


# --- cases, notices, appeals, audit ------------------------------------------------------------

Readers = Annotated[Principal, Depends(require(*READERS))]
#: Who may read cases: the platform's readers, a streamer or viewer its own, a partner its
#: streamers'.
CaseReaders = Annotated[
    Principal, Depends(require(*READERS, Role.STREAMER, Role.VIEWER, Role.PARTNER))
]
#: Who decides cases and appeals.
Deciders = Annotated[Principal, Depends(require(Role.COMPLIANCE, Role.OPERATOR))]
#: Who appeals: the sanctioned person.
Appellants = Annotated[Principal, Depends(require(Role.STREAMER, Role.VIEWER))]


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subject_kind: str
    subject_id: int
    room_id: int | None
    rule_key: str
    legal_basis: str
    rule_description: str
    severity: str
    status: str
    review_reason: str
    repetition: int
    opened_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None


class FindingOut(BaseModel):
    id: int
    detector: str
    rule_id: str
    rule_version: int
    rule_state: str
    severity: str
    source: str
    entity_type: str
    entity_id: str
    room_id: int | None
    session_id: int | None
    user_ids: list[Any]
    window_start: datetime | None
    window_end: datetime | None
    summary: str
    evidence: dict[str, Any]
    event_at: datetime | None
    detected_at: datetime


class MeasureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    target_kind: str
    target_id: int
    status: str
    starts_at: datetime
    ends_at: datetime | None
    detail: str
    reversed_at: datetime | None
    reversal_reason: str | None


class NoticeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    recipient_kind: str
    recipient_id: int
    kind: str
    case_id: int | None
    measure_id: int | None
    room_id: int | None
    title: str
    facts: str
    reasons: str
    rule_key: str
    legal_basis: str
    duration: str
    ends_at: datetime | None
    appeal_channel: str
    created_at: datetime


class AppealOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    statement: str
    status: str
    filed_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    case_id: int | None
    subject: str
    rule_key: str
    inputs: str
    reason: str


class CaseFileOut(BaseModel):
    case: CaseOut
    findings: list[FindingOut]
    measures: list[MeasureOut]
    notices: list[NoticeOut]
    appeals: list[AppealOut]
    history: list[AuditOut]


class Decision(BaseModel):
    decision: Literal["confirm", "dismiss"]
    reason: str = Field(min_length=1, max_length=5000)


class AppealIn(BaseModel):
    statement: str = Field(min_length=1, max_length=5000)


class AppealDecision(BaseModel):
    outcome: Literal["won", "lost"]
    reason: str = Field(min_length=1, max_length=5000)


def _finding_out(row: Any) -> FindingOut:
    return FindingOut(
        **{
            name: getattr(row, name)
            for name in FindingOut.model_fields
            if name not in ("user_ids", "evidence")
        },
        user_ids=orjson.loads(row.user_ids),
        evidence=orjson.loads(row.evidence),
    )


def _file_out(found: cases.CaseFile) -> CaseFileOut:
    return CaseFileOut(
        case=CaseOut.model_validate(found.case),
        findings=[_finding_out(row) for row in found.findings],
        measures=[MeasureOut.model_validate(row) for row in found.measures],
        notices=[NoticeOut.model_validate(row) for row in found.notices],
        appeals=[AppealOut.model_validate(row) for row in found.appeals],
        history=[AuditOut.model_validate(row) for row in found.history],
    )


@router.get("/cases", response_model=list[CaseOut])
def list_cases(
    db: DB,
    principal: CaseReaders,
    status: CaseStatus | None = None,
    queue: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CaseOut]:
    """Risk cases, newest first (``queue=true``: those waiting for a reviewer, oldest first).
    A streamer or viewer sees only its own."""
    rows = cases.list_cases(db, principal, status=status, queue=queue, limit=limit)
    return [CaseOut.model_validate(row) for row in rows]


@router.get("/cases/{case_id}", response_model=CaseFileOut)
def get_case(db: DB, principal: CaseReaders, case_id: int) -> CaseFileOut:
    """A case with its findings and evidence, measures, notices, appeals and audit history."""
    return _file_out(cases.case_file(db, principal, case_id))


@router.post("/cases/{case_id}/decision", response_model=CaseFileOut)
def decide_case(db: DB, principal: Deciders, case_id: int, body: Decision) -> CaseFileOut:
    """A reviewer confirms (sanctions follow, graduated by severity and repetition) or
    dismisses (real-time measures are undone) a case in the review queue, with a reason."""
    cases.decide(db, principal, case_id, confirm=body.decision == "confirm", reason=body.reason)
    return _file_out(cases.case_file(db, principal, case_id))


@router.post("/cases/{case_id}/appeals", response_model=AppealOut)
def file_appeal(db: DB, principal: Appellants, case_id: int, body: AppealIn) -> AppealOut:
    """The sanctioned streamer or viewer appeals its case (within the appeal window)."""
    return AppealOut.model_validate(cases.appeal(db, principal, case_id, statement=body.statement))


@router.post("/cases/{case_id}/appeals/decision", response_model=AppealOut)
def decide_appeal(db: DB, principal: Deciders, case_id: int, body: AppealDecision) -> AppealOut:
    """Decide the case's open appeal with a reason; a won appeal reverses every sanction and
    restores credit points."""
    row = cases.decide_appeal(db, principal, case_id, won=body.outcome == "won", reason=body.reason)
    return AppealOut.model_validate(row)


@router.get("/notices", response_model=list[NoticeOut])
def list_notices(
    db: DB,
    principal: CaseReaders,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[NoticeOut]:
    """Risk notices: a streamer's or viewer's own (prompts, sanctions with facts, reasons, rule,
    legal basis, duration and appeal channel, decisions); everyone's for the platform."""
    if principal.is_global:
        rows = notices.notices_for(db, None, None, limit)
    elif principal.role == Role.PARTNER:
        raise Forbidden("notices go to the person they concern: read them as that streamer")
    else:
        kind = "streamer" if principal.role == Role.STREAMER else "viewer"
        rows = notices.notices_for(db, kind, principal.subject_id, limit)
    return [NoticeOut.model_validate(row) for row in rows]


@router.get("/audit", response_model=list[AuditOut])
def list_audit(
    db: DB,
    _principal: Readers,
    case_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[AuditOut]:
    """The append-only audit log of risk decisions (of one case, if given)."""
    return [AuditOut.model_validate(row) for row in audit.entries(db, case_id, limit)]


@router.post("/findings/{finding_id}/replay", response_model=ReplayResult)
def replay_finding(db: DB, _principal: Readers, finding_id: int) -> ReplayResult:
    """Re-run the stored finding's rule version over its evidence: ``reproduced``, ``partial``
    (evidence capped), ``not_reproduced`` (with the differences) or ``not_replayable``."""
    from zhibo.risk.replay import replay_stored

    return replay_stored(db, finding_id)
