"""Retention on a clock moved forward, legal holds, key rooms; the regulator report."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests import builders as b
from zhibo.events.lake import lake_root
from zhibo.events.schemas import EVENT_SCHEMA
from zhibo.identity import retention
from zhibo.identity.schemas import LegalHoldIn
from zhibo.models import MinuteMetrics
from zhibo.models.identity import RetentionRun

DAY0 = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
THREE_YEARS = timedelta(days=3 * 365 + 1)  # 2028 is a leap year


def _lake_file(data_dir: Path, hour: datetime, rows: list[tuple[int, int]], name: str) -> Path:
    folder = lake_root(data_dir) / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    folder.mkdir(parents=True, exist_ok=True)
    columns = {f.name: [None] * len(rows) for f in EVENT_SCHEMA}
    columns["event_id"] = [f"{name}-{i}" for i in range(len(rows))]
    columns["session_id"] = [s for s, _ in rows]
    columns["room_id"] = [r for _, r in rows]
    columns["user_id"] = [1] * len(rows)
    columns["type"] = ["like"] * len(rows)
    columns["ts"] = [hour] * len(rows)
    path = folder / f"{name}-p000-000000000001.parquet"
    pq.write_table(pa.table(columns, schema=EVENT_SCHEMA), path)
    return path


def test_clock_moved_forward_removes_exactly_what_expired(db: Session, tmp_path: Path) -> None:
    data = tmp_path / "lake-data"
    plain, key, held = b.room(db), b.room(db), b.room(db)
    key.is_key_room = True
    retention.place_hold(
        db, LegalHoldIn(room_id=held.id, reason="police case 7", placed_by="legal"), at=DAY0
    )
    mixed = _lake_file(data, DAY0, [(1, plain.id), (2, key.id), (3, held.id)], "w")
    only_plain = _lake_file(data, DAY0, [(1, plain.id)] * 4, "v")
    recent = _lake_file(data, DAY0 + timedelta(days=30), [(1, plain.id)], "u")
    minute = int(DAY0.timestamp() * 1000)
    for room in (plain, key, held):
        db.add(MinuteMetrics(session_id=room.id, minute_ms=minute, room_id=room.id))
    db.commit()

    # 60 days less an hour: nothing has expired yet.
    _, results = retention.run(db, data_dir=data, as_of=DAY0 + timedelta(days=60))
    assert sum(r.removed for r in results) == 0 and only_plain.exists()

    # Dry run one day later: counts, deletes nothing.
    later = DAY0 + timedelta(days=61)
    _, dry = retention.run(db, data_dir=data, as_of=later, dry_run=True)
    lake = next(r for r in dry if r.target == "lake_events")
    assert (lake.removed, lake.kept_on_hold, lake.kept_key_room) == (5, 1, 1)
    assert only_plain.exists() and pq.read_table(mixed).num_rows == 3

    run, results = retention.run(db, data_dir=data, as_of=later)
    db.commit()
    lake = next(r for r in results if r.target == "lake_events")
    assert (lake.files_deleted, lake.files_rewritten) == (1, 1)
    assert not only_plain.exists() and recent.exists()
    assert sorted(pq.read_table(mixed)["room_id"].to_pylist()) == sorted([key.id, held.id])
    metrics = db.scalars(select(MinuteMetrics.room_id)).all()
    assert sorted(metrics) == sorted([key.id, held.id])
    assert run.removed == 6 and json.loads(run.summary)

    # Three years on, the key room's content goes too; the held room's stays.
    retention.run(db, data_dir=data, as_of=DAY0 + THREE_YEARS + timedelta(hours=2))
    db.commit()
    assert pq.read_table(mixed)["room_id"].to_pylist() == [held.id]
    assert db.scalars(select(MinuteMetrics.room_id)).all() == [held.id]
    assert db.scalar(select(func.count()).select_from(RetentionRun)) == 4


def test_policies_below_the_legal_minimum_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    path.write_text(
        'version = "x"\n[[policies]]\ndata_class = "live_content"\nkeep_days = 30\n'
        'targets = ["lake_events"]\n'
    )
    try:
        retention.load_policies(path)
    except retention.InvalidRetentionPolicy as error:
        assert "60" in str(error.detail)
    else:  # pragma: no cover
        raise AssertionError("a 30-day policy was accepted")


def test_retention_and_report_commands(
    db: Session,
    tmp_path: Path,
    monkeypatch,
    engine,  # type: ignore[no-untyped-def]
) -> None:
    from zhibo.cli import app
    from zhibo.config import get_settings

    monkeypatch.setenv("ZHIBO_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    from tests.identity.conftest import make_id
    from zhibo.identity import blacklist
    from zhibo.identity.schemas import VerificationIn
    from zhibo.identity.service import verify_streamer

    number, phone = make_id("19900101", sequence="321"), "13612345678"
    streamer = b.streamer(db)
    streamer.birth_date = None
    verify_streamer(
        db,
        streamer.id,
        VerificationIn(id_number=number, phone=phone, attested_by="op", document_ref="d"),
        at=datetime(2026, 10, 30, tzinfo=UTC),
    )
    blacklist.add(
        db,
        id_number=make_id("19850101"),
        facts="f",
        reasons="fraud",
        legal_basis="art. 1",
        appeal_channel="appeals",
        listed_by="cmp",
        at=datetime(2026, 10, 31, tzinfo=UTC),
    )
    b.live_session(db, room_row=b.room(db, streamer_row=streamer), status="live")  # type: ignore[arg-type]
    db.commit()
    runner = CliRunner()
    result = runner.invoke(app, ["retention", "run", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dry_run"] is True
    out = tmp_path / "report"
    result = runner.invoke(
        app, ["report", "--from", "2026-10-30", "--to", "2026-11-02", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert number[:4] + "*" * 10 + number[-4:] in page and "Patrol coverage" in page
    assert "fraud" in (out / "blacklist.csv").read_text()
    for path in out.iterdir():
        text = path.read_text()
        assert number not in text and phone not in text and make_id("19850101") not in text
    patrol = (out / "patrol.csv").read_text().splitlines()
    assert patrol[0] == (
        "date,peak_online_rooms,reviewers,reviewers_required,meets_rule,hours_short,key_rooms_peak"
    )
    # No reviewer on shift: each hour with the room online (live from T0, noon) falls short.
    assert patrol[3] == f"{date(2026, 11, 1)},1,0,1,False,12,0"
    hourly = (out / "patrol_hourly.csv").read_text().splitlines()
    assert hourly[0].startswith("hour,online_rooms,key_rooms,reviewers,reviewers_required")
    assert "patrol_hourly" in page
    assert (out / "identities.csv").exists() and (out / "blacklist.csv").exists()


def test_transaction_records_kept_three_years_and_under_hold(db: Session, tmp_path: Path) -> None:
    from zhibo.identity.schemas import TipIn
    from zhibo.identity.tipping import credit_due, send_tip
    from zhibo.models.identity import Tip
    from zhibo.models.session import SessionStatus

    sessions = []
    for _ in range(2):
        streamer = b.streamer(db, level=5)
        sessions.append(
            b.live_session(
                db, room_row=b.room(db, streamer_row=streamer), status=SessionStatus.LIVE
            )
        )
    viewer = b.viewer(db)
    db.commit()
    for n, live in enumerate(sessions):
        send_tip(
            db,
            viewer.id,
            TipIn(session_id=live.id, gift_id=1, amount_fen=100, idempotency_key=f"t{n}"),
            at=DAY0,
        )
    credit_due(db, DAY0 + timedelta(days=5))
    retention.place_hold(
        db,
        LegalHoldIn(
            streamer_id=sessions[1].streamer_id,
            data_class="transactions",
            reason="tax audit",
            placed_by="legal",
        ),
        at=DAY0,
    )
    db.commit()
    # DAY0 + 3 * 365 days is a day short of three years (29 February 2028 lies between).
    _, results = retention.run(db, data_dir=tmp_path, as_of=DAY0 + THREE_YEARS)
    assert next(r for r in results if r.target == "tips").removed == 0
    later = DAY0 + THREE_YEARS + timedelta(seconds=1)
    _, results = retention.run(db, data_dir=tmp_path, as_of=later)
    tips = next(r for r in results if r.target == "tips")
    assert (tips.removed, tips.kept_on_hold) == (1, 1)
    assert db.scalars(select(Tip.session_id)).all() == [sessions[1].id]


def test_the_report_drops_personal_columns_by_whole_words() -> None:
    from zhibo.identity.report import _personal

    for column in ("ip_hash", "phone_cipher", "device_id", "id_number_hash", "token_id"):
        assert _personal(column), column
    for column in ("description", "shipping_fee_fen", "reason", "received_at"):
        assert not _personal(column), column
