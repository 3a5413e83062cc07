"""Settlement runs and payout statements: the runs list for the platform's readers, and the
statements of a payee (a streamer or partner its own, as ``GET /v1/settlement/statements``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.console.pages import DB, GLOBAL, SignedIn, _may_see, render, router
from zhibo.kit.errors import InvalidInput
from zhibo.models import Role, SettlementRun
from zhibo.models.settlement import PayeeKind
from zhibo.settlement.policy import BUILT_IN

RUNS_SHOWN = 50
STATEMENTS_PER_PAGE = 50


def recent_runs(db: Session, limit: int = RUNS_SHOWN) -> list[SettlementRun]:
    """The latest settlement runs, newest first (no service lists them; a plain read)."""
    return list(db.scalars(select(SettlementRun).order_by(SettlementRun.id.desc()).limit(limit)))


@router.get("/statements", response_class=HTMLResponse)
def statements_page(
    request: Request,
    db: DB,
    principal: SignedIn,
    payee_kind: Annotated[str, Query(max_length=16)] = "",
    payee_id: Annotated[str, Query(max_length=20)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """A payee's statements: a streamer's or partner's own whatever it asks; a global reader
    names the payee."""
    from zhibo.settlement import statements

    _may_see(principal, "statements")
    kind: PayeeKind | None = None
    subject: int | None = None
    if principal.role in GLOBAL and (payee_kind or payee_id):
        try:
            kind, subject = PayeeKind(payee_kind), int(payee_id)
        except ValueError:
            raise InvalidInput(
                "payee_kind, payee_id: a payee is streamer or partner and a number"
            ) from None
    rows, next_cursor = None, None
    if principal.role not in GLOBAL or kind is not None:
        kind, subject = statements.payee_of(principal, kind, subject)
        rows, next_cursor = statements.list_statements(
            db, kind, subject, cursor, STATEMENTS_PER_PAGE
        )
    context = {
        "rows": rows,
        "next_cursor": next_cursor,
        "payee_kind": str(kind) if kind else payee_kind,
        "payee_id": subject if subject is not None else payee_id,
        "chooses_payee": principal.role in GLOBAL,
        "runs": recent_runs(db) if principal.role in GLOBAL else None,
        "may_run": principal.role == Role.OPERATOR,
        "policies": list(BUILT_IN),
    }
    return render(request, "statements.html", context, principal)


@router.get("/statements/{statement_id}", response_class=HTMLResponse)
def statement_page(
    request: Request, db: DB, principal: SignedIn, statement_id: int
) -> HTMLResponse:
    """One statement with its lines (another payee's is 404, as in the API)."""
    from zhibo.settlement import statements

    _may_see(principal, "statements")
    statement = statements.get_statement(db, principal, statement_id)
    context = {"statement": statement, "active": "statements"}
    return render(request, "statement.html", context, principal)
