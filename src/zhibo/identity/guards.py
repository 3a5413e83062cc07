"""The registration guard: a streamer account whose ID number or phone hash matches a
blacklist entry in force is refused at insert, whichever path creates it through the ORM
(``POST /v1/streamers``, a service, a script). Bulk loads through SQLAlchemy Core (``zhibo
load`` of simulated data) are not screened: the risk engine finds evasions among those."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, or_, select

from zhibo.kit.time import utcnow
from zhibo.models import Streamer
from zhibo.models.identity import BlacklistEntry, BlacklistStatus

_installed = False


def _screen_new_streamer(_mapper: Any, connection: Any, target: Streamer) -> None:
    from zhibo.identity.blacklist import Blacklisted

    keys = []
    if target.id_number_hash:
        keys.append(BlacklistEntry.id_number_hash == target.id_number_hash)
    if target.phone_hash:
        keys.append(BlacklistEntry.phone_hash == target.phone_hash)
    if not keys:
        return
    now = utcnow()
    row = connection.execute(
        select(BlacklistEntry.id, BlacklistEntry.reasons, BlacklistEntry.appeal_channel)
        .where(
            or_(*keys),
            BlacklistEntry.status == BlacklistStatus.ACTIVE,
            or_(BlacklistEntry.expires_at.is_(None), BlacklistEntry.expires_at > now),
        )
        .order_by(BlacklistEntry.id)
        .limit(1)
    ).first()
    if row is not None:
        raise Blacklisted(
            f"registration: this identity is on the blacklist (entry {row.id}: {row.reasons}; "
            f"appeal: {row.appeal_channel})"
        )


def install() -> None:
    global _installed
    if not _installed:
        event.listen(Streamer, "before_insert", _screen_new_streamer)
        _installed = True
