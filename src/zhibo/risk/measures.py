"""Measures: what a finding or a decided case does, and how each is undone.

Real-time measures (``prompt``, ``viewer_notice``, ``traffic_limit``, ``suspension``) act on
the room at once, from the active rule's own list. Sanctions (``warning``, ``credit_deduction``,
``function_restriction``, ``publishing_suspension``, ``account_cancellation``,
``reregistration_ban``, ``blacklist``) act on the person once a case is decided: the rule's
own sanctions plus the ladder step of ``data/measures.toml`` for the case's severity and
repetition (the person's earlier sanctioned cases within ``repeat_window_days``).

Each measure is a ``RiskMeasure`` row with its target, duration and what applying it did
(``detail``: the violation id and points, the previous account status, the traffic limit id,
the stream cut's outcome), so ``reverse`` can undo exactly that.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.kit.documents import read_document
from zhibo.kit.errors import InvalidInput, ZhiboError
from zhibo.live.media import MediaServer
from zhibo.models import LiveSession, SessionStatus, Streamer
from zhibo.models.risk import MeasureStatus, RiskCase, RiskMeasure, SubjectKind
from zhibo.models.streamer import StreamerStatus
from zhibo.risk.effects import after_commit
from zhibo.risk.rules import Measure, Severity

log = logging.getLogger(__name__)

#: Measures that act on the room at once, from an active rule's finding.
REALTIME = (Measure.PROMPT, Measure.VIEWER_NOTICE, Measure.TRAFFIC_LIMIT, Measure.SUSPENSION)
#: Measures that act on the person, once the case is decided.
SANCTIONS = (
    Measure.WARNING,
    Measure.CREDIT_DEDUCTION,
    Measure.TRAFFIC_LIMIT,
    Measure.FUNCTION_RESTRICTION,
    Measure.PUBLISHING_SUSPENSION,
    Measure.ACCOUNT_CANCELLATION,
    Measure.REREGISTRATION_BAN,
    Measure.BLACKLIST,
)
#: Sanctions without an end (until an appeal is won).
PERMANENT = (Measure.ACCOUNT_CANCELLATION, Measure.REREGISTRATION_BAN, Measure.BLACKLIST)


class InvalidMeasurePolicy(InvalidInput):
    """The measure policy file breaks a rule; ``detail`` names the field."""


class MeasurePolicy(BaseModel):
    """The graduated measures (``data/measures.toml``): versioned data, recorded with every
    decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    version: str = Field(min_length=1)
    #: Earlier sanctioned cases of the person within this many days count as repetitions.
    repeat_window_days: int = Field(ge=1, le=3650)
    #: Findings of one rule about one person this close together join one case.
    merge_window_minutes: int = Field(ge=0, le=7 * 24 * 60)
    traffic_limit_hours: int = Field(ge=1, le=24 * 365)
    function_restriction_days: int = Field(ge=1, le=3650)
    publishing_suspension_days: int = Field(ge=1, le=3650)
    #: Days after a decision within which the person may appeal.
    appeal_days: int = Field(ge=1, le=3650)
    #: Told in every sanction notice; ``{case_id}`` is filled in.
    appeal_channel: str = Field(min_length=1)
    #: Severity → steps (first offence, second, ...; the last step for anything beyond).
    ladder: dict[Severity, list[list[Measure]]]

    @field_validator("ladder")
    @classmethod
    def _complete(cls, value: dict[Severity, list[list[Measure]]]) -> Any:
        missing = [str(s) for s in Severity if s not in value]
        if missing:
            raise ValueError(f"no steps for severities {missing}")
        for severity, steps in value.items():
            if not steps:
                raise ValueError(f"{severity}: at least one step")
            for index, step in enumerate(steps):
                wrong = [str(m) for m in step if m not in SANCTIONS]
                if wrong:
                    raise ValueError(f"{severity}.{index}: {wrong} are not sanctions")
        return value

    def sanctions(
        self, severity: Severity | str, repetition: int, rule_measures: list[Measure]
    ) -> list[Measure]:
        """The rule's own sanctions, then the ladder's step for ``repetition``, each once."""
        steps = self.ladder[Severity(severity)]
        step = steps[min(repetition, len(steps) - 1)]
        chosen: list[Measure] = []
        for measure in [*rule_measures, *step]:
            if measure in SANCTIONS and measure not in chosen:
                chosen.append(measure)
        return chosen


def parse_policy(data: Any, source: str = "measures") -> MeasurePolicy:
    try:
        return MeasurePolicy.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
        raise InvalidMeasurePolicy(f"{source}: {'; '.join(problems)}") from exc


def load_policy(path: Path) -> MeasurePolicy:
    return parse_policy(read_document(path, InvalidMeasurePolicy), str(path))


@lru_cache(maxsize=1)
def default_policy() -> MeasurePolicy:
    text = resources.files("zhibo.risk").joinpath("data/measures.toml").read_text("utf-8")
    return parse_policy(tomllib.loads(text), "zhibo/risk/data/measures.toml")


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def detail_of(measure: RiskMeasure) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(measure.detail or "{}")
    return loaded


@dataclass(frozen=True, slots=True)
class Target:
    """What a measure acts on, and why (for the records it writes elsewhere)."""

    case: RiskCase
    finding_id: int | None
    room_id: int | None
    session_id: int | None
    rule_key: str
    severity: str
    reason: str
    facts: str
    legal_basis: str
    appeal_channel: str


def apply(
    db: Session,
    kind: Measure,
    target: Target,
    *,
    at: datetime,
    policy: MeasurePolicy,
    media: MediaServer | None,
    actor: str,
) -> RiskMeasure:
    """Apply one measure; the row says whether it applied, waits (``pending``) or does not
    apply to this person (``not_applicable``)."""
    case = target.case
    row = RiskMeasure(
        case_id=case.id,
        finding_id=target.finding_id,
        kind=str(kind),
        target_kind=str(case.subject_kind),
        target_id=case.subject_id,
        status=MeasureStatus.APPLIED,
        starts_at=at,
    )
    detail: dict[str, Any] = {}
    streamer = case.subject_kind == SubjectKind.STREAMER
    if kind in (Measure.PROMPT, Measure.VIEWER_NOTICE, Measure.TRAFFIC_LIMIT):
        if target.room_id is None:
            row.status, detail["why"] = MeasureStatus.NOT_APPLICABLE, "no room"
        else:
            row.target_kind, row.target_id = "room", target.room_id
    if kind == Measure.TRAFFIC_LIMIT and row.status == MeasureStatus.APPLIED:
        if not streamer:
            row.status = MeasureStatus.NOT_APPLICABLE
            detail["why"] = "a room is not limited for a viewer's act"
        else:
            from zhibo.grading.recommendation import limit_traffic

            row.ends_at = at + timedelta(hours=policy.traffic_limit_hours)
            assert target.room_id is not None
            limit = limit_traffic(
                db,
                target.room_id,
                until=row.ends_at,
                reason=target.reason,
                source_ref=f"risk-case:{case.id}",
                set_by=actor,
                at=at,
            )
            detail["traffic_limit_id"] = limit.id
    elif kind == Measure.SUSPENSION:
        row.target_kind, row.target_id = "session", target.session_id or 0
        detail.update(_suspend(db, target, at, media, allowed=streamer))
        if detail.get("why"):
            row.status = MeasureStatus.NOT_APPLICABLE
    elif kind == Measure.CREDIT_DEDUCTION:
        if not streamer:
            row.status, detail["why"] = (
                MeasureStatus.NOT_APPLICABLE,
                "credit points are a streamer's",
            )
        else:
            from zhibo.grading import credit
            from zhibo.grading.service import active_model

            violation = credit.record_violation(
                db,
                streamer_id=case.subject_id,
                severity=target.severity,
                rule=target.rule_key[:100],
                occurred_at=at,
                rules=active_model().credit,
                room_id=target.room_id,
                source_ref=f"risk-case:{case.id}",
            )
            detail.update(violation_id=violation.id, points_tenths=violation.points_tenths)
    elif kind == Measure.FUNCTION_RESTRICTION:
        row.ends_at = at + timedelta(days=policy.function_restriction_days)
        detail["functions"] = list(VIEWER_FUNCTIONS if not streamer else STREAMER_FUNCTIONS)
    elif kind == Measure.PUBLISHING_SUSPENSION:
        row.ends_at = at + timedelta(days=policy.publishing_suspension_days)
        if streamer:
            running = _running_suspension(db, case.subject_id, at)
            detail.update(_set_status(db, case.subject_id, StreamerStatus.SUSPENDED))
            if running is not None:
                # Chained suspensions: the first one's status is the one to go back to.
                detail["previous_status"] = detail_of(running).get(
                    "previous_status", detail["previous_status"]
                )
    elif kind == Measure.ACCOUNT_CANCELLATION:
        if streamer:
            detail.update(_set_status(db, case.subject_id, StreamerStatus.BANNED))
    elif kind == Measure.REREGISTRATION_BAN:
        # Enforced where accounts are created: a new account matching a blacklist entry (same
        # ID-number or phone hash, device) is refused (``zhibo.identity``).
        detail["enforced_by"] = "blacklist match at registration"
    elif kind == Measure.BLACKLIST:
        status, more = _blacklist(db, target, at, actor, streamer)
        row.status = status
        detail.update(more)
    row.detail = _dumps(detail)
    db.add(row)
    db.flush()
    return row


#: What a function restriction withholds, and where it is enforced: a streamer may not enrol in
#: campaigns (``grading.campaigns``) and its rooms leave the recommended listing
#: (``grading.recommendation``); a viewer may not tip (``identity.tipping``) or comment (event
#: ingestion dead-letters the comments, ``events.service``).
STREAMER_FUNCTIONS = ("campaigns", "recommendation")
VIEWER_FUNCTIONS = ("tipping", "comments")


def restriction_in_force(target_kind: SubjectKind, target_id: Any, at: datetime) -> Any:
    """A SQL condition: a function restriction applies to ``target_id`` (a value or a column)
    at ``at`` (an applied, unreversed ``function_restriction`` measure not yet ended)."""
    from sqlalchemy import exists, or_

    return exists().where(
        RiskMeasure.kind == str(Measure.FUNCTION_RESTRICTION),
        RiskMeasure.status == MeasureStatus.APPLIED,
        RiskMeasure.target_kind == str(target_kind),
        RiskMeasure.target_id == target_id,
        RiskMeasure.starts_at <= at,
        or_(RiskMeasure.ends_at.is_(None), RiskMeasure.ends_at > at),
    )


def restricted_viewers(db: Session, function: str, at: datetime) -> set[int]:
    """The viewers a function restriction withholds ``function`` from at ``at`` (the event
    ingestion reads this for ``comments``)."""
    from sqlalchemy import or_

    rows = db.scalars(
        select(RiskMeasure).where(
            RiskMeasure.kind == str(Measure.FUNCTION_RESTRICTION),
            RiskMeasure.status == MeasureStatus.APPLIED,
            RiskMeasure.target_kind == str(SubjectKind.VIEWER),
            RiskMeasure.starts_at <= at,
            or_(RiskMeasure.ends_at.is_(None), RiskMeasure.ends_at > at),
        )
    ).all()
    return {row.target_id for row in rows if function in detail_of(row).get("functions", ())}


def restricted_functions(
    db: Session, target_kind: SubjectKind, target_id: int, at: datetime
) -> set[str]:
    """The functions withheld from a streamer or viewer at ``at`` by function restrictions."""
    measures = db.scalars(
        select(RiskMeasure).where(
            RiskMeasure.kind == str(Measure.FUNCTION_RESTRICTION),
            RiskMeasure.status == MeasureStatus.APPLIED,
            RiskMeasure.target_kind == str(target_kind),
            RiskMeasure.target_id == target_id,
            RiskMeasure.starts_at <= at,
        )
    ).all()
    functions: set[str] = set()
    for measure in measures:
        if measure.ends_at is None or measure.ends_at > at:
            functions.update(detail_of(measure).get("functions", ()))
    return functions


def _running_suspension(db: Session, streamer_id: int, at: datetime) -> RiskMeasure | None:
    return db.scalar(
        select(RiskMeasure)
        .where(
            RiskMeasure.kind == str(Measure.PUBLISHING_SUSPENSION),
            RiskMeasure.status == MeasureStatus.APPLIED,
            RiskMeasure.target_kind == str(SubjectKind.STREAMER),
            RiskMeasure.target_id == streamer_id,
            RiskMeasure.ends_at > at,
        )
        .order_by(RiskMeasure.id)
        .limit(1)
    )


def _suspend(
    db: Session, target: Target, at: datetime, media: MediaServer | None, *, allowed: bool
) -> dict[str, Any]:
    from zhibo.live import service as live_service

    if not allowed:
        return {"why": "a stream is not cut for a viewer's act"}
    if target.session_id is None:
        return {"why": "no session"}
    live = db.get(LiveSession, target.session_id)
    if live is None or live.status != SessionStatus.LIVE:
        return {"why": f"session is {live.status if live else 'unknown'}, not live"}
    live_service.suspend_session(db, live.id, f"risk: {target.reason}"[:500], at)
    if media is not None and live.publish_app and live.publish_client_id:
        # Cut after the commit, from a copy: the row's attributes expire with the commit.
        snapshot = LiveSession(
            id=live.id, publish_app=live.publish_app, publish_client_id=live.publish_client_id
        )
        after_commit(db, lambda: _cut(media, snapshot))
    return {"session_id": live.id, "publisher": live.publish_client_id}


def _cut(media: MediaServer, snapshot: LiveSession) -> None:
    from zhibo.live import service as live_service

    live_service.cut_stream(media, snapshot)


def _set_status(db: Session, streamer_id: int, status: StreamerStatus) -> dict[str, Any]:
    streamer = db.get(Streamer, streamer_id)
    if streamer is None:
        return {"why": "no streamer"}
    previous = str(streamer.status)
    streamer.status = status
    return {"previous_status": previous, "status": str(status)}


def _blacklist(
    db: Session, target: Target, at: datetime, actor: str, streamer: bool
) -> tuple[MeasureStatus, dict[str, Any]]:
    try:
        from zhibo.identity import blacklist
    except ImportError:  # pragma: no cover - the identity domain ships with zhibo
        return MeasureStatus.PENDING, {"why": "no blacklist store (zhibo.identity.blacklist)"}
    if not streamer:
        return MeasureStatus.PENDING, {"why": "a viewer account has no verified identity to list"}
    try:
        with db.begin_nested():
            entry = blacklist.add(
                db,
                facts=target.facts,
                reasons=target.reason,
                legal_basis=target.legal_basis or "《网络直播营销管理办法(试行)》",
                appeal_channel=target.appeal_channel,
                listed_by=actor,
                streamer_id=target.case.subject_id,
                source_ref=f"risk-case:{target.case.id}",
                at=at,
            )
    except ZhiboError as error:
        # No ID number or phone on record: kept pending until identity verification has one.
        return MeasureStatus.PENDING, {"why": f"{error.name}: {error.detail}"}
    return MeasureStatus.APPLIED, {"blacklist_entry_id": entry.id}


def reverse(db: Session, measure: RiskMeasure, *, at: datetime, reason: str, actor: str) -> bool:
    """Undo what ``measure`` did (a dismissed case, a won appeal); returns whether it changed.
    Measures that did not apply stay as they are."""
    if measure.status not in (MeasureStatus.APPLIED, MeasureStatus.PENDING):
        return False
    detail = detail_of(measure)
    if measure.status == MeasureStatus.APPLIED:
        _undo(db, measure, detail, at, reason, actor)
    measure.status = MeasureStatus.REVERSED
    measure.reversed_at = at
    measure.reversal_reason = reason
    db.flush()
    return True


def _undo(
    db: Session,
    measure: RiskMeasure,
    detail: dict[str, Any],
    at: datetime,
    reason: str,
    actor: str,
) -> None:
    kind = Measure(measure.kind)
    if kind == Measure.CREDIT_DEDUCTION and "violation_id" in detail:
        from zhibo.grading import credit
        from zhibo.grading.service import active_model

        restored = credit.restore_on_appeal(
            db, detail["violation_id"], at=at, rules=active_model().credit, note=reason[:500]
        )
        detail["restored_tenths"] = restored.delta_tenths
    elif kind == Measure.TRAFFIC_LIMIT and measure.target_kind == "room":
        from zhibo.grading.recommendation import lift_traffic_limit

        detail["lifted"] = lift_traffic_limit(
            db, measure.target_id, source_ref=f"risk-case:{measure.case_id}", at=at
        )
    elif kind == Measure.SUSPENSION and "session_id" in detail:
        live = db.get(LiveSession, detail["session_id"])
        if live is not None and live.status == SessionStatus.SUSPENDED:
            from zhibo.live import service as live_service

            live_service.resume_session(db, live.id)
            detail["resumed"] = True
    elif kind in (Measure.PUBLISHING_SUSPENSION, Measure.ACCOUNT_CANCELLATION):
        streamer = db.get(Streamer, measure.target_id)
        other = _running_suspension(db, measure.target_id, at)
        if kind == Measure.PUBLISHING_SUSPENSION and other is not None and other.id != measure.id:
            detail["kept"] = f"suspension {other.id} of another case still runs"
        elif streamer is not None and str(streamer.status) == detail.get("status"):
            streamer.status = StreamerStatus(detail["previous_status"])
            detail["restored_status"] = detail["previous_status"]
    elif kind == Measure.BLACKLIST and "blacklist_entry_id" in detail:
        from zhibo.identity import blacklist

        try:
            blacklist.lift(db, detail["blacklist_entry_id"], reason=reason, actor=actor, at=at)
            detail["lifted"] = True
        except ZhiboError as error:
            detail["lift_error"] = error.name
    measure.detail = _dumps(detail)


def expire_due(db: Session, at: datetime, actor: str = "system") -> list[RiskMeasure]:
    """End the timed account measures whose time has run out: a publishing suspension gives the
    streamer back its previous status (if nothing changed it since). Traffic limits lapse by
    themselves (their ``limited_until``). Running again changes nothing."""
    from zhibo.risk import audit

    rows = db.scalars(
        select(RiskMeasure).where(
            RiskMeasure.kind == str(Measure.PUBLISHING_SUSPENSION),
            RiskMeasure.status == MeasureStatus.APPLIED,
            RiskMeasure.ends_at <= at,
        )
    ).all()
    lapsed = []
    for row in rows:
        detail = detail_of(row)
        if detail.get("lapsed_at") or row.target_kind != SubjectKind.STREAMER:
            continue
        still = db.scalar(
            select(RiskMeasure.id).where(
                RiskMeasure.kind == row.kind,
                RiskMeasure.status == MeasureStatus.APPLIED,
                RiskMeasure.target_kind == row.target_kind,
                RiskMeasure.target_id == row.target_id,
                RiskMeasure.ends_at > at,
            )
        )
        streamer = db.get(Streamer, row.target_id)
        if (
            still is None  # a later suspension of the same streamer still runs: it stays
            and streamer is not None
            and str(streamer.status) == detail.get("status")
        ):
            streamer.status = StreamerStatus(detail["previous_status"])
        detail["lapsed_at"] = at.isoformat()
        row.detail = _dumps(detail)
        lapsed.append(row)
        audit.record(
            db,
            at=at,
            actor=actor,
            action="measure.lapsed",
            case_id=row.case_id,
            subject=f"{row.target_kind}:{row.target_id}",
            inputs={"measure_id": row.id, "kind": row.kind, "ends_at": row.ends_at},
            reason="its duration ran out",
        )
    db.flush()
    return lapsed
