"""The console's pages. Each asks the domain services with the signed-in principal, so a role
sees exactly what the API would show it; what a page adds is only presentation."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.orm import Session

from zhibo.console import session as console_session
from zhibo.console.i18n import LANGUAGES, translator
from zhibo.goals import service as goals_service
from zhibo.goals.schemas import GoalDefinitions
from zhibo.kit.api import DB
from zhibo.kit.auth import Principal
from zhibo.kit.documents import describe
from zhibo.kit.errors import Forbidden, InvalidInput, ZhiboError
from zhibo.models import Role
from zhibo.models.session import SessionStatus

HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR = STATIC / "vendor"
templates = Jinja2Templates(directory=HERE / "templates")

#: Everything the pages load comes from zhibo itself; nothing may be fetched from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

GLOBAL = (Role.OPERATOR, Role.COMPLIANCE, Role.AUDITOR)
#: Members listed per goal on the page (the API gives up to 1,000).
GOAL_MEMBERS_SHOWN = 100
#: The pages of the console and the roles that see each, in menu order.
PAGES: dict[str, tuple[Role, ...]] = {
    "goals": GLOBAL,
    "live": (*GLOBAL, Role.STREAMER, Role.PARTNER),
    "risk": GLOBAL,
    "pool": (Role.OPERATOR, Role.STREAMER),
    "partners": (*GLOBAL, Role.PARTNER),
    "settlement": GLOBAL,
    "statements": (*GLOBAL, Role.STREAMER, Role.PARTNER),
    "profile": (Role.STREAMER,),
    "jobs": (Role.OPERATOR,),
}
#: Who may open a streamer's profile (the services narrow it: a streamer its own, a partner
#: its streamers').
PROFILE_READERS = (*GLOBAL, Role.STREAMER, Role.PARTNER)


def pages_for(principal: Principal) -> list[str]:
    return [name for name, roles in PAGES.items() if principal.role in roles]


def _may_see(principal: Principal, page: str) -> None:
    principal.require(*PAGES[page])


def _yuan(fen: int | None) -> str:
    fen = fen or 0
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("T", " ").removesuffix("Z")[:19]
    return value.strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["yuan"] = _yuan
templates.env.filters["when"] = _when
templates.env.filters["bp"] = lambda bp: f"{(bp or 0) / 100:.2f}%"


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    principal: Principal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    language = console_session.language(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "t": translator(language),
            "language": language,
            "languages": LANGUAGES,
            "principal": principal,
            "pages": pages_for(principal) if principal else [],
            "active": request.url.path.removeprefix("/console/").split("/")[0],
            "csrf": console_session.csrf_value(request),
            "chartjs": (VENDOR / "chart.umd.js").exists(),
            "cjk_font": (VENDOR / "noto-sans-sc" / "400.css").exists(),
            **context,
        },
        status_code=status_code,
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


class ConsoleRoute(APIRoute):
    """Errors become pages: no sign-in sends the browser to sign in; a domain error (403,
    404, 409 ...) is shown in the page's language with its status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except console_session.SignInRequired:
                if request.method == "GET" and not request.url.path.endswith("/stream"):
                    return RedirectResponse(f"/console/signin?next={request.url.path}", 303)
                context = {"detail": "sign in", "status_code": 401}
                return render(request, "error.html", context, status_code=401)
            except RequestValidationError as exc:
                detail = "; ".join(
                    f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                    for error in exc.errors()
                )
                context = {"detail": detail, "status_code": 422}
                return render(request, "error.html", context, status_code=422)
            except ZhiboError as exc:
                context = {"detail": exc.detail, "status_code": exc.status_code}
                return render(request, "error.html", context, status_code=exc.status_code)

        return handler


router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


def signed_in(request: Request, db: DB) -> Principal:
    return console_session.principal_of(db, request)


SignedIn = Annotated[Principal, Depends(signed_in)]


def _safe_next(target: str | None) -> str:
    """Only paths of the console itself: never an open redirect."""
    if not target:
        return "/console/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console"):
        return "/console/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- sign-in, language -------------------------------------------------------------------------


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "signin.html", {"next": _safe_next(next), "failed": False})


@router.post("/signin", response_class=HTMLResponse)
def signin(
    request: Request,
    db: DB,
    token: Annotated[str, Form(max_length=200)] = "",
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    """Sign in with an API token, or with a console user's username and password. A failure
    says only that it failed (which of the two kinds failed, nothing more)."""
    from zhibo.console import accounts
    from zhibo.kit.auth import authenticate
    from zhibo.kit.errors import Unauthenticated

    if token.strip():
        try:
            authenticate(db, f"Bearer {token.strip()}")
        except Unauthenticated:
            context = {"next": _safe_next(next), "failed": "token"}
            return render(request, "signin.html", context, status_code=401)
        response = RedirectResponse(_safe_next(next), 303)
        console_session.set_token(request, response, token.strip())
        return response
    user = None
    if username.strip() and password:
        user = accounts.authenticate_password(db, username, password)
    if user is None:
        # Committed with the page (the failure counts towards the lockout).
        context = {"next": _safe_next(next), "failed": "password", "username": username[:64]}
        return render(request, "signin.html", context, status_code=401)
    response = RedirectResponse(_safe_next(next), 303)
    value = console_session.user_session_value(user.id, user.password_hash)
    console_session.set_token(request, response, value)
    return response


@router.post("/signout")
def signout(request: Request, csrf: Annotated[str | None, Form(max_length=64)] = None) -> Response:
    console_session.check_csrf(request, csrf)
    response = RedirectResponse("/console/signin", 303)
    console_session.clear_token(response)
    return response


@router.get("/language/{code}")
def choose_language(request: Request, code: str, next: str | None = None) -> Response:
    response = RedirectResponse(_safe_next(next), 303)
    console_session.set_language(request, response, code)
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, principal: SignedIn) -> Response:
    pages = pages_for(principal)
    if pages:
        return RedirectResponse(f"/console/{pages[0]}", 303)
    return render(request, "home.html", {}, principal)


# --- goals -------------------------------------------------------------------------------------


def _goals_page(request: Request, db: Session, principal: Principal, **extra: Any) -> HTMLResponse:
    data_dir = request.app.state.settings.data_dir
    goals = goals_service.goals_for(db, principal, data_dir, limit=GOAL_MEMBERS_SHOWN)
    history = goals_service.definitions_history(db, principal, data_dir)
    charts = {
        goal.key.value: {
            "days": [point.day.isoformat() for point in goal.trend],
            "counts": [point.count for point in goal.trend],
            "year_end": goals.year_end.isoformat(),
            "projected": goal.projected,
            "target": goal.target,
        }
        for goal in goals.goals
    }
    context = {
        "goals": goals,
        "as_of_local": goals.as_of.astimezone(ZoneInfo(goals.timezone)),
        "history": list(reversed(history)),
        "goal_charts": charts,
        "editable": principal.role == Role.OPERATOR,
        "definitions": goals.definitions,
        "paid_by_choices": ("payout", "commission"),
        **extra,
    }
    return render(request, "goals.html", context, principal)


@router.get("/goals", response_class=HTMLResponse)
def goals_page(request: Request, db: DB, principal: SignedIn) -> HTMLResponse:
    _may_see(principal, "goals")
    return _goals_page(request, db, principal)


GOAL_FIELDS = tuple(GoalDefinitions.model_fields)


@router.post("/goals", response_class=HTMLResponse)
async def change_goals(request: Request, db: DB, principal: SignedIn) -> HTMLResponse:
    form = await request.form()
    console_session.check_csrf(request, str(form.get("csrf", "")))
    principal.require(Role.OPERATOR)
    values: dict[str, Any] = {}
    for name in GOAL_FIELDS:
        raw = str(form.get(name, "")).strip()
        if name == "streamer_must_be_verified":
            values[name] = raw == "on"
        elif raw:
            values[name] = raw
    reason = str(form.get("reason", ""))[:500]
    try:
        definitions = GoalDefinitions.model_validate(values)
    except ValidationError as exc:
        raise InvalidInput(describe(exc)) from exc
    version = goals_service.change_definitions(
        db, principal, definitions, reason, request.app.state.settings.data_dir
    )
    return _goals_page(request, db, principal, saved=version.version)


# --- live now ----------------------------------------------------------------------------------


def _followable(db: Session, principal: Principal, room_id: int) -> bool:
    from zhibo.live import service as live_service

    try:
        live_service.check_may_follow_room(db, principal, room_id)
    except Forbidden:
        return False
    return True


def _open_cases_by_room(db: Session, principal: Principal, room_ids: list[int]) -> dict[int, int]:
    from zhibo.risk import cases

    try:
        return cases.waiting_per_room(db, principal, room_ids)
    except Forbidden:
        return {}


@router.get("/live", response_class=HTMLResponse)
def live_page(request: Request, db: DB, principal: SignedIn) -> HTMLResponse:
    """Live rooms, paged and sorted in the database (``?page=&size=&sort=``)."""
    from zhibo.console import listing

    _may_see(principal, "live")
    paging = listing.paging_of(
        request.query_params,
        tuple(listing.LIVE_SORTS),
        listing.LIVE_DEFAULT_SORT,
        listing.DEFAULT_SIZE,
    )
    found = listing.live_rooms(db, principal, paging)
    open_cases = _open_cases_by_room(db, principal, [row.room_id for row in found.items])
    rooms = [
        {
            "metrics": row,
            "title": row.title,
            "key_room": row.key_room,
            "open_cases": open_cases.get(row.room_id, 0),
        }
        for row in found.items
        if _followable(db, principal, row.room_id)  # the service's word on each row
    ]
    return render(request, "live.html", {"rooms": rooms, "listing": found}, principal)


@router.get("/rooms/{room_id}", response_class=HTMLResponse)
def room_page(request: Request, db: DB, principal: SignedIn, room_id: int) -> HTMLResponse:
    from zhibo.events import service as events_service
    from zhibo.live import service as live_service
    from zhibo.risk.notices import notices_for

    _may_see(principal, "live")
    room = live_service.check_may_follow_room(db, principal, room_id)
    metrics = events_service.get_room_metrics(db, room_id)
    shelf = []
    if metrics.session is not None:
        from zhibo.models import Product

        for item in live_service.shelf(db, metrics.session.session_id):
            product = db.get(Product, item.product_id)
            shelf.append({"item": item, "title": product.title if product else item.product_id})
    notices = notices_for(db, "room", room_id, limit=20)
    return render(
        request,
        "room.html",
        {
            "room": room,
            "metrics": metrics,
            "initial": metrics.model_dump(mode="json"),
            "shelf": shelf,
            "notices": notices,
        },
        principal,
    )


@router.get("/rooms/{room_id}/stream")
async def room_stream(room_id: int, principal: SignedIn, request: Request) -> StreamingResponse:
    """The API's room stream (``GET /v1/rooms/{id}/stream``) for the signed-in browser, which
    cannot send a bearer header from ``EventSource``: the same check, the same events."""
    from zhibo.events import endpoints as events_endpoints

    _may_see(principal, "live")
    events = events_endpoints.event_service(request)
    return await events_endpoints.room_stream(room_id, principal, events, request)


# --- product pool (streamer workbench) ---------------------------------------------------------

POOL_SORTS = ("relevance", "commission", "sales", "price")
POOL_FIELDS = ("q", "category", "brand", "min_price", "max_price", "min_commission", "sort")


def _fen(text: str, field: str) -> int | None:
    """``12.5`` yuan → 1250 fen; empty → None."""
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{field}: {text!r} is not an amount in yuan") from None
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise InvalidInput(f"{field}: give yuan with at most two decimals, not negative")
    return int(value * 100)


def _pool_form(values: Mapping[str, str]) -> dict[str, str]:
    form = {name: str(values.get(name, "")).strip()[:200] for name in POOL_FIELDS}
    form["in_stock"] = "on" if values.get("in_stock") else ""
    form["cursor"] = str(values.get("cursor", ""))[:200]
    return form


def _shelf_sessions(db: Session, principal: Principal) -> list[Any]:
    """Sessions whose shelf the caller may fill: its own (streamer) or any (operator),
    scheduled or live."""
    from zhibo.live import service as live_service

    streamer_id = principal.subject_id if principal.role == Role.STREAMER else None
    found: list[Any] = []
    for status in (SessionStatus.LIVE, SessionStatus.SCHEDULED):
        rows, _ = live_service.list_sessions(db, None, 50, status, None, streamer_id)
        found.extend(rows)
    return found


def _pool_page(
    request: Request,
    db: Session,
    principal: Principal,
    form: dict[str, str],
    **extra: Any,
) -> HTMLResponse:
    from zhibo.catalog.search.service import PoolQuery, pool_search_of, search_pool

    results = None
    problem = None
    try:
        commission = form["min_commission"]
        query = PoolQuery(
            q=form["q"] or None,
            category=form["category"] or None,
            brand=form["brand"] or None,
            min_price_fen=_fen(form["min_price"], "min_price"),
            max_price_fen=_fen(form["max_price"], "max_price"),
            min_commission_bp=int(Decimal(commission) * 100) if commission else None,
            in_stock=form["in_stock"] == "on",
            sort=form["sort"] or "relevance",
            limit=20,
            cursor=form["cursor"] or None,
            facets=True,
        )
        results = search_pool(db, pool_search_of(request.app).index(), principal, query)
    except (ZhiboError, InvalidOperation) as exc:
        problem = exc.detail if isinstance(exc, ZhiboError) else "min_commission: not a number"
    search = {name: value for name, value in form.items() if value and name != "cursor"}
    context = {
        "form": form,
        "results": results,
        "problem": problem,
        "sessions": _shelf_sessions(db, principal),
        "sorts": POOL_SORTS,
        "search_query": urlencode(search),
        "next_query": urlencode({**search, "cursor": results.next_cursor})
        if results is not None and results.next_cursor
        else None,
        **extra,
    }
    return render(request, "pool.html", context, principal)


@router.get("/pool", response_class=HTMLResponse)
def pool_page(request: Request, db: DB, principal: SignedIn) -> HTMLResponse:
    _may_see(principal, "pool")
    return _pool_page(request, db, principal, _pool_form(request.query_params))


@router.post("/pool/shelf", response_class=HTMLResponse)
async def add_to_shelf(request: Request, db: DB, principal: SignedIn) -> HTMLResponse:
    """Put a product on a session's shelf through the live service; a refusal (level,
    blacklist, text screens, a full shelf ...) is shown with its reason."""
    from zhibo.live import service as live_service
    from zhibo.live.schemas import ShelfItemCreate

    data = await request.form()
    console_session.check_csrf(request, str(data.get("csrf", "")))
    _may_see(principal, "pool")
    form = _pool_form(dict(parse_qsl(str(data.get("search", ""))[:2000])))
    try:
        session_id = int(str(data.get("session_id", "")))
        product_id = int(str(data.get("product_id", "")))
    except ValueError:
        raise InvalidInput("session_id, product_id: choose a session and a product") from None
    try:
        item = live_service.add_to_shelf(
            db, principal, session_id, ShelfItemCreate(product_id=product_id)
        )
    except ZhiboError as refusal:
        db.rollback()  # as the API would: nothing of a refused request is kept
        outcome = {
            "refused": {"product": product_id, "error": refusal.name, "detail": refusal.detail}
        }
        return _pool_page(request, db, principal, form, **outcome)
    added = {"product": item.product_id, "session": item.session_id}
    return _pool_page(request, db, principal, form, added=added)


# --- partners and brands ------------------------------------------------------------------------

BOARD_METRICS = ("gmv_fen", "net_gmv_fen", "orders", "buyers")
BOARD_DAYS = 30


@router.get("/partners", response_class=HTMLResponse)
def partners_page(
    request: Request,
    db: DB,
    principal: SignedIn,
    metric: str = "gmv_fen",
    partner: int | None = None,
) -> HTMLResponse:
    """Leaderboards of partners and brands (the grading service's, as the API's), a partner's
    streamers (the accounts service scopes a partner to its own) and the new brands (the goals
    list, for the platform's readers)."""
    from datetime import timedelta

    from zhibo.accounts import service as accounts_service
    from zhibo.grading import leaderboards
    from zhibo.kit.time import utcnow

    _may_see(principal, "partners")
    if metric not in BOARD_METRICS:
        raise InvalidInput(f"metric: {metric!r} is not one of {', '.join(BOARD_METRICS)}")
    until = utcnow().date()
    since = until - timedelta(days=BOARD_DAYS - 1)
    boards = {
        kind: leaderboards.leaderboard(db, kind, metric, since, until, 20)
        for kind in ("partners", "brands")
    }
    if principal.role == Role.PARTNER:
        partner = principal.subject_id
    streamers: list[Any] = []
    if partner is not None:
        streamers = list(accounts_service.list_streamers(db, principal, None, 200, partner)[0])
    new_brands = None
    if principal.role in GLOBAL:
        data_dir = request.app.state.settings.data_dir
        goals = goals_service.goals_for(db, principal, data_dir, limit=GOAL_MEMBERS_SHOWN)
        new_brands = next(goal for goal in goals.goals if goal.key.value == "brands")
    charts = {
        kind: {
            "names": [entry.name for entry in board.entries],
            "values": [
                entry.value / 100 if metric.endswith("_fen") else entry.value
                for entry in board.entries
            ],
        }
        for kind, board in boards.items()
    }
    context = {
        "boards": boards,
        "board_charts": charts,
        "metric": metric,
        "metrics": BOARD_METRICS,
        "money": metric.endswith("_fen"),
        "partner": partner,
        "streamers": streamers,
        "new_brands": new_brands,
    }
    return render(request, "partners.html", context, principal)


# --- streamer profile ---------------------------------------------------------------------------


def _section(call: Callable[[], Any]) -> tuple[Any, str | None]:
    """A profile section from its service, or why it is not available (each section is the
    API's own answer, with the API's own scoping: a partner reads its streamers' grades but not
    their payouts)."""
    try:
        return call(), None
    except ZhiboError as exc:
        return None, f"{exc.name}: {exc.detail}"


@router.get("/profile")
def own_profile(principal: SignedIn) -> Response:
    _may_see(principal, "profile")
    return RedirectResponse(f"/console/streamers/{principal.subject_id}", 303)


@router.get("/streamers/{streamer_id}", response_class=HTMLResponse)
def streamer_page(request: Request, db: DB, principal: SignedIn, streamer_id: int) -> HTMLResponse:
    """Level and what makes it, credit points and their history, upcoming payouts by day,
    and the risk cases (sanctions) with their notices."""
    from zhibo.accounts import service as accounts_service
    from zhibo.grading import service as grading_service
    from zhibo.models.risk import SubjectKind
    from zhibo.models.settlement import PayeeKind
    from zhibo.risk import cases as risk_cases
    from zhibo.settlement import service as settlement_service

    principal.require(*PROFILE_READERS)
    streamer = accounts_service.get_streamer(db, principal, streamer_id)  # 404 out of scope
    grade, grade_problem = _section(lambda: grading_service.explain(db, principal, streamer_id))
    credit, credit_problem = _section(lambda: grading_service.credit_of(db, principal, streamer_id))
    upcoming, upcoming_problem = _section(
        lambda: settlement_service.upcoming_for(db, principal, PayeeKind.STREAMER, streamer_id)
    )
    cases, cases_problem = _section(lambda: risk_cases.list_cases(db, principal, limit=500))
    if cases is not None:
        cases = [
            case
            for case in cases
            if case.subject_kind == SubjectKind.STREAMER and case.subject_id == streamer_id
        ]
    # The notices go to the person they concern (as ``GET /v1/risk/notices``): the streamer
    # itself and the platform's readers read them, a partner does not.
    notices_by_case: dict[int, list[Any]] = {}
    notices_problem = None
    own = principal.role == Role.STREAMER and principal.subject_id == streamer_id
    if principal.is_global or own:
        from zhibo.risk.notices import notices_for

        for notice in reversed(notices_for(db, "streamer", streamer_id, limit=500)):
            if notice.case_id is not None:
                notices_by_case.setdefault(notice.case_id, []).append(notice)
    else:
        notices_problem = "Forbidden: notices go to the person they concern"
    charts = {
        "contributions": {
            "labels": [metric.label for metric in grade.metrics] if grade else [],
            "values": [metric.contribution_bp / 100 for metric in grade.metrics] if grade else [],
        },
        "credit": {
            "labels": [_when(change.occurred_at)[:10] for change in reversed(credit.changes)]
            if credit
            else [],
            "values": [change.balance_tenths / 10 for change in reversed(credit.changes)]
            if credit
            else [],
        },
        "payouts": {
            "labels": [day.payable_on.isoformat() for day in upcoming.days] if upcoming else [],
            "values": [
                (day.commission_fen + day.reserve_release_fen) / 100 for day in upcoming.days
            ]
            if upcoming
            else [],
        },
    }
    context = {
        "streamer": streamer,
        "grade": grade,
        "grade_problem": grade_problem,
        "credit": credit,
        "credit_problem": credit_problem,
        "upcoming": upcoming,
        "upcoming_problem": upcoming_problem,
        "cases": cases,
        "cases_problem": cases_problem,
        "notices_by_case": notices_by_case,
        "notices_problem": notices_problem,
        "may_appeal": own,
        "appealed": request.query_params.get("appealed"),
        "profile_charts": charts,
        "active": "profile" if principal.subject_id == streamer_id else None,
    }
    return render(request, "streamer.html", context, principal)


# --- settlement what-if -------------------------------------------------------------------------


def _day(text: str, field: str) -> date | None:
    """A form's date field: empty is none."""
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{field}: {text!r} is not a date (YYYY-MM-DD)") from None


@router.get("/settlement", response_class=HTMLResponse)
def settlement_page(
    request: Request,
    db: DB,
    principal: SignedIn,
    policy: Annotated[list[str] | None, Query(max_length=8)] = None,
    paid_from: Annotated[str, Query(max_length=10)] = "",
    paid_to: Annotated[str, Query(max_length=10)] = "",
    project_pending: bool = False,
    run: bool = False,
) -> HTMLResponse:
    """The policy what-if (as ``POST /v1/settlement/compare``): order history replayed under
    each chosen built-in policy, with the cash paid by day under each."""
    from zhibo.settlement import service as settlement_service
    from zhibo.settlement.policy import BUILT_IN
    from zhibo.settlement.schemas import PolicyRef

    _may_see(principal, "settlement")
    chosen = [name for name in (policy or list(BUILT_IN)) if name][:8]
    since, until = _day(paid_from, "paid_from"), _day(paid_to, "paid_to")
    result = None
    series: dict[str, Any] = {}
    if run:
        policies = [settlement_service.policy_from_ref(PolicyRef(name=name)) for name in chosen]
        result = settlement_service.compare_policies(
            db, policies, since, until, project_pending=project_pending
        )
        days = sorted(
            {day for item in result["policies"].values() for day in item["cash_paid_by_day"]}
        )
        series = {
            "days": days,
            # A list, not a mapping: the page's JSON sorts keys, the chart keeps this order.
            "policies": [
                {
                    "name": name,
                    "values": [item["cash_paid_by_day"].get(day, 0) / 100 for day in days],
                }
                for name, item in result["policies"].items()
            ],
        }
    context = {
        "built_in": BUILT_IN,
        "chosen": chosen,
        "paid_from": since,
        "paid_to": until,
        "project_pending": project_pending,
        "result": result,
        "cash_chart": series,
    }
    return render(request, "settlement.html", context, principal)


def install(app: FastAPI) -> None:
    """Serve the console at ``/console`` with its static files."""
    from zhibo.console import jobs, payouts, risk_pages  # noqa: F401  (routes join ``router``)

    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
