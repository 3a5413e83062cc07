"""HTTP endpoints: real-name verification and consents (operator, compliance), identity
checks, the blacklist (compliance), gifts (viewers), legal holds, and a room's host label."""

from __future__ import annotations

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
    RoomHostOut,
    TipIn,
    TipOut,
    TipSent,
    VerificationIn,
    VerificationOut,
)
from zhibo.kit.api import ALL_ROLES, DB, ERROR_RESPONSES, READERS, require
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden
from zhibo.models import Role

router = APIRouter(prefix="/v1", tags=["identity"], responses=ERROR_RESPONSES)

Verifiers = Annotated[Principal, Depends(require(Role.OPERATOR, Role.COMPLIANCE))]
Compliance = Annotated[Principal, Depends(require(Role.OPERATOR, Role.COMPLIANCE))]
Readers = Annotated[Principal, Depends(require(*READERS))]
Anyone = Annotated[Principal, Depends(require(*ALL_ROLES))]
Tipper = Annotated[Principal, Depends(require(Role.VIEWER))]


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
