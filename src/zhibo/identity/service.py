"""What identity does: verify a streamer's real name (an operator's attestation), record
guardian consents, re-check identity before each session goes live, reveal clear values only
with an audited purpose, and label virtual (AI) hosts to viewers."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from zhibo.accounts.service import mask_name
from zhibo.config import get_settings
from zhibo.identity import blacklist
from zhibo.identity.crypto import cipher
from zhibo.identity.hashing import id_number_hash, phone_hash
from zhibo.identity.numbers import age_on, normalise_phone, validate_id_number
from zhibo.identity.providers import provider_for
from zhibo.identity.schemas import ConsentIn, VerificationIn
from zhibo.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhibo.kit.hashing import mask, mask_phone
from zhibo.kit.time import ensure_utc, utcnow
from zhibo.models import LiveRoom, Streamer
from zhibo.models.identity import (
    CheckPurpose,
    GuardianConsent,
    IdentityCheck,
    IdentityRecord,
    PersonalDataRead,
    SubjectKind,
)
from zhibo.models.streamer import StreamerStatus

logger = logging.getLogger("zhibo.identity")

#: Recorded with every identity decision; bump it when the rules below change.
RULE_VERSION = "identity-rules@2026-11"
ADULT_AGE = 18


class IdentityCheckFailed(Forbidden):
    """The identity re-check refused: the detail says why (no attestation, the provider
    failed, the blacklist, age or consent)."""


class StreamerTooYoung(IdentityCheckFailed):
    """Streamers must be at least 16."""


class GuardianConsentMissing(IdentityCheckFailed):
    """A 16- or 17-year-old streamer needs a guardian's consent on record."""


class NoBirthDate(Conflict):
    """The streamer's birth date is not known yet: record their ID number first."""


def _birthday(birth: date, years: int) -> date:
    """The day someone born on ``birth`` turns ``years`` (29 February: 1 March)."""
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:
        return date(birth.year + years, 3, 1)


def _streamer(session: Session, streamer_id: int) -> Streamer:
    streamer = session.get(Streamer, streamer_id)
    if streamer is None:
        raise NotFound(f"streamer: no streamer with id {streamer_id}")
    return streamer


def active_consent(session: Session, streamer_id: int, on: date) -> GuardianConsent | None:
    return session.scalar(
        select(GuardianConsent)
        .where(
            GuardianConsent.streamer_id == streamer_id,
            GuardianConsent.revoked_at.is_(None),
            GuardianConsent.valid_until > on,
        )
        .order_by(GuardianConsent.id.desc())
        .limit(1)
    )


def age_rule(
    session: Session, streamer_id: int, birth: date | None, on: date
) -> tuple[str | None, type[IdentityCheckFailed] | None, dict[str, Any]]:
    """``(reason, error class, inputs)``; reason None when the age rule is met."""
    min_age = get_settings().streamer_min_age
    if birth is None:
        return "no birth date on record", IdentityCheckFailed, {"birth_date": None}
    age = age_on(birth, on)
    inputs: dict[str, Any] = {"age": age, "as_of": on.isoformat(), "min_age": min_age}
    if age < min_age:
        return f"streamers must be at least {min_age} (age {age})", StreamerTooYoung, inputs
    if age < ADULT_AGE:
        consent = active_consent(session, streamer_id, on)
        inputs["guardian_consent_id"] = consent.id if consent else None
        if consent is None:
            return (
                f"age {age}: a guardian's consent must be on record until 18",
                GuardianConsentMissing,
                inputs,
            )
    return None, None, inputs


def _record_independently(bind: Engine | Connection, row: IdentityCheck) -> None:
    """A refusal rolls the caller's transaction back; its decision is kept all the same."""
    engine = bind.engine if isinstance(bind, Connection) else bind
    with Session(engine) as own:
        own.add(row)
        own.commit()


def _refuse(
    session: Session,
    error: type[Forbidden],
    streamer: Streamer,
    purpose: CheckPurpose,
    provider: str,
    reason: str,
    inputs: dict[str, Any],
    at: datetime,
    attested_by: str | None = None,
) -> Forbidden:
    row = IdentityCheck(
        streamer_id=streamer.id,
        purpose=purpose,
        provider=provider,
        passed=False,
        reason=reason,
        inputs=json.dumps(inputs, sort_keys=True, default=str),
        rule_version=RULE_VERSION,
        attested_by=attested_by,
        checked_at=at,
    )
    _record_independently(session.get_bind(), row)
    logger.warning("identity check of streamer %s refused: %s", streamer.id, reason)
    return error(f"streamer {streamer.id}: {reason}")


def recheck_before_live(
    session: Session, streamer: Streamer, at: datetime | None = None
) -> IdentityCheck:
    """The identity re-check before a session goes live: the provider confirms the person,
    the person is not blacklisted, and the age rule holds on the day. Raises
    ``IdentityCheckFailed`` (a 403, so the media server refuses the push) with the reason;
    passed and failed checks are both recorded."""
    now = ensure_utc(at, "at") if at is not None else utcnow()
    provider = provider_for()
    answer = provider.verify(session, streamer, now)
    inputs: dict[str, Any] = {"provider_evidence": answer.evidence}
    if not answer.passed:
        raise _refuse(
            session,
            IdentityCheckFailed,
            streamer,
            CheckPurpose.PRE_LIVE,
            provider.name,
            answer.reason or "the verification provider did not confirm the identity",
            inputs,
            now,
        )
    listed = blacklist.match(
        session,
        id_number_hash_value=streamer.id_number_hash,
        phone_hash_value=streamer.phone_hash,
        at=now,
    )
    if listed:
        inputs["blacklist_entry_ids"] = [entry.id for entry in listed]
        raise _refuse(
            session,
            blacklist.Blacklisted,
            streamer,
            CheckPurpose.PRE_LIVE,
            provider.name,
            blacklist.describe(listed[0]),
            inputs,
            now,
        )
    reason, error, age_inputs = age_rule(session, streamer.id, streamer.birth_date, now.date())
    inputs.update(age_inputs)
    if reason is not None and error is not None:
        raise _refuse(
            session, error, streamer, CheckPurpose.PRE_LIVE, provider.name, reason, inputs, now
        )
    check = IdentityCheck(
        streamer_id=streamer.id,
        purpose=CheckPurpose.PRE_LIVE,
        provider=provider.name,
        passed=True,
        reason="",
        inputs=json.dumps(inputs, sort_keys=True, default=str),
        rule_version=RULE_VERSION,
        checked_at=now,
    )
    session.add(check)
    session.flush()
    return check


def _context(kind: SubjectKind, subject_id: int, field: str) -> str:
    return f"{kind.value}:{subject_id}:{field}"


def verify_streamer(
    session: Session, streamer_id: int, data: VerificationIn, at: datetime | None = None
) -> tuple[Streamer, IdentityCheck]:
    """An operator attests a streamer's real-name identity: the number is validated (checksum,
    region, birth date), the age rule and the blacklist are checked, the number and phone are
    stored encrypted (hashed and masked beside), and the streamer becomes active."""
    now = ensure_utc(at, "at") if at is not None else utcnow()
    streamer = _streamer(session, streamer_id)
    checked = validate_id_number(data.id_number, now.date())
    assert checked.number is not None and checked.birth_date is not None
    phone = normalise_phone(data.phone) if data.phone else None
    id_hash = id_number_hash(checked.number)
    ph_hash = phone_hash(phone) if phone else None
    inputs: dict[str, Any] = {"region_code": checked.region_code}
    listed = blacklist.match(
        session, id_number_hash_value=id_hash, phone_hash_value=ph_hash, at=now
    )
    if listed:
        inputs["blacklist_entry_ids"] = [entry.id for entry in listed]
        raise _refuse(
            session,
            blacklist.Blacklisted,
            streamer,
            CheckPurpose.REGISTRATION,
            "attestation",
            blacklist.describe(listed[0]),
            inputs,
            now,
            data.attested_by,
        )
    if streamer.id_number_hash is not None and streamer.id_number_hash != id_hash:
        raise Conflict(f"id_number: streamer {streamer.id} was registered with another ID number")
    reason, error, age_inputs = age_rule(session, streamer.id, checked.birth_date, now.date())
    inputs.update(age_inputs)
    if reason is not None and error is not None:
        raise _refuse(
            session,
            error,
            streamer,
            CheckPurpose.REGISTRATION,
            "attestation",
            reason,
            inputs,
            now,
            data.attested_by,
        )
    box = cipher()
    record = session.scalar(
        select(IdentityRecord).where(
            IdentityRecord.subject_kind == SubjectKind.STREAMER,
            IdentityRecord.subject_id == streamer.id,
        )
    )
    if record is None:
        record = IdentityRecord(
            subject_kind=SubjectKind.STREAMER, subject_id=streamer.id, created_at=now
        )
        session.add(record)
    record.id_number_cipher = box.encrypt(
        checked.number, context=_context(SubjectKind.STREAMER, streamer.id, "id_number")
    )
    record.id_number_hash = id_hash
    record.id_number_masked = mask(checked.number)
    record.phone_cipher = (
        box.encrypt(phone, context=_context(SubjectKind.STREAMER, streamer.id, "phone"))
        if phone
        else None
    )
    record.phone_hash = ph_hash
    record.phone_masked = mask_phone(phone) if phone else None
    record.birth_date = checked.birth_date
    record.region_code = checked.region_code or ""
    record.updated_at = now
    streamer.id_number_hash = id_hash
    streamer.id_number_masked = record.id_number_masked
    if phone:
        streamer.phone_hash = ph_hash
        streamer.phone_masked = record.phone_masked
    if data.real_name:
        streamer.real_name_masked = mask_name(data.real_name)
    streamer.birth_date = checked.birth_date
    streamer.verified_at = now
    if streamer.status == StreamerStatus.PENDING:
        streamer.status = StreamerStatus.ACTIVE
    check = IdentityCheck(
        streamer_id=streamer.id,
        purpose=CheckPurpose.REGISTRATION,
        provider="attestation",
        passed=True,
        reason="",
        inputs=json.dumps(inputs, sort_keys=True, default=str),
        rule_version=RULE_VERSION,
        attested_by=data.attested_by,
        document_ref=data.document_ref,
        checked_at=now,
    )
    session.add(check)
    session.flush()
    logger.info("streamer %s: real-name identity attested by %s", streamer.id, data.attested_by)
    return streamer, check


def record_consent(
    session: Session, streamer_id: int, data: ConsentIn, at: datetime | None = None
) -> GuardianConsent:
    """A guardian's consent for a minor streamer, valid until the streamer turns 18."""
    now = ensure_utc(at, "at") if at is not None else utcnow()
    streamer = _streamer(session, streamer_id)
    if streamer.birth_date is None:
        raise NoBirthDate(f"streamer {streamer_id}: no birth date on record")
    guardian = validate_id_number(data.guardian_id_number, now.date(), "guardian_id_number")
    assert guardian.number is not None and guardian.age is not None
    if guardian.age < ADULT_AGE:
        raise InvalidInput("guardian_id_number: a guardian must be an adult")
    if streamer.id_number_hash and id_number_hash(guardian.number) == streamer.id_number_hash:
        raise InvalidInput("guardian_id_number: the guardian must be another person")
    adult_on = _birthday(streamer.birth_date, ADULT_AGE)
    if adult_on <= now.date():
        raise InvalidInput(f"streamer_id: streamer {streamer_id} is an adult, no consent needed")
    consent = GuardianConsent(
        streamer_id=streamer_id,
        guardian_name_masked=mask_name(data.guardian_name),
        guardian_id_hash=id_number_hash(guardian.number),
        guardian_id_masked=mask(guardian.number),
        guardian_id_cipher="",
        relationship=data.relationship,
        document_ref=data.document_ref,
        recorded_by=data.recorded_by,
        recorded_at=now,
        valid_until=adult_on,
    )
    session.add(consent)
    session.flush()
    consent.guardian_id_cipher = cipher().encrypt(
        guardian.number, context=f"guardian:{consent.id}:id_number"
    )
    session.flush()
    return consent


def revoke_consent(session: Session, consent_id: int, at: datetime | None = None) -> None:
    consent = session.get(GuardianConsent, consent_id)
    if consent is None:
        raise NotFound(f"consent: no consent with id {consent_id}")
    consent.revoked_at = at or utcnow()
    session.flush()


def reveal(
    session: Session,
    *,
    streamer_id: int,
    field: str,
    actor: str,
    purpose: str,
    at: datetime | None = None,
) -> str:
    """The clear ID number or phone of a streamer, for a stated purpose; the read is audited
    (who, why, when) before the value is decrypted."""
    if field not in ("id_number", "phone"):
        raise InvalidInput("field: id_number or phone")
    if len(purpose.strip()) < 10:
        raise InvalidInput("purpose: state why the clear value is needed (10+ characters)")
    if not actor.strip():
        raise InvalidInput("actor: who reads it")
    record = session.scalar(
        select(IdentityRecord).where(
            IdentityRecord.subject_kind == SubjectKind.STREAMER,
            IdentityRecord.subject_id == streamer_id,
        )
    )
    token = (
        None
        if record is None
        else (record.id_number_cipher if field == "id_number" else record.phone_cipher)
    )
    if token is None:
        raise NotFound(f"streamer {streamer_id}: no {field} on record")
    session.add(
        PersonalDataRead(
            read_at=at or utcnow(),
            actor=actor.strip(),
            purpose=purpose.strip(),
            subject_kind=SubjectKind.STREAMER,
            subject_id=streamer_id,
            field=field,
        )
    )
    session.flush()
    return cipher().decrypt(token, context=_context(SubjectKind.STREAMER, streamer_id, field))


def checks_of(session: Session, streamer_id: int, limit: int = 50) -> list[IdentityCheck]:
    _streamer(session, streamer_id)
    return list(
        session.scalars(
            select(IdentityCheck)
            .where(IdentityCheck.streamer_id == streamer_id)
            .order_by(IdentityCheck.checked_at.desc(), IdentityCheck.id.desc())
            .limit(limit)
        )
    )


def room_host(session: Session, room_id: int) -> dict[str, Any]:
    """Who hosts a room, as viewers are told: a virtual (AI) host carries the label."""
    room = session.get(LiveRoom, room_id)
    if room is None:
        raise NotFound(f"room: no room with id {room_id}")
    streamer = _streamer(session, room.streamer_id)
    return {
        "room_id": room.id,
        "streamer_id": streamer.id,
        "display_name": streamer.display_name,
        "is_virtual_host": streamer.is_virtual,
        "host_label": get_settings().virtual_host_label if streamer.is_virtual else None,
    }
