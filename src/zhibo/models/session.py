"""Live sessions (one broadcast of a room) and their shelves of products.

State machine::

    scheduled --start--> live --end--> ended
                          |  ^
                   suspend|  |resume
                          v  |
                        suspended --end--> ended
    scheduled --cancel--> ended
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.kit.errors import IllegalTransition
from zhibo.kit.states import require_state
from zhibo.kit.time import ensure_utc
from zhibo.models._types import BigId, Currency, enum_column


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    #: Cut by the platform (risk measure); may resume or end.
    SUSPENDED = "suspended"


class SessionNotScheduled(IllegalTransition):
    """Only a scheduled session can start or be cancelled."""


class SessionNotLive(IllegalTransition):
    """Only a live session can be suspended."""


class SessionNotSuspended(IllegalTransition):
    """Only a suspended session can resume."""


class SessionAlreadyEnded(IllegalTransition):
    """An ended session cannot change any more."""


class LiveSession(Base):
    __tablename__ = "live_sessions"
    __table_args__ = (
        CheckConstraint(
            "ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at",
            name="ends_after_start",
        ),
        Index("ix_live_sessions_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id"), index=True)
    #: Denormalised from the room for scoping and attribution.
    streamer_id: Mapped[int] = mapped_column(ForeignKey("streamers.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[SessionStatus] = mapped_column(
        enum_column(SessionStatus, "session_status"), default=SessionStatus.SCHEDULED
    )
    scheduled_start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspension_reason: Mapped[str | None] = mapped_column(Text)
    #: The media server's application (nginx-rtmp ``app``) of the current or last RTMP push.
    publish_app: Mapped[str | None] = mapped_column(String(100))
    #: The media server's id of the publishing connection (nginx-rtmp ``clientid``): the only
    #: handle zhibo has to cut the push, since it keeps no clear stream key.
    publish_client_id: Mapped[str | None] = mapped_column(String(32))

    def start(self, at: datetime) -> None:
        require_state(
            "session", self.status, [SessionStatus.SCHEDULED], "start", SessionNotScheduled
        )
        self.started_at = ensure_utc(at, "started_at")
        self.status = SessionStatus.LIVE

    def record_publisher(self, app: str, client_id: str) -> None:
        """Remember which media-server connection carries this session (a new push replaces
        the previous one)."""
        self._refuse_if_ended("record a publisher")
        self.publish_app = app
        self.publish_client_id = client_id

    def is_published_by(self, app: str, client_id: str) -> bool:
        return (self.publish_app, self.publish_client_id) == (app, client_id)

    def suspend(self, at: datetime, reason: str) -> None:
        self._refuse_if_ended("suspend")
        require_state("session", self.status, [SessionStatus.LIVE], "suspend", SessionNotLive)
        if not reason.strip():
            from zhibo.kit.errors import InvalidInput

            raise InvalidInput("reason: a suspension needs a reason")
        self.suspended_at = ensure_utc(at, "suspended_at")
        self.status = SessionStatus.SUSPENDED
        self.suspension_reason = reason

    def resume(self) -> None:
        self._refuse_if_ended("resume")
        require_state(
            "session", self.status, [SessionStatus.SUSPENDED], "resume", SessionNotSuspended
        )
        self.status = SessionStatus.LIVE

    def end(self, at: datetime) -> None:
        self._refuse_if_ended("end")
        require_state(
            "session",
            self.status,
            [SessionStatus.LIVE, SessionStatus.SUSPENDED],
            "end",
            SessionNotLive,
        )
        at = ensure_utc(at, "ended_at")
        if self.started_at is not None and at < self.started_at:
            from zhibo.kit.errors import InvalidInput

            raise InvalidInput("ended_at: before the session started")
        self.status = SessionStatus.ENDED
        self.ended_at = at

    def cancel(self, at: datetime) -> None:
        self._refuse_if_ended("cancel")
        require_state(
            "session", self.status, [SessionStatus.SCHEDULED], "cancel", SessionNotScheduled
        )
        self.ended_at = ensure_utc(at, "ended_at")
        self.status = SessionStatus.ENDED

    def _refuse_if_ended(self, action: str) -> None:
        if self.status == SessionStatus.ENDED:
            raise SessionAlreadyEnded("session", str(self.status), action)


class ShelfItem(Base):
    """A product on a session's shelf, with the commission and slot fee agreed for it."""

    __tablename__ = "shelf_items"
    __table_args__ = (
        CheckConstraint("commission_rate_bp BETWEEN 0 AND 10000", name="commission_rate_range"),
        CheckConstraint("slot_fee_fen >= 0", name="slot_fee_nonnegative"),
        Index("uq_shelf_items_session_product", "session_id", "product_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    #: Commission for sales in this session, in basis points (may differ from the pool's).
    commission_rate_bp: Mapped[int] = mapped_column(Integer)
    #: Fixed slot fee (坑位费) the brand pays for the place, in fen; 0 for pure commission.
    slot_fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(Currency, default="CNY")
    position: Mapped[int] = mapped_column(Integer, default=0)
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
