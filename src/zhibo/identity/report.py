"""The regulator report (``zhibo report``): for a date range, CSV files and one readable HTML
page with the identity and tax information of streamers and operators (masked), sanctions and
blacklist entries, the risk measures taken, complaints and their handling time, and patrol
coverage (reviewers on patrol shifts per online room against the 1:50 rule, per day and per
hour).

Tables other domains own (risk measures, complaints) are read as they exist, column by column,
so the report follows their schema as it grows; missing ones give an empty section that says so.
"""

from __future__ import annotations

import csv
import html
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, or_, select
from sqlalchemy.orm import Session

from zhibo.config import get_settings
from zhibo.kit.db import Base
from zhibo.kit.files import open_for_writing
from zhibo.kit.hashing import mask
from zhibo.kit.spreadsheet import safe_cell
from zhibo.models import LiveSession, Order, Partner, Streamer
from zhibo.models.identity import BlacklistEntry, Tip, TipStatus

#: Words of column names never exported, whatever table they appear in.
_PERSONAL = {"hash", "cipher", "phone", "ip", "device", "token", "number"}


def _personal(column: str) -> bool:
    return bool(_PERSONAL & set(column.lower().split("_")))


@dataclass
class Section:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def _identities(db: Session, start: datetime, end: datetime) -> Section:
    section = Section(
        "identities",
        "Identity and tax information of streamers and operators",
        [
            "kind",
            "id",
            "name",
            "real_name",
            "id_or_credit_code",
            "phone",
            "birth_date",
            "status",
            "virtual_host",
            "verified_at",
            "partner_id",
            "gmv_fen",
            "refunded_fen",
            "tips_credited_fen",
        ],
        note="Masked as everywhere. Income figures (for tax reporting) cover the period: "
        "order amounts and refunds by paid date, tips by credit date.",
    )
    gmv = dict(
        db.execute(
            select(Order.streamer_id, func.sum(Order.amount_fen))
            .where(Order.paid_at >= start, Order.paid_at < end)
            .group_by(Order.streamer_id)
        ).all()
    )
    refunded = dict(
        db.execute(
            select(Order.streamer_id, func.sum(Order.refunded_fen))
            .where(Order.paid_at >= start, Order.paid_at < end)
            .group_by(Order.streamer_id)
        ).all()
    )
    tips = dict(
        db.execute(
            select(Tip.streamer_id, func.sum(Tip.amount_fen))
            .where(
                Tip.status == TipStatus.CREDITED, Tip.credited_at >= start, Tip.credited_at < end
            )
            .group_by(Tip.streamer_id)
        ).all()
    )
    for s in db.scalars(select(Streamer).order_by(Streamer.id)):
        section.rows.append(
            [
                "streamer",
                s.id,
                s.display_name,
                s.real_name_masked or "",
                s.id_number_masked or "",
                s.phone_masked or "",
                s.birth_date or "",
                s.status,
                s.is_virtual,
                s.verified_at or "",
                s.partner_id or "",
                int(gmv.get(s.id) or 0),
                int(refunded.get(s.id) or 0),
                int(tips.get(s.id) or 0),
            ]
        )
    for p in db.scalars(select(Partner).order_by(Partner.id)):
        code = mask(p.social_credit_code) if p.social_credit_code else ""
        section.rows.append(
            [
                f"operator ({p.kind})",
                p.id,
                p.name,
                "",
                code,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    return section


def _table(name: str) -> Table | None:
    return Base.metadata.tables.get(name)


def _generic(
    db: Session,
    name: str,
    title: str,
    table_name: str,
    time_column: str,
    start: datetime,
    end: datetime,
    extra: Any = None,
) -> Section:
    table = _table(table_name)
    if table is None or time_column not in table.c:
        return Section(name, title, [], note=f"no {table_name} table in this deployment")
    # Whole words of the column name (``device_id``, ``phone_hash``), not substrings: a
    # ``description`` column is not an IP address.
    columns = [c.name for c in table.columns if not _personal(c.name)]
    query = select(*[table.c[c] for c in columns]).where(
        table.c[time_column] >= start, table.c[time_column] < end
    )
    if extra is not None:
        query = query.where(extra(table))
    rows = [list(row) for row in db.execute(query.order_by(table.c[time_column]))]
    return Section(name, title, columns, rows)


def _sanctions(db: Session, start: datetime, end: datetime) -> list[Section]:
    violations = _generic(
        db, "sanctions", "Sanctions: confirmed violations", "violations", "occurred_at", start, end
    )
    suspended = Section(
        "suspensions",
        "Sessions suspended by the platform",
        ["session_id", "room_id", "streamer_id", "suspended_at", "reason", "status"],
    )
    for row in db.scalars(
        select(LiveSession)
        .where(LiveSession.suspended_at >= start, LiveSession.suspended_at < end)
        .order_by(LiveSession.suspended_at)
    ):
        suspended.rows.append(
            [
                row.id,
                row.room_id,
                row.streamer_id,
                row.suspended_at,
                row.suspension_reason,
                row.status,
            ]
        )
    return [violations, suspended]


def _blacklist(db: Session, start: datetime, end: datetime) -> Section:
    section = Section(
        "blacklist",
        "Blacklist entries in force during the period",
        [
            "id",
            "id_number",
            "phone",
            "streamer_id",
            "facts",
            "reasons",
            "legal_basis",
            "appeal_channel",
            "listed_at",
            "expires_at",
            "status",
            "lifted_at",
            "lift_reason",
        ],
    )
    for e in db.scalars(
        select(BlacklistEntry)
        .where(
            BlacklistEntry.listed_at < end,
            or_(BlacklistEntry.expires_at.is_(None), BlacklistEntry.expires_at >= start),
            or_(BlacklistEntry.lifted_at.is_(None), BlacklistEntry.lifted_at >= start),
        )
        .order_by(BlacklistEntry.id)
    ):
        section.rows.append(
            [
                e.id,
                e.id_number_masked or "",
                e.phone_masked or "",
                e.streamer_id or "",
                e.facts,
                e.reasons,
                e.legal_basis,
                e.appeal_channel,
                e.listed_at,
                e.expires_at or "",
                e.status,
                e.lifted_at or "",
                e.lift_reason or "",
            ]
        )
    return section


_HANDLED = ("handled_at", "resolved_at", "responded_at", "closed_at")


def _complaints(db: Session, start: datetime, end: datetime) -> Section:
    section = _generic(
        db,
        "complaints",
        "Complaints and their handling time",
        "complaints",
        "received_at",
        start,
        end,
    )
    if not section.columns:
        return section
    handled = next((c for c in _HANDLED if c in section.columns), None)
    received = section.columns.index("received_at")
    section.columns.append("handling_hours")
    for row in section.rows:
        value = row[section.columns.index(handled)] if handled else None
        row.append(
            round((value - row[received]).total_seconds() / 3600, 1)
            if isinstance(value, datetime)
            else ""
        )
    if handled is None:
        section.note = "the complaints table records no handling time yet (no handled_at)"
        return section
    hours = [row[-1] for row in section.rows if row[-1] != ""]
    waiting = len(section.rows) - len(hours)
    section.note = (
        f"Median handling time {statistics.median(hours):.1f} hours over {len(hours)} decided "
        f"complaints; {waiting} not decided yet."
        if hours
        else f"No complaint received in the period has been decided yet ({waiting} open)."
    )
    # The feedback deadline (grading.complaints): open ones past it now, decided ones after it.
    limit = get_settings().complaint_deadline_hours
    now = datetime.now(UTC)
    overdue = sum(
        1
        for row in section.rows
        if row[-1] == ""
        and isinstance(row[received], datetime)
        and (now - row[received]).total_seconds() > limit * 3600
    )
    late = sum(1 for value in hours if value > limit)
    section.note += (
        f" Feedback deadline {limit} hours: {overdue} open past it as of "
        f"{now.isoformat(timespec='minutes')}; {late} decided after it."
    )
    return section


def _patrol_hours(db: Session, start_day: date, end_day: date) -> list[Any]:
    from zhibo.identity.patrol import coverage

    start, end = _day_bounds(start_day, end_day)
    hours: list[Any] = []
    while start < end:  # coverage() takes at most 31 days at a time
        stop = min(end, start + timedelta(days=31))
        hours += coverage(db, start, stop)
        start = stop
    return hours


def _patrol(db: Session, start_day: date, end_day: date, hours: list[Any] | None = None) -> Section:
    """Per day, from the hourly coverage of reviewers' shifts (``identity.patrol``)."""
    per = get_settings().patrol_rooms_per_reviewer
    section = Section(
        "patrol",
        f"Patrol coverage: reviewers per online room (at least 1 per {per})",
        [
            "date",
            "peak_online_rooms",
            "reviewers",
            "reviewers_required",
            "meets_rule",
            "hours_short",
            "key_rooms_peak",
        ],
        note="Reviewers: compliance principals on patrol shifts (zhibo patrol shift, "
        "POST /v1/patrol/shifts). Per UTC hour, the reviewers whose shifts overlap it against "
        "the rooms with a live or suspended session in it, key rooms first (see "
        "patrol_hourly). Per day: the peak of online rooms, the fewest reviewers on duty in an "
        "hour with rooms online, the reviewers the peak requires, and whether every hour met "
        "the rule (hours_short: hours that did not).",
    )
    by_day: dict[date, list[Any]] = defaultdict(list)
    for row in hours if hours is not None else _patrol_hours(db, start_day, end_day):
        by_day[row.hour.date()].append(row)
    day = start_day
    while day <= end_day:
        rows = by_day.get(day, [])
        peak = max((r.online_rooms for r in rows), default=0)
        busy = [r.reviewers for r in rows if r.online_rooms]
        reviewers = min(busy) if busy else max((r.reviewers for r in rows), default=0)
        short = sum(1 for r in rows if not r.meets_rule)
        section.rows.append(
            [
                day,
                peak,
                reviewers,
                math.ceil(peak / per),
                short == 0,
                short,
                max((r.key_rooms for r in rows), default=0),
            ]
        )
        day += timedelta(days=1)
    return section


def _patrol_hourly(hours: list[Any]) -> Section:
    per = get_settings().patrol_rooms_per_reviewer
    section = Section(
        "patrol_hourly",
        f"Patrol coverage by hour (1 reviewer per {per} online rooms, key rooms first)",
        [
            "hour",
            "online_rooms",
            "key_rooms",
            "reviewers",
            "reviewers_required",
            "meets_rule",
            "key_rooms_uncovered",
            "rooms_uncovered",
        ],
        note="Hours with neither rooms online nor reviewers on duty are left out.",
    )
    for r in hours:
        if r.online_rooms or r.reviewers:
            section.rows.append(
                [
                    r.hour,
                    r.online_rooms,
                    r.key_rooms,
                    r.reviewers,
                    r.reviewers_required,
                    r.meets_rule,
                    r.key_rooms_uncovered,
                    r.rooms_uncovered,
                ]
            )
    return section


def build(db: Session, start_day: date, end_day: date) -> list[Section]:
    start, end = _day_bounds(start_day, end_day)
    hours = _patrol_hours(db, start_day, end_day)
    return [
        _identities(db, start, end),
        *_sanctions(db, start, end),
        _blacklist(db, start, end),
        _generic(
            db, "risk_measures", "Risk measures taken", "risk_measures", "starts_at", start, end
        ),
        _complaints(db, start, end),
        _patrol(db, start_day, end_day, hours),
        _patrol_hourly(hours),
    ]


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else safe_cell(str(value))  # opened in spreadsheets


def write(sections: list[Section], out: Path, start_day: date, end_day: date) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for section in sections:
        path = out / f"{section.name}.csv"
        with open_for_writing(path, "--out") as handle:
            writer = csv.writer(handle)
            writer.writerow(section.columns)
            writer.writerows([[_cell(v) for v in row] for row in section.rows])
        files[section.name] = path
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>zhibo regulator report {start_day} – {end_day}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}"
        "th{background:#f3f3f3}.note{color:#555}</style></head><body>",
        f"<h1>Regulator report, {start_day} to {end_day} (UTC)</h1>",
        f"<p class='note'>Generated {datetime.now(UTC).isoformat(timespec='seconds')}. "
        "Personal data is masked.</p><ul>",
    ]
    for section in sections:
        parts.append(
            f"<li><a href='#{section.name}'>{html.escape(section.title)}</a> "
            f"({len(section.rows)} rows, <a href='{section.name}.csv'>CSV</a>)</li>"
        )
    parts.append("</ul>")
    for section in sections:
        parts.append(f"<h2 id='{section.name}'>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f"<p class='note'>{html.escape(section.note)}</p>")
        if not section.rows:
            parts.append("<p>None in this period.</p>")
            continue
        parts.append("<table><tr>")
        parts.extend(f"<th>{html.escape(c)}</th>" for c in section.columns)
        parts.append("</tr>")
        for row in section.rows:
            parts.append(
                "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    page = out / "report.html"
    with open_for_writing(page, "--out") as handle:
        handle.write("\n".join(parts))
    files["html"] = page
    return files
