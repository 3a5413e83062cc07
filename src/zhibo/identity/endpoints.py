"""HTTP endpoints: real-name verification and consents (operator, compliance), identity
checks, the blacklist (compliance), gifts (viewers), legal holds, and a room's host label."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from zhibo.identity import blacklist, retention, service, tipping
from zhibo.identity.schemas import (
    BlacklistDecisionIn,
    BlacklistEventOut,
    BlacklistIn,
    BlacklistOut,
    ConsentIn,
    ConsentOut,
    IdentityCheckOut,
    LegalHoldIn,
    LegalHoldOut,
    PatrolCoverageOut,
    PatrolHourOut,
    PatrolShiftEndIn,
    PatrolShiftIn,
    PatrolShiftOut,
    RoomHostOut,
    TipIn,
    TipOut,
    TipSent,
    VerificationIn,
    VerificationOut,
    ViewerDecisionOut,
    ViewerResetIn,
    ViewerVerificationIn,
    ViewerVerificationOut,
)
from zhibo.kit.api import ALL_ROLES, DB, ERROR_RESPONSES, READERS, require
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden, InvalidInput, NotFound
from zhibo.models import Role

router = APIRouter(prefix="/v1", tags=["identity"], responses=ERROR_RESPONSES)

Verifiers = Annotated[Principal, Depends(require(Role.OPERATOR, Role.COMPLIANCE))]
Compliance = Annotated[Principal, Depends(require(Role.OPERATOR, Role.COMPLIANCE))]
Readers = Annotated[Principal, Depends(require(*READERS))]
Anyone = Annotated[Principal, Depends(require(*ALL_ROLES))]
Tipper = Annotated[Principal, Depends(require(Role.VIEWER))]
ViewerOrOperator = Annotated[Principal, Depends(require(Role.VIEWER, Role.OPERATOR))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
ViewerOrReaders = Annotated[Principal, Depends(require(Role.VIEWER, *READERS))]


@router.post("/identity/streamers/{streamer_id}/verification", response_model=VerificationOut)
def verify_streamer(
    db: DB, _: Verifiers, streamer_id: int, body: VerificationIn
) -> VerificationOut:
    """An operator attests a streamer's real-name identity (the number is validated, the age
    rule and the blacklist checked; the number is stored encrypted and returned masked)."""
    streamer, check = service.verify_streamer(db, streamer_id, body)
    return VerificationOut(
        streamer_id=streamer.id,
        id_number_masked=streamer.id_number_masked,
        phone_masked=streamer.phone_masked,
        birth_date=streamer.birth_date,
        verified_at=streamer.verified_at,
        check=IdentityCheckOut.model_validate(check),
    )


@router.post(
    "/identity/streamers/{streamer_id}/guardian-consents",
    response_model=ConsentOut,
    status_code=201,
)
def record_consent(db: DB, _: Verifiers, streamer_id: int, body: ConsentIn) -> ConsentOut:
    return ConsentOut.model_validate(service.record_consent(db, streamer_id, body))


@router.get("/identity/streamers/{streamer_id}/checks", response_model=list[IdentityCheckOut])
def identity_checks(db: DB, _: Readers, streamer_id: int) -> list[IdentityCheckOut]:
    return [IdentityCheckOut.model_validate(row) for row in service.checks_of(db, streamer_id)]


@router.get("/rooms/{room_id}/host", response_model=RoomHostOut)
def room_host(db: DB, _: Anyone, room_id: int) -> RoomHostOut:
    """Who hosts the room; virtual (AI) hosts carry the label viewers are shown."""
    return RoomHostOut(**service.room_host(db, room_id))


@router.get("/blacklist", response_model=list[BlacklistOut])
def list_blacklist(
    db: DB, _: Readers, active: Annotated[bool, Query()] = False
) -> list[BlacklistOut]:
    from zhibo.kit.time import utcnow

    rows = blacklist.entries(db, active_at=utcnow() if active else None)
    return [BlacklistOut.model_validate(row) for row in rows]


@router.post("/blacklist", response_model=BlacklistOut, status_code=201)
def add_to_blacklist(db: DB, _: Compliance, body: BlacklistIn) -> BlacklistOut:
    entry = blacklist.add(
        db,
        facts=body.facts,
        reasons=body.reasons,
        legal_basis=body.legal_basis,
        appeal_channel=body.appeal_channel,
        listed_by=body.listed_by,
        duration_days=body.duration_days,
        streamer_id=body.streamer_id,
        id_number=body.id_number,
        phone=body.phone,
        device_ids=body.device_ids,
        source_ref=body.source_ref,
    )
    return BlacklistOut.model_validate(entry)


@router.post("/blacklist/{entry_id}/lift", response_model=BlacklistOut)
def lift_blacklist_entry(
    db: DB, _: Compliance, entry_id: int, body: BlacklistDecisionIn
) -> BlacklistOut:
    """Lift an entry after a won appeal."""
    return BlacklistOut.model_validate(
        blacklist.lift(db, entry_id, reason=body.reason, actor=body.actor)
    )


@router.post("/blacklist/{entry_id}/appeal", response_model=BlacklistOut)
def appeal_blacklist_entry(
    db: DB, _: Compliance, entry_id: int, body: BlacklistDecisionIn
) -> BlacklistOut:
    """Record an appeal (received through the entry's appeal channel) for review."""
    return BlacklistOut.model_validate(
        blacklist.appeal(db, entry_id, statement=body.reason, actor=body.actor)
    )


@router.get("/blacklist/{entry_id}/history", response_model=list[BlacklistEventOut])
def blacklist_history(db: DB, _: Readers, entry_id: int) -> list[BlacklistEventOut]:
    return [BlacklistEventOut.model_validate(row) for row in blacklist.history(db, entry_id)]


@router.post("/gifts", response_model=TipSent, status_code=201)
def send_gift(db: DB, principal: Tipper, body: TipIn) -> TipSent:
    """Send a gift in a live session. Refused (403, nothing charged) for viewers who are not
    verified adults, and over the per-tip, daily or monthly cap; the reason names the cap."""
    if principal.subject_id is None:  # pragma: no cover - viewer tokens always have one
        raise Forbidden("a viewer token acts for one viewer")
    result = tipping.send_tip(db, principal.subject_id, body)
    return TipSent(
        **TipOut.model_validate(result.tip).model_dump(),
        reminder=result.reminder,
        day_total_fen=result.day_total_fen,
        month_total_fen=result.month_total_fen,
    )


@router.post("/legal-holds", response_model=LegalHoldOut, status_code=201)
def place_legal_hold(db: DB, _: Compliance, body: LegalHoldIn) -> LegalHoldOut:
    return LegalHoldOut.model_validate(retention.place_hold(db, body))


@router.post("/legal-holds/{hold_id}/release", response_model=LegalHoldOut)
def release_legal_hold(db: DB, _: Compliance, hold_id: int) -> LegalHoldOut:
    return LegalHoldOut.model_validate(retention.release_hold(db, hold_id))


# --- viewers' real-name verification -------------------------------------------------------------


def _own_viewer(principal: Principal, viewer_id: int) -> None:
    """A viewer acts only for itself; another viewer's existence does not leak."""
    if principal.role == Role.VIEWER and principal.subject_id != viewer_id:
        raise NotFound(f"viewer: no viewer with id {viewer_id}")


@router.post("/viewers/{viewer_id}/verification", response_model=ViewerVerificationOut)
def verify_viewer(
    db: DB, principal: ViewerOrOperator, viewer_id: int, body: ViewerVerificationIn
) -> ViewerVerificationOut:
    """Real-name verification of a viewer (the viewer themself, or an operator attesting the
    checked document): the number is validated, the blacklist checked, the provider asked; the
    number is stored encrypted and only its mask returned. A minor is recorded as a minor and
    may never tip. Another identity than the one on record is refused (409) until an operator
    resets it."""
    from zhibo.identity import viewers

    _own_viewer(principal, viewer_id)
    if principal.role == Role.VIEWER and (body.attested_by or body.document_ref):
        raise Forbidden("attested_by: only an operator attests a checked document")
    actor = (
        f"viewer:{viewer_id}"
        if principal.role == Role.VIEWER
        else f"{principal.role}:token:{principal.token_id}"
    )
    viewer, decision, age = viewers.verify_viewer(db, viewer_id, body, actor=actor)
    return ViewerVerificationOut(
        viewer_id=viewer.id,
        real_name_verified=viewer.real_name_verified,
        is_minor=viewer.is_minor,
        age=age,
        id_number_masked=decision.id_number_masked or "",
        may_tip=viewer.real_name_verified and not viewer.is_minor,
        decision=ViewerDecisionOut.model_validate(decision),
    )


@router.post("/viewers/{viewer_id}/verification/reset", response_model=ViewerDecisionOut)
def reset_viewer_verification(
    db: DB, principal: Operator, viewer_id: int, body: ViewerResetIn
) -> ViewerDecisionOut:
    """An operator clears a viewer's verified identity so that another may be verified."""
    from zhibo.identity import viewers

    decision = viewers.reset_viewer(
        db, viewer_id, reason=body.reason, actor=f"operator:token:{principal.token_id}"
    )
    return ViewerDecisionOut.model_validate(decision)


@router.get("/viewers/{viewer_id}/verifications", response_model=list[ViewerDecisionOut])
def viewer_verifications(
    db: DB, principal: ViewerOrReaders, viewer_id: int
) -> list[ViewerDecisionOut]:
    """The viewer's real-name decisions, latest first (masked)."""
    from zhibo.identity import viewers

    _own_viewer(principal, viewer_id)
    return [ViewerDecisionOut.model_validate(row) for row in viewers.decisions(db, viewer_id)]


# --- patrol shifts and coverage ------------------------------------------------------------------


def _shift_actor(principal: Principal) -> str:
    return f"{principal.role}:token:{principal.token_id}"


@router.post("/patrol/shifts", response_model=PatrolShiftOut, status_code=201)
def start_patrol_shift(db: DB, principal: Compliance, body: PatrolShiftIn) -> PatrolShiftOut:
    """Record a reviewer's patrol shift (open while ``ends_at`` is null). Compliance records its
    own; operators name the reviewer (a compliance token)."""
    from zhibo.identity import patrol

    reviewer = body.reviewer_token_id
    if principal.role == Role.COMPLIANCE:
        if reviewer not in (None, principal.token_id):
            raise Forbidden("reviewer_token_id: compliance records its own shifts")
        reviewer = principal.token_id
    if reviewer is None:
        raise InvalidInput("reviewer_token_id: name the reviewer (a compliance token)")
    shift = patrol.start_shift(
        db,
        reviewer_token_id=reviewer,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        created_by=_shift_actor(principal),
    )
    return PatrolShiftOut.model_validate(shift)


@router.post("/patrol/shifts/{shift_id}/end", response_model=PatrolShiftOut)
def end_patrol_shift(
    db: DB, principal: Compliance, shift_id: int, body: PatrolShiftEndIn
) -> PatrolShiftOut:
    from zhibo.identity import patrol
    from zhibo.models.identity import PatrolShift

    found = db.get(PatrolShift, shift_id)
    if found is None or (
        principal.role == Role.COMPLIANCE and found.reviewer_token_id != principal.token_id
    ):
        raise NotFound(f"shift: no patrol shift with id {shift_id}")
    return PatrolShiftOut.model_validate(patrol.end_shift(db, shift_id=shift_id, at=body.ends_at))


def _when(value: str, field: str) -> datetime:
    """A date (its 00:00 UTC) or a timezone-aware ISO time."""
    from zhibo.kit.time import ensure_utc

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a date or ISO time") from None
    if moment.tzinfo is None and len(value) == 10:
        moment = moment.replace(tzinfo=UTC)
    return ensure_utc(moment, field)


def _range(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    from zhibo.kit.time import utcnow

    stop = _when(end, "to") if end is not None else utcnow()
    begin = _when(start, "from") if start is not None else stop - timedelta(days=1)
    return begin, stop


@router.get("/patrol/shifts", response_model=list[PatrolShiftOut])
def list_patrol_shifts(
    db: DB,
    _: Readers,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
) -> list[PatrolShiftOut]:
    """Shifts overlapping ``[from, to)`` (default: the last 24 hours)."""
    from zhibo.identity import patrol

    begin, stop = _range(start, end)
    return [PatrolShiftOut.model_validate(row) for row in patrol.shifts(db, begin, stop)]


@router.get("/patrol/coverage", response_model=PatrolCoverageOut)
def patrol_coverage(
    db: DB,
    _: Readers,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
) -> PatrolCoverageOut:
    """Per UTC hour of ``[from, to)`` (default: the last 24 hours; at most 31 days): rooms
    online (key rooms among them), reviewers on shift, those the 1-per-N rule requires, and
    the rooms left uncovered, key rooms first."""
    from zhibo.config import get_settings
    from zhibo.identity import patrol

    begin, stop = _range(start, end)
    hours = patrol.coverage(db, begin, stop)
    return PatrolCoverageOut(
        rooms_per_reviewer=get_settings().patrol_rooms_per_reviewer,
        hours=[PatrolHourOut.model_validate(hour, from_attributes=True) for hour in hours],
        hours_meeting_rule=sum(1 for hour in hours if hour.meets_rule and hour.online_rooms),
        hours_with_rooms=sum(1 for hour in hours if hour.online_rooms),
    )
