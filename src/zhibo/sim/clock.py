"""Simulated time: integer milliseconds since the Unix epoch, UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
YEAR_MS = 365 * DAY_MS
#: China Standard Time is UTC+8; schedules are chosen in local time.
CST_OFFSET_MS = 8 * HOUR_MS


def midnight_ms(day: date) -> int:
    """Milliseconds at 00:00 UTC of ``day``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def iso(ms: int) -> str:
    """ISO 8601 UTC text of a millisecond timestamp (for label details)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_to_days(ms: int) -> int:
    """Days since the epoch (for date32 columns) of a millisecond timestamp."""
    return ms // DAY_MS
