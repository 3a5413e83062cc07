"""Viewers' real-name verification: only verified adults tip, minors never.

``verify_viewer`` (the viewer themself, or an operator attesting a checked document) validates
the resident identity number (python-stdnum: check digit, region, birth date), refuses a
blacklisted identity and, once a viewer holds a verified identity, any other identity until an
operator resets it (``reset_viewer``); the verification provider (``identity.providers``)
confirms the person. The number (and phone) are kept only encrypted in ``identity_records``
(hashed for matching, masked for showing), the age comes from the number's birth date, and a
minor is recorded as a minor: ``tipping.send_tip`` refuses minors and unverified viewers with
the reason. Every decision (verified, refused, reset) is a ``viewer_verifications`` row with
its inputs, provider, rule version and who asked; refusals are kept even though the request
rolls back. The clear number is never returned, stored in a decision or logged.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from zhibo.identity import blacklist
from zhibo.identity.crypto import cipher
from zhibo.identity.hashing import id_number_hash, phone_hash
from zhibo.identity.numbers import age_on, normalise_phone, validate_id_number
from zhibo.identity.providers import PersonClaim, provider_for
from zhibo.identity.schemas import ViewerVerificationIn
from zhibo.identity.service import ADULT_AGE, RULE_VERSION, IdentityCheckFailed
from zhibo.kit.errors import Conflict, InvalidInput, NotFound
from zhibo.kit.hashing import mask, mask_phone
from zhibo.kit.time import ensure_utc, utcnow
from zhibo.models import Viewer
from zhibo.models.identity import (
    IdentityRecord,
    SubjectKind,
    ViewerVerification,
    ViewerVerificationAction,
)

logger = logging.getLogger("zhibo.identity")


class ViewerIdentityMismatch(Conflict):
    """The viewer holds another verified identity; an operator must reset it first."""


def _viewer(session: Session, viewer_id: int) -> Viewer:
    # FOR NO KEY UPDATE on PostgreSQL: a refusal recorded from another connection references
    # the viewer (a key-share lock), which a plain FOR UPDATE would block until we roll back.
    viewer = session.scalar(
        select(Viewer).where(Viewer.id == viewer_id).with_for_update(key_share=True)
    )
    if viewer is None:
        raise NotFound(f"viewer: no viewer with id {viewer_id}")
    return viewer


def _record_of(session: Session, viewer_id: int) -> IdentityRecord | None:
    return session.scalar(
        select(IdentityRecord).where(
            IdentityRecord.subject_kind == SubjectKind.VIEWER,
            IdentityRecord.subject_id == viewer_id,
        )
    )


def _decision(
    viewer_id: int,
    action: ViewerVerificationAction,
    provider: str,
    actor: str,
    at: datetime,
    *,
    reason: str = "",
    inputs: dict[str, Any] | None = None,
    masked: str | None = None,
    hashed: str | None = None,
    is_minor: bool | None = None,
) -> ViewerVerification:
    return ViewerVerification(
        viewer_id=viewer_id,
        action=action,
        provider=provider,
        reason=reason,
        inputs=json.dumps(inputs or {}, sort_keys=True, default=str),
        rule_version=RULE_VERSION,
        actor=actor,
        id_number_masked=masked,
        id_number_hash=hashed,
        is_minor=is_minor,
        checked_at=at,
    )


def _refuse(session: Session, error: Exception, row: ViewerVerification) -> Exception:
    """Keep the refusal in its own transaction (the request's rolls back) and return it."""
    viewer_id, reason = row.viewer_id, row.reason
    with Session(session.get_bind().engine) as own:
        own.add(row)
        own.commit()
    logger.warning("real-name verification of viewer %s refused: %s", viewer_id, reason)
    return error


def verify_viewer(
    session: Session,
    viewer_id: int,
    data: ViewerVerificationIn,
    *,
    actor: str,
    at: datetime | None = None,
) -> tuple[Viewer, ViewerVerification, int]:
    """Verify a viewer's real-name identity; returns the viewer, the decision and the age."""
    now = ensure_utc(at, "at") if at is not None else utcnow()
    viewer = _viewer(session, viewer_id)
    checked = validate_id_number(data.id_number, now.date())
    assert checked.number is not None and checked.birth_date is not None
    phone = normalise_phone(data.phone) if data.phone else None
    if data.attested_by and not data.document_ref:
        raise InvalidInput("document_ref: an attestation names the checked document")
    hashed, masked = id_number_hash(checked.number), mask(checked.number)
    ph_hash = phone_hash(phone) if phone else None
    age = age_on(checked.birth_date, now.date())
    minor = age < ADULT_AGE
    provider = provider_for()
    inputs: dict[str, Any] = {
        "age": age,
        "is_minor": minor,
        "as_of": now.date().isoformat(),
        "region_code": checked.region_code,
        "attested_by": data.attested_by,
        "document_ref": data.document_ref,
    }

    def refused(
        error: Exception, reason: str, **more: Any
    ) -> Exception:  # the decision row, then the error
        return _refuse(
            session,
            error,
            _decision(
                viewer.id,
                ViewerVerificationAction.REFUSED,
                provider.name,
                actor,
                now,
                reason=reason,
                inputs={**inputs, **more},
                masked=masked,
                hashed=hashed,
                is_minor=minor,
            ),
        )

    record = _record_of(session, viewer.id)
    if record is not None and record.id_number_hash != hashed:
        reason = (
            f"viewer {viewer.id} holds another verified identity ({record.id_number_masked}); "
            "an operator must reset it before another is verified"
        )
        raise refused(ViewerIdentityMismatch(f"id_number: {reason}"), reason)
    listed = blacklist.match(session, id_number_hash_value=hashed, phone_hash_value=ph_hash, at=now)
    if listed:
        reason = blacklist.describe(listed[0])
        raise refused(
            blacklist.Blacklisted(f"viewer {viewer.id}: {reason}"),
            reason,
            blacklist_entry_ids=[entry.id for entry in listed],
        )
    claim = PersonClaim(
        id_number=checked.number,
        birth_date=checked.birth_date,
        real_name=data.real_name,
        attested_by=data.attested_by,
        document_ref=data.document_ref,
    )
    answer = provider.verify_viewer(session, viewer, claim, now)
    inputs["provider_evidence"] = answer.evidence
    if not answer.passed:
        reason = answer.reason or "the verification provider did not confirm the identity"
        raise refused(IdentityCheckFailed(f"viewer {viewer.id}: {reason}"), reason)

    box = cipher()
    if record is None:
        record = IdentityRecord(
            subject_kind=SubjectKind.VIEWER, subject_id=viewer.id, created_at=now
        )
        session.add(record)
    context = f"{SubjectKind.VIEWER.value}:{viewer.id}"
    record.id_number_cipher = box.encrypt(checked.number, context=f"{context}:id_number")
    record.id_number_hash = hashed
    record.id_number_masked = masked
    if phone:
        record.phone_cipher = box.encrypt(phone, context=f"{context}:phone")
        record.phone_hash = ph_hash
        record.phone_masked = mask_phone(phone)
    record.birth_date = checked.birth_date
    record.region_code = checked.region_code or ""
    record.updated_at = now
    viewer.real_name_verified = True
    viewer.is_minor = minor
    viewer.birth_date = checked.birth_date
    decision = _decision(
        viewer.id,
        ViewerVerificationAction.VERIFIED,
        provider.name,
        actor,
        now,
        inputs=inputs,
        masked=masked,
        hashed=hashed,
        is_minor=minor,
    )
    session.add(decision)
    session.flush()
    logger.info("viewer %s: real-name identity verified (minor: %s)", viewer.id, minor)
    return viewer, decision, age


def reset_viewer(
    session: Session, viewer_id: int, *, reason: str, actor: str, at: datetime | None = None
) -> ViewerVerification:
    """An operator clears a viewer's verified identity (a wrong person was entered, say): the
    encrypted record is deleted and the viewer is unverified (so cannot tip) until verified
    again, with any identity. The decision keeps the old identity's mask and hash."""
    if not reason.strip():
        raise InvalidInput("reason: say why the identity is reset")
    now = ensure_utc(at, "at") if at is not None else utcnow()
    viewer = _viewer(session, viewer_id)
    record = _record_of(session, viewer.id)
    decision = _decision(
        viewer.id,
        ViewerVerificationAction.RESET,
        "operator",
        actor,
        now,
        reason=reason.strip(),
        inputs={"was_verified": viewer.real_name_verified, "was_minor": viewer.is_minor},
        masked=record.id_number_masked if record else None,
        hashed=record.id_number_hash if record else None,
        is_minor=viewer.is_minor,
    )
    if record is not None:
        session.execute(delete(IdentityRecord).where(IdentityRecord.id == record.id))
    viewer.real_name_verified = False
    viewer.birth_date = None
    session.add(decision)
    session.flush()
    logger.info("viewer %s: real-name identity reset by %s", viewer.id, actor)
    return decision


def decisions(session: Session, viewer_id: int, limit: int = 50) -> list[ViewerVerification]:
    if session.get(Viewer, viewer_id) is None:
        raise NotFound(f"viewer: no viewer with id {viewer_id}")
    return list(
        session.scalars(
            select(ViewerVerification)
            .where(ViewerVerification.viewer_id == viewer_id)
            .order_by(ViewerVerification.checked_at.desc(), ViewerVerification.id.desc())
            .limit(limit)
        )
    )
