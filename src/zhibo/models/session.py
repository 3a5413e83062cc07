"""Live sessions (one broadcast of a room) and their shelves of products.

State machine::

    scheduled --start--> live --end--> ended
                          |  ^
                   suspend|  |resume
                          v  |
                        suspended --end--> ended
    scheduled --cancel--> ended

A live session whose RTMP push dropped stays live for a grace period (``publisher_left_at`` set,
"reconnecting"): a push of the room within the grace clears it, otherwise the session ends as of
the moment the push dropped (``end_abandoned``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
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


class SessionEndReason(StrEnum):
    """Why a session ended (``live_sessions.end_reason``)."""

    #: Its streamer or an operator ended it through the API.
    REQUESTED = "requested"
    #: Its push ended and no reconnect grace applies (``ZHIBO_PUBLISH_RECONNECT_GRACE_SECONDS=0``).
    PUBLISHER_LEFT = "publisher_left"
    #: Its push ended and no push of the room returned within the reconnect grace; the session
    #: ended at the moment the push ended (``publisher_left_at``).
    RECONNECT_GRACE_EXPIRED = "reconnect_grace_expired"
    #: Cancelled before it started.
    CANCELLED = "cancelled"


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
    #: When the media server reported the push of this live session ended (``on_publish_done``)
    #: while a reconnect grace applies; cleared when a push of the room resumes the session.
    #: Kept after the session ends: the moment the stream really stopped.
    publisher_left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A ``SessionEndReason`` once ended (null for sessions ended before it was recorded).
    end_reason: Mapped[str | None] = mapped_column(String(40))

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

    @property
    def reconnecting(self) -> bool:
        """Live, its push gone, waiting within the grace for the streamer to push again."""
        return self.status == SessionStatus.LIVE and self.publisher_left_at is not None

    def publisher_left(self, at: datetime) -> None:
        """The push ended: keep the session live for the reconnect grace (first report wins)."""
        require_state(
            "session", self.status, [SessionStatus.LIVE], "lose its publisher", SessionNotLive
        )
        if self.publisher_left_at is None:
            self.publisher_left_at = ensure_utc(at, "publisher_left_at")

    def publisher_returned(self, app: str, client_id: str) -> None:
        """A push of the room resumed this session within the grace."""
        require_state("session", self.status, [SessionStatus.LIVE], "resume a push", SessionNotLive)
        self.publisher_left_at = None
        self.record_publisher(app, client_id)

    def reconnect_grace_expired(self, at: datetime, grace: timedelta) -> bool:
        left = self.publisher_left_at
        return self.reconnecting and left is not None and ensure_utc(at, "at") >= left + grace

    def end_abandoned(self) -> None:
        """End a session whose push left and did not return, as of the moment it left."""
        if self.publisher_left_at is None:
            raise SessionNotLive("session", str(self.status), "end as abandoned")
        self.end(self.publisher_left_at, SessionEndReason.RECONNECT_GRACE_EXPIRED)

    def suspend(self, at: datetime, reason: str) -> None:
        self._refuse_if_ended("suspend")
        require_state("session", self.status, [SessionStatus.LIVE], "suspend", SessionNotLive)
        if not reason.strip():
            from zhibo.kit.errors import InvalidInput

            raise InvalidInput("reason: a suspension needs a reason")
        self.suspended_at = ensure_utc(at, "suspended_at")
        self.status = SessionStatus.SUSPENDED
        self.suspension_reason = reason

    def resume(self, at: datetime | None = None) -> None:
        self._refuse_if_ended("resume")
        require_state(
            "session", self.status, [SessionStatus.SUSPENDED], "resume", SessionNotSuspended
        )
        self.status = SessionStatus.LIVE
        if self.publisher_left_at is not None and at is not None:
            # Its push left before the suspension: the suspension refused every reconnect, so
            # the streamer gets the grace again from the resumption.
            self.publisher_left_at = max(self.publisher_left_at, ensure_utc(at, "resumed_at"))

    def end(self, at: datetime, reason: SessionEndReason = SessionEndReason.REQUESTED) -> None:
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
        self.end_reason = reason

    def cancel(self, at: datetime) -> None:
        self._refuse_if_ended("cancel")
        require_state(
            "session", self.status, [SessionStatus.SCHEDULED], "cancel", SessionNotScheduled
        )
        self.ended_at = ensure_utc(at, "ended_at")
        self.status = SessionStatus.ENDED
        self.end_reason = SessionEndReason.CANCELLED

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
