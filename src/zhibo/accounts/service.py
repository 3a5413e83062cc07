"""What accounts do: register partners and streamers, and scope who sees which streamer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from zhibo.accounts.schemas import PartnerCreate, StreamerCreate
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhibo.kit.hashing import keyed_hash, mask, mask_phone
from zhibo.kit.pagination import paginate
from zhibo.kit.time import utcnow
from zhibo.models import Partner, PartnerContract, Role, Streamer, Viewer
from zhibo.models.streamer import StreamerStatus


class UnknownPartner(InvalidInput):
    """The partner does not exist."""


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``: the family name stays readable, the rest does not."""
    name = name.strip()
    return name[:1] + "*" * (len(name) - 1) if name else name


def id_number_hash(id_number: str) -> str:
    return keyed_hash(id_number.upper(), purpose="resident-id")


def phone_hash(phone: str) -> str:
    return keyed_hash(phone, purpose="phone")


def birth_date_from_id(id_number: str) -> date:
    from stdnum.cn import ric

    birth: date = ric.get_birth_date(id_number)
    return birth


def create_partner(session: Session, data: PartnerCreate, at: datetime | None = None) -> Partner:
    if session.scalar(select(Partner.id).where(Partner.name == data.name)) is not None:
        raise Conflict(f"name: partner {data.name!r} already exists")
    partner = Partner(**data.model_dump(), created_at=at or utcnow())
    session.add(partner)
    session.flush()
    return partner


def create_streamer(
    session: Session, principal: Principal, data: StreamerCreate, at: datetime | None = None
) -> Streamer:
    partner_id = data.partner_id
    if principal.role == Role.PARTNER:
        if partner_id not in (None, principal.subject_id):
            raise Forbidden("partner_id: a partner may register streamers only for itself")
        partner_id = principal.subject_id
    if partner_id is not None and session.get(Partner, partner_id) is None:
        raise UnknownPartner(f"partner_id: no partner with id {partner_id}")
    if data.partner_share_bp is not None and partner_id is None:
        raise InvalidInput("partner_share_bp: a share needs a partner_id")
    now = at or utcnow()
    streamer = Streamer(
        display_name=data.display_name,
        real_name_masked=mask_name(data.real_name) if data.real_name else None,
        id_number_hash=id_number_hash(data.id_number) if data.id_number else None,
        id_number_masked=mask(data.id_number) if data.id_number else None,
        phone_hash=phone_hash(data.phone) if data.phone else None,
        phone_masked=mask_phone(data.phone) if data.phone else None,
        birth_date=birth_date_from_id(data.id_number) if data.id_number else None,
        partner_id=partner_id,
        status=StreamerStatus.PENDING,
        is_virtual=data.is_virtual,
        followers=0,
        created_at=now,
    )
    session.add(streamer)
    session.flush()
    if partner_id is not None:
        session.add(
            PartnerContract(
                partner_id=partner_id,
                streamer_id=streamer.id,
                partner_share_bp=data.partner_share_bp
                if data.partner_share_bp is not None
                else 3000,
                valid_from=now.date(),
            )
        )
        session.flush()
    return streamer


def streamers_visible_to(principal: Principal) -> Select[Any]:
    query = select(Streamer)
    if principal.is_global:
        return query
    if principal.role == Role.STREAMER:
        return query.where(Streamer.id == principal.subject_id)
    if principal.role == Role.PARTNER:
        return query.where(Streamer.partner_id == principal.subject_id)
    raise Forbidden(f"role {principal.role} may not read streamer accounts")


def list_streamers(
    session: Session,
    principal: Principal,
    cursor: str | None,
    limit: int,
    partner_id: int | None = None,
) -> tuple[Sequence[Streamer], str | None]:
    query = streamers_visible_to(principal)
    if partner_id is not None:
        query = query.where(Streamer.partner_id == partner_id)
    return paginate(session, query, Streamer.id, cursor, limit)


def get_streamer(session: Session, principal: Principal, streamer_id: int) -> Streamer:
    streamer = session.scalar(streamers_visible_to(principal).where(Streamer.id == streamer_id))
    if streamer is None:
        raise NotFound(f"streamer: no streamer with id {streamer_id}")
    return streamer


def list_partners(
    session: Session, principal: Principal, cursor: str | None, limit: int
) -> tuple[Sequence[Partner], str | None]:
    query = select(Partner)
    if principal.role == Role.PARTNER:
        query = query.where(Partner.id == principal.subject_id)
    elif not principal.is_global:
        raise Forbidden(f"role {principal.role} may not list partners")
    return paginate(session, query, Partner.id, cursor, limit)


def get_viewer(session: Session, principal: Principal, viewer_id: int) -> Viewer:
    if principal.role == Role.VIEWER and principal.subject_id != viewer_id:
        raise NotFound(f"viewer: no viewer with id {viewer_id}")
    viewer = session.get(Viewer, viewer_id)
    if viewer is None:
        raise NotFound(f"viewer: no viewer with id {viewer_id}")
    return viewer
