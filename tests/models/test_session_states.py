"""The session state machine, without a database."""

from datetime import UTC, datetime, timedelta

import pytest

from zhibo.kit.errors import InvalidInput
from zhibo.models import LiveSession, SessionStatus
from zhibo.models.session import (
    SessionAlreadyEnded,
    SessionNotLive,
    SessionNotScheduled,
    SessionNotSuspended,
)

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def scheduled() -> LiveSession:
    return LiveSession(
        room_id=1, streamer_id=1, title="t", status=SessionStatus.SCHEDULED, scheduled_start_at=T0
    )


def test_happy_path_scheduled_live_suspended_live_ended() -> None:
    session = scheduled()
    session.start(T0)
    assert session.status == SessionStatus.LIVE and session.started_at == T0
    session.suspend(T0 + timedelta(minutes=5), "banned term in title")
    assert session.status == SessionStatus.SUSPENDED
    assert session.suspension_reason == "banned term in title"
    session.resume()
    assert session.status == SessionStatus.LIVE
    session.end(T0 + timedelta(hours=1))
    assert session.status == SessionStatus.ENDED


def test_a_suspended_session_can_end() -> None:
    session = scheduled()
    session.start(T0)
    session.suspend(T0, "risk")
    session.end(T0 + timedelta(minutes=1))
    assert session.status == SessionStatus.ENDED


@pytest.mark.parametrize(
    ("setup", "action", "error"),
    [
        ([], lambda s: s.end(T0), SessionNotLive),
        ([], lambda s: s.suspend(T0, "x"), SessionNotLive),
        ([], lambda s: s.resume(), SessionNotSuspended),
        (["start"], lambda s: s.start(T0), SessionNotScheduled),
        (["start"], lambda s: s.resume(), SessionNotSuspended),
        (["start", "end"], lambda s: s.start(T0), SessionNotScheduled),
        (["start", "end"], lambda s: s.end(T0), SessionAlreadyEnded),
        (["start", "end"], lambda s: s.suspend(T0, "x"), SessionAlreadyEnded),
        (["start", "end"], lambda s: s.resume(), SessionAlreadyEnded),
    ],
)
def test_illegal_moves_raise_named_errors(setup: list[str], action, error) -> None:  # type: ignore[no-untyped-def]
    session = scheduled()
    for step in setup:
        session.start(T0) if step == "start" else session.end(T0)
    before = session.status
    with pytest.raises(error) as raised:
        action(session)
    assert session.status == before
    assert raised.value.status_code == 409


def test_naive_times_and_empty_reasons_are_refused() -> None:
    session = scheduled()
    with pytest.raises(InvalidInput, match="timezone"):
        session.start(datetime(2026, 11, 1, 12))
    session.start(T0)
    with pytest.raises(InvalidInput, match="reason"):
        session.suspend(T0, "  ")
    with pytest.raises(InvalidInput, match="before the session started"):
        session.end(T0 - timedelta(seconds=1))


def test_cancel_a_scheduled_session() -> None:
    session = scheduled()
    session.cancel(T0)
    assert session.status == SessionStatus.ENDED
    with pytest.raises(SessionAlreadyEnded):
        session.cancel(T0)
