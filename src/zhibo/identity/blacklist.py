"""The blacklist: people barred from streaming, registering or tipping, keyed by the keyed
hashes of their ID number and phone and by their devices, so a new account does not get them
back in. Each entry tells the facts, reasons, legal basis, duration and appeal channel; entries
expire or are lifted (a won appeal), and every step is kept in ``blacklist_events``.

The risk engine calls ``add`` from its measures; live, accounts and tipping call ``match``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from zhibo.identity.hashing import device_hash, id_number_hash, phone_hash
from zhibo.identity.numbers import normalise_phone
from zhibo.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhibo.kit.hashing import mask, mask_phone
from zhibo.kit.time import ensure_utc, utcnow
from zhibo.models import Streamer
from zhibo.models.identity import (
    BlacklistDevice,
    BlacklistEntry,
    BlacklistEvent,
    BlacklistStatus,
)


class Blacklisted(Forbidden):
    """The person is on the blacklist: the detail gives the entry, its reasons, legal basis,
    end and appeal channel."""


class EntryNotActive(Conflict):
    """The blacklist entry was already lifted or has expired."""


def describe(entry: BlacklistEntry) -> str:
    until = entry.expires_at.isoformat() if entry.expires_at else "until lifted"
    return (
        f"blacklist entry {entry.id}: {entry.reasons} (legal basis: {entry.legal_basis}; "
        f"until: {until}; appeal: {entry.appeal_channel})"
    )


def _required(value: str, field: str) -> str:
    if not value or not value.strip():
        raise InvalidInput(f"{field}: required (the person must be told it)")
    return value.strip()


def add(
    session: Session,
    *,
    facts: str,
    reasons: str,
    legal_basis: str,
    appeal_channel: str,
    listed_by: str,
    duration_days: int | None = None,
    streamer_id: int | None = None,
    id_number: str | None = None,
    phone: str | None = None,
    id_number_hash_value: str | None = None,
    phone_hash_value: str | None = None,
    device_ids: Iterable[str] = (),
    source_ref: str | None = None,
    at: datetime | None = None,
) -> BlacklistEntry:
    """List a person. Give a clear ``id_number``/``phone`` (hashed and masked here, never
    kept), their hashes, or a ``streamer_id`` whose registered hashes are used.
    ``duration_days`` None: until lifted."""
    now = ensure_utc(at, "at") if at is not None else utcnow()
    id_hash, id_masked = id_number_hash_value, None
    ph_hash, ph_masked = phone_hash_value, None
    if id_number:
        id_hash, id_masked = id_number_hash(id_number), mask(id_number.strip().upper())
    if phone:
        clear = normalise_phone(phone)
        ph_hash, ph_masked = phone_hash(clear), mask_phone(clear)
    if streamer_id is not None:
        streamer = session.get(Streamer, streamer_id)
        if streamer is None:
            raise InvalidInput(f"streamer_id: no streamer with id {streamer_id}")
        if id_hash is None:
            id_hash, id_masked = streamer.id_number_hash, streamer.id_number_masked
        if ph_hash is None:
            ph_hash, ph_masked = streamer.phone_hash, streamer.phone_masked
    if id_hash is None and ph_hash is None:
        raise InvalidInput("id_number: an entry needs an ID number or phone (or their hashes)")
    if duration_days is not None and duration_days <= 0:
        raise InvalidInput("duration_days: must be positive (or null: until lifted)")
    entry = BlacklistEntry(
        id_number_hash=id_hash,
        id_number_masked=id_masked,
        phone_hash=ph_hash,
        phone_masked=ph_masked,
        streamer_id=streamer_id,
        facts=_required(facts, "facts"),
        reasons=_required(reasons, "reasons"),
        legal_basis=_required(legal_basis, "legal_basis"),
        appeal_channel=_required(appeal_channel, "appeal_channel"),
        listed_at=now,
        expires_at=now + timedelta(days=duration_days) if duration_days else None,
        status=BlacklistStatus.ACTIVE,
        listed_by=_required(listed_by, "listed_by"),
        source_ref=source_ref,
    )
    session.add(entry)
    session.flush()
    for device in sorted({d.strip() for d in device_ids if d and d.strip()}):
        session.add(BlacklistDevice(entry_id=entry.id, device_hash=device_hash(device)))
    _event(session, entry, "listed", listed_by, now, reasons)
    session.flush()
    return entry


def _event(
    session: Session, entry: BlacklistEntry, action: str, actor: str, at: datetime, note: str
) -> None:
    session.add(BlacklistEvent(entry_id=entry.id, action=action, at=at, actor=actor, note=note))


def get(session: Session, entry_id: int) -> BlacklistEntry:
    entry = session.get(BlacklistEntry, entry_id)
    if entry is None:
        raise NotFound(f"blacklist entry: no entry with id {entry_id}")
    return entry


def appeal(
    session: Session, entry_id: int, *, statement: str, actor: str, at: datetime | None = None
) -> BlacklistEntry:
    """Record an appeal; it must then be reviewed (``lift`` or ``reject_appeal``)."""
    now = at or utcnow()
    entry = get(session, entry_id)
    if not entry.is_active(now):
        raise EntryNotActive(f"blacklist entry {entry_id} is no longer in force")
    _event(session, entry, "appealed", actor, now, _required(statement, "statement"))
    session.flush()
    return entry


def reject_appeal(
    session: Session, entry_id: int, *, reason: str, actor: str, at: datetime | None = None
) -> BlacklistEntry:
    now = at or utcnow()
    entry = get(session, entry_id)
    _event(session, entry, "appeal_rejected", actor, now, _required(reason, "reason"))
    session.flush()
    return entry


def lift(
    session: Session,
    entry_id: int,
    *,
    reason: str,
    actor: str,
    appeal_won: bool = True,
    at: datetime | None = None,
) -> BlacklistEntry:
    """End an entry early: an appeal won (the default) or an operator's correction."""
    now = at or utcnow()
    entry = get(session, entry_id)
    if not entry.is_active(now):
        raise EntryNotActive(f"blacklist entry {entry_id} is no longer in force")
    entry.status = BlacklistStatus.LIFTED
    entry.lifted_at = now
    entry.lift_reason = _required(reason, "reason")
    _event(session, entry, "appeal_won" if appeal_won else "lifted", actor, now, reason)
    session.flush()
    return entry


def expire_due(session: Session, at: datetime | None = None) -> list[BlacklistEntry]:
    """Mark entries whose duration has run out as expired (with a history event)."""
    now = at or utcnow()
    due = session.scalars(
        select(BlacklistEntry).where(
            BlacklistEntry.status == BlacklistStatus.ACTIVE,
            BlacklistEntry.expires_at.is_not(None),
            BlacklistEntry.expires_at <= now,
        )
    ).all()
    for entry in due:
        entry.status = BlacklistStatus.EXPIRED
        _event(session, entry, "expired", "system", now, "duration ended")
    session.flush()
    return list(due)


def match(
    session: Session,
    *,
    id_number: str | None = None,
    phone: str | None = None,
    id_number_hash_value: str | None = None,
    phone_hash_value: str | None = None,
    device_ids: Iterable[str] = (),
    at: datetime | None = None,
) -> Sequence[BlacklistEntry]:
    """The entries in force at ``at`` that match any of the keys given."""
    now = at or utcnow()
    id_hash = id_number_hash(id_number) if id_number else id_number_hash_value
    ph_hash = phone_hash(normalise_phone(phone)) if phone else phone_hash_value
    devices = [device_hash(d) for d in device_ids if d]
    conditions = []
    if id_hash:
        conditions.append(BlacklistEntry.id_number_hash == id_hash)
    if ph_hash:
        conditions.append(BlacklistEntry.phone_hash == ph_hash)
    if devices:
        conditions.append(
            BlacklistEntry.id.in_(
                select(BlacklistDevice.entry_id).where(BlacklistDevice.device_hash.in_(devices))
            )
        )
    if not conditions:
        return []
    rows = session.scalars(
        select(BlacklistEntry)
        .where(or_(*conditions), BlacklistEntry.status == BlacklistStatus.ACTIVE)
        .order_by(BlacklistEntry.id)
    ).all()
    return [entry for entry in rows if entry.is_active(now)]


def refuse_if_listed(session: Session, what: str, **keys: object) -> None:
    """Raise ``Blacklisted`` when any entry in force matches."""
    entries = match(session, **keys)  # type: ignore[arg-type]
    if entries:
        raise Blacklisted(f"{what}: {describe(entries[0])}")


def history(session: Session, entry_id: int) -> Sequence[BlacklistEvent]:
    get(session, entry_id)
    return session.scalars(
        select(BlacklistEvent)
        .where(BlacklistEvent.entry_id == entry_id)
        .order_by(BlacklistEvent.id)
    ).all()


def entries(
    session: Session, *, active_at: datetime | None = None, limit: int = 500
) -> Sequence[BlacklistEntry]:
    rows = session.scalars(
        select(BlacklistEntry).order_by(BlacklistEntry.id.desc()).limit(limit)
    ).all()
    if active_at is None:
        return rows
    return [row for row in rows if row.is_active(active_at)]
