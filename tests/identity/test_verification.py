"""Real-name verification, guardian consents, the re-check before each push, encryption at
rest, and that no clear ID number reaches a log line or an API answer."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from tests.identity.conftest import make_id
from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.identity import blacklist
from zhibo.identity.crypto import CannotDecrypt, FieldCipher, cipher, new_key
from zhibo.identity.providers import TestProvider, using
from zhibo.identity.schemas import ConsentIn, VerificationIn
from zhibo.identity.service import (
    GuardianConsentMissing,
    IdentityCheckFailed,
    StreamerTooYoung,
    record_consent,
    reveal,
    verify_streamer,
)
from zhibo.kit.hashing import token_hash
from zhibo.live.service import authorize_publish
from zhibo.models import Role
from zhibo.models.identity import IdentityCheck, IdentityRecord, PersonalDataRead
from zhibo.models.streamer import StreamerStatus

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
KEY = "sk_identity_test"


def _attest(number: str, phone: str | None = "13812345678") -> VerificationIn:
    return VerificationIn(id_number=number, phone=phone, attested_by="op-li", document_ref="scan-1")


def _pushable(db: Session, key: str = KEY, **fields: object):  # type: ignore[no-untyped-def]
    streamer = b.streamer(db, status=StreamerStatus.PENDING, **fields)
    streamer.birth_date = None
    room = b.room(db, streamer_row=streamer)
    room.stream_key_hash = token_hash(key)
    b.live_session(db, room_row=room)
    return streamer


def _push(db: Session) -> object:
    return authorize_publish(db, stream_key=KEY, app="live", client_id="7", at=NOW)


def test_field_cipher_round_trip_binds_the_row() -> None:
    box = cipher()
    token = box.encrypt("110101199001011237", context="streamer:1:id_number")
    assert "110101199001011237" not in token
    assert box.decrypt(token, context="streamer:1:id_number") == "110101199001011237"
    with pytest.raises(CannotDecrypt):
        box.decrypt(token, context="streamer:2:id_number")
    other = FieldCipher(__import__("base64").urlsafe_b64decode(new_key()))
    with pytest.raises(CannotDecrypt):
        other.decrypt(token, context="streamer:1:id_number")


def test_adult_verified_stored_encrypted_and_revealed_only_with_audit(db: Session) -> None:
    number = make_id("19900101")
    streamer = _pushable(db)
    verify_streamer(db, streamer.id, _attest(number), at=NOW)
    assert streamer.status == StreamerStatus.ACTIVE and streamer.verified_at == NOW
    assert streamer.id_number_masked == number[:4] + "*" * 10 + number[-4:]
    db.commit()
    stored = db.execute(text("SELECT * FROM identity_records")).mappings().one()
    assert number not in json.dumps({k: str(v) for k, v in stored.items()})
    assert "13812345678" not in str(stored["phone_cipher"])
    assert (
        reveal(
            db,
            streamer_id=streamer.id,
            field="id_number",
            actor="cmp-wang",
            purpose="regulator request 2026-118",
        )
        == number
    )
    read = db.scalars(select(PersonalDataRead)).one()
    assert (read.actor, read.field, read.subject_id) == ("cmp-wang", "id_number", streamer.id)
    db.commit()
    with pytest.raises(Exception, match="append-only"):
        db.execute(text("DELETE FROM personal_data_reads"))
    db.rollback()


def test_under_16_refused_and_16_17_needs_consent(db: Session) -> None:
    young = _pushable(db, key="sk_young")
    db.commit()
    with pytest.raises(StreamerTooYoung):
        verify_streamer(db, young.id, _attest(make_id("20101127")), at=NOW)
    db.rollback()
    teen = _pushable(db)
    db.commit()
    teen_number = make_id("20100101")
    with pytest.raises(GuardianConsentMissing):
        verify_streamer(db, teen.id, _attest(teen_number), at=NOW)
    db.rollback()
    failed = db.scalars(select(IdentityCheck).where(IdentityCheck.passed.is_(False))).all()
    assert {row.streamer_id for row in failed} == {young.id, teen.id}  # kept despite rollback
    teen.birth_date = datetime(2010, 1, 1).date()
    consent = record_consent(
        db,
        teen.id,
        ConsentIn(
            guardian_name="王芳",
            guardian_id_number=make_id("19800101"),
            relationship="mother",
            document_ref="consent-scan-9",
            recorded_by="op-li",
        ),
        at=NOW,
    )
    assert consent.valid_until == datetime(2028, 1, 1).date()
    verify_streamer(db, teen.id, _attest(teen_number, phone=None), at=NOW)
    db.commit()
    assert _push(db).session.streamer_id == teen.id  # type: ignore[attr-defined]


def test_push_refused_when_the_provider_fails_or_the_person_is_blacklisted(db: Session) -> None:
    streamer = _pushable(db)
    verify_streamer(db, streamer.id, _attest(make_id("19900101")), at=NOW)
    db.commit()
    with (
        using(TestProvider(failures={streamer.id: "document expired"})),
        pytest.raises(IdentityCheckFailed, match="document expired"),
    ):
        _push(db)
    db.rollback()
    blacklist.add(
        db,
        streamer_id=streamer.id,
        facts="sold fakes",
        reasons="counterfeit goods",
        legal_basis="E-Commerce Law art. 13",
        appeal_channel="appeals@zhibo",
        listed_by="cmp-wang",
        at=NOW,
    )
    db.commit()
    with pytest.raises(blacklist.Blacklisted, match="counterfeit goods"):
        _push(db)
    db.rollback()
    reasons = db.scalars(
        select(IdentityCheck.reason).where(IdentityCheck.purpose == "pre_live")
    ).all()
    assert any("document expired" in r for r in reasons)
    assert any("counterfeit" in r for r in reasons)


def test_on_publish_answers_403_with_the_reason(
    engine: Engine, settings: Settings, db: Session
) -> None:
    streamer = _pushable(db)
    verify_streamer(db, streamer.id, _attest(make_id("19900101")), at=NOW)
    db.commit()
    secured = settings.model_copy(update={"media_hook_secret": SecretStr("s3cret")})
    with (
        TestClient(create_app(secured, engine)) as client,
        using(TestProvider(failures={streamer.id: "face check failed"})),
    ):
        answer = client.post(
            "/v1/media/on_publish?secret=s3cret",
            data={"app": "live", "name": KEY, "clientid": "3"},
        )
    assert answer.status_code == 403
    assert answer.json()["error"] == "IdentityCheckFailed"
    assert "face check failed" in answer.json()["detail"]


def test_no_clear_id_in_logs_or_api_output(
    client: TestClient, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    operator = b.token(db, Role.OPERATOR)
    streamer = _pushable(db, is_virtual=True)
    db.commit()
    number, phone = make_id("19900101", sequence="456"), "13912345678"
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for body in (
            {"id_number": number, "phone": phone, "attested_by": "op", "document_ref": "d"},
            {"id_number": number[:-1] + "0", "attested_by": "op", "document_ref": "d"},
        ):
            answer = client.post(
                f"/v1/identity/streamers/{streamer.id}/verification", json=body, headers=operator
            )
            seen.append(answer.text)
        assert answer.status_code == 422 and "check digit" in answer.text
        for path in (
            f"/v1/streamers/{streamer.id}",
            f"/v1/identity/streamers/{streamer.id}/checks",
            "/v1/streamers",
        ):
            seen.append(client.get(path, headers=operator).text)
    assert json.loads(seen[0])["id_number_masked"].endswith(number[-4:])
    everything = "\n".join(seen) + "\n" + caplog.text
    for secret in (number, number[:-1] + "0", phone):
        assert secret not in everything
    assert f"streamer {streamer.id}: real-name identity attested" in caplog.text  # captured
    assert db.scalar(select(IdentityRecord.subject_id)) == streamer.id


def test_virtual_hosts_are_labelled_in_the_room_api(client: TestClient, db: Session) -> None:
    viewer = b.viewer(db)
    headers = b.token(db, Role.VIEWER, viewer.id)
    ai = b.room(db, streamer_row=b.streamer(db, is_virtual=True))
    person = b.room(db)
    db.commit()
    labelled = client.get(f"/v1/rooms/{ai.id}/host", headers=headers).json()
    assert labelled["is_virtual_host"] is True and "AI" in labelled["host_label"]
    plain = client.get(f"/v1/rooms/{person.id}/host", headers=headers).json()
    assert plain["is_virtual_host"] is False and plain["host_label"] is None


def test_without_a_configured_key_a_development_key_is_generated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from zhibo.config import get_settings

    monkeypatch.delenv("ZHIBO_IDENTITY_KEY")
    get_settings.cache_clear()
    box = cipher()
    path = tmp_path / "data" / "keys" / "identity.key"
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    token = box.encrypt("13812345678", context="x")
    get_settings.cache_clear()
    assert cipher().decrypt(token, context="x") == "13812345678"  # the same key next time
