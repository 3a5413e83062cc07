"""``zhibo risk cases|case|decide|appeal|appeal-decide|audit``: the review queue and decisions
from the command line. The command line acts for the platform's compliance officer (it holds
the database's credentials); an appeal is filed for the person named (``--streamer``/
``--viewer``), as support staff do for someone who called in."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from zhibo.kit.cli import err, fail, ready_engine
from zhibo.kit.errors import ZhiboError
from zhibo.risk.cli import risk_app


def _compliance() -> Any:
    from zhibo.kit.auth import Principal
    from zhibo.models import Role

    return Principal(role=Role.COMPLIANCE)


def _case_dict(case: Any) -> dict[str, Any]:
    return {
        "id": case.id,
        "subject": f"{case.subject_kind}:{case.subject_id}",
        "room_id": case.room_id,
        "rule": case.rule_key,
        "severity": case.severity,
        "status": str(case.status),
        "review_reason": case.review_reason,
        "repetition": case.repetition,
        "opened_at": case.opened_at.isoformat(),
        "decided_by": case.decided_by,
        "decision_reason": case.decision_reason,
    }


@risk_app.command("cases")
def cases_command(
    queue: Annotated[
        bool, typer.Option("--queue", help="Only cases waiting for a reviewer")
    ] = False,
    status: Annotated[str | None, typer.Option(help="pending_review, sanctioned ...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List risk cases (newest first; the review queue oldest first)."""
    from zhibo.kit.db import unit_of_work
    from zhibo.models.risk import CaseStatus
    from zhibo.risk import cases

    try:
        wanted = CaseStatus(status) if status else None
    except ValueError:
        fail(f"status: {status!r} is not one of {', '.join(s.value for s in CaseStatus)}", 2)
    with unit_of_work(ready_engine()) as db:
        rows = [
            _case_dict(case)
            for case in cases.list_cases(db, _compliance(), status=wanted, queue=queue, limit=limit)
        ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        err.print("no case")
    for row in rows:
        typer.echo(
            f"{row['id']}\t{row['status']}\t{row['severity']}\t{row['subject']}\t{row['rule']}\t"
            f"{row['review_reason'] or row['decision_reason'] or ''}"
        )


@risk_app.command("case")
def case_command(case_id: Annotated[int, typer.Argument(help="Case id")]) -> None:
    """A case as JSON: findings and evidence, measures, notices, appeals, audit history."""
    import orjson

    from zhibo.kit.db import unit_of_work
    from zhibo.risk import cases

    try:
        with unit_of_work(ready_engine()) as db:
            found = cases.case_file(db, _compliance(), case_id)
            document = {
                "case": _case_dict(found.case),
                "findings": [
                    {
                        "id": f.id,
                        "rule": f"{f.rule_id}@{f.rule_version}",
                        "state": f.rule_state,
                        "summary": f.summary,
                        "evidence": orjson.loads(f.evidence),
                    }
                    for f in found.findings
                ],
                "measures": [
                    {"id": m.id, "kind": m.kind, "status": str(m.status), "ends_at": m.ends_at}
                    for m in found.measures
                ],
                "notices": [{"id": n.id, "kind": n.kind, "title": n.title} for n in found.notices],
                "appeals": [{"id": a.id, "status": str(a.status)} for a in found.appeals],
                "history": [
                    {"at": h.at, "actor": h.actor, "action": h.action, "reason": h.reason}
                    for h in found.history
                ],
            }
    except ZhiboError as error:
        fail(error, 2)
    typer.echo(json.dumps(document, ensure_ascii=False, default=str, indent=1))


@risk_app.command("decide")
def decide_command(
    case_id: Annotated[int, typer.Argument(help="Case id (in the review queue)")],
    decision: Annotated[str, typer.Argument(help="confirm or dismiss")],
    reason: Annotated[str, typer.Option("--reason", help="Why (told to the person)")],
) -> None:
    """Confirm (sanctions follow) or dismiss (real-time measures undone) a case."""
    from zhibo.kit.db import unit_of_work
    from zhibo.risk import cases

    if decision not in ("confirm", "dismiss"):
        fail(f"decision: {decision!r} is not confirm or dismiss", 2)
    try:
        with unit_of_work(ready_engine()) as db:
            case = cases.decide(
                db, _compliance(), case_id, confirm=decision == "confirm", reason=reason
            )
            status = str(case.status)
    except ZhiboError as error:
        fail(error, 2)
    err.print(f"case {case_id}: {status}")


@risk_app.command("appeal")
def appeal_command(
    case_id: Annotated[int, typer.Argument(help="Case id (sanctioned)")],
    statement: Annotated[str, typer.Option("--statement", help="Why the decision is wrong")],
    streamer: Annotated[int | None, typer.Option(help="Filed for this streamer")] = None,
    viewer: Annotated[int | None, typer.Option(help="Filed for this viewer")] = None,
) -> None:
    """File an appeal for the case's person."""
    from zhibo.kit.auth import Principal
    from zhibo.kit.db import unit_of_work
    from zhibo.models import Role
    from zhibo.risk import cases

    if (streamer is None) == (viewer is None):
        fail("name the appellant: --streamer ID or --viewer ID", 2)
    principal = (
        Principal(role=Role.STREAMER, subject_id=streamer)
        if streamer is not None
        else Principal(role=Role.VIEWER, subject_id=viewer)
    )
    try:
        with unit_of_work(ready_engine()) as db:
            row = cases.appeal(db, principal, case_id, statement=statement)
            appeal_id = row.id
    except ZhiboError as error:
        fail(error, 2)
    err.print(f"appeal {appeal_id} filed against case {case_id}")


@risk_app.command("appeal-decide")
def appeal_decide_command(
    case_id: Annotated[int, typer.Argument(help="Case id (appealed)")],
    outcome: Annotated[str, typer.Argument(help="won or lost")],
    reason: Annotated[str, typer.Option("--reason", help="Why (told to the person)")],
) -> None:
    """Decide a case's appeal; a won appeal reverses the sanctions and restores credit."""
    from zhibo.kit.db import unit_of_work
    from zhibo.risk import cases

    if outcome not in ("won", "lost"):
        fail(f"outcome: {outcome!r} is not won or lost", 2)
    try:
        with unit_of_work(ready_engine()) as db:
            row = cases.decide_appeal(
                db, _compliance(), case_id, won=outcome == "won", reason=reason
            )
            status = str(row.status)
    except ZhiboError as error:
        fail(error, 2)
    err.print(f"case {case_id}: appeal {status}")


@risk_app.command("audit")
def audit_command(
    case_id: Annotated[int | None, typer.Option("--case", help="Only this case")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
) -> None:
    """The append-only audit log of risk decisions, as JSON lines."""
    from zhibo.kit.db import unit_of_work
    from zhibo.risk import audit

    with unit_of_work(ready_engine()) as db:
        for entry in audit.entries(db, case_id, limit):
            typer.echo(
                json.dumps(
                    {
                        "id": entry.id,
                        "at": entry.at.isoformat(),
                        "actor": entry.actor,
                        "action": entry.action,
                        "case_id": entry.case_id,
                        "subject": entry.subject,
                        "rule": entry.rule_key,
                        "inputs": json.loads(entry.inputs),
                        "reason": entry.reason,
                    },
                    ensure_ascii=False,
                )
            )


@risk_app.command("expire")
def expire_command() -> None:
    """End timed measures whose time ran out (publishing suspensions give the streamer back its
    status); run it daily. Running it again changes nothing."""
    from zhibo.kit.db import unit_of_work
    from zhibo.kit.time import utcnow
    from zhibo.risk.measures import expire_due

    with unit_of_work(ready_engine()) as db:
        count = len(expire_due(db, utcnow()))
    err.print(f"{count} measures lapsed")
