"""Cases: a finding becomes a case about one person, measures follow, people are told, and
every decision is audited.

``record`` takes a detected finding: it is stored once (its ``dedup_key``; at-least-once
delivery shows a batch again), and a *shadow* rule's finding stops there (recorded, never a
measure). An active rule's finding joins the person's case of the same rule opened within the
merge window, or opens one: then the rule's real-time measures act on the room at once (prompt,
viewer notice, traffic limit, suspension), and the case either goes to the human review queue
(high or critical severity, a rule asking for ``review``, or an uncertain finding) or is
decided by the system, which applies the sanctions of the rule and of the ladder step for the
person's repetition. A reviewer confirms (sanctions follow) or dismisses (real-time measures
are undone). A sanctioned person may appeal; a won appeal reverses every sanction and gives
back the credit points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhibo.kit.auth import Principal
from zhibo.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhibo.kit.time import utcnow
from zhibo.live.media import MediaServer
from zhibo.models import LiveRoom, Role, Streamer
from zhibo.models.risk import (
    AppealStatus,
    CaseStatus,
    MeasureStatus,
    RiskAppeal,
    RiskCase,
    RiskFinding,
    RiskMeasure,
    RiskNotice,
    SubjectKind,
)
from zhibo.risk import audit, measures, notices
from zhibo.risk.measures import MeasurePolicy, Target, default_policy
from zhibo.risk.rules import Measure, Rule, RuleSet, RuleState, Severity, configured_rules
from zhibo.risk.schemas import Finding


class CaseNotFound(NotFound):
    """No case with this id (or not one the caller may see)."""


class AppealTooLate(Conflict):
    """The appeal window of the decision has passed."""


@dataclass
class Context:
    """What the engine decides with: the rule set, the measure policy, the media server that
    cuts streams, and who acts."""

    rules: RuleSet = field(default_factory=configured_rules)
    policy: MeasurePolicy = field(default_factory=default_policy)
    media: MediaServer | None = None
    actor: str = audit.REALTIME


@dataclass
class Detected:
    """A finding with where it happened and whom it is about."""

    finding: Finding
    #: Unique per rule version and trigger (an event id, a window, an order).
    dedup_key: str
    room_id: int | None
    session_id: int | None
    subject_kind: SubjectKind | None
    subject_id: int | None
    #: When the triggering event happened.
    event_at: datetime | None
    #: One line of facts (what, where, when) for notices.
    summary: str
    #: Close to the rule's threshold: a person decides.
    uncertain: bool = False
    source: str = "realtime"


@dataclass
class Recorded:
    finding: RiskFinding
    case: RiskCase | None
    opened: bool
    measures: list[RiskMeasure]


SEVERE = (Severity.HIGH, Severity.CRITICAL)


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _subject(kind: SubjectKind | str | None, subject_id: int | None) -> str:
    return f"{kind}:{subject_id}" if kind is not None else ""


def record(
    db: Session, detected: Detected, ctx: Context, at: datetime | None = None
) -> Recorded | None:
    """Store a finding and act on it (see the module docstring). ``None`` when it was already
    recorded."""
    now = at or utcnow()
    found = detected.finding
    if db.scalar(select(RiskFinding.id).where(RiskFinding.dedup_key == detected.dedup_key)):
        return None
    row = RiskFinding(
        dedup_key=detected.dedup_key[:255],
        detector=found.detector,
        rule_id=found.rule_id,
        rule_version=found.rule_version,
        rule_state=str(found.rule_state),
        severity=str(found.severity),
        source=detected.source,
        entity_type=found.entity_type,
        entity_id=str(found.entity_id)[:64],
        room_id=detected.room_id,
        session_id=detected.session_id,
        subject_kind=str(detected.subject_kind) if detected.subject_kind else None,
        subject_id=detected.subject_id,
        user_ids=_json(found.user_ids),
        window_start=found.window_start,
        window_end=found.window_end,
        summary=detected.summary,
        evidence=_json(found.evidence),
        event_at=detected.event_at,
        detected_at=now,
    )
    db.add(row)
    db.flush()
    rule_key = f"{found.rule_id}@{found.rule_version}"
    subject = _subject(detected.subject_kind, detected.subject_id)
    audit.record(
        db,
        at=now,
        actor=ctx.actor,
        action="finding.recorded",
        subject=subject,
        rule_key=rule_key,
        inputs={
            "finding_id": row.id,
            "rule_state": str(found.rule_state),
            "severity": str(found.severity),
            "dedup_key": detected.dedup_key,
            "uncertain": detected.uncertain,
        },
        reason=detected.summary,
    )
    if found.rule_state != RuleState.ACTIVE or detected.subject_kind is None:
        return Recorded(row, None, False, [])  # shadow: recorded, never a measure
    rule = _rule(ctx.rules, found)
    case, opened = _case_for(db, detected, rule, rule_key, ctx, now)
    row.case_id = case.id
    applied: list[RiskMeasure] = []
    if opened:
        applied.extend(_realtime_measures(db, case, row, detected, rule, ctx, now))
        if case.status == CaseStatus.SANCTIONED:
            applied.extend(_sanction(db, case, rule.measures, ctx, now))
    db.flush()
    return Recorded(row, case, opened, applied)


def _rule(rules: RuleSet, found: Finding) -> Rule:
    try:
        rule = rules.get(found.rule_id)
    except KeyError:
        rule = None
    if rule is None or rule.version != found.rule_version:
        # The finding's own copy is what counts (a rule changed since): rebuild it.
        return Rule(
            id=found.rule_id,
            version=found.rule_version,
            detector=found.detector,
            state=found.rule_state,
            severity=found.severity,
            measures=list(found.measures),
            parameters=rule.parameters if rule is not None else {},
        )
    return rule


def _case_for(
    db: Session,
    detected: Detected,
    rule: Rule,
    rule_key: str,
    ctx: Context,
    now: datetime,
) -> tuple[RiskCase, bool]:
    assert detected.subject_kind is not None and detected.subject_id is not None
    since = now - timedelta(minutes=ctx.policy.merge_window_minutes)
    existing = db.scalar(
        select(RiskCase)
        .where(
            RiskCase.subject_kind == detected.subject_kind,
            RiskCase.subject_id == detected.subject_id,
            RiskCase.rule_key == rule_key,
            RiskCase.opened_at >= since,
        )
        .order_by(RiskCase.id.desc())
        .limit(1)
    )
    if existing is not None:
        return existing, False
    reasons = []
    if rule.severity in SEVERE:
        reasons.append(f"severity {rule.severity}")
    if Measure.REVIEW in rule.measures:
        reasons.append("the rule asks for review")
    if detected.uncertain:
        reasons.append("uncertain: close to the rule's threshold")
    repetition = _repetition(db, detected.subject_kind, detected.subject_id, now, ctx.policy)
    case = RiskCase(
        subject_kind=detected.subject_kind,
        subject_id=detected.subject_id,
        room_id=detected.room_id,
        rule_key=rule_key,
        legal_basis=rule.legal_basis,
        rule_description=rule.description,
        rule_measures=_json([str(m) for m in rule.measures]),
        severity=str(rule.severity),
        status=CaseStatus.PENDING_REVIEW if reasons else CaseStatus.SANCTIONED,
        review_reason="; ".join(reasons),
        repetition=repetition,
        opened_at=now,
    )
    if not reasons:
        case.decided_at, case.decided_by = now, audit.SYSTEM
        case.decision_reason = f"automatic: {rule.severity} finding of an active rule"
    db.add(case)
    db.flush()
    audit.record(
        db,
        at=now,
        actor=ctx.actor,
        action="case.opened",
        case_id=case.id,
        subject=_subject(case.subject_kind, case.subject_id),
        rule_key=rule_key,
        inputs={
            "status": str(case.status),
            "severity": case.severity,
            "repetition": repetition,
            "policy_version": ctx.policy.version,
            "rules_version": ctx.rules.version,
        },
        reason=case.review_reason or str(case.decision_reason),
    )
    return case, True


def _repetition(
    db: Session, kind: SubjectKind, subject_id: int, now: datetime, policy: MeasurePolicy
) -> int:
    """Earlier cases of the person that stand (sanctioned, or under appeal) in the window."""
    since = now - timedelta(days=policy.repeat_window_days)
    return int(
        db.scalar(
            select(func.count())
            .select_from(RiskCase)
            .where(
                RiskCase.subject_kind == kind,
                RiskCase.subject_id == subject_id,
                RiskCase.status.in_([CaseStatus.SANCTIONED, CaseStatus.APPEALED]),
                RiskCase.decided_at >= since,
            )
        )
        or 0
    )


def _target(db: Session, case: RiskCase, finding: RiskFinding | None, ctx: Context) -> Target:
    findings = _findings(db, case.id)
    facts = "; ".join(f.summary for f in findings[:5] if f.summary)
    if len(findings) > 5:
        facts += f"; and {len(findings) - 5} more findings"
    reason = (
        f"{case.rule_description or case.rule_key} (rule {case.rule_key}, {case.severity}"
        f"{', repeated: ' + str(case.repetition) + ' earlier' if case.repetition else ''})"
    )
    return Target(
        case=case,
        finding_id=finding.id if finding else None,
        room_id=case.room_id,
        session_id=finding.session_id if finding else _last_session(findings),
        rule_key=case.rule_key,
        severity=case.severity,
        reason=reason,
        facts=facts or case.rule_key,
        legal_basis=case.legal_basis,
        appeal_channel=ctx.policy.appeal_channel,
    )


def _last_session(findings: Sequence[RiskFinding]) -> int | None:
    for finding in reversed(findings):
        if finding.session_id is not None:
            return finding.session_id
    return None


def _streamer_of_room(db: Session, room_id: int | None) -> int | None:
    if room_id is None:
        return None
    room = db.get(LiveRoom, room_id)
    return room.streamer_id if room else None


def _realtime_measures(
    db: Session,
    case: RiskCase,
    finding: RiskFinding,
    detected: Detected,
    rule: Rule,
    ctx: Context,
    now: datetime,
) -> list[RiskMeasure]:
    target = _target(db, case, finding, ctx)
    applied = []
    streamer_id = _streamer_of_room(db, case.room_id)
    for kind in rule.measures_to_apply():
        if kind not in measures.REALTIME:
            continue
        measure = measures.apply(
            db, kind, target, at=now, policy=ctx.policy, media=ctx.media, actor=ctx.actor
        )
        applied.append(measure)
        _audit_measure(db, case, measure, ctx.actor, now, target.reason)
        if measure.status != MeasureStatus.APPLIED or case.room_id is None:
            continue
        message = (
            notices.VIEWER_MESSAGE
            if kind == Measure.VIEWER_NOTICE
            else f"{detected.summary} — {rule.description or rule.key}"
        )
        notices.room_notice(
            db,
            kind=str(kind),
            room_id=case.room_id,
            streamer_id=streamer_id,
            case=case,
            measure=measure,
            message=message,
            rule_key=rule.key,
            legal_basis=rule.legal_basis,
            event_at=detected.event_at,
            at=now,
            extra={"finding_id": finding.id},
        )
        if kind in (Measure.TRAFFIC_LIMIT, Measure.SUSPENSION):
            _sanction_notice(db, case, measure, target, ctx, now)
    return applied


def _sanction(
    db: Session, case: RiskCase, rule_measures: Sequence[Measure], ctx: Context, now: datetime
) -> list[RiskMeasure]:
    """Apply the case's sanctions (rule + ladder step) and tell the person about each."""
    chosen = ctx.policy.sanctions(case.severity, case.repetition, list(rule_measures))
    already = {
        m.kind
        for m in _measures(db, case.id)
        if m.status in (MeasureStatus.APPLIED, MeasureStatus.PENDING)
    }
    target = _target(db, case, None, ctx)
    applied = []
    for kind in chosen:
        if str(kind) in already:
            continue  # e.g. a real-time traffic limit already holds the room
        measure = measures.apply(
            db, kind, target, at=now, policy=ctx.policy, media=ctx.media, actor=ctx.actor
        )
        applied.append(measure)
        _audit_measure(db, case, measure, ctx.actor, now, target.reason)
        if measure.status != MeasureStatus.NOT_APPLICABLE:
            _sanction_notice(
                db, case, measure, target, ctx, now, permanent=kind in measures.PERMANENT
            )
    if applied and case.subject_kind == SubjectKind.STREAMER and target.session_id:
        _refund_session_tips(db, case, target.session_id, ctx.actor, now)
    return applied


def _refund_session_tips(
    db: Session, case: RiskCase, session_id: int, actor: str, now: datetime
) -> None:
    """A streamer sanctioned for a violation in a session gives back that session's tips
    (the 2021 Measures; ``zhibo.identity.tipping``): held tips are refunded, credited ones
    clawed back. Idempotent; audited with what was refunded."""
    from zhibo.identity.tipping import refund_session_tips

    summary = refund_session_tips(db, session_id, reason=f"risk-case:{case.id}", at=now)
    _audit(
        db,
        case,
        at=now,
        actor=actor,
        action="tips.refunded",
        inputs={"session_id": session_id, "refund": asdict(summary)},
        reason=f"sanctioned for a violation in session {session_id}",
    )


def _sanction_notice(
    db: Session,
    case: RiskCase,
    measure: RiskMeasure,
    target: Target,
    ctx: Context,
    now: datetime,
    *,
    permanent: bool = False,
) -> None:
    """Tell the person about a sanction: facts, reasons, legal basis, duration, appeal."""
    notices.sanction_notice(
        db,
        case=case,
        measure=measure,
        facts=target.facts,
        reasons=target.reason,
        legal_basis=case.legal_basis,
        appeal_channel=ctx.policy.appeal_channel,
        at=now,
        permanent=permanent,
    )


def _audit(
    db: Session,
    case: RiskCase,
    *,
    at: datetime,
    actor: str,
    action: str,
    inputs: dict[str, Any] | None = None,
    reason: str = "",
) -> None:
    """One audit-log entry about ``case`` (its subject and rule filled in)."""
    audit.record(
        db,
        at=at,
        actor=actor,
        action=action,
        case_id=case.id,
        subject=_subject(case.subject_kind, case.subject_id),
        rule_key=case.rule_key,
        inputs=inputs,
        reason=reason,
    )


def _audit_measure(
    db: Session, case: RiskCase, measure: RiskMeasure, actor: str, at: datetime, reason: str
) -> None:
    _audit(
        db,
        case,
        at=at,
        actor=actor,
        action="measure.applied" if measure.status != MeasureStatus.PENDING else "measure.pending",
        inputs={
            "measure_id": measure.id,
            "kind": measure.kind,
            "status": str(measure.status),
            "target": f"{measure.target_kind}:{measure.target_id}",
            "ends_at": measure.ends_at,
            "detail": measures.detail_of(measure),
            "repetition": case.repetition,
        },
        reason=reason,
    )


def _findings(db: Session, case_id: int) -> Sequence[RiskFinding]:
    return db.scalars(
        select(RiskFinding).where(RiskFinding.case_id == case_id).order_by(RiskFinding.id)
    ).all()


def _measures(db: Session, case_id: int) -> Sequence[RiskMeasure]:
    return db.scalars(
        select(RiskMeasure).where(RiskMeasure.case_id == case_id).order_by(RiskMeasure.id)
    ).all()


def _reverse_all(
    db: Session, case: RiskCase, *, at: datetime, reason: str, actor: str
) -> list[RiskMeasure]:
    reversed_ = []
    for measure in _measures(db, case.id):
        if measures.reverse(db, measure, at=at, reason=reason, actor=actor):
            reversed_.append(measure)
            _audit(
                db,
                case,
                at=at,
                actor=actor,
                action="measure.reversed",
                inputs={
                    "measure_id": measure.id,
                    "kind": measure.kind,
                    "detail": measures.detail_of(measure),
                },
                reason=reason,
            )
    return reversed_


# --- reading, scoped ---------------------------------------------------------------------------


def _scope(db: Session, principal: Principal) -> Any:
    """``None`` for the platform's global readers; else the condition on ``RiskCase`` for the
    cases a scoped role may see: a streamer's or viewer's own, a partner's streamers'."""
    if principal.is_global:
        return None
    if principal.role == Role.STREAMER and principal.subject_id is not None:
        return (RiskCase.subject_kind == SubjectKind.STREAMER) & (
            RiskCase.subject_id == principal.subject_id
        )
    if principal.role == Role.VIEWER and principal.subject_id is not None:
        return (RiskCase.subject_kind == SubjectKind.VIEWER) & (
            RiskCase.subject_id == principal.subject_id
        )
    if principal.role == Role.PARTNER and principal.subject_id is not None:
        theirs = select(Streamer.id).where(Streamer.partner_id == principal.subject_id)
        return (RiskCase.subject_kind == SubjectKind.STREAMER) & RiskCase.subject_id.in_(theirs)
    raise Forbidden(f"role {principal.role} may not read risk cases")


def list_cases(
    db: Session,
    principal: Principal,
    *,
    status: CaseStatus | None = None,
    queue: bool = False,
    limit: int = 100,
) -> Sequence[RiskCase]:
    """Cases the caller may see, newest first; ``queue``: those waiting for a person (review
    or appeal), oldest first."""
    query = select(RiskCase)
    scope = _scope(db, principal)
    if scope is not None:
        query = query.where(scope)
    if status is not None:
        query = query.where(RiskCase.status == status)
    if queue:
        query = query.where(
            RiskCase.status.in_([CaseStatus.PENDING_REVIEW, CaseStatus.APPEALED])
        ).order_by(RiskCase.id)
    else:
        query = query.order_by(RiskCase.id.desc())
    return db.scalars(query.limit(limit)).all()


def waiting_per_room(db: Session, principal: Principal, room_ids: Sequence[int]) -> dict[int, int]:
    """How many of the cases the caller may see wait for a person (review or appeal), per room
    of ``room_ids`` (one grouped count, for a page of rooms)."""
    if not room_ids:
        return {}
    query = (
        select(RiskCase.room_id, func.count())
        .where(
            RiskCase.room_id.in_(list(room_ids)),
            RiskCase.status.in_([CaseStatus.PENDING_REVIEW, CaseStatus.APPEALED]),
        )
        .group_by(RiskCase.room_id)
    )
    scope = _scope(db, principal)
    if scope is not None:
        query = query.where(scope)
    return {int(room): int(count) for room, count in db.execute(query) if room is not None}


def get_case(db: Session, principal: Principal, case_id: int) -> RiskCase:
    query = select(RiskCase).where(RiskCase.id == case_id)
    scope = _scope(db, principal)
    if scope is not None:
        query = query.where(scope)
    case = db.scalar(query)
    if case is None:
        raise CaseNotFound(f"case: no case with id {case_id}")
    return case


@dataclass
class CaseFile:
    case: RiskCase
    findings: Sequence[RiskFinding]
    measures: Sequence[RiskMeasure]
    notices: Sequence[RiskNotice]
    appeals: Sequence[RiskAppeal]
    history: Sequence[Any]


def case_file(db: Session, principal: Principal, case_id: int) -> CaseFile:
    """The case with its findings (evidence), measures, notices, appeals and audit history."""
    case = get_case(db, principal, case_id)
    return CaseFile(
        case=case,
        findings=_findings(db, case.id),
        measures=_measures(db, case.id),
        notices=db.scalars(
            select(RiskNotice).where(RiskNotice.case_id == case.id).order_by(RiskNotice.id)
        ).all(),
        appeals=db.scalars(
            select(RiskAppeal).where(RiskAppeal.case_id == case.id).order_by(RiskAppeal.id)
        ).all(),
        history=audit.entries(db, case.id),
    )


# --- decisions ---------------------------------------------------------------------------------


def _reviewer(principal: Principal) -> str:
    principal.require(Role.COMPLIANCE, Role.OPERATOR)
    return audit.actor_of(principal)


def _need_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("reason: a decision needs a reason")
    return reason.strip()


def decide(
    db: Session,
    principal: Principal,
    case_id: int,
    *,
    confirm: bool,
    reason: str,
    ctx: Context | None = None,
    at: datetime | None = None,
) -> RiskCase:
    """A reviewer's decision on a case in the queue: ``confirm`` applies the sanctions;
    otherwise the case is dismissed and its real-time measures are undone."""
    ctx = ctx or Context()
    reviewer = _reviewer(principal)
    reason = _need_reason(reason)
    now = at or utcnow()
    case = get_case(db, principal, case_id)
    if confirm:
        # Repetition as of the decision: earlier cases decided meanwhile count.
        repetition = _repetition(db, case.subject_kind, case.subject_id, now, ctx.policy)
        case.confirm(now, reviewer, reason)
        case.repetition = repetition
        db.flush()
        rule_measures = [Measure(m) for m in orjson.loads(case.rule_measures)]
        applied = _sanction(db, case, rule_measures, ctx, now)
        _audit(
            db,
            case,
            at=now,
            actor=reviewer,
            action="case.confirmed",
            inputs={
                "findings": [f.id for f in _findings(db, case.id)],
                "severity": case.severity,
                "repetition": case.repetition,
                "sanctions": [m.kind for m in applied],
                "policy_version": ctx.policy.version,
            },
            reason=reason,
        )
        return case
    case.dismiss(now, reviewer, reason)
    undone = _reverse_all(db, case, at=now, reason=f"case dismissed: {reason}", actor=reviewer)
    notices.decision_notice(
        db,
        case=case,
        kind="review",
        title="Case dismissed: no violation",
        facts=_target(db, case, None, ctx).facts,
        reasons=reason,
        legal_basis=case.legal_basis,
        appeal_channel="",
        at=now,
    )
    _audit(
        db,
        case,
        at=now,
        actor=reviewer,
        action="case.dismissed",
        inputs={"reversed": [m.id for m in undone]},
        reason=reason,
    )
    return case


def appeal(
    db: Session,
    principal: Principal,
    case_id: int,
    *,
    statement: str,
    ctx: Context | None = None,
    at: datetime | None = None,
) -> RiskAppeal:
    """The case's person appeals its sanctions (within the policy's appeal window)."""
    ctx = ctx or Context()
    now = at or utcnow()
    if principal.role not in (Role.STREAMER, Role.VIEWER):
        raise Forbidden("only the sanctioned streamer or viewer may appeal its case")
    if not statement or not statement.strip():
        raise InvalidInput("statement: say why the decision is wrong")
    case = get_case(db, principal, case_id)
    if case.decided_at is not None and now > case.decided_at + timedelta(
        days=ctx.policy.appeal_days
    ):
        raise AppealTooLate(
            f"case {case.id}: decided {case.decided_at.isoformat()}, appeals close after "
            f"{ctx.policy.appeal_days} days"
        )
    case.appeal()
    row = RiskAppeal(
        case_id=case.id,
        appellant_kind=str(case.subject_kind),
        appellant_id=case.subject_id,
        statement=statement.strip()[:5000],
        status=AppealStatus.PENDING,
        filed_at=now,
    )
    db.add(row)
    db.flush()
    _audit(
        db,
        case,
        at=now,
        actor=audit.actor_of(principal),
        action="appeal.filed",
        inputs={"appeal_id": row.id},
        reason=row.statement,
    )
    return row


def decide_appeal(
    db: Session,
    principal: Principal,
    case_id: int,
    *,
    won: bool,
    reason: str,
    ctx: Context | None = None,
    at: datetime | None = None,
) -> RiskAppeal:
    """Decide the case's open appeal with a reason; a won appeal reverses every measure of the
    case (credit points given back, traffic limit lifted, account status restored ...)."""
    ctx = ctx or Context()
    reviewer = _reviewer(principal)
    reason = _need_reason(reason)
    now = at or utcnow()
    case = get_case(db, principal, case_id)
    case.close_appeal(won)
    row = db.scalar(
        select(RiskAppeal)
        .where(RiskAppeal.case_id == case.id, RiskAppeal.status == AppealStatus.PENDING)
        .order_by(RiskAppeal.id.desc())
        .limit(1)
    )
    assert row is not None  # an appealed case has its pending appeal
    row.status = AppealStatus.WON if won else AppealStatus.LOST
    row.decided_at, row.decided_by, row.decision_reason = now, reviewer, reason
    undone = (
        _reverse_all(db, case, at=now, reason=f"appeal won: {reason}", actor=reviewer)
        if won
        else []
    )
    notices.decision_notice(
        db,
        case=case,
        kind="appeal",
        title="Appeal won: the sanctions are reversed" if won else "Appeal rejected",
        facts=_target(db, case, None, ctx).facts,
        reasons=reason,
        legal_basis=case.legal_basis,
        appeal_channel="" if won else "The decision on the appeal is final on the platform.",
        at=now,
    )
    _audit(
        db,
        case,
        at=now,
        actor=reviewer,
        action="appeal.won" if won else "appeal.lost",
        inputs={"appeal_id": row.id, "reversed": [m.id for m in undone]},
        reason=reason,
    )
    db.flush()
    return row
