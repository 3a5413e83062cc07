"""Complaints: filing (viewers about what they took part in, staff on someone's behalf), bad
references named, scoping per role, a decision taken once, rejected complaints left out of the
complaint rate, and the regulator report's handling hours."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import builders as b
from tests.grading.world import AS_OF, RECENT, sell
from tests.grading.world import build as build_world
from zhibo.config import get_settings
from zhibo.grading import complaints, service
from zhibo.grading.complaints import ComplaintDecision, ComplaintIn
from zhibo.grading.metrics import compute_metrics
from zhibo.grading.scoring_model import default_model
from zhibo.identity import report
from zhibo.kit.auth import Principal
from zhibo.models import LiveRoom, Order, Partner, Role, Streamer, Viewer
from zhibo.models.grading import Complaint, ComplaintStatus
from zhibo.models.session import SessionStatus

OPERATOR = Principal(role=Role.OPERATOR, token_id=1)
COMPLIANCE = Principal(role=Role.COMPLIANCE, token_id=2)


@dataclass
class Scene:
    partner: Partner
    streamer: Streamer
    sibling: Streamer
    stranger: Streamer
    room: LiveRoom
    sibling_room: LiveRoom
    buyer: Viewer
    onlooker: Viewer
    order: Order
    others_order: Order


def scene(db: Session) -> Scene:
    """Two streamers of one partner and one of another; ``buyer`` bought once in ``room``,
    ``onlooker`` bought nothing anywhere except one order of ``sibling``'s."""
    partner = b.partner(db)
    streamer, sibling = b.streamer(db, partner_row=partner), b.streamer(db, partner_row=partner)
    stranger = b.streamer(db, partner_row=b.partner(db))
    room, sibling_room = b.room(db, streamer_row=streamer), b.room(db, streamer_row=sibling)
    live = b.live_session(db, room_row=room, status=SessionStatus.LIVE)
    sibling_live = b.live_session(db, room_row=sibling_room, status=SessionStatus.LIVE)
    product = b.product(db)
    buyer, onlooker = b.viewer(db), b.viewer(db)
    order = b.order(db, session_row=live, product_row=product, buyer=buyer)
    others_order = b.order(db, session_row=sibling_live, product_row=product, buyer=onlooker)
    return Scene(
        partner,
        streamer,
        sibling,
        stranger,
        room,
        sibling_room,
        buyer,
        onlooker,
        order,
        others_order,
    )


def viewer(row: Viewer) -> Principal:
    return Principal(role=Role.VIEWER, subject_id=row.id, token_id=10 + row.id)


def file(db: Session, who: Principal, **fields: Any) -> Complaint:
    return complaints.file_complaint(db, who, ComplaintIn(reason="fake goods", **fields))


def test_a_viewer_files_about_its_order_room_and_streamer(client: TestClient, db: Session) -> None:
    s = scene(db)
    headers = b.token(db, Role.VIEWER, s.buyer.id)
    db.commit()

    about_order = client.post(
        "/v1/complaints", json={"order_id": s.order.id, "reason": "不是正品"}, headers=headers
    )
    assert about_order.status_code == 201, about_order.text
    body = about_order.json()
    assert (body["streamer_id"], body["room_id"], body["order_id"]) == (
        s.streamer.id,
        s.room.id,
        s.order.id,
    )
    assert (body["complainant_kind"], body["complainant_id"]) == ("buyer", s.buyer.id)
    assert body["status"] == "open" and body["handled_at"] is None

    about_room = client.post(
        "/v1/complaints", json={"room_id": s.room.id, "reason": "rude"}, headers=headers
    )
    assert about_room.status_code == 201, about_room.text
    assert about_room.json()["complainant_kind"] == "viewer"
    assert about_room.json()["streamer_id"] == s.streamer.id
    about_streamer = client.post(
        "/v1/complaints", json={"streamer_id": s.streamer.id, "reason": "lies"}, headers=headers
    )
    assert about_streamer.status_code == 201, about_streamer.text
    assert db.scalar(select(func.count()).select_from(Complaint)) == 3


def test_staff_file_on_someones_behalf(db: Session) -> None:
    s = scene(db)
    brand = b.brand(db)
    by_brand = file(
        db, OPERATOR, streamer_id=s.stranger.id, complainant_kind="brand", complainant_id=brand.id
    )
    assert (by_brand.complainant_kind, by_brand.complainant_id) == ("brand", brand.id)
    referral = file(db, COMPLIANCE, room_id=s.room.id, complainant_kind="other")
    assert referral.complainant_id is None and referral.streamer_id == s.streamer.id
    for_buyer = file(
        db, OPERATOR, order_id=s.order.id, complainant_kind="buyer", complainant_id=s.buyer.id
    )
    assert for_buyer.streamer_id == s.streamer.id and for_buyer.status == ComplaintStatus.OPEN


BAD: list[tuple[str, str, dict[str, Any]]] = [
    ("nothing named", "streamer_id", {}),
    ("unknown order", "order_id", {"order_id": 10**9}),
    ("someone else's order", "order_id", {"order_id": "others_order"}),
    ("unknown room", "room_id", {"room_id": 10**9}),
    ("room never bought or tipped in", "room_id", {"room_id": "sibling_room"}),
    ("unknown streamer", "streamer_id", {"streamer_id": 10**9}),
    ("streamer never bought from", "streamer_id", {"streamer_id": "stranger"}),
    ("order and streamer disagree", "streamer_id", {"order_id": "order", "streamer_id": "sibling"}),
    ("order and room disagree", "room_id", {"order_id": "order", "room_id": "sibling_room"}),
    ("viewer names a complainant", "complainant_kind", {"streamer_id": "streamer", "k": "brand"}),
]


def test_a_viewers_bad_references_are_named_422s_and_nothing_is_written(
    client: TestClient, db: Session
) -> None:
    s = scene(db)
    headers = b.token(db, Role.VIEWER, s.buyer.id)
    db.commit()
    for case, field, body in BAD:
        payload: dict[str, Any] = {"reason": "bad"}
        for key, value in body.items():
            if key == "k":
                payload["complainant_kind"] = value
            else:
                payload[key] = getattr(s, value).id if isinstance(value, str) else value
        response = client.post("/v1/complaints", json=payload, headers=headers)
        assert response.status_code == 422, (case, response.text)
        assert response.json()["error"] == "InvalidInput", case
        assert response.json()["detail"].startswith(f"{field}:"), (case, response.json())
    assert db.scalar(select(func.count()).select_from(Complaint)) == 0


def test_staffs_bad_input_is_named(client: TestClient, db: Session) -> None:
    s = scene(db)
    headers = b.token(db, Role.OPERATOR)
    db.commit()

    def detail(payload: dict[str, Any]) -> Any:
        response = client.post("/v1/complaints", json={"reason": "x", **payload}, headers=headers)
        assert response.status_code == 422, response.text
        return response.json()["detail"]

    assert detail({"streamer_id": s.streamer.id}).startswith("complainant_kind:")
    assert detail({"streamer_id": s.streamer.id, "complainant_kind": "viewer"}).startswith(
        "complainant_id:"
    )
    missing_brand = {"streamer_id": s.streamer.id, "complainant_kind": "brand", "complainant_id": 7}
    assert detail(missing_brand).startswith("complainant_id: no brand")
    wrong_buyer = {"order_id": s.order.id, "complainant_kind": "buyer", "complainant_id": 0}
    wrong_buyer["complainant_id"] = s.onlooker.id
    assert detail(wrong_buyer).startswith("complainant_id:")
    # Schema errors name the field too (unknown fields are refused, reasons are required).
    fields = detail({"streamer_id": s.streamer.id, "reason": "", "severity": "high"})
    assert {item["field"] for item in fields} == {"body.reason", "body.severity"}
    # Ids beyond BIGINT are refused by the schema, not by the database (no 500).
    huge = detail({"order_id": 2**64, "complainant_kind": "other"})
    assert [item["field"] for item in huge] == ["body.order_id"]
    listing = client.get("/v1/complaints", params={"streamer_id": 2**64}, headers=headers)
    assert listing.status_code == 422
    assert db.scalar(select(func.count()).select_from(Complaint)) == 0


def test_each_role_sees_what_it_may_and_pages_with_a_cursor(
    client: TestClient, db: Session
) -> None:
    s = scene(db)
    mine = file(db, viewer(s.buyer), order_id=s.order.id)
    about_sibling = file(db, viewer(s.onlooker), order_id=s.others_order.id)
    about_stranger = file(db, OPERATOR, streamer_id=s.stranger.id, complainant_kind="other")
    complaints.decide(
        db, COMPLIANCE, mine.id, ComplaintDecision(outcome="resolved", resolution="ok")
    )
    tokens = {
        "operator": b.token(db, Role.OPERATOR),
        "auditor": b.token(db, Role.AUDITOR),
        "streamer": b.token(db, Role.STREAMER, s.streamer.id),
        "partner": b.token(db, Role.PARTNER, s.partner.id),
        "buyer": b.token(db, Role.VIEWER, s.buyer.id),
        "brand": b.token(db, Role.BRAND, b.brand(db).id),
    }
    db.commit()

    def listing(who: str, **params: Any) -> list[dict[str, Any]]:
        response = client.get("/v1/complaints", params=params, headers=tokens[who])
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    everyone = {mine.id, about_sibling.id, about_stranger.id}
    assert {c["id"] for c in listing("operator")} == everyone
    assert {c["id"] for c in listing("auditor")} == everyone
    assert [c["id"] for c in listing("operator", status="open")] == [
        about_sibling.id,
        about_stranger.id,
    ]
    assert [c["id"] for c in listing("operator", streamer_id=s.stranger.id)] == [about_stranger.id]
    assert listing("operator")[0]["complainant_id"] == s.buyer.id
    assert listing("operator")[0]["handled_by"] == "compliance#2"

    own = listing("streamer")
    assert [c["id"] for c in own] == [mine.id]
    assert own[0]["complainant_id"] is None and own[0]["handled_by"] is None
    assert own[0]["resolution"] == "ok" and own[0]["complainant_kind"] == "buyer"
    partner = listing("partner")
    assert [c["id"] for c in partner] == [mine.id, about_sibling.id]
    assert all(c["complainant_id"] is None for c in partner)
    buyer = listing("buyer")
    assert [(c["id"], c["complainant_id"]) for c in buyer] == [(mine.id, s.buyer.id)]
    assert client.get("/v1/complaints", headers=tokens["brand"]).status_code == 403

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/complaints", params=params, headers=tokens["operator"]).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(everyone)
    bad_cursor = client.get("/v1/complaints", params={"cursor": "nope"}, headers=tokens["operator"])
    assert bad_cursor.status_code == 422


def test_a_complaint_is_decided_once(client: TestClient, db: Session) -> None:
    s = scene(db)
    complaint = file(db, viewer(s.buyer), order_id=s.order.id)
    compliance = b.token(db, Role.COMPLIANCE)
    operator = b.token(db, Role.OPERATOR)
    streamer = b.token(db, Role.STREAMER, s.streamer.id)
    db.commit()
    url = f"/v1/complaints/{complaint.id}/resolve"

    assert (
        client.post(
            url, json={"outcome": "resolved", "resolution": "x"}, headers=streamer
        ).status_code
        == 403
    )
    not_an_outcome = client.post(url, json={"outcome": "open", "resolution": "x"}, headers=operator)
    assert not_an_outcome.status_code == 422
    assert not_an_outcome.json()["detail"][0]["field"] == "body.outcome"

    first = client.post(
        url, json={"outcome": "rejected", "resolution": "order was genuine"}, headers=compliance
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "rejected" and body["resolution"] == "order was genuine"
    assert body["handled_by"].startswith("compliance#") and body["handled_at"] is not None

    second = client.post(
        url, json={"outcome": "resolved", "resolution": "refund"}, headers=operator
    )
    assert second.status_code == 409 and second.json()["error"] == "ComplaintAlreadyDecided"
    db.expire_all()
    stored = db.get(Complaint, complaint.id)
    assert stored is not None
    assert (stored.status, stored.resolution) == (ComplaintStatus.REJECTED, "order was genuine")

    missing = client.post(
        "/v1/complaints/999999/resolve",
        json={"outcome": "resolved", "resolution": "x"},
        headers=operator,
    )
    assert missing.status_code == 404
    huge = client.post(
        f"/v1/complaints/{2**64}/resolve",
        json={"outcome": "resolved", "resolution": "x"},
        headers=operator,
    )
    assert huge.status_code == 422


def test_rejected_complaints_do_not_count_toward_the_complaint_rate(
    db: Session, tmp_path: Path
) -> None:
    world = build_world(db, [30_000, 30_000])
    target = world.streamers[0]
    order = sell(db, world, target, 5_000, buyer=world.buyers[1])
    staff = [
        file(
            db, OPERATOR, order_id=order.id, complainant_kind="buyer", complainant_id=order.buyer_id
        )
        for _ in range(3)
    ]
    for row in staff:
        row.received_at = RECENT

    def counted() -> tuple[int, int]:
        model = default_model()
        sources = service.load_sources(db, AS_OF, tmp_path / "lake", model)
        frame = compute_metrics(sources, AS_OF).streamers
        mine = frame.filter(frame["streamer_id"] == target.id).row(0, named=True)
        return mine["complaints_30d"], mine["complaint_rate_bp_30d"]

    db.flush()
    all_three, rate_all = counted()
    assert all_three == 3
    complaints.decide(
        db, COMPLIANCE, staff[0].id, ComplaintDecision(outcome="resolved", resolution="refunded")
    )
    complaints.decide(
        db, COMPLIANCE, staff[1].id, ComplaintDecision(outcome="rejected", resolution="baseless")
    )
    db.flush()
    two, rate_two = counted()
    assert two == 2 and rate_two < rate_all


def test_the_report_shows_handling_hours_and_their_median(db: Session, tmp_path: Path) -> None:
    s = scene(db)
    received = RECENT - timedelta(days=2)
    rows = [file(db, viewer(s.buyer), order_id=s.order.id) for _ in range(3)]
    for row in rows:
        row.received_at = received
    db.flush()
    for row, taken, outcome in ((rows[0], 2, "resolved"), (rows[1], 5, "rejected")):
        complaints.decide(
            db,
            COMPLIANCE,
            row.id,
            ComplaintDecision.model_validate({"outcome": outcome, "resolution": "done"}),
            at=received + timedelta(hours=taken),
        )
    db.commit()

    day = received.date()
    sections = report.build(db, day, day)
    files = report.write(sections, tmp_path / "report", day, day)
    with files["complaints"].open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    hours = {int(r["id"]): r["handling_hours"] for r in table}
    assert hours == {rows[0].id: "2.0", rows[1].id: "5.0", rows[2].id: ""}
    assert {r["status"] for r in table} == {"resolved", "rejected", "open"}
    section = next(x for x in sections if x.name == "complaints")
    assert "no handled_at" not in section.note
    assert "Median handling time 3.5 hours over 2 decided complaints; 1 not decided yet" in (
        section.note
    )
    assert "Median handling time 3.5 hours" in files["html"].read_text(encoding="utf-8")


def test_open_complaints_past_the_feedback_deadline_are_overdue(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = scene(db)
    now = datetime.now(UTC)
    late, fresh, decided = (file(db, viewer(s.buyer), order_id=s.order.id) for _ in range(3))
    late.received_at = now - timedelta(hours=72, minutes=1)
    fresh.received_at = now - timedelta(hours=71, minutes=59)
    decided.received_at = now - timedelta(hours=100)
    db.flush()
    complaints.decide(
        db,
        COMPLIANCE,
        decided.id,
        ComplaintDecision(outcome="resolved", resolution="refunded"),
        at=now - timedelta(hours=10),  # 90 hours after it came in: decided late
    )
    headers = b.token(db, Role.OPERATOR)
    db.commit()

    def listing(**params: Any) -> dict[int, dict[str, Any]]:
        response = client.get("/v1/complaints", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return {item["id"]: item for item in response.json()["items"]}

    every = listing()
    assert {i: item["overdue"] for i, item in every.items()} == {
        late.id: True,
        fresh.id: False,
        decided.id: False,
    }
    due = datetime.fromisoformat(every[late.id]["feedback_due_at"])
    assert due == late.received_at + timedelta(hours=72)
    assert set(listing(overdue="true")) == {late.id}
    assert set(listing(overdue="false")) == {fresh.id, decided.id}
    assert (
        client.get("/v1/complaints", params={"overdue": "soon"}, headers=headers).status_code == 422
    )

    day = now.date()
    section = next(
        x for x in report.build(db, day - timedelta(days=5), day) if x.name == "complaints"
    )
    assert "Feedback deadline 72 hours: 1 open past it" in section.note
    assert "1 decided after it" in section.note

    # A shorter deadline (setting) makes the fresh one overdue too.
    monkeypatch.setenv("ZHIBO_COMPLAINT_DEADLINE_HOURS", "24")
    get_settings.cache_clear()
    try:
        assert set(listing(overdue="true")) == {late.id, fresh.id}
    finally:
        get_settings.cache_clear()
