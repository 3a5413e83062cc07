"""Server-side paging and sorting of the live list and the review queue: more rows than a page,
the order from the database, the links between pages, a scoped role's own rows only, and bad
parameters refused."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import builders as b
from tests.console.test_pages import ZERO_FIELDS, _sign_in
from zhibo.kit.auth import create_token
from zhibo.models import Role, SessionMetrics
from zhibo.models.risk import CaseStatus, RiskCase, SubjectKind
from zhibo.models.session import SessionStatus


def _rooms(page: str) -> list[int]:
    return [int(room) for room in re.findall(r'<tr data-room="(\d+)"', page)]


def _cases(page: str) -> list[int]:
    queue = page.split('id="queue"')[1].split("</section>")[0]
    return [int(case) for case in re.findall(r'<tr data-case="(\d+)"', queue)]


def _links(page: str) -> dict[str, str]:
    pager = page.split('<nav class="pager"')[1].split("</nav>")[0]
    found = re.findall(r'rel="(\w+)" href="([^"]+)"', pager)
    return {rel: href.replace("&amp;", "&") for rel, href in found}


def test_the_live_list_pages_and_sorts_in_the_database(client: TestClient, db: Session) -> None:
    star = b.streamer(db)
    rooms: dict[int, tuple[int, int]] = {}  # room -> (online, gmv)
    for index in range(7):
        room = b.room(db, streamer_row=star) if index < 2 else b.room(db)
        live = b.live_session(db, room_row=room, status=SessionStatus.LIVE)
        online, gmv = 10 + index, 1_000 * ((index * 3) % 7 + 1)
        db.add(
            SessionMetrics(
                session_id=live.id,
                room_id=live.room_id,
                **{**dict.fromkeys(ZERO_FIELDS, 0), "online_now": online, "gmv_fen": gmv},
                last_event_ms=1_793_500_000_000 + index,
                updated_at=b.T0,
            )
        )
        rooms[live.room_id] = (online, gmv)
    ended = b.live_session(db, status=SessionStatus.ENDED)  # not live: not listed
    db.add(
        SessionMetrics(
            session_id=ended.id,
            room_id=ended.room_id,
            **{**dict.fromkeys(ZERO_FIELDS, 0), "online_now": 999},
            last_event_ms=1,
            updated_at=b.T0,
        )
    )
    busiest = max(rooms, key=lambda room: rooms[room][0])
    for status in (CaseStatus.PENDING_REVIEW, CaseStatus.APPEALED, CaseStatus.DISMISSED):
        db.add(
            RiskCase(
                subject_kind=SubjectKind.STREAMER,
                subject_id=star.id,
                room_id=busiest,
                rule_key="badge@1",
                severity="high",
                status=status,
                opened_at=b.T0,
            )
        )
    operator = create_token(db, Role.OPERATOR, None)[0]
    streamer = create_token(db, Role.STREAMER, star.id)[0]
    db.commit()
    by_online = sorted(rooms, key=lambda room: -rooms[room][0])
    by_gmv = sorted(rooms, key=lambda room: rooms[room][1])

    _sign_in(client, operator)
    first = client.get("/console/live", params={"size": 3})
    assert first.status_code == 200
    assert _rooms(first.text) == by_online[:3]  # default: most online first
    assert "第 1–3 条，共 7 条" in first.text and "第 1/3 页" in first.text
    # The risk badge counts the cases waiting for a person (not the decided one), per room.
    badges = re.findall(
        r'<tr data-room="(\d+)".*?class="badge (warn|ok)">([^<]*)<', first.text, re.S
    )
    assert [(int(room), kind) for room, kind, _ in badges] == [
        (room, "warn" if room == busiest else "ok") for room in by_online[:3]
    ]
    assert badges[0][2] == "2 个待审风险案件"
    links = _links(first.text)
    assert "prev" not in links and links["next"] == "?page=2&size=3&sort=-online"
    second = client.get("/console/live" + links["next"])
    assert _rooms(second.text) == by_online[3:6]
    assert set(_links(second.text)) == {"prev", "next"}
    last = client.get("/console/live", params={"size": 3, "page": 3})
    assert _rooms(last.text) == by_online[6:] and "next" not in _links(last.text)
    # A column's header link sorts by it (from page 1), ascending then descending.
    assert 'href="?page=1&amp;size=3&amp;sort=gmv"' in first.text
    ascending = client.get("/console/live", params={"size": 3, "sort": "gmv"})
    assert _rooms(ascending.text) == by_gmv[:3]
    assert 'aria-sort="ascending"><a class="sort" href="?page=1&amp;size=3&amp;sort=-gmv"' in (
        ascending.text
    )
    descending = client.get("/console/live", params={"size": 3, "sort": "-gmv", "page": 3})
    assert _rooms(descending.text) == list(reversed(by_gmv))[6:]
    empty = client.get("/console/live", params={"size": 3, "page": 9})
    assert empty.status_code == 200 and _rooms(empty.text) == [] and "此页没有内容" in empty.text
    for bad in ({"sort": "password"}, {"size": 0}, {"size": 201}, {"page": 0}, {"page": "x"}):
        assert client.get("/console/live", params=bad).status_code == 422, bad

    # A streamer's list is its own rooms, counted and paged as such.
    _sign_in(client, streamer)
    own = client.get("/console/live", params={"size": 1})
    assert "共 2 条" in own.text and len(_rooms(own.text)) == 1
    both = _rooms(own.text) + _rooms(client.get("/console/live" + _links(own.text)["next"]).text)
    assert sorted(both) == sorted(room for room in rooms if rooms[room][0] < 12)


def test_the_review_queue_pages_and_sorts_in_the_database(client: TestClient, db: Session) -> None:
    star = b.streamer(db)
    waiting: list[int] = []
    severities = ["low", "high", "medium", "high", "low", "medium", "high"]
    for index, severity in enumerate(severities):
        status = CaseStatus.APPEALED if index == 3 else CaseStatus.PENDING_REVIEW
        case = RiskCase(
            subject_kind=SubjectKind.STREAMER,
            subject_id=star.id,
            rule_key=f"rule{index}@1",
            severity=severity,
            status=status,
            opened_at=b.T0,
        )
        db.add(case)
        db.flush()
        waiting.append(case.id)
    decided = RiskCase(
        subject_kind=SubjectKind.STREAMER,
        subject_id=star.id,
        rule_key="done@1",
        severity="high",
        status=CaseStatus.DISMISSED,
        opened_at=b.T0,
    )
    db.add(decided)
    auditor = create_token(db, Role.AUDITOR, None)[0]
    partner = create_token(db, Role.PARTNER, b.partner(db).id)[0]
    db.commit()

    _sign_in(client, auditor)
    first = client.get("/console/risk", params={"size": 3})
    assert first.status_code == 200
    assert "待处理队列（7）" in first.text
    assert _cases(first.text) == waiting[:3]  # oldest first
    rest = client.get("/console/risk" + _links(first.text)["next"])
    rest = client.get("/console/risk" + _links(rest.text)["next"])
    assert _cases(rest.text) == waiting[6:] and decided.id not in _cases(rest.text)
    newest = client.get("/console/risk", params={"size": 3, "sort": "-id"})
    assert _cases(newest.text) == list(reversed(waiting))[:3]
    by_severity = client.get("/console/risk", params={"size": 7, "sort": "severity"})
    ordered = sorted(zip(severities, waiting, strict=True))
    assert _cases(by_severity.text) == [case for _, case in ordered]
    assert client.get("/console/risk", params={"sort": "nope"}).status_code == 422
    _sign_in(client, partner)
    assert client.get("/console/risk").status_code == 403
