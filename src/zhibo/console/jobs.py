"""Long actions started from the console: a settlement run goes to a background thread and its
page polls its progress. The progress is the run's stage as the settlement itself records it
(accruing, itemising orders — with the orders settled so far — batching payouts, done), read
from its ``settlement_runs`` row; there is no finer measure to show.

Jobs live in this process's memory: a restart forgets them (the run itself is in the database,
idempotent per day, and a rerun of the same day resumes it)."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zhibo.console import session as console_session
from zhibo.console.pages import DB, SignedIn, _day, render, router
from zhibo.kit.auth import Principal
from zhibo.kit.errors import InvalidInput, NotFound, ZhiboError
from zhibo.kit.time import utcnow
from zhibo.models import Role, SettlementRun
from zhibo.models.settlement import RunStatus

log = logging.getLogger(__name__)

#: The stages of a settlement run, in order; the progress is the stage's place among them.
STAGES = ("queued", "accrue", "itemise", "batch", "done")
#: Jobs kept (oldest forgotten first).
KEPT = 100


@dataclass
class Job:
    id: str
    kind: str
    as_of: date
    policy: str | None
    started_by: int | None
    started_at: datetime
    state: str = "queued"  # queued, running, done, failed
    finished_at: datetime | None = None
    run_id: int | None = None
    error: str | None = None
    report: dict[str, Any] = field(default_factory=dict)


_jobs: dict[str, Job] = {}
_lock = threading.Lock()


def _stage(db: Session, job: Job) -> tuple[str, int]:
    """The run's recorded stage and its orders settled so far."""
    if job.state == "done":
        return "done", int(job.report.get("orders_settled", 0))
    if job.state == "queued":
        return "queued", 0
    run = db.scalar(select(SettlementRun).where(SettlementRun.as_of == job.as_of))
    if run is None:
        return "accrue", 0
    stage = {RunStatus.RUNNING: "itemise", RunStatus.BATCHING: "batch"}.get(run.status, "done")
    if stage == "done":  # recorded, the thread is writing its report
        stage = "batch"
    return stage, run.orders_settled or 0


def progress(db: Session, job: Job) -> dict[str, Any]:
    stage, orders = _stage(db, job)
    return {
        "id": job.id,
        "state": job.state,
        "stage": stage,
        "progress": STAGES.index(stage) / (len(STAGES) - 1),
        "orders_settled": orders,
        "run_id": job.run_id,
        "error": job.error,
        "paid_fen": job.report.get("paid_fen"),
        "seconds": job.report.get("seconds"),
    }


def _work(engine: Engine, job: Job) -> None:
    from zhibo.settlement import service as settlement_service
    from zhibo.settlement.schemas import PolicyRef

    job.state = "running"
    try:
        policy = (
            settlement_service.policy_from_ref(PolicyRef(name=job.policy)) if job.policy else None
        )
        report = settlement_service.run(engine, job.as_of, policy)
        job.report, job.run_id, job.state = report.as_dict(), report.run_id, "done"
    except ZhiboError as exc:
        job.error, job.state = f"{exc.name}: {exc.detail}", "failed"
    except Exception as exc:  # the page must say it failed; the log keeps the trace
        log.exception("console settlement run %s failed", job.id)
        job.error, job.state = f"{type(exc).__name__}: see the server log", "failed"
    finally:
        job.finished_at = utcnow()


def start_settlement(engine: Engine, principal: Principal, as_of: date, policy: str | None) -> Job:
    job = Job(
        id=uuid.uuid4().hex[:16],
        kind="settlement",
        as_of=as_of,
        policy=policy,
        started_by=principal.token_id,
        started_at=utcnow(),
    )
    with _lock:
        _jobs[job.id] = job
        while len(_jobs) > KEPT:
            _jobs.pop(next(iter(_jobs)))
    threading.Thread(target=_work, args=(engine, job), daemon=True, name=f"job-{job.id}").start()
    return job


def _job(principal: Principal, job_id: str) -> Job:
    principal.require(Role.OPERATOR)
    job = _jobs.get(job_id)
    if job is None:
        raise NotFound(f"job: no job {job_id!r} (jobs are forgotten when zhibo restarts)")
    return job


@router.post("/settlement/runs")
async def start_run(request: Request, principal: SignedIn) -> Response:
    """An operator settles as of a day (as ``POST /v1/settlement/runs``), in the background."""
    from zhibo.settlement.policy import BUILT_IN

    form = await request.form()
    console_session.check_csrf(request, str(form.get("csrf", "")))
    principal.require(Role.OPERATOR)
    as_of = _day(str(form.get("as_of", ""))[:10], "as_of")
    if as_of is None:
        raise InvalidInput("as_of: give the day to settle (YYYY-MM-DD)")
    policy = str(form.get("policy", "")).strip() or None
    if policy is not None and policy not in BUILT_IN:
        raise InvalidInput(f"policy: {policy!r} is not one of {', '.join(BUILT_IN)}")
    job = start_settlement(request.app.state.engine, principal, as_of, policy)
    return RedirectResponse(f"/console/jobs/{job.id}", 303)


JobId = Annotated[str, "a job id"]


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, db: DB, principal: SignedIn, job_id: JobId) -> HTMLResponse:
    job = _job(principal, job_id)
    context = {"job": job, "now": progress(db, job), "stages": STAGES, "active": "statements"}
    return render(request, "job.html", context, principal)


@router.get("/jobs/{job_id}/progress")
def job_progress(db: DB, principal: SignedIn, job_id: JobId) -> JSONResponse:
    job = _job(principal, job_id)
    return JSONResponse(progress(db, job), headers={"Cache-Control": "no-store"})
