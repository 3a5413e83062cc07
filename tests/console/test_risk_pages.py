"""The console's Risk pages, the sanctioned streamer's notices and appeal, and payout statements
over HTTP: who may open what, a decision made from the console and what it changes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import builders as b
from tests.console.test_pages import _csrf, _sign_in
from zhibo.console.risk_pages import highlighted, ring_graph
from zhibo.kit.auth import create_token
from zhibo.kit.time import utcnow
from zhibo.models import LiveRoom, Role
from zhibo.models.risk import CaseStatus, RiskCase, RiskNotice, SubjectKind
from zhibo.risk import cases
from zhibo.risk.cases import Context, Detected
from zhibo.risk.rules import RuleSet, parse_rules
from zhibo.risk.schemas import Finding

TEXT = "这款面霜是国家级好货，加我微信"
SPAN = {"term": "国家级", "category": "absolute_grade", "start": 5, "end": 8}
RING = {
    "ring_accounts": 3,
    "ring_orders": 4,
    "shared_identifiers": [
        {"kind": "device_id", "value": "dev-abcdef", "accounts": [11, 12]},
        {"kind": "payment_account", "value": "6222000011112222", "accounts": [12, 13]},
    ],
    "orders": [
        {"order_id": 901, "buyer_id": 11, "t": 1_793_500_000_000_000, "amount_fen": 9_900},
    ],
}


def _rules() -> RuleSet:
    return parse_rules(
        {
            "schema_version": 1,
            "version": "console-test",
            "rules": [
                {
                    "id": "false_advertising.absolute_terms",
                    "version": 4,
                    "detector": "banned_terms",
                    "state": "active",
                    "severity": "high",
                    "measures": ["review", "warning"],
                    "legal_basis": "《广告法》第九条第三项",
                    "description": "Absolute terms.",
                    "parameters": {"categories": ["absolute_grade"], "fields": ["transcript"]},
                }
            ],
        }
    )


def _pending_case(db: Session, room: LiveRoom) -> RiskCase:
    """A case in the review queue with two findings: said text with a banned-term span, and
    a buyer ring."""
    ruleset = _rules()
    rule = ruleset.rules[0]
    ctx = Context(rules=ruleset)
    case = None
    for key, evidence in (("said", {"text": TEXT, "matches": [SPAN]}), ("ring", RING)):
        got = cases.record(
            db,
            Detected(
                finding=Finding.of(
                    rule, entity_type="transcript", entity_id=key, evidence=evidence
                ),
                dedup_key=f"{rule.key}:{key}",
                room_id=room.id,
                session_id=None,
                subject_kind=SubjectKind.STREAMER,
                subject_id=room.streamer_id,
                event_at=utcnow() - timedelta(minutes=5),
                summary=f"said 国家级 in room {room.id}",
            ),
            ctx,
        )
        assert got is not None and got.case is not None
        case = got.case
    assert case is not None and case.status == CaseStatus.PENDING_REVIEW
    return case


def _status(db: Session, case_id: int) -> str:
    db.expire_all()
    case = db.get(RiskCase, case_id)
    assert case is not None
    return str(case.status)


def test_highlighted_spans_and_the_ring_graph() -> None:
    pieces = highlighted(TEXT, [SPAN, {"start": 6, "end": 9}, {"start": 40, "end": 50}])
    assert "".join(piece["text"] for piece in pieces) == TEXT
    assert [piece["text"] for piece in pieces if piece["match"]] == ["国家级"]  # overlap, range
    graph = ring_graph(RING)
    assert graph is not None and graph["accounts"] == 3 and len(graph["edges"]) == 4
    labels = [node["label"] for node in graph["nodes"]]
    assert "payment_account: 6222…" in labels and not any("1111" in label for label in labels)
    assert ring_graph({"text": TEXT}) is None


def test_the_queue_is_the_platforms_and_a_console_decision_notifies_the_streamer(
    client: TestClient, db: Session
) -> None:
    star = b.streamer(db, display_name="小星")
    room = b.room(db, streamer_row=star)
    case = _pending_case(db, room)
    tokens = {
        role: create_token(db, role, star.id if role == Role.STREAMER else None)[0]
        for role in (Role.STREAMER, Role.AUDITOR)
    }
    tokens[Role.COMPLIANCE], reviewer = create_token(db, Role.COMPLIANCE, None)
    # On patrol now: the coverage counts reviewers on shifts (``identity.patrol``).
    from zhibo.identity.patrol import start_shift

    start_shift(db, reviewer_token_id=reviewer.id, created_by="test")
    db.commit()

    _sign_in(client, tokens[Role.STREAMER])
    profile = client.get(f"/console/streamers/{star.id}").text
    assert 'href="/console/risk"' not in profile
    assert client.get("/console/risk").status_code == 403
    assert client.get(f"/console/risk/cases/{case.id}").status_code == 403
    tried = client.post(
        f"/console/risk/cases/{case.id}/decision",
        data={"csrf": _csrf(profile), "decision": "dismiss", "reason": "mine"},
    )
    assert tried.status_code == 403 and _status(db, case.id) == "pending_review"

    _sign_in(client, tokens[Role.AUDITOR])
    queue = client.get("/console/risk").text
    assert f'data-case="{case.id}"' in queue and 'id="patrol"' in queue
    today = re.search(rf'data-day="{utcnow().date()}">(.*?)</tr>', queue)
    assert today is not None  # peak rooms, reviewers (the one on shift), required
    assert re.findall(r'class="num">([^<]*)<', today.group(1))[1] == "1"
    page = client.get(f"/console/risk/cases/{case.id}").text
    assert 'id="decide"' not in page  # auditors read, they do not decide
    refused = client.post(
        f"/console/risk/cases/{case.id}/decision",
        data={"csrf": _csrf(page), "decision": "confirm", "reason": "r"},
    )
    assert refused.status_code == 403 and _status(db, case.id) == "pending_review"
    for path, form in (("decision", {"decision": "maybe"}), ("appeal-decision", {})):
        incomplete = client.post(  # the role is checked before the form
            f"/console/risk/cases/{case.id}/{path}", data={"csrf": _csrf(page), **form}
        )
        assert incomplete.status_code == 403, path

    _sign_in(client, tokens[Role.COMPLIANCE])
    page = client.get(f"/console/risk/cases/{case.id}").text
    assert '<mark title="国家级 · absolute_grade">国家级</mark>' in page
    assert page.count("<line ") == 4 and "6222…" in page and "6222000011112222" not in page
    assert 'data-what="order"' in page and "¥99.00" in page  # the ring's order on the timeline
    csrf = _csrf(page)
    no_reason = client.post(
        f"/console/risk/cases/{case.id}/decision",
        data={"csrf": csrf, "decision": "confirm", "reason": "  "},
    )
    assert no_reason.status_code == 422 and _status(db, case.id) == "pending_review"
    decided = client.post(
        f"/console/risk/cases/{case.id}/decision",
        data={"csrf": csrf, "decision": "confirm", "reason": "heard on the recording"},
    )
    assert decided.status_code == 303, decided.text
    assert _status(db, case.id) == "sanctioned"
    notices = db.scalars(
        select(RiskNotice).where(RiskNotice.case_id == case.id, RiskNotice.kind == "sanction")
    ).all()
    assert notices and all(n.recipient_id == star.id for n in notices)
    assert f'data-case="{case.id}"' not in client.get("/console/risk").text.split('id="patrol"')[0]
    again = client.post(
        f"/console/risk/cases/{case.id}/decision",
        data={"csrf": csrf, "decision": "dismiss", "reason": "changed my mind"},
    )
    assert again.status_code == 409 and _status(db, case.id) == "sanctioned"

    # The streamer reads the notices of its case and appeals from its profile.
    _sign_in(client, tokens[Role.STREAMER])
    profile = client.get(f"/console/streamers/{star.id}").text
    section = profile[profile.index(f'id="case-{case.id}"') :]
    assert all(f'data-notice="{n.id}"' in section for n in notices)
    assert f'action="/console/cases/{case.id}/appeal"' in section
    appealed = client.post(
        f"/console/cases/{case.id}/appeal",
        data={"csrf": _csrf(profile), "statement": "国家级 was the museum's name"},
    )
    assert appealed.status_code == 303 and _status(db, case.id) == "appealed"
    after = client.get(appealed.headers["location"]).text
    assert 'id="appeal-filed"' in after and f'action="/console/cases/{case.id}/appeal"' not in after

    _sign_in(client, tokens[Role.COMPLIANCE])
    page = client.get(f"/console/risk/cases/{case.id}").text
    assert 'id="decide-appeal"' in page and "museum" in page
    lost = client.post(
        f"/console/risk/cases/{case.id}/appeal-decision",
        data={"csrf": _csrf(page), "outcome": "lost", "reason": "the goods were meant"},
    )
    assert lost.status_code == 303 and _status(db, case.id) == "sanctioned"


def test_a_partner_reads_its_streamers_cases_but_not_their_notices(
    client: TestClient, db: Session
) -> None:
    agency = b.partner(db)
    star = b.streamer(db, partner_row=agency)
    case = _pending_case(db, b.room(db, streamer_row=star))
    cases.decide(db, cases_principal(), case.id, confirm=True, reason="seen")
    clear = create_token(db, Role.PARTNER, agency.id)[0]
    db.commit()
    _sign_in(client, clear)
    page = client.get(f"/console/streamers/{star.id}").text
    assert f'data-case="{case.id}"' in page and "data-notice=" not in page
    assert "notices go to the person they concern" in page and "/appeal" not in page
    assert client.get("/console/risk").status_code == 403


def cases_principal() -> Any:
    from zhibo.kit.auth import Principal

    return Principal(role=Role.COMPLIANCE, token_id=1)


def test_statements_a_streamer_its_own_the_platform_any_and_the_runs(
    client: TestClient, db: Session
) -> None:
    from tests.settlement.helpers import confirm, paid_order, shop
    from tests.settlement.test_api import NOV

    mine, theirs = shop(db, streamers=1), shop(db, streamers=1)
    for world in (mine, theirs):
        order = paid_order(db, world.sessions[0], world.product, NOV)
        confirm(order, NOV + timedelta(days=2))
    operator = b.token(db, Role.OPERATOR)
    star, other = mine.streamers[0].id, theirs.streamers[0].id
    tokens = {
        "streamer": create_token(db, Role.STREAMER, star)[0],
        "auditor": create_token(db, Role.AUDITOR, None)[0],
    }
    db.commit()
    run = client.post("/v1/settlement/runs", json={"as_of": "2026-12-05"}, headers=operator)
    assert run.status_code == 200, run.text

    _sign_in(client, tokens["streamer"])
    page = client.get("/console/statements", params={"payee_kind": "streamer", "payee_id": other})
    assert page.status_code == 200 and 'id="runs"' not in page.text  # its own, whatever it asks
    ids = re.findall(r'data-statement="(\d+)"', page.text)
    assert len(ids) == 1 and f"#{star}" in page.text
    detail = client.get(f"/console/statements/{ids[0]}")
    assert detail.status_code == 200 and 'id="lines"' in detail.text

    _sign_in(client, tokens["auditor"])
    overview = client.get("/console/statements").text
    assert 'data-run="' in overview and 'id="statements"' not in overview  # names a payee first
    theirs_page = client.get(
        "/console/statements", params={"payee_kind": "streamer", "payee_id": other}
    ).text
    other_ids = re.findall(r'data-statement="(\d+)"', theirs_page)
    assert len(other_ids) == 1 and other_ids != ids
    bad = client.get("/console/statements", params={"payee_kind": "brand", "payee_id": "x"})
    assert bad.status_code == 422

    _sign_in(client, tokens["streamer"])
    assert client.get(f"/console/statements/{other_ids[0]}").status_code == 404


def test_an_operator_starts_a_settlement_run_and_its_page_polls_the_progress(
    client: TestClient, db: Session
) -> None:
    import time

    from tests.settlement.helpers import confirm, paid_order, shop
    from tests.settlement.test_api import NOV

    world = shop(db, streamers=1)
    confirm(paid_order(db, world.sessions[0], world.product, NOV), NOV + timedelta(days=2))
    tokens = {role: create_token(db, role, None)[0] for role in (Role.OPERATOR, Role.AUDITOR)}
    db.commit()

    _sign_in(client, tokens[Role.AUDITOR])
    page = client.get("/console/statements").text
    assert 'id="start-run"' not in page
    refused = client.post("/console/settlement/runs", data={"csrf": _csrf(page), "as_of": "x"})
    assert refused.status_code == 403

    _sign_in(client, tokens[Role.OPERATOR])
    page = client.get("/console/statements").text
    csrf = _csrf(page)
    bad = client.post("/console/settlement/runs", data={"csrf": csrf, "as_of": "2026-13-01"})
    assert bad.status_code == 422 and "as_of" in bad.text
    started = client.post("/console/settlement/runs", data={"csrf": csrf, "as_of": "2026-12-05"})
    assert started.status_code == 303
    job_page = client.get(started.headers["location"])
    assert job_page.status_code == 200 and '<progress id="job-progress"' in job_page.text
    deadline = time.monotonic() + 20
    seen = []
    while True:
        now = client.get(started.headers["location"] + "/progress").json()
        seen.append(now["progress"])
        if now["state"] in ("done", "failed"):
            break
        assert time.monotonic() < deadline, f"the run did not finish: {now}"
        time.sleep(0.05)
    assert now["state"] == "done" and now["progress"] == 1 and now["orders_settled"] == 1
    assert seen == sorted(seen)  # progress never goes back
    runs = client.get("/console/statements").text
    assert f'data-run="{now["run_id"]}"' in runs
    assert client.get("/console/jobs/nope").status_code == 404
