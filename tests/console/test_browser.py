"""The console in a real headless Chromium (Debian's, driven by Playwright): sign in as an
operator and as a streamer and see only what each may; the goals page renders its numbers and
charts; a live room's chart moves while events are ingested. Every page must log no console
error and request nothing but the test server. Screenshots go to test-artifacts/console/."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session

from tests import builders as b
from tests.console.test_risk_pages import _pending_case
from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.console import accounts
from zhibo.console.pages import VENDOR
from zhibo.kit.auth import create_token
from zhibo.kit.db import make_engine, session_factory
from zhibo.kit.time import utcnow
from zhibo.models import LiveRoom, Role
from zhibo.models.session import SessionStatus

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
HUNDRED_MILLION_YUAN_FEN = 10_000_000_000
USER_PASSWORD = "a long console password"
T0 = 1_793_500_000_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian chromium is not installed (apt-get install chromium; .ci/run does)",
    ),
]


@dataclass
class World:
    url: str
    tokens: dict[str, str]
    own_room: int
    own_session: int
    other_room: int
    case: int
    streamer: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _build(db: Session) -> dict[str, Any]:
    """A partner's streamer selling 100M yuan exactly in one live room, another live room."""
    agency = b.partner(db, name="星河传媒")
    star = b.streamer(db, partner_row=agency, display_name="小星")
    own = b.live_session(db, room_row=b.room(db, streamer_row=star), status=SessionStatus.LIVE)
    other = b.live_session(db, status=SessionStatus.LIVE)
    big = b.product(db, price_fen=HUNDRED_MILLION_YUAN_FEN, title="年度大单")
    sale = b.order(db, session_row=own, product_row=big)
    sale.paid_at = utcnow()
    for step in (sale.ship, sale.deliver, sale.confirm):  # settled by the what-if's policies
        step(utcnow())
    b.shelf_item(db, session_row=own, product_row=big)
    b.product(db, title="保湿面霜 Moisturiser 50ml", price_fen=12_900)
    case = _pending_case(db, db.get(LiveRoom, own.room_id))
    tokens = {
        "operator": create_token(db, Role.OPERATOR, None)[0],
        "streamer": create_token(db, Role.STREAMER, star.id)[0],
        "compliance": create_token(db, Role.COMPLIANCE, None)[0],
        "partner": create_token(db, Role.PARTNER, agency.id)[0],
    }
    accounts.create_user(db, "ops.wang", USER_PASSWORD, Role.OPERATOR, None)
    return {
        "case": case.id,
        "streamer": star.id,
        "tokens": tokens,
        "own_room": own.room_id,
        "own_session": own.id,
        "other_room": other.room_id,
        "other_session": other.id,
    }


def _enter(
    session_id: int, room_id: int, users: range, kind: str = "enter"
) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{kind}-{session_id}-{user}",
            "session_id": session_id,
            "room_id": room_id,
            "user_id": user,
            "type": kind,
            "ts": T0 + user,
        }
        for user in users
    ]


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """zhibo over real HTTP (uvicorn in a thread) on a small platform built here."""
    if not (VENDOR / "chart.umd.js").exists():
        pytest.fail("the chart library is missing: run `make assets` (npm ci) first")
    folder = tmp_path_factory.mktemp("console")
    path = folder / "zhibo.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    db = session_factory(engine)()
    built = _build(db)
    db.commit()
    db.close()
    settings = Settings(database_url=f"sqlite:///{path}", data_dir=folder / "data")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, engine),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    operator = {"Authorization": f"Bearer {built['tokens']['operator']}"}
    with httpx.Client(base_url=url, timeout=10, headers=operator) as api:
        for session_id, room_id in (
            (built["own_session"], built["own_room"]),
            (built["other_session"], built["other_room"]),
        ):
            posted = api.post("/v1/events", json=_enter(session_id, room_id, range(1, 4)))
            assert posted.status_code == 200, posted.text
        while len(api.get("/v1/live-rooms").json()) < 2:
            assert time.monotonic() < deadline + 10, "the events were not applied"
            time.sleep(0.05)
    try:
        yield World(
            url,
            built["tokens"],
            built["own_room"],
            built["own_session"],
            built["other_room"],
            built["case"],
            built["streamer"],
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an asyncio loop running in this thread while it
    # is open, which later tests' ``asyncio.run`` would trip over.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@dataclass
class Watched:
    """A page whose console errors and requests are recorded."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.evaluate("async () => { await document.fonts.ready; }")
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def watched(browser: Any, world: World) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    record = Watched(page)
    page.on(
        "console",
        lambda message: record.errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: record.errors.append(str(error)))
    context.on("request", lambda request: record.requests.append(request.url))
    try:
        yield record
    finally:
        context.close()
    assert record.errors == [], f"console errors: {record.errors}"
    outside = [url for url in record.requests if not url.startswith(world.url + "/")]
    assert outside == [], f"requests to other addresses: {outside}"
    assert record.requests, "nothing was requested"


def _sign_in(watched: Watched, world: World, role: str) -> None:
    page = watched.page
    page.goto(world.url + "/console/")
    assert "/console/signin" in page.url
    page.get_by_label("API 令牌").fill(world.tokens[role])
    page.get_by_role("button", name="用令牌登录").click()
    page.wait_for_load_state()


def test_operator_sees_the_goals_with_numbers_and_charts(watched: Watched, world: World) -> None:
    page = watched.page
    _sign_in(watched, world, "operator")
    assert page.url.endswith("/console/goals")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator(".goal").count() == 4
    assert page.locator("#goal-rooms .count").inner_text() == "1"
    assert page.locator("#goal-partners .count").inner_text() == "1"
    assert page.locator("#goal-rooms .target").inner_text() == "2,000"
    assert page.locator("#goal-streamers .target").inner_text() == "1,000,000"
    assert "星河传媒" in page.locator("#goal-partners table.members").inner_text()
    drawn = page.evaluate(
        "() => [...document.querySelectorAll('canvas[data-goal-chart]')]"
        ".filter(c => window.Chart.getChart(c)).length"
    )
    assert drawn == 4
    page.evaluate("async () => { await document.fonts.ready; }")
    fonts = [url for url in watched.requests if "/vendor/noto-sans-sc/files/" in url]
    assert fonts, "the Chinese text should be drawn with zhibo's own font"
    watched.shot("goals-zh")
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("h1").first.inner_text().startswith("2021 ecosystem goals")
    assert page.get_by_label("Rooms target").input_value() == "2000"
    watched.shot("goals-en")
    page.get_by_role("link", name="Partners and brands").click()
    page.wait_for_load_state()
    assert "星河传媒" in page.inner_text("#board-partners")
    drawn = page.evaluate(
        "() => [...document.querySelectorAll('canvas[data-board-chart]')]"
        ".filter(c => window.Chart.getChart(c)).length"
    )
    assert drawn == 2
    watched.shot("partners-en")
    page.get_by_role("link", name="Settlement").click()
    page.get_by_role("button", name="Run the what-if").click()
    page.wait_for_load_state()
    assert page.locator("#what-if tbody tr").count() >= 2
    lines = page.evaluate(
        "() => window.Chart.getChart(document.getElementById('cash-by-day')).data.datasets.length"
    )
    assert lines == page.locator("#what-if tbody tr").count()
    assert page.locator("#what-if tbody tr").first.locator("td").nth(1).inner_text() == "1"
    watched.shot("settlement-en")
    # A settlement run started here runs in the background; its page polls the progress.
    page.get_by_role("link", name="Statements").click()
    page.get_by_label("Settle as of").fill("2026-12-05")
    page.get_by_role("button", name="Settle now").click()
    page.wait_for_selector('#job[data-state="done"]')
    assert page.locator("#job-progress").evaluate("bar => bar.value") == 1
    assert page.locator("#job-done").is_visible()
    watched.shot("settlement-run-en")
    page.get_by_role("link", name="中文").click()  # back to the default for the next tests


def test_streamer_sees_only_its_own_pages_and_rooms(watched: Watched, world: World) -> None:
    page = watched.page
    _sign_in(watched, world, "streamer")
    assert page.url.endswith("/console/live")
    links = page.locator("header nav a").all_inner_texts()
    assert links == ["正在直播", "选品池", "结算单", "我的主页"]  # no goals, no risk queue
    rows = page.locator("table.live-rooms tbody tr")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-room") == str(world.own_room)
    watched.shot("live-streamer")
    page.get_by_role("link", name="我的主页").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("主播 小星")
    watched.shot("profile-streamer")
    refused = page.goto(world.url + "/console/goals")
    assert refused is not None and refused.status == 403
    assert "无权访问此页面" in page.inner_text("main")
    refused = page.goto(f"{world.url}/console/rooms/{world.other_room}")
    assert refused is not None and refused.status == 403
    # The 403 answers are expected: they are not console errors of the pages themselves.
    watched.errors[:] = [text for text in watched.errors if "403" not in text]


def test_a_live_rooms_chart_follows_the_events_as_they_arrive(
    watched: Watched, world: World
) -> None:
    page = watched.page
    _sign_in(watched, world, "operator")
    page.goto(world.url + "/console/live")
    assert page.locator("table.live-rooms tbody tr").count() == 2
    # Sorted by the server: the column header is a link (keyboard: focus and Enter); twice
    # sorts descending.
    sort = page.get_by_role("link", name="直播间")
    sort.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=room**")
    assert page.locator("th[aria-sort]").get_attribute("aria-sort") == "ascending"
    first = page.locator("table.live-rooms tbody tr").first
    assert first.get_attribute("data-room") == str(world.own_room)
    page.get_by_role("link", name="直播间").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=-room**")
    assert page.locator("th[aria-sort]").get_attribute("aria-sort") == "descending"
    first = page.locator("table.live-rooms tbody tr").first
    assert first.get_attribute("data-room") == str(world.other_room)
    assert "共 2 条" in page.inner_text("nav.pager")
    watched.shot("live-operator")
    page.locator(f'tr[data-room="{world.own_room}"] a').click()
    page.wait_for_selector('#stream-state[data-state="live"]')
    assert "年度大单" in page.inner_text("#shelf-title + table")
    operator = {"Authorization": f"Bearer {world.tokens['operator']}"}
    with httpx.Client(base_url=world.url, timeout=10, headers=operator) as api:
        likes = _enter(world.own_session, world.own_room, range(1, 4), "like")
        assert api.post("/v1/events", json=likes).status_code == 200
        page.wait_for_function(
            "() => document.querySelector('#room-now [data-field=likes]').textContent === '3'"
        )
        more = _enter(world.own_session, world.own_room, range(4, 9))
        assert api.post("/v1/events", json=more).status_code == 200
        page.wait_for_function(
            "() => document.querySelector('#room-now [data-field=online_now]').textContent === '8'"
        )
    charted = page.evaluate(
        "() => ({likes: window.Chart.getChart(document.getElementById('chart-likes'))"
        ".data.datasets[0].data.reduce((a, b) => a + b, 0),"
        " online: window.Chart.getChart(document.getElementById('chart-online'))"
        ".data.datasets[0].data.at(-1)})"
    )
    assert charted == {"likes": 3, "online": 8}
    watched.shot("room-live")


def test_a_streamer_fills_its_shelf_from_the_pool_and_sees_refusals(
    watched: Watched, world: World
) -> None:
    page = watched.page
    _sign_in(watched, world, "streamer")
    page.get_by_role("link", name="选品池").click()
    page.get_by_label("关键词").fill("面霜")
    page.get_by_role("button", name="搜索").click()
    page.wait_for_load_state()
    rows = page.locator("table.pool-results tbody tr")
    assert rows.count() == 1 and "保湿面霜" in rows.first.inner_text()
    assert page.locator("#session_id option").count() == 1  # only its own live session
    rows.first.get_by_role("button").click()
    page.wait_for_load_state()
    assert page.locator("#shelf-outcome.ok").count() == 1
    watched.shot("pool-added")
    # The same product again: the live service refuses it, and the page says why.
    page.locator("table.pool-results tbody tr").first.get_by_role("button").click()
    page.wait_for_load_state()
    refusal = page.locator("#shelf-outcome.error")
    assert refusal.get_attribute("data-error") == "Conflict"
    assert "already on this shelf" in refusal.inner_text()
    watched.shot("pool-refused")


def test_compliance_decides_a_case_and_the_streamer_sees_the_notice_and_appeals(
    watched: Watched, world: World
) -> None:
    page = watched.page
    _sign_in(watched, world, "compliance")
    page.get_by_role("link", name="风控").click()
    page.wait_for_load_state()
    assert page.locator(f'table.queue tr[data-case="{world.case}"]').count() == 1
    assert page.locator("#patrol tbody tr").count() == 7
    watched.shot("risk-queue")
    page.locator(f'table.queue tr[data-case="{world.case}"] a').first.click()
    page.wait_for_load_state()
    assert page.locator("blockquote.evidence-text mark").inner_text() == "国家级"
    assert page.locator("figure.ring svg line").count() == 4
    watched.shot("case-pending")
    page.get_by_label("确认违规").check()
    page.get_by_label("理由").fill("录像中确有“国家级”表述")
    page.get_by_role("button", name="提交决定").click()
    page.wait_for_load_state()
    assert page.locator("#case-status").get_attribute("data-status") == "sanctioned"
    assert page.locator("#decide").count() == 0
    watched.shot("case-decided")
    page.get_by_role("button", name="退出").click()
    page.wait_for_load_state()

    _sign_in(watched, world, "streamer")
    page.get_by_role("link", name="我的主页").click()
    page.wait_for_load_state()
    notices = page.locator(f"#case-{world.case} .notice[data-kind=sanction]")
    assert notices.count() >= 1
    assert "《广告法》第九条第三项" in notices.first.inner_text()
    appeal = page.get_by_role("button", name="提交申诉")
    assert appeal.is_visible()
    watched.shot("profile-notice-appeal")
    page.get_by_label("申诉理由").fill("“国家级”是博物馆的名称")
    appeal.click()
    page.wait_for_load_state()
    assert page.locator("#appeal-filed").is_visible()
    assert page.locator(f'tr[data-case="{world.case}"] td[data-status]').inner_text() == "申诉中"


#: Each role's pages for the accessibility audit ({room}, {case}, {streamer}: the world's).
AUDITED: dict[str, list[str]] = {
    "operator": [
        "/console/goals",
        "/console/live",
        "/console/rooms/{room}",
        "/console/risk",
        "/console/risk/cases/{case}",
        "/console/pool?q=面霜",
        "/console/partners",
        "/console/settlement?run=true",
        "/console/statements",
        "/console/streamers/{streamer}",
        "/console/jobs",
    ],
    "streamer": ["/console/live", "/console/pool", "/console/statements", "/console/profile"],
    "partner": ["/console/live", "/console/partners", "/console/statements"],
}
SERIOUS = ("serious", "critical")


def _axe(watched: Watched) -> list[str]:
    """axe-core's serious and critical violations on the page (injected from zhibo's own
    static folder, so the pages' Content-Security-Policy allows it; no page loads it)."""
    page = watched.page
    assert page.locator('script[src*="axe"]').count() == 0, "a page loads axe itself"
    page.add_script_tag(url="/console/static/vendor/axe.min.js")
    found = page.evaluate(
        """async (serious) => {
            const result = await window.axe.run(document);
            return {passes: result.passes.length, violations: result.violations
                .filter(v => serious.includes(v.impact)).map(v =>
                `${v.impact} ${v.id}: ${v.help} at ` +
                v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "))};
        }""",
        list(SERIOUS),
    )
    assert found["passes"] > 10, f"axe checked nothing on {page.url}"
    return [f"{page.url}: {item}" for item in found["violations"]]


@pytest.mark.parametrize("role", list(AUDITED))
def test_each_roles_pages_have_no_serious_accessibility_violations(
    watched: Watched, world: World, role: str
) -> None:
    if not (VENDOR / "axe.min.js").exists():
        pytest.fail("axe-core is missing: run `make assets` (npm ci) first")
    page = watched.page
    _sign_in(watched, world, role)
    values = {"room": world.own_room, "case": world.case, "streamer": world.streamer}
    problems: list[str] = []
    for path in AUDITED[role]:
        response = page.goto(world.url + path.format(**values))
        assert response is not None and response.ok, path
        page.wait_for_load_state("load")
        problems += _axe(watched)
    if role == "operator":  # the sign-in page and one page in English too
        page.get_by_role("link", name="English").click()
        page.wait_for_load_state()
        problems += _axe(watched)
        page.get_by_role("link", name="中文").click()
        page.get_by_role("button", name="退出").click()
        page.wait_for_load_state()
        problems += _axe(watched)
    assert problems == [], "\n".join(problems)


def _focused(page: Any) -> dict[str, Any]:
    """The focused element: its name and whether its focus ring is visible."""
    return dict(
        page.evaluate(
            """() => {
                const el = document.activeElement;
                const style = getComputedStyle(el);
                const ring = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
                const box = el.getBoundingClientRect();
                return {tag: el.tagName.toLowerCase(), id: el.id,
                        text: (el.innerText || el.value || "").trim().slice(0, 40),
                        ring, shown: box.width > 0 && box.height > 0 && box.left >= 0};
            }"""
        )
    )


def _tab_to(page: Any, wanted: Any, most: int = 60) -> list[dict[str, Any]]:
    """Press Tab until ``wanted(focused)``; every stop on the way must show its focus ring."""
    stops = []
    for _ in range(most):
        page.keyboard.press("Tab")
        now = _focused(page)
        stops.append(now)
        assert now["ring"] and now["shown"], f"focus not visible at {now}"
        if wanted(now):
            return stops
    raise AssertionError(f"Tab never reached it; stops: {stops}")


def test_the_keyboard_alone_signs_in_with_a_password_and_reaches_the_main_actions(
    watched: Watched, world: World
) -> None:
    page = watched.page
    page.goto(world.url + "/console/")
    # The first Tab shows the skip link; then the sign-in form, all by keyboard.
    first = _tab_to(page, lambda now: now["id"] == "username")
    assert first[0]["text"] == "跳到正文"
    page.keyboard.type("ops.wang")
    page.keyboard.press("Tab")
    assert _focused(page)["id"] == "password"
    page.keyboard.type("wrong password here")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "登录失败" in page.inner_text("#signin-failed")
    watched.shot("signin-failed")
    # The 401 answer is expected: not a console error of the page itself.
    watched.errors[:] = [text for text in watched.errors if "401" not in text]
    page.locator("#password").focus()
    page.keyboard.type(USER_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/goals")
    assert "ops.wang" in page.inner_text("header .who")
    # Goals: the skip link moves focus to the content; Tab reaches the form's save button.
    page.keyboard.press("Tab")
    assert _focused(page)["text"] == "跳到正文"
    page.keyboard.press("Enter")
    _tab_to(page, lambda now: now["tag"] == "button" and now["text"] == "保存为新版本", most=200)
    # The Jobs page: Tab reaches both long actions' buttons.
    page.goto(world.url + "/console/jobs")
    _tab_to(page, lambda now: now["id"] == "start-index")
    _tab_to(page, lambda now: now["id"] == "start-grading")
    watched.shot("jobs-keyboard")
    # Enter on the rebuild's button: its page follows the progress until done.
    page.locator("#start-index").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector('#job[data-kind="index"][data-state="done"]')
    assert page.locator("#job-progress").evaluate("bar => bar.value") == 1
    assert page.inner_text("#job-stage") == "完成" and page.locator("#job-done").is_visible()
    watched.shot("job-index-done")
