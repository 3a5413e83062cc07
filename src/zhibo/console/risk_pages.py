"""The Risk pages: the review queue, a case's file (findings with highlighted evidence, a
timeline, a buyer-ring graph), the reviewer's decisions and the sanctioned person's appeal, and
patrol coverage. Every read and decision is ``zhibo.risk.cases``' own, with the signed-in
principal; this module only presents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from zhibo.console import session as console_session
from zhibo.console.pages import DB, SignedIn, _may_see, render, router
from zhibo.kit.auth import Principal
from zhibo.kit.errors import InvalidInput, ZhiboError
from zhibo.models import Role
from zhibo.models.risk import CaseStatus

#: Who decides cases and appeals (as the API's ``Deciders``).
DECIDERS = (Role.COMPLIANCE, Role.OPERATOR)
#: Days of patrol coverage shown, today included.
PATROL_DAYS = 7
#: At most this many accounts and identifiers are drawn in a ring graph.
RING_DRAWN = 30
RECENT_SHOWN = 50


# --- evidence presentation ---------------------------------------------------------------------


def highlighted(text: str, spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``text`` cut into pieces, each ``{"text", "match"}`` (``match``: the span's term and
    category, or None), from the evidence's ``[start, end)`` spans; overlapping or out-of-range
    spans are skipped rather than drawn wrong."""
    pieces: list[dict[str, Any]] = []
    at = 0
    usable = []
    for span in spans:
        start, end = span.get("start"), span.get("end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
            usable.append((start, end, span))
    for start, end, span in sorted(usable, key=lambda item: (item[0], item[1])):
        if start < at:
            continue
        if start > at:
            pieces.append({"text": text[at:start], "match": None})
        label = f"{span.get('term', '')} · {span.get('category', '')}".strip(" ·")
        pieces.append({"text": text[start:end], "match": label or "match"})
        at = end
    if at < len(text):
        pieces.append({"text": text[at:], "match": None})
    return pieces


def _masked(value: Any) -> str:
    """An identifier shown masked: its first four characters."""
    text = str(value)
    return text if len(text) <= 4 else text[:4] + "…"


#: Evidence fields that identify a person or an account: shown masked.
PERSONAL = frozenset(
    {"payment_account", "device_id", "address_hash", "phone", "id_number", "ip", "contact"}
)


def masked_evidence(value: Any) -> Any:
    """The evidence with personal identifiers masked (a shared identifier's ``value`` too)."""
    if isinstance(value, list):
        return [masked_evidence(item) for item in value]
    if not isinstance(value, dict):
        return value
    shown = {}
    for key, item in value.items():
        personal = key in PERSONAL or (key == "value" and value.get("kind") in PERSONAL)
        shown[key] = _masked(item) if personal and item is not None else masked_evidence(item)
    return shown


def ring_graph(evidence: dict[str, Any]) -> dict[str, Any] | None:
    """A buyer ring as a two-column graph: accounts on the left, the identifiers they share
    (device, address, payment account; masked) on the right, a line per use."""
    shared = evidence.get("shared_identifiers")
    if not isinstance(shared, list) or not shared:
        return None
    identifiers = [item for item in shared if isinstance(item, dict)][:RING_DRAWN]
    accounts: list[Any] = sorted(
        {account for item in identifiers for account in item.get("accounts", [])}, key=str
    )[:RING_DRAWN]
    row, top = 26, 30
    y_of_account = {account: top + index * row for index, account in enumerate(accounts)}
    nodes = [
        {"x": 140, "y": y, "label": f"#{account}", "kind": "account"}
        for account, y in y_of_account.items()
    ]
    edges = []
    for index, item in enumerate(identifiers):
        y = top + index * row
        nodes.append(
            {
                "x": 460,
                "y": y,
                "label": f"{item.get('kind')}: {_masked(item.get('value'))}",
                "kind": "identifier",
            }
        )
        for account in item.get("accounts", []):
            if account in y_of_account:
                edges.append({"x1": 140, "y1": y_of_account[account], "x2": 460, "y2": y})
    height = top + max(len(accounts), len(identifiers)) * row
    return {
        "nodes": nodes,
        "edges": edges,
        "height": height,
        # ``ring_accounts``: the ring's size (its accounts may be more than are drawn).
        "accounts": evidence.get("ring_accounts") or len(accounts),
        "identifiers": len(shared),
        "orders": evidence.get("ring_orders"),
    }


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Scan inputs keep times in microseconds since the epoch.
        return datetime.fromtimestamp(value / 1_000_000, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def timeline(findings: list[dict[str, Any]], history: Any) -> list[dict[str, Any]]:
    """The case's moments, oldest first: each finding's event and detection, the orders its
    evidence lists, and every audited step (case opened, measures, decisions, appeals)."""
    rows: list[dict[str, Any]] = []
    for finding in findings:
        row = finding["row"]
        if row.event_at is not None:
            rows.append({"at": row.event_at, "what": "event", "detail": row.summary})
        rows.append(
            {"at": row.detected_at, "what": "finding", "detail": f"#{row.id} {row.rule_id}"}
        )
        for order in finding["evidence"].get("orders") or []:
            if not isinstance(order, dict):
                continue
            at = _moment(order.get("t") or order.get("paid_at"))
            if at is None:
                continue
            amount = order.get("amount_fen")
            detail = f"order #{order.get('order_id', '?')} · buyer #{order.get('buyer_id', '?')}"
            rows.append({"at": at, "what": "order", "detail": detail, "fen": amount})
    for entry in history:
        rows.append({"at": entry.at, "what": entry.action, "detail": entry.reason})
    rows.sort(key=lambda item: _moment(item["at"]) or datetime.min.replace(tzinfo=UTC))
    return rows


def _finding_view(row: Any) -> dict[str, Any]:
    evidence = orjson.loads(row.evidence) if row.evidence else {}
    if not isinstance(evidence, dict):
        evidence = {"value": evidence}
    text = evidence.get("text")
    spans = evidence.get("matches") or ([evidence["match"]] if evidence.get("match") else [])
    return {
        "row": row,
        "evidence": evidence,
        "evidence_json": orjson.dumps(
            masked_evidence(evidence), option=orjson.OPT_INDENT_2
        ).decode(),
        "pieces": highlighted(text, spans) if isinstance(text, str) and spans else None,
        "ring": ring_graph(evidence),
    }


# --- patrol coverage ----------------------------------------------------------------------------


def patrol(db: Session, days: int = PATROL_DAYS) -> dict[str, Any]:
    """The regulator report's patrol section (``identity.report``): per day, the peak of online
    rooms, the reviewers and how many the 1-per-N rule requires."""
    from zhibo.config import get_settings
    from zhibo.identity import report
    from zhibo.kit.time import utcnow

    today = utcnow().date()
    section = report._patrol(db, today - timedelta(days=days - 1), today)
    rows = [dict(zip(section.columns, values, strict=False)) for values in section.rows]
    return {"rows": list(reversed(rows)), "per": get_settings().patrol_rooms_per_reviewer}


# --- pages ---------------------------------------------------------------------------------------


@router.get("/risk", response_class=HTMLResponse)
def risk_page(request: Request, db: DB, principal: SignedIn) -> HTMLResponse:
    """The review queue (pending review and appealed, oldest first; paged and sorted in the
    database: ``?page=&size=&sort=``), recent cases and patrol coverage."""
    from zhibo.console import listing
    from zhibo.risk import cases

    _may_see(principal, "risk")
    paging = listing.paging_of(
        request.query_params,
        tuple(listing.QUEUE_SORTS),
        listing.QUEUE_DEFAULT_SORT,
        listing.DEFAULT_SIZE,
    )
    context = {
        "queue": listing.review_queue(db, principal, paging),
        "recent": [
            case
            for case in cases.list_cases(db, principal, limit=RECENT_SHOWN)
            if case.status not in (CaseStatus.PENDING_REVIEW, CaseStatus.APPEALED)
        ],
        "patrol": patrol(db),
    }
    return render(request, "risk.html", context, principal)


def _case_page(request: Request, db: Session, principal: Principal, case_id: int) -> HTMLResponse:
    from zhibo.risk import cases

    found = cases.case_file(db, principal, case_id)
    findings = [_finding_view(row) for row in found.findings]
    context = {
        "file": found,
        "case": found.case,
        "findings": findings,
        "timeline": timeline(findings, found.history),
        "may_decide": principal.role in DECIDERS,
        "active": "risk",
    }
    return render(request, "case.html", context, principal)


@router.get("/risk/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, db: DB, principal: SignedIn, case_id: int) -> HTMLResponse:
    _may_see(principal, "risk")
    return _case_page(request, db, principal, case_id)


def _reason(form: Any) -> str:
    reason = str(form.get("reason", "")).strip()[:5000]
    if not reason:
        raise InvalidInput("reason: a decision needs a reason")
    return reason


@router.post("/risk/cases/{case_id}/decision")
async def decide_case(request: Request, db: DB, principal: SignedIn, case_id: int) -> Response:
    """Confirm (the sanctions and their notices follow) or dismiss, with a reason."""
    from zhibo.risk import cases

    form = await request.form()
    console_session.check_csrf(request, str(form.get("csrf", "")))
    _may_see(principal, "risk")
    principal.require(*DECIDERS)  # the role before the form: an auditor gets 403, not 422
    decision = str(form.get("decision", ""))
    if decision not in ("confirm", "dismiss"):
        raise InvalidInput("decision: choose confirm or dismiss")
    try:
        cases.decide(db, principal, case_id, confirm=decision == "confirm", reason=_reason(form))
    except ZhiboError:
        db.rollback()  # as the API would: nothing of a refused decision is kept
        raise
    return RedirectResponse(f"/console/risk/cases/{case_id}", 303)


@router.post("/risk/cases/{case_id}/appeal-decision")
async def decide_appeal(request: Request, db: DB, principal: SignedIn, case_id: int) -> Response:
    """Decide the case's open appeal: won reverses every sanction."""
    from zhibo.risk import cases

    form = await request.form()
    console_session.check_csrf(request, str(form.get("csrf", "")))
    _may_see(principal, "risk")
    principal.require(*DECIDERS)  # the role before the form: an auditor gets 403, not 422
    outcome = str(form.get("outcome", ""))
    if outcome not in ("won", "lost"):
        raise InvalidInput("outcome: choose won or lost")
    try:
        cases.decide_appeal(db, principal, case_id, won=outcome == "won", reason=_reason(form))
    except ZhiboError:
        db.rollback()
        raise
    return RedirectResponse(f"/console/risk/cases/{case_id}", 303)


@router.post("/cases/{case_id}/appeal")
async def file_appeal(request: Request, db: DB, principal: SignedIn, case_id: int) -> Response:
    """The sanctioned streamer appeals its own case (``risk.cases.appeal``: its scope, its
    appeal window), then sees its profile again."""
    from zhibo.risk import cases

    form = await request.form()
    console_session.check_csrf(request, str(form.get("csrf", "")))
    statement = str(form.get("statement", ""))[:5000]
    try:
        row = cases.appeal(db, principal, case_id, statement=statement)
    except ZhiboError:
        db.rollback()
        raise
    if principal.role == Role.STREAMER:
        return RedirectResponse(
            f"/console/streamers/{principal.subject_id}?appealed={row.case_id}#case-{case_id}", 303
        )
    return RedirectResponse("/console/", 303)
