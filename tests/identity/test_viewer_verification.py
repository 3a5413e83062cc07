"""Viewers' real-name verification: adults tip after it, minors never, the unverified are
refused with the reason; blacklisted identities and a second identity are refused (until an
operator resets); the clear number appears in no answer, decision or log (SQLite and
PostgreSQL)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests import builders as b
from tests.identity.conftest import make_id
from zhibo.identity import blacklist
from zhibo.identity.providers import TestProvider, using
from zhibo.kit.time import utcnow
from zhibo.models import Role, Viewer
from zhibo.models.identity import IdentityRecord, SubjectKind, ViewerVerification
from zhibo.models.session import SessionStatus

TODAY = utcnow().date()
ADULT = make_id("19900101", sequence="135")
# Sixteen today: a minor.
MINOR = make_id(f"{TODAY.year - 16}{TODAY:%m}01", sequence="246")
OTHER = make_id("19920202", sequence="357")
LISTED = make_id("19850505", sequence="468")


def _viewer(db: Session) -> Viewer:
    row = Viewer(account_created_at=datetime(2026, 1, 1, tzinfo=UTC), real_name_verified=False)
    db.add(row)
    db.flush()
    return row


def _gift(client: TestClient, headers: dict[str, str], session_id: int, key: str):  # type: ignore[no-untyped-def]
    body = {"session_id": session_id, "gift_id": 1, "amount_fen": 100, "idempotency_key": key}
    return client.post("/v1/gifts", json=body, headers=headers)


def test_adults_tip_after_verification_minors_never_and_no_clear_number_leaks(
    client: TestClient, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    live = b.live_session(db, room_row=b.room(db, streamer_row=b.streamer(db, level=5)))
    live.status = SessionStatus.LIVE
    live.started_at = utcnow() - timedelta(minutes=5)
    adult, minor, stranger = _viewer(db), _viewer(db), _viewer(db)
    as_adult = b.token(db, Role.VIEWER, adult.id)
    as_minor = b.token(db, Role.VIEWER, minor.id)
    as_stranger = b.token(db, Role.VIEWER, stranger.id)
    db.commit()
    answers = []

    refused = _gift(client, as_adult, live.id, "before")
    answers.append(refused.text)
    assert refused.status_code == 403 and refused.json()["error"] == "TipperNotVerified"
    assert "no verified identity" in refused.json()["detail"]
    assert f"/v1/viewers/{adult.id}/verification" in refused.json()["detail"]

    url = f"/v1/viewers/{adult.id}/verification"
    # Another viewer cannot verify this one; a viewer cannot attest a document.
    assert client.post(url, json={"id_number": ADULT}, headers=as_stranger).status_code == 404
    attested = {"id_number": ADULT, "attested_by": "me", "document_ref": "x"}
    assert client.post(url, json=attested, headers=as_adult).status_code == 403
    ok = client.post(url, json={"id_number": ADULT, "real_name": "张三"}, headers=as_adult)
    answers.append(ok.text)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["real_name_verified"], body["is_minor"], body["may_tip"]) == (True, False, True)
    assert body["id_number_masked"] == ADULT[:4] + "*" * 10 + ADULT[-4:]
    assert body["decision"]["action"] == "verified" and body["decision"]["actor"].startswith(
        "viewer:"
    )
    sent = _gift(client, as_adult, live.id, "after")
    answers.append(sent.text)
    assert sent.status_code == 201, sent.text

    # A minor, verified by an operator's attestation: recorded as a minor, never tips.
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    verified = client.post(
        f"/v1/viewers/{minor.id}/verification",
        json={"id_number": MINOR, "attested_by": "op-li", "document_ref": "scan-9"},
        headers=operator,
    )
    answers.append(verified.text)
    assert verified.status_code == 200, verified.text
    assert (verified.json()["is_minor"], verified.json()["may_tip"]) == (True, False)
    assert verified.json()["age"] == 16
    for key in ("m1", "m2"):
        no = _gift(client, as_minor, live.id, key)
        answers.append(no.text)
        assert no.status_code == 403 and no.json()["error"] == "MinorMayNotTip"
    history = client.get(f"/v1/viewers/{minor.id}/verifications", headers=as_minor)
    answers.append(history.text)
    assert [row["action"] for row in history.json()] == ["verified"]

    # The number is kept only encrypted; no answer, decision or log line holds it.
    db.expire_all()
    record = db.scalar(
        select(IdentityRecord).where(
            IdentityRecord.subject_kind == SubjectKind.VIEWER, IdentityRecord.subject_id == adult.id
        )
    )
    assert record is not None and ADULT not in record.id_number_cipher
    decisions = " ".join(
        f"{row.inputs} {row.reason} {row.id_number_masked}"
        for row in db.scalars(select(ViewerVerification))
    )
    for number in (ADULT, MINOR):
        for seen in (*answers, caplog.text, decisions):
            assert number not in seen
            assert number[6:14] not in seen  # not even the birth date digits in one piece


def test_blacklisted_and_second_identities_are_refused_until_an_operator_resets(
    client: TestClient, db: Session
) -> None:
    viewer = _viewer(db)
    mine = b.token(db, Role.VIEWER, viewer.id)
    operator = b.token(db, Role.OPERATOR)
    blacklist.add(
        db,
        id_number=LISTED,
        facts="ring of fake accounts",
        reasons="fraud",
        legal_basis="art. 18",
        appeal_channel="appeals@zhibo",
        listed_by="cmp",
    )
    db.commit()
    url = f"/v1/viewers/{viewer.id}/verification"
    listed = client.post(url, json={"id_number": LISTED}, headers=mine)
    assert listed.status_code == 403 and listed.json()["error"] == "Blacklisted"
    assert "fraud" in listed.json()["detail"] and LISTED not in listed.text
    bad = client.post(url, json={"id_number": ADULT[:-1] + "0"}, headers=mine)
    assert bad.status_code == 422 and bad.json()["detail"].startswith("id_number:")
    with using(TestProvider(viewer_failures={viewer.id: "name and number do not match"})):
        failed = client.post(url, json={"id_number": ADULT}, headers=mine)
    assert failed.status_code == 403 and failed.json()["error"] == "IdentityCheckFailed"
    assert "do not match" in failed.json()["detail"]
    assert client.post(url, json={"id_number": ADULT}, headers=mine).status_code == 200
    # The same identity again is fine; another one is refused until an operator resets.
    assert client.post(url, json={"id_number": ADULT}, headers=mine).status_code == 200
    other = client.post(url, json={"id_number": OTHER}, headers=mine)
    assert other.status_code == 409 and other.json()["error"] == "ViewerIdentityMismatch"
    reset_url = f"{url}/reset"
    assert client.post(reset_url, json={"reason": "x"}, headers=mine).status_code == 403
    reset = client.post(reset_url, json={"reason": "wrong person entered"}, headers=operator)
    assert reset.status_code == 200 and reset.json()["action"] == "reset"
    db.expire_all()
    assert db.get(Viewer, viewer.id).real_name_verified is False  # type: ignore[union-attr]
    assert client.post(url, json={"id_number": OTHER}, headers=mine).status_code == 200
    # Refusals were kept although their requests rolled back.
    actions = [
        row.action
        for row in db.scalars(
            select(ViewerVerification)
            .where(ViewerVerification.viewer_id == viewer.id)
            .order_by(ViewerVerification.id)
        )
    ]
    assert actions == [
        "refused",
        "refused",
        "verified",
        "verified",
        "refused",
        "reset",
        "verified",
    ]
    assert db.scalar(text("SELECT count(*) FROM identity_records")) == 1
