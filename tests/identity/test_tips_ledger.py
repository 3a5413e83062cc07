"""Tips on the ledger: postings at each stage, idempotent retries, refunds at each stage, and
``zhibo ledger check`` tracing every tip to its postings (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from tests.processes import zhibo
from zhibo.identity import tip_ledger, tipping
from zhibo.identity.schemas import TipIn
from zhibo.ledger import balance, balances, check, get_entry
from zhibo.models import Role
from zhibo.models.identity import TipStatus
from zhibo.models.session import SessionStatus

NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=72)


def _world(db: Session):  # type: ignore[no-untyped-def]
    streamer = b.streamer(db, level=5)
    live = b.live_session(db, room_row=b.room(db, streamer_row=streamer), status=SessionStatus.LIVE)
    viewer = b.viewer(db)
    db.commit()
    return live, viewer


def _tip(db: Session, viewer_id: int, session_id: int, amount: int, key: str):  # type: ignore[no-untyped-def]
    return tipping.send_tip(
        db,
        viewer_id,
        TipIn(session_id=session_id, gift_id=1, amount_fen=amount, idempotency_key=key),
        at=NOW,
    )


def _postings(db: Session, key: str) -> dict[str, int]:
    return {p.account: p.amount_fen for p in get_entry(db, key).postings}


def _tip_problems(db: Session) -> list[tuple[str | None, str]]:
    return [(p.entry_key, p.what) for p in check(db).problems if "tip" in p.what]


def test_postings_at_each_stage_with_a_platform_share(db: Session, configure) -> None:  # type: ignore[no-untyped-def]
    configure(tip_platform_share_bp=1_250)  # 12.5 %: 333 fen -> 41.625, rounded to 42
    live, viewer = _world(db)
    s = live.streamer_id
    tip = _tip(db, viewer.id, live.id, 333, "a").tip
    assert _postings(db, f"tip:{tip.id}:paid") == {"cash": 333, f"tips_held:streamer:{s}": -333}
    assert balance(db, f"tips_held:streamer:{s}") == -333
    assert tipping.credit_due(db, LATER - timedelta(seconds=1)) == []
    assert [t.id for t in tipping.credit_due(db, LATER)] == [tip.id]
    assert _postings(db, f"tip:{tip.id}:credited") == {
        f"tips_held:streamer:{s}": 333,
        f"tips_payable:streamer:{s}": -291,
        "platform_tip_revenue": -42,
    }
    assert balance(db, f"tips_held:streamer:{s}") == 0
    db.commit()
    report = check(db)
    assert report.balanced, report.problems


def test_default_share_is_zero_and_retries_post_nothing_twice(
    client: TestClient, db: Session
) -> None:
    live, viewer = _world(db)
    headers = b.token(db, Role.VIEWER, viewer.id)
    db.commit()
    body = {"session_id": live.id, "gift_id": 7, "amount_fen": 300, "idempotency_key": "g1"}
    first = client.post("/v1/gifts", json=body, headers=headers)
    again = client.post("/v1/gifts", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    tip_id = first.json()["id"]
    assert db.scalar(text("SELECT count(*) FROM ledger_entries")) == 1
    assert balance(db, "cash") == 300
    tipping.credit_due(db, datetime.now(UTC) + timedelta(hours=72))
    tipping.credit_due(db, datetime.now(UTC) + timedelta(hours=73))  # nothing left to credit
    assert _postings(db, f"tip:{tip_id}:credited") == {
        f"tips_held:streamer:{live.streamer_id}": 300,
        f"tips_payable:streamer:{live.streamer_id}": -300,
    }
    assert db.scalar(text("SELECT count(*) FROM ledger_entries")) == 2
    db.commit()
    # A retry after crediting still returns the tip and posts nothing new.
    assert client.post("/v1/gifts", json=body, headers=headers).json()["id"] == tip_id
    db.expire_all()
    assert db.scalar(text("SELECT count(*) FROM ledger_entries")) == 2


def test_refund_at_each_stage(db: Session, configure) -> None:  # type: ignore[no-untyped-def]
    configure(tip_platform_share_bp=1_000)
    live, viewer = _world(db)
    s = live.streamer_id
    credited = _tip(db, viewer.id, live.id, 500, "c").tip
    tipping.credit_due(db, LATER)
    held = _tip(db, viewer.id, live.id, 200, "h").tip  # sent after the crediting run: held
    db.commit()
    configure(tip_platform_share_bp=3_000)  # a later change must not unbalance the refund
    summary = tipping.refund_session_tips(db, live.id, reason="risk case 9", at=LATER)
    assert (summary.refunded, summary.clawed_back) == (2, 1)
    assert _postings(db, f"tip:{held.id}:refunded") == {
        f"tips_held:streamer:{s}": 200,
        "cash": -200,
    }
    assert _postings(db, f"tip:{credited.id}:refunded") == {
        f"tips_payable:streamer:{s}": 450,
        "platform_tip_revenue": 50,
        "cash": -500,
    }
    assert "claw-back" in get_entry(db, f"tip:{credited.id}:refunded").memo
    assert balances(db, "tips_") == {
        (f"tips_held:streamer:{s}", "CNY"): 0,
        (f"tips_payable:streamer:{s}", "CNY"): 0,
    }
    assert balance(db, "cash") == 0
    # Refunding again posts nothing; the books still trace every tip.
    assert tipping.refund_session_tips(db, live.id, reason="again", at=LATER).refunded == 0
    db.commit()
    assert check(db).balanced


def test_a_credited_tip_refunded_after_payout_leaves_a_claw_back(db: Session) -> None:
    live, viewer = _world(db)
    s = live.streamer_id
    tip = _tip(db, viewer.id, live.id, 800, "p").tip
    tipping.credit_due(db, LATER)
    # Suppose the streamer's tips were paid out: payable debited to zero.
    from zhibo.ledger import Entry, Posting, post

    post(
        db,
        [
            Entry(
                key="test:tips-paid-out",
                kind="payout",
                postings=(Posting(f"tips_payable:streamer:{s}", 800), Posting("cash", -800)),
                effective_at=LATER,
            )
        ],
    )
    tipping.refund_session_tips(db, live.id, reason="risk case 10", at=LATER)
    assert balance(db, f"tips_payable:streamer:{s}") == 800  # in debit: owed back by the streamer
    assert db.get(type(tip), tip.id).status == TipStatus.REFUNDED  # type: ignore[union-attr]


def test_ledger_check_names_a_tip_without_its_postings(db: Session) -> None:
    live, viewer = _world(db)
    held = _tip(db, viewer.id, live.id, 100, "x").tip
    credited = _tip(db, viewer.id, live.id, 150, "y").tip
    db.commit()
    assert _tip_problems(db) == []
    # Mark one credited behind the ledger's back: its credited entry is missing.
    db.execute(
        text("UPDATE tips SET status = 'credited', credited_at = :at WHERE id = :id"),
        {"at": LATER, "id": credited.id},
    )
    # A tip whose payment was never posted (a bulk load, say).
    db.execute(
        text(
            "INSERT INTO tips (viewer_id, session_id, room_id, streamer_id, gift_id, amount_fen,"
            " currency, status, idempotency_key, sent_at, credit_due_at, inputs) SELECT viewer_id,"
            " session_id, room_id, streamer_id, gift_id, 70, currency, status, 'z', sent_at,"
            " credit_due_at, inputs FROM tips WHERE id = :id"
        ),
        {"id": held.id},
    )
    db.commit()
    bare = db.scalar(text("SELECT id FROM tips WHERE idempotency_key = 'z'"))
    problems = _tip_problems(db)
    assert (
        f"tip:{credited.id}:credited",
        f"tip {credited.id} (credited) has no entry tip:{credited.id}:credited",
    ) in problems
    assert (f"tip:{bare}:paid", f"tip {bare} (held) has no entry tip:{bare}:paid") in problems
    assert len(problems) == 2
    assert not check(db).balanced


def test_ledger_check_catches_a_refund_not_on_the_ledger(db: Session) -> None:
    live, viewer = _world(db)
    tip = _tip(db, viewer.id, live.id, 100, "r").tip
    db.commit()
    db.execute(
        text("UPDATE tips SET status = 'refunded', refunded_at = :at WHERE id = :id"),
        {"at": LATER, "id": tip.id},
    )
    db.commit()
    assert _tip_problems(db) == [
        (f"tip:{tip.id}:refunded", f"tip {tip.id} (refunded) has no entry tip:{tip.id}:refunded")
    ]


def test_cli_credits_tips_and_the_ledger_check_names_a_broken_tip(
    engine: Engine, db: Session, tmp_path: Path
) -> None:
    live, viewer = _world(db)
    tip = _tip(db, viewer.id, live.id, 400, "cli").tip
    db.commit()
    env = {
        **os.environ,
        "ZHIBO_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "ZHIBO_DATA_DIR": str(tmp_path / "data"),
    }
    credited = zhibo("identity", "credit-tips", "--at", LATER.isoformat(), env=env)
    assert credited.returncode == 0, credited.stderr
    assert json.loads(credited.stdout) == {"credited": 1, "amount_fen": 400}
    sound = zhibo("ledger", "check", "--json", env=env)
    assert sound.returncode == 0, sound.stdout + sound.stderr
    db.execute(
        text("UPDATE tips SET status = 'refunded', refunded_at = :at WHERE id = :id"),
        {"at": LATER, "id": tip.id},
    )
    db.commit()
    broken = zhibo("ledger", "check", "--json", env=env)
    assert broken.returncode == 1
    assert {
        "order_id": None,
        "entry_key": f"tip:{tip.id}:refunded",
        "what": f"tip {tip.id} (refunded) has no entry tip:{tip.id}:refunded",
    } in json.loads(broken.stdout)["problems"]


def test_backfill_posts_what_legacy_tips_lack_once(db: Session) -> None:
    live, viewer = _world(db)
    model = _tip(db, viewer.id, live.id, 100, "model").tip
    db.commit()
    # Tips made before tips were on the ledger: rows without entries, one per stage.
    legacy = {}
    for key, status, credited, refunded in (
        ("old-held", "held", None, None),
        ("old-credited", "credited", LATER, None),
        ("old-refunded", "refunded", LATER, LATER + timedelta(hours=1)),
    ):
        db.execute(
            text(
                "INSERT INTO tips (viewer_id, session_id, room_id, streamer_id, gift_id,"
                " amount_fen, currency, status, idempotency_key, sent_at, credit_due_at,"
                " credited_at, refunded_at, inputs) SELECT viewer_id, session_id, room_id,"
                " streamer_id, gift_id, 90, currency, :status, :key, sent_at, credit_due_at,"
                " :credited, :refunded, inputs FROM tips WHERE id = :id"
            ),
            {
                "status": status,
                "key": key,
                "credited": credited,
                "refunded": refunded,
                "id": model.id,
            },
        )
        legacy[key] = db.scalar(text("SELECT id FROM tips WHERE idempotency_key = :k"), {"k": key})
    db.commit()
    assert len(_tip_problems(db)) == 3
    assert tip_ledger.backfill(db, batch=2) == 1 + 2 + 3  # paid x3, credited x2, refunded x1
    db.commit()
    assert _tip_problems(db) == [] and check(db).balanced
    refund = _postings(db, f"tip:{legacy['old-refunded']}:refunded")
    assert refund == {f"tips_payable:streamer:{live.streamer_id}": 90, "cash": -90}
    assert tip_ledger.backfill(db) == 0  # twice changes nothing
