"""The console over HTTP (no browser): sign-in and its cookie, what each role may open, the
CSRF check, the language switch, the goals form, and the assets served by zhibo itself."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.console.pages import VENDOR
from zhibo.kit.auth import create_token, revoke_token
from zhibo.models import Role
from zhibo.models.risk import CaseStatus, RiskCase, SubjectKind
from zhibo.models.session import SessionStatus


def _sign_in(client: TestClient, token: str) -> None:
    response = client.post("/console/signin", data={"token": token, "next": "/console/"})
    assert response.status_code == 303, response.text


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def test_sign_in_sets_an_httponly_strict_cookie_and_revocation_signs_out(
    client: TestClient, db: Session
) -> None:
    assert client.get("/console/goals").headers["location"].startswith("/console/signin")
    clear, row = create_token(db, Role.OPERATOR, None)
    db.commit()
    refused = client.post("/console/signin", data={"token": "zb_wrong"})
    assert refused.status_code == 401 and "zhibo_console" not in refused.headers.get(
        "set-cookie", ""
    )
    response = client.post(
        "/console/signin", data={"token": clear, "next": "https://evil.example/"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert client.get("/console/").headers["location"] == "/console/goals"
    page = client.get("/console/goals")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    revoke_token(db, row.id)
    db.commit()
    assert client.get("/console/goals").status_code == 303


def test_each_role_opens_only_its_pages(client: TestClient, db: Session) -> None:
    agency = b.partner(db)
    own = b.streamer(db, partner_row=agency)
    own_room = b.room(db, streamer_row=own)
    other_room = b.room(db)
    tokens = {
        "streamer": create_token(db, Role.STREAMER, own.id)[0],
        "brand": create_token(db, Role.BRAND, b.brand(db).id)[0],
        "auditor": create_token(db, Role.AUDITOR, None)[0],
    }
    db.commit()

    _sign_in(client, tokens["streamer"])
    assert client.get("/console/").headers["location"] == "/console/live"
    goals = client.get("/console/goals")
    assert goals.status_code == 403 and "goals.title" not in goals.text
    assert client.get("/v1/goals").status_code == 401  # the cookie is no API credential
    assert client.get(f"/console/rooms/{own_room.id}").status_code == 200
    assert client.get(f"/console/rooms/{other_room.id}").status_code == 403
    nav = client.get("/console/live").text
    assert 'href="/console/pool"' in nav and 'href="/console/goals"' not in nav

    _sign_in(client, tokens["brand"])
    assert client.get("/console/").status_code == 200
    assert client.get("/console/live").status_code == 403

    _sign_in(client, tokens["auditor"])
    page = client.get("/console/goals").text
    assert "/console/goals" in page and 'action="/console/goals"' not in page  # no edit form
    assert client.get(f"/console/rooms/{other_room.id}").status_code == 200


def test_operators_change_the_goals_with_the_forms_csrf_value(
    client: TestClient, db: Session
) -> None:
    clear = create_token(db, Role.OPERATOR, None)[0]
    db.commit()
    _sign_in(client, clear)
    page = client.get("/console/goals").text
    form = {"rooms_target": "2500", "timezone": "Asia/Shanghai", "reason": "raised"}
    assert client.post("/console/goals", data=form).status_code == 403  # no CSRF value
    assert client.post("/console/goals", data={**form, "csrf": "0" * 32}).status_code == 403
    saved = client.post("/console/goals", data={**form, "csrf": _csrf(page)})
    assert saved.status_code == 200 and "2,500" in saved.text
    bad = client.post("/console/goals", data={**form, "rooms_target": "0", "csrf": _csrf(page)})
    assert bad.status_code == 422 and "rooms_target" in bad.text
    signout = client.post("/console/signout", data={"csrf": _csrf(page)})
    assert signout.status_code == 303 and 'zhibo_console=""' in signout.headers["set-cookie"]


def test_chinese_by_default_and_english_on_request(client: TestClient, db: Session) -> None:
    clear = create_token(db, Role.OPERATOR, None)[0]
    db.commit()
    _sign_in(client, clear)
    page = client.get("/console/goals").text
    assert '<html lang="zh-CN">' in page and "年销售额过亿的直播间" in page
    switched = client.get("/console/language/en", params={"next": "/console/goals"})
    assert switched.headers["location"] == "/console/goals"
    page = client.get("/console/goals").text
    assert '<html lang="en">' in page and "Live rooms with sales over 100M yuan" in page
    outside = client.get("/console/language/en", params={"next": "//evil.example/x"})
    assert outside.headers["location"] == "/console/"


ZERO_FIELDS = (
    "unique_viewers",
    "peak_online",
    "online_now",
    "buyers",
    "watch_ms",
    "first_event_ms",
    "enters",
    "leaves",
    "likes",
    "comments",
    "shares",
    "follows",
    "add_to_carts",
    "orders",
    "gifts",
    "gift_fen",
)


def test_live_now_lists_rooms_with_their_metrics(client: TestClient, db: Session) -> None:
    from zhibo.models import SessionMetrics

    live = b.live_session(db, status=SessionStatus.LIVE)
    db.add(
        SessionMetrics(
            session_id=live.id,
            room_id=live.room_id,
            **dict.fromkeys(ZERO_FIELDS, 0),
            gmv_fen=123_456,
            last_event_ms=1_793_500_000_000,
            updated_at=b.T0,
        )
    )
    clear = create_token(db, Role.COMPLIANCE, None)[0]
    db.commit()
    _sign_in(client, clear)
    page = client.get("/console/live").text
    assert f'data-room="{live.room_id}"' in page and "¥1,234.56" in page
    assert 'class="badge ok"' in page and "待审" not in page
    # A case waiting for review in the room shows in its risk state.
    db.add(
        RiskCase(
            subject_kind=SubjectKind.STREAMER,
            subject_id=live.streamer_id,
            room_id=live.room_id,
            rule_key="lure@1",
            severity="high",
            status=CaseStatus.PENDING_REVIEW,
            opened_at=b.T0,
        )
    )
    db.commit()
    page = client.get("/console/live").text
    assert "1 个待审风险案件" in page and 'class="badge ok"' not in page


def test_the_chart_library_and_scripts_come_from_zhibo(client: TestClient) -> None:
    assert (VENDOR / "chart.umd.js").exists(), "run `make assets` (npm ci) first"
    for path in ("/console/static/console.js", "/console/static/console.css"):
        assert client.get(path).status_code == 200
    library = client.get("/console/static/vendor/chart.umd.js")
    assert library.status_code == 200 and "Chart" in library.text[:2000]


def test_a_refused_shelf_addition_shows_the_services_reason(
    client: TestClient, db: Session
) -> None:
    from zhibo.models import BrandStatus

    star = b.streamer(db)
    own = b.live_session(db, room_row=b.room(db, streamer_row=star), status=SessionStatus.LIVE)
    someone_elses = b.live_session(db, status=SessionStatus.LIVE)
    banned = b.product(db, brand_row=b.brand(db, status=BrandStatus.BLACKLISTED))
    fine = b.product(db)
    clear = create_token(db, Role.STREAMER, star.id)[0]
    db.commit()
    _sign_in(client, clear)
    page = client.get("/console/pool")
    assert page.status_code == 200
    csrf = _csrf(page.text)

    def add(session_id: int, product_id: int) -> str:
        form = {"csrf": csrf, "session_id": session_id, "product_id": product_id, "search": ""}
        response = client.post("/console/pool/shelf", data=form)
        assert response.status_code == 200, response.text
        return response.text

    refused = add(own.id, banned.id)
    assert 'id="shelf-outcome"' in refused and "blacklist" in refused.lower()
    assert "Forbidden" in add(someone_elses.id, fine.id)  # not its session
    assert 'class="ok"' in add(own.id, fine.id)
    assert [
        item["product_id"]
        for item in client.get(
            f"/v1/sessions/{own.id}/shelf", headers={"Authorization": f"Bearer {clear}"}
        ).json()
    ] == [fine.id]


def test_partners_and_brands_boards_and_a_partner_sees_only_its_streamers(
    client: TestClient, db: Session
) -> None:
    from zhibo.kit.time import utcnow

    ours, theirs = b.partner(db, name="ours"), b.partner(db, name="theirs")
    mine = b.streamer(db, partner_row=ours, display_name="mine")
    other = b.streamer(db, partner_row=theirs, display_name="other")
    for person, price in ((mine, 30_000), (other, 10_000)):
        live = b.live_session(db, room_row=b.room(db, streamer_row=person))
        sale = b.order(db, session_row=live, product_row=b.product(db, price_fen=price))
        sale.paid_at = utcnow()
    tokens = {
        "partner": create_token(db, Role.PARTNER, ours.id)[0],
        "auditor": create_token(db, Role.AUDITOR, None)[0],
        "streamer": create_token(db, Role.STREAMER, mine.id)[0],
    }
    db.commit()

    _sign_in(client, tokens["auditor"])
    page = client.get("/console/partners", params={"partner": theirs.id}).text
    board = page[page.index('id="board-partners"') : page.index('id="board-brands"')]
    assert board.index("ours") < board.index("theirs") and "¥300.00" in board
    assert f'data-streamer="{other.id}"' in page and 'id="new-brands"' in page
    assert client.get("/console/partners", params={"metric": "gifts"}).status_code == 422
    malformed = client.get("/console/streamers/not-a-number")
    assert malformed.status_code == 422 and malformed.headers["content-type"].startswith(
        "text/html"
    )

    _sign_in(client, tokens["partner"])
    page = client.get("/console/partners", params={"partner": theirs.id}).text
    assert f'data-streamer="{mine.id}"' in page
    assert f'data-streamer="{other.id}"' not in page and 'id="new-brands"' not in page

    _sign_in(client, tokens["streamer"])
    assert client.get("/console/partners").status_code == 403


def test_a_streamers_profile_is_its_own_its_partners_and_the_platforms(
    client: TestClient, db: Session
) -> None:
    agency = b.partner(db)
    star = b.streamer(db, partner_row=agency, display_name="小星")
    stranger = b.streamer(db)
    tokens = {
        "streamer": create_token(db, Role.STREAMER, star.id)[0],
        "partner": create_token(db, Role.PARTNER, agency.id)[0],
        "auditor": create_token(db, Role.AUDITOR, None)[0],
    }
    db.commit()

    _sign_in(client, tokens["streamer"])
    assert client.get("/console/profile").headers["location"] == f"/console/streamers/{star.id}"
    own = client.get(f"/console/streamers/{star.id}")
    assert own.status_code == 200 and "小星" in own.text
    for section in ("grade", "credit-history", "payouts", "cases"):
        assert f'id="{section}"' in own.text
    assert 'aria-current="page"' in own.text
    assert client.get(f"/console/streamers/{stranger.id}").status_code == 404

    _sign_in(client, tokens["partner"])
    theirs = client.get(f"/console/streamers/{star.id}").text
    # The API's rule: a partner reads its streamers' profiles but only its own payouts.
    payouts = theirs[theirs.index('id="payouts"') : theirs.index('id="cases"')]
    assert "NotFound" in payouts
    assert client.get(f"/console/streamers/{stranger.id}").status_code == 404

    _sign_in(client, tokens["auditor"])
    assert client.get(f"/console/streamers/{stranger.id}").status_code == 200


def test_a_graded_streamers_profile_shows_its_metrics_and_credit(
    client: TestClient, db: Session, tmp_path: Path
) -> None:
    from tests.grading import world as graded
    from zhibo.grading import service as grading

    platform = graded.build(db, [5_000_000, 100_000, 0])
    star = platform.streamers[0]
    grading.run(db, graded.AS_OF, lake_root=tmp_path / "lake")
    clear = create_token(db, Role.STREAMER, star.id)[0]
    db.commit()
    _sign_in(client, clear)
    page = client.get(f"/console/streamers/{star.id}").text
    grade = page[page.index('id="grade"') : page.index('id="credit-history"')]
    assert "NotGradedYet" not in grade and grade.count("<tr>") >= 3  # a row per metric
    charts = json.loads(page.split('id="profile-charts">', 1)[1].split("</script>", 1)[0])
    assert len(charts["contributions"]["labels"]) == len(charts["contributions"]["values"]) >= 2


def test_the_settlement_what_if_replays_each_policy(client: TestClient, db: Session) -> None:
    from zhibo.kit.time import utcnow
    from zhibo.settlement.policy import BUILT_IN

    live = b.live_session(db)
    for _ in range(3):
        sale = b.order(db, session_row=live, product_row=b.product(db))
        sale.paid_at = utcnow()
        sale.ship(utcnow())
        sale.deliver(utcnow())
        sale.confirm(utcnow())
    tokens = {
        "auditor": create_token(db, Role.AUDITOR, None)[0],
        "streamer": create_token(db, Role.STREAMER, live.streamer_id)[0],
    }
    db.commit()
    _sign_in(client, tokens["auditor"])
    assert 'id="what-if"' not in client.get("/console/settlement").text  # runs on request
    page = client.get("/console/settlement", params={"run": "true"}).text
    for name in BUILT_IN:
        assert f'data-policy="{name}"' in page
    chart = json.loads(page.split('id="cash-chart">', 1)[1].split("</script>", 1)[0])
    assert [line["name"] for line in chart["policies"]] == list(BUILT_IN)
    assert all(sum(line["values"]) > 0 for line in chart["policies"])
    one = client.get("/console/settlement", params={"run": "true", "policy": "reform-monthly-5"})
    assert one.text.count("data-policy=") == 1

    _sign_in(client, tokens["streamer"])
    assert client.get("/console/settlement").status_code == 403
