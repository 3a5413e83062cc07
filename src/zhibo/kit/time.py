"""Time is timezone-aware UTC everywhere; naive datetimes are refused at the edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, time


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_utc(value: datetime, field: str = "time") -> datetime:
    """Return ``value`` in UTC; refuse a naive datetime, whose zone would be a guess."""
    from zhibo.kit.errors import InvalidInput

    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field}: timezone-aware time required (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
