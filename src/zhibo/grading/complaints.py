"""Complaints and their handling: a viewer files a complaint about a streamer, room or order it
took part in (operators and compliance may file on someone's behalf); compliance or an operator
decides it once, as resolved or rejected, which records who decided, when and what was done.

Grading counts complaints by the time they were received, except those rejected as baseless
(``repository.load_complaints``); the regulator report shows each complaint's handling time.
A viewer "took part" in an order it bought, and in a room or with a streamer where it bought
or tipped: the facts the database keeps.

Feedback deadline (DOMAIN.md §2 asks for timely feedback; it names no figure): an open
complaint is *overdue* once ``received_at + complaint_deadline_hours`` (setting
``ZHIBO_COMPLAINT_DEADLINE_HOURS``, default 72) has passed. It is computed when read, never
stored: listings show ``feedback_due_at`` and ``overdue`` and filter on ``overdue``.

Scoping: operators, compliance and auditors see every complaint; a streamer those about itself
and a partner those about its streamers, both without who complained or which staff member
decided; a viewer its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, and_, exists, not_, select, update
from sqlalchemy.orm import Session

from zhibo.config import get_settings
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhibo.kit.pagination import paginate
from zhibo.kit.schemas import InSchema
from zhibo.kit.time import utcnow
from zhibo.models import Brand, LiveRoom, Order, Role, Streamer, Viewer
from zhibo.models.grading import ComplainantKind, Complaint, ComplaintStatus
from zhibo.models.identity import Tip

#: Roles that may file a complaint (viewers for themselves, staff on someone's behalf).
FILERS = (Role.VIEWER, Role.OPERATOR, Role.COMPLIANCE)
#: Roles that may decide a complaint.
DECIDERS = (Role.OPERATOR, Role.COMPLIANCE)
#: Roles that may list complaints, each narrowed to what it may see.
LISTERS = (Role.OPERATOR, Role.COMPLIANCE, Role.AUDITOR, Role.STREAMER, Role.PARTNER, Role.VIEWER)


#: A row id: positive and within BIGINT, so an absurd id is a 422, not a database error.
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class ComplaintAlreadyDecided(Conflict):
    """The complaint was already resolved or rejected; a decision is taken once."""


class ComplaintIn(InSchema):
    """A complaint: name at least one of the streamer, the room or the order."""

    streamer_id: RowId | None = None
    room_id: RowId | None = None
    order_id: RowId | None = None
    reason: str = Field(min_length=1, max_length=4000)
    #: Only when staff file on someone's behalf: who complained. A viewer's own complaint is
    #: ``buyer`` when it names an order, else ``viewer``.
    complainant_kind: ComplainantKind | None = None
    #: The viewer (``viewer``, ``buyer``) or brand (``brand``); none for ``other``.
    complainant_id: RowId | None = None


class ComplaintDecision(InSchema):
    outcome: Literal["resolved", "rejected"]
    #: What was found and done; shown to the complainant and the streamer.
    resolution: str = Field(min_length=1, max_length=4000)


class ComplaintOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    streamer_id: int
    room_id: int | None
    order_id: int | None
    reason: str
    received_at: datetime
    complainant_kind: ComplainantKind | None
    #: Left out (null) for the streamer and its partner.
    complainant_id: int | None
    status: ComplaintStatus
    handled_at: datetime | None
    #: Left out (null) for streamers, partners and viewers.
    handled_by: str | None
    resolution: str | None
    #: ``received_at`` + the feedback deadline.
    feedback_due_at: datetime | None = None
    #: Still open past the feedback deadline (computed when listed).
    overdue: bool = False


def deadline() -> timedelta:
    """How long the platform has to give feedback on a complaint (setting)."""
    return timedelta(hours=get_settings().complaint_deadline_hours)


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """Open, and received more than the deadline before ``now``."""
    return and_(Complaint.status == ComplaintStatus.OPEN, Complaint.received_at < now - deadline())


def _actor(principal: Principal) -> str:
    if principal.token_id is not None:
        return f"{principal.role}#{principal.token_id}"
    return f"{principal.role}:cli"


def _took_part(db: Session, viewer_id: int, **where: Any) -> bool:
    """Whether the viewer bought or tipped where ``where`` says (a room or a streamer)."""
    bought = exists().where(
        Order.buyer_id == viewer_id, *[getattr(Order, k) == v for k, v in where.items()]
    )
    tipped = exists().where(
        Tip.viewer_id == viewer_id, *[getattr(Tip, k) == v for k, v in where.items()]
    )
    return bool(db.scalar(select(bought | tipped)))


def _complainant(
    db: Session, principal: Principal, data: ComplaintIn
) -> tuple[ComplainantKind, int | None]:
    if principal.role == Role.VIEWER:
        if data.complainant_kind is not None or data.complainant_id is not None:
            raise InvalidInput(
                "complainant_kind: set only when staff file on someone's behalf; "
                "a viewer's complaint is its own"
            )
        own = ComplainantKind.BUYER if data.order_id is not None else ComplainantKind.VIEWER
        return own, principal.subject_id
    kind = data.complainant_kind
    if kind is None:
        raise InvalidInput("complainant_kind: say who complained (viewer, buyer, brand or other)")
    complainant_id = data.complainant_id
    if kind == ComplainantKind.OTHER:
        return kind, complainant_id
    if complainant_id is None:
        raise InvalidInput(f"complainant_id: required for a {kind} complaint")
    model: type[Viewer] | type[Brand] = Brand if kind == ComplainantKind.BRAND else Viewer
    if db.get(model, complainant_id) is None:
        noun = "brand" if kind == ComplainantKind.BRAND else "viewer"
        raise InvalidInput(f"complainant_id: no {noun} with id {complainant_id}")
    if kind == ComplainantKind.BUYER and data.order_id is None:
        raise InvalidInput("order_id: a buyer's complaint names the order")
    return kind, complainant_id


def _subject(
    db: Session, principal: Principal, data: ComplaintIn, kind: ComplainantKind
) -> tuple[int, int | None]:
    """Check the streamer, room and order named agree (and that a viewer took part);
    returns the streamer complained about and the room (the order's, if only it is named)."""
    if data.streamer_id is None and data.room_id is None and data.order_id is None:
        raise InvalidInput("streamer_id: name the streamer, room or order complained about")
    viewer = principal.subject_id if principal.role == Role.VIEWER else None
    streamer_id, room_id = data.streamer_id, data.room_id
    if data.order_id is not None:
        order = db.get(Order, data.order_id)
        # A viewer learns nothing about orders that are not its own.
        if order is None or (viewer is not None and order.buyer_id != viewer):
            mine = " among your orders" if viewer is not None else ""
            raise InvalidInput(f"order_id: no order with id {data.order_id}{mine}")
        staff_filed_for_buyer = viewer is None and kind == ComplainantKind.BUYER
        if staff_filed_for_buyer and order.buyer_id != data.complainant_id:
            raise InvalidInput(f"complainant_id: order {order.id} was bought by another viewer")
        if order.streamer_id is None:
            raise InvalidInput(f"order_id: order {order.id} was not sold by a streamer")
        if streamer_id is not None and streamer_id != order.streamer_id:
            raise InvalidInput(
                f"streamer_id: order {order.id} was sold by streamer {order.streamer_id}, "
                f"not {streamer_id}"
            )
        if data.room_id is not None and data.room_id != order.room_id:
            raise InvalidInput(f"room_id: order {order.id} was not sold in room {data.room_id}")
        streamer_id, room_id = order.streamer_id, order.room_id
    if data.room_id is not None:
        room = db.get(LiveRoom, data.room_id)
        if room is None:
            raise InvalidInput(f"room_id: no room with id {data.room_id}")
        if streamer_id is not None and streamer_id != room.streamer_id:
            raise InvalidInput(
                f"streamer_id: room {room.id} belongs to streamer {room.streamer_id}, "
                f"not {streamer_id}"
            )
        if (
            viewer is not None
            and data.order_id is None
            and not _took_part(db, viewer, room_id=room.id)
        ):
            raise InvalidInput(
                f"room_id: you neither bought nor tipped in room {room.id}, so cannot complain "
                "about it (complain about an order, or ask support to file for you)"
            )
        streamer_id = room.streamer_id
    assert streamer_id is not None  # one of the three was named
    if db.get(Streamer, streamer_id) is None:
        raise InvalidInput(f"streamer_id: no streamer with id {streamer_id}")
    if (
        viewer is not None
        and data.order_id is None
        and data.room_id is None
        and not _took_part(db, viewer, streamer_id=streamer_id)
    ):
        raise InvalidInput(
            f"streamer_id: you neither bought from nor tipped streamer {streamer_id}, so cannot "
            "complain about it (ask support to file for you)"
        )
    return streamer_id, room_id


def file_complaint(
    db: Session, principal: Principal, data: ComplaintIn, at: datetime | None = None
) -> Complaint:
    """Record a complaint (open); refused, naming the field, when a reference is unknown, the
    references disagree, or a viewer took no part in what it complains about."""
    principal.require(*FILERS)
    kind, complainant_id = _complainant(db, principal, data)
    streamer_id, room_id = _subject(db, principal, data, kind)
    row = Complaint(
        streamer_id=streamer_id,
        room_id=room_id,
        order_id=data.order_id,
        reason=data.reason,
        received_at=at or utcnow(),
        complainant_kind=kind,
        complainant_id=complainant_id,
        status=ComplaintStatus.OPEN,
    )
    db.add(row)
    db.flush()
    return row


def visible_to(principal: Principal) -> Select[Any]:
    """Complaints the caller may see."""
    query = select(Complaint)
    if principal.is_global:
        return query
    subject = principal.subject_id
    if principal.role == Role.STREAMER:
        return query.where(Complaint.streamer_id == subject)
    if principal.role == Role.PARTNER:
        mine = select(Streamer.id).where(Streamer.partner_id == subject)
        return query.where(Complaint.streamer_id.in_(mine))
    if principal.role == Role.VIEWER:
        return query.where(
            Complaint.complainant_kind.in_([ComplainantKind.VIEWER, ComplainantKind.BUYER]),
            Complaint.complainant_id == subject,
        )
    raise Forbidden(f"role {principal.role} may not read complaints")


def list_complaints(
    db: Session,
    principal: Principal,
    cursor: str | None,
    limit: int,
    status: ComplaintStatus | None = None,
    streamer_id: int | None = None,
    overdue: bool | None = None,
    at: datetime | None = None,
) -> tuple[list[ComplaintOut], str | None]:
    now = at or utcnow()
    query = visible_to(principal)
    if overdue is not None:
        clause = overdue_clause(now)
        query = query.where(clause if overdue else not_(clause))
    if status is not None:
        query = query.where(Complaint.status == status)
    if streamer_id is not None:
        query = query.where(Complaint.streamer_id == streamer_id)
    rows, next_cursor = paginate(db, query, Complaint.id, cursor, limit)
    return present(principal, rows, now), next_cursor


def present(
    principal: Principal, rows: Sequence[Complaint], at: datetime | None = None
) -> list[ComplaintOut]:
    """Complaints as the caller may see them: the streamer and its partner never learn who
    complained; only staff see which staff member decided. ``overdue`` is judged at ``at``."""
    hide_complainant = principal.role in (Role.STREAMER, Role.PARTNER)
    now, allowed = at or utcnow(), deadline()
    out = []
    for row in rows:
        item = ComplaintOut.model_validate(row)
        item.feedback_due_at = row.received_at + allowed
        item.overdue = row.status == ComplaintStatus.OPEN and item.feedback_due_at < now
        if hide_complainant:
            item.complainant_id = None
        if not principal.is_global:
            item.handled_by = None
        out.append(item)
    return out


def decide(
    db: Session,
    principal: Principal,
    complaint_id: int,
    data: ComplaintDecision,
    at: datetime | None = None,
) -> Complaint:
    """Resolve or reject an open complaint, once: who, when and what was done are kept."""
    principal.require(*DECIDERS)
    now = at or utcnow()
    # One conditional UPDATE: of two concurrent decisions exactly one finds the row open.
    changed = db.scalar(
        update(Complaint)
        .where(Complaint.id == complaint_id, Complaint.status == ComplaintStatus.OPEN)
        .values(
            status=ComplaintStatus(data.outcome),
            handled_at=now,
            handled_by=_actor(principal),
            resolution=data.resolution,
        )
        .returning(Complaint.id)
        .execution_options(synchronize_session=False)
    )
    row = db.get(Complaint, complaint_id)
    if row is None:
        raise NotFound(f"complaint_id: no complaint with id {complaint_id}")
    db.refresh(row)
    if changed is None:
        raise ComplaintAlreadyDecided(
            f"complaint {complaint_id} was already {row.status} at "
            f"{row.handled_at.isoformat() if row.handled_at else '?'}: a decision is final"
        )
    return row
