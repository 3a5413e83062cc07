"""The ecosystem goals on data built here: who counts exactly at each threshold, the trend
day, the projection, the definitions' versions, and who may read and change them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.goals import service, store
from zhibo.goals.schemas import GoalDefinitions, GoalKey, GoalProgress, GoalsOut, GoalVersion
from zhibo.models import LiveSession, Order, PayoutBatch, Role, SettlementRun, Streamer
from zhibo.models.session import SessionStatus
from zhibo.models.settlement import PayeeKind, RunStatus

#: 2026-11-01 20:00 in Shanghai: day 304 of 2026 (0-based).
AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
THRESHOLD = 1_000_000
DEFINITIONS = GoalDefinitions(
    year=2026,
    room_sales_threshold_fen=THRESHOLD,
    partner_sales_threshold_fen=THRESHOLD,
    streamer_min_sessions=2,
    streamer_paid_by="commission",
    run_rate_days=10,
)


def _sale(db: Session, live: LiveSession, amount_fen: int, paid_at: datetime = AT) -> Order:
    row = b.order(db, session_row=live, product_row=b.product(db, price_fen=amount_fen))
    row.paid_at = paid_at
    db.flush()
    return row


def _goal(out: GoalsOut, key: GoalKey) -> GoalProgress:
    return next(goal for goal in out.goals if goal.key == key)


def test_rooms_and_partners_count_from_exactly_the_threshold_net_of_refunds(db: Session) -> None:
    agency = b.partner(db, name="agency")
    exactly = b.live_session(
        db, room_row=b.room(db, streamer_row=b.streamer(db, partner_row=agency))
    )
    _sale(db, exactly, THRESHOLD - 400, AT - timedelta(days=30))
    _sale(db, exactly, 400)
    short = b.live_session(db)
    _sale(db, short, THRESHOLD - 1)
    refunded = b.live_session(db)
    _sale(db, refunded, THRESHOLD).refund(1, AT)
    last_year = b.live_session(db)
    _sale(db, last_year, 5 * THRESHOLD, datetime(2025, 12, 31, 15, 59, tzinfo=UTC))  # 23:59 CST
    db.flush()

    out = service.compute(db, DEFINITIONS, at=AT)
    rooms = _goal(out, GoalKey.ROOMS)
    assert rooms.count == 1 and [m.id for m in rooms.members] == [exactly.room_id]
    assert rooms.members[0].value == THRESHOLD
    assert rooms.members[0].counted_on == date(2026, 11, 1)  # crossed with the second sale
    assert {m.id for m in rooms.candidates} == {short.room_id, refunded.room_id}
    assert rooms.progress_bp == 10_000 // 2_000
    # The trend starts on the local New Year's day and steps up on the crossing day.
    assert rooms.trend[0].day == date(2026, 1, 1) and rooms.trend[0].count == 0
    assert rooms.trend[-1].day == date(2026, 11, 1) and rooms.trend[-1].count == 1
    assert rooms.trend[-2].count == 0

    partners = _goal(out, GoalKey.PARTNERS)
    assert partners.count == 1 and partners.members[0].name == "agency"


def test_projection_adds_each_rooms_recent_pace_for_the_days_left(db: Session) -> None:
    # 10,000 fen in the 10-day window; 60 days left in 2026 after 1 November (local).
    steady = b.live_session(db)
    _sale(db, steady, THRESHOLD - 60_000)
    slow = b.live_session(db)
    _sale(db, slow, THRESHOLD - 60_001 * 6)  # needs more than it will sell
    _sale(db, slow, 10_000)
    db.flush()
    out = service.compute(db, DEFINITIONS, at=AT)
    rooms = _goal(out, GoalKey.ROOMS)
    assert rooms.count == 0
    # steady: (THRESHOLD - 60,000) fen now + (THRESHOLD - 60,000) * 60 / 10 later: crosses.
    # slow: its window holds both its sales too, so it projects as well; a room idle in the
    # window would not.
    idle = b.live_session(db)
    _sale(db, idle, THRESHOLD - 1, AT - timedelta(days=20))
    db.flush()
    out = service.compute(db, DEFINITIONS, at=AT)
    assert _goal(out, GoalKey.ROOMS).projected == 2


def test_paid_professional_streamers_follow_the_definitions(db: Session) -> None:
    def streamer_with(sessions: int, *, verified: bool, sells: bool) -> Streamer:
        person = b.streamer(db, verified_at=AT - timedelta(days=400) if verified else None)
        room = b.room(db, streamer_row=person)
        for _ in range(sessions):
            live = b.live_session(db, room_row=room, status=SessionStatus.ENDED)
            live.started_at = live.ended_at = AT - timedelta(days=3)
        if sells:
            _sale(db, live, 100)
        db.flush()
        return person

    counts = streamer_with(2, verified=True, sells=True)
    unverified = streamer_with(2, verified=False, sells=True)
    one_session = streamer_with(1, verified=True, sells=True)
    streamer_with(3, verified=True, sells=False)  # never paid: not even a candidate

    streamers = _goal(service.compute(db, DEFINITIONS, at=AT), GoalKey.STREAMERS)
    assert streamers.count == 1 and streamers.members[0].id == counts.id
    assert streamers.members[0].value == 2
    assert streamers.members[0].counted_on == date(2026, 11, 1)  # its first sale
    assert {m.id for m in streamers.candidates} == {unverified.id, one_session.id}
    # 1 newcomer in the 10-day window, 60 days left: 1 + 1 * 60 // 10.
    assert streamers.projected == 7

    lenient = DEFINITIONS.model_copy(update={"streamer_must_be_verified": False})
    assert _goal(service.compute(db, lenient, at=AT), GoalKey.STREAMERS).count == 2

    # "Paid" by payout: nobody has had a payout yet, then one payout of more than 0 fen.
    by_payout = DEFINITIONS.model_copy(update={"streamer_paid_by": "payout"})
    assert _goal(service.compute(db, by_payout, at=AT), GoalKey.STREAMERS).count == 0
    run = SettlementRun(
        as_of=date(2026, 10, 20),
        policy_name="p",
        policy_version=1,
        policy_digest="d",
        policy_document="{}",
        status=RunStatus.COMPLETED,
        started_at=AT,
    )
    db.add(run)
    db.flush()
    for payee, paid in ((counts.id, 1), (unverified.id, 0)):
        db.add(
            PayoutBatch(
                run_id=run.id,
                payee_kind=PayeeKind.STREAMER,
                payee_id=payee,
                as_of=date(2026, 10, 20),
                paid_fen=paid,
                entry_key=f"payout-{payee}",
                created_at=AT,
            )
        )
    db.flush()
    paid = _goal(service.compute(db, by_payout, at=AT), GoalKey.STREAMERS)
    assert [m.id for m in paid.members] == [counts.id]
    assert paid.members[0].counted_on == date(2026, 10, 29)  # its second session


def test_new_brands_are_those_whose_first_sale_falls_in_the_year(db: Session) -> None:
    live = b.live_session(db)
    new = b.brand(db, name="new")
    old = b.brand(db, name="old")
    b.brand(db, name="never sold")
    for brand, paid_at in (
        (new, datetime(2025, 12, 31, 16, 0, tzinfo=UTC)),  # 00:00 on 1 January in Shanghai
        (old, datetime(2025, 12, 31, 15, 59, tzinfo=UTC)),
        (old, AT),
    ):
        row = b.order(db, session_row=live, product_row=b.product(db, brand_row=brand))
        row.paid_at = paid_at
    db.flush()
    brands = _goal(service.compute(db, DEFINITIONS, at=AT), GoalKey.BRANDS)
    assert [m.name for m in brands.members] == ["new"]
    assert brands.members[0].counted_on == date(2026, 1, 1)
    assert brands.trend[0].count == 1
    # No newcomer in the last 10 days: the projection is the count.
    assert brands.projected == 1
    # In 2025's goals the old brand is the new one (first sale 23:59 on 31 December, local).
    year_2025 = DEFINITIONS.model_copy(update={"year": 2025})
    earlier = service.compute(db, year_2025, at=AT)
    assert earlier.year == 2025 and earlier.as_of < datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
    assert [m.name for m in _goal(earlier, GoalKey.BRANDS).members] == ["old"]


def test_definitions_are_versioned_with_who_when_and_old_values(db: Session) -> None:
    assert store.current(db).version == 0
    assert store.current(db).definitions.rooms_target == 2_000
    changed = store.save(db, DEFINITIONS, "operator#7", "pilot year")
    assert changed.version == 1 and changed.changed_by == "operator#7"
    assert "rooms_target" not in changed.changes  # unchanged fields are not listed
    assert (changed.changes["year"].old, changed.changes["year"].new) == (None, 2026)
    assert store.save(db, DEFINITIONS, "operator#7").changes == {}
    raised = DEFINITIONS.model_copy(update={"rooms_target": 2_500, "streamer_paid_by": "payout"})
    third = store.save(db, raised, "operator#8:alice", "raised")
    assert {name: (c.old, c.new) for name, c in third.changes.items()} == {
        "rooms_target": (2_000, 2_500),
        "streamer_paid_by": ("commission", "payout"),
    }
    db.commit()
    history = store.history(db)
    assert [v.version for v in history] == [0, 1, 2, 3]
    assert history[1].definitions == DEFINITIONS and history[1].reason == "pilot year"
    assert history[1].changes["streamer_min_sessions"].old == 10
    assert history[1].changes["streamer_min_sessions"].new == 2
    assert history[3].changed_by == "operator#8:alice" and history[3].changes == third.changes
    assert store.current(db).definitions.rooms_target == 2_500


def test_an_old_json_document_is_imported_once(db: Session, tmp_path: Path) -> None:
    legacy = tmp_path / "goals" / "definitions.json"
    legacy.parent.mkdir()
    versions = [
        store.default_version(),
        GoalVersion(
            version=1,
            definitions=DEFINITIONS,
            changed_by="operator#3",
            changed_at=AT,
            reason="from the file",
        ),
    ]
    document = {"versions": [version.model_dump(mode="json") for version in versions]}
    legacy.write_text(json.dumps(document), "utf-8")
    assert store.current(db, tmp_path).version == 1
    history = store.history(db, tmp_path)
    assert [(v.version, v.changed_by, v.changed_at) for v in history[1:]] == [(1, "operator#3", AT)]
    assert history[1].changes["run_rate_days"].old == 28
    assert store.import_legacy(db, tmp_path) == 0  # once: the table has it now
    changed = store.save(db, GoalDefinitions(), "operator#4", data_dir=tmp_path)
    assert changed.version == 2 and changed.changes["run_rate_days"].new == 28
    db.commit()
    assert [v.version for v in store.history(db, tmp_path)] == [0, 1, 2]
    legacy.write_text("{not json", "utf-8")  # nothing is read from it again
    assert store.current(db, tmp_path).version == 2


def test_a_broken_json_document_is_refused_not_half_imported(db: Session, tmp_path: Path) -> None:
    legacy = tmp_path / "goals" / "definitions.json"
    legacy.parent.mkdir()
    legacy.write_text('{"versions": [{"version": 1}]}', "utf-8")
    with pytest.raises(store.GoalDocumentInvalid):
        store.current(db, tmp_path)
    assert store.current(db).version == 0


def test_goals_api_is_for_global_readers_and_operators_change_it(
    client: TestClient, db: Session
) -> None:
    person = b.streamer(db)
    operator = b.token(db, Role.OPERATOR)
    auditor = b.token(db, Role.AUDITOR)
    streamer = b.token(db, Role.STREAMER, person.id)
    db.commit()

    got = client.get("/v1/goals", headers=auditor, params={"at": "2026-11-01T12:00:00Z"})
    assert got.status_code == 200, got.text
    body = got.json()
    assert [goal["key"] for goal in body["goals"]] == ["rooms", "partners", "streamers", "brands"]
    assert [goal["target"] for goal in body["goals"]] == [2_000, 200, 1_000_000, 1_000]
    assert body["definitions_version"] == 0
    assert client.get("/v1/goals", headers=streamer).status_code == 403

    change = {"definitions": {"rooms_target": 2_500}, "reason": "raised"}
    assert client.put("/v1/goals/definitions", json=change, headers=auditor).status_code == 403
    bad = {"definitions": {"timezone": "Mars/Olympus"}}
    refused = client.put("/v1/goals/definitions", json=bad, headers=operator)
    assert refused.status_code == 422 and "timezone" in refused.text
    put = client.put("/v1/goals/definitions", json=change, headers=operator)
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 1 and put.json()["changed_by"].startswith("operator#")
    after = client.get("/v1/goals", headers=operator).json()
    assert after["definitions_version"] == 1 and after["goals"][0]["target"] == 2_500
    versions = client.get("/v1/goals/definitions", headers=auditor).json()
    assert [v["version"] for v in versions] == [0, 1]
    assert versions[1]["changes"] == {"rooms_target": {"old": 2_000, "new": 2_500}}


@pytest.mark.parametrize("target", [0, -1])
def test_targets_must_be_positive(target: int) -> None:
    with pytest.raises(ValueError):
        GoalDefinitions(rooms_target=target)
