"""Long actions started from the console, each in a background thread whose page polls its
progress (operators only):

* **settlement run** (as ``POST /v1/settlement/runs``): the progress is the run's stage as the
  settlement itself records it in its ``settlement_runs`` row (accruing, itemising orders —
  with the orders settled so far — batching payouts, done); there is no finer measure;
* **search index rebuild** (as ``zhibo catalog index --rebuild``): the products indexed so far
  out of those expected, then the swap to the new index;
* **grading run** (as ``zhibo grade run``): the step the grading service reports (credit
  recoveries, metrics, grades, storing the results), in one unit of work committed at the end.

Each job is a row of ``console_jobs``, written by the thread doing the work (every stage, the
counts at most every ``SAVE_EVERY_S``, a heartbeat every ``HEARTBEAT_S``), so that every API
process (``zhibo serve --workers N``) shows the same progress. A job whose process stopped stays
``running`` in its row without heartbeats: after ``STALE_S`` it is shown as failed
(interrupted) — its work is safe to start again: a settlement run is idempotent per day and
resumes, a grading run of the same day replaces it, an interrupted rebuild leaves the live
index as it was."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zhibo.console import session as console_session
from zhibo.console.i18n import translator
from zhibo.console.pages import DB, SignedIn, _day, render, router
from zhibo.kit.auth import Principal
from zhibo.kit.db import unit_of_work
from zhibo.kit.errors import InvalidInput, NotFound, ZhiboError
from zhibo.kit.time import utcnow
from zhibo.models import Role, SettlementRun
from zhibo.models.console import ConsoleJob
from zhibo.models.settlement import RunStatus

log = logging.getLogger(__name__)

#: Each kind's stages, in order; the progress is the stage's place among them (and, within a
#: stage that counts, how far it has counted).
STAGES: dict[str, tuple[str, ...]] = {
    "settlement": ("queued", "accrue", "itemise", "batch", "done"),
    "index": ("queued", "index", "swap", "done"),
    "grading": ("queued", "credit", "metrics", "grade", "store", "done"),
}
STATES = ("queued", "running", "done", "failed")
#: Jobs listed on the jobs page (newest first).
KEPT = 100
#: Seconds between writes of a counting stage's progress; between heartbeats of a running job;
#: without a heartbeat after which a running job's process is taken to have stopped.
SAVE_EVERY_S = 0.5
HEARTBEAT_S = 20.0
STALE_S = 120.0


@dataclass
class Job:
    id: str
    kind: str
    started_by: int | None
    started_at: datetime
    as_of: date | None = None
    policy: str | None = None
    state: str = "queued"  # queued, running, done, failed
    #: The stage the work reported (index and grading; settlement reads its run's row).
    stage: str = "queued"
    #: Counted so far and expected, in a stage that counts (the index's products).
    done: int = 0
    total: int = 0
    finished_at: datetime | None = None
    run_id: int | None = None
    error: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    #: Where the job's row is written (set when it starts; None for a job read back).
    engine: Engine | None = field(default=None, repr=False, compare=False)


#: The jobs this process is running (their threads write their rows).
_running: dict[str, Job] = {}
_lock = threading.Lock()


def save(job: Job) -> None:
    """Write the job's row (the working thread calls this as the job goes)."""
    if job.engine is None:
        return
    try:
        with unit_of_work(job.engine) as db:
            db.merge(
                ConsoleJob(
                    id=job.id,
                    kind=job.kind,
                    started_by=job.started_by,
                    started_at=job.started_at,
                    as_of=job.as_of,
                    policy=job.policy,
                    state=job.state,
                    stage=job.stage,
                    done=job.done,
                    total=job.total,
                    finished_at=job.finished_at,
                    run_id=job.run_id,
                    error=(job.error or "")[:500] or None,
                    report=json.dumps(job.report, default=str),
                    updated_at=utcnow(),
                )
            )
    except Exception:  # progress is best effort: the work goes on
        log.warning("console job %s: could not record its progress", job.id, exc_info=True)


def _from_row(row: ConsoleJob) -> Job:
    job = Job(
        id=row.id,
        kind=row.kind,
        started_by=row.started_by,
        started_at=row.started_at,
        as_of=row.as_of,
        policy=row.policy,
        state=row.state,
        stage=row.stage,
        done=row.done,
        total=row.total,
        finished_at=row.finished_at,
        run_id=row.run_id,
        error=row.error,
        report=json.loads(row.report or "{}"),
    )
    stale = utcnow() - row.updated_at > timedelta(seconds=STALE_S)
    if job.state in ("queued", "running") and stale and row.id not in _running:
        job.state = "failed"
        job.error = "interrupted: the process running it stopped; start it again"
    return job


def recent(db: Session) -> list[Job]:
    """The last ``KEPT`` jobs, newest first."""
    rows = db.scalars(select(ConsoleJob).order_by(ConsoleJob.started_at.desc()).limit(KEPT))
    with _lock:
        here = dict(_running)
    return [here.get(row.id) or _from_row(row) for row in rows]


def _settlement_stage(db: Session, job: Job) -> tuple[str, int]:
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
    stages = STAGES[job.kind]
    if job.kind == "settlement":
        stage, orders = _settlement_stage(db, job)
        done, total = orders, 0
    else:
        stage = "done" if job.state == "done" else job.stage
        done, total = job.done, job.total
    place = float(stages.index(stage))
    if total and stage != "done":
        place += min(done / total, 1.0) * 0.999  # within the counting stage, never past it
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "stage": stage,
        "stages": list(stages),
        "progress": round(place / (len(stages) - 1), 4),
        "done": done,
        "total": total,
        "orders_settled": done if job.kind == "settlement" else None,
        "run_id": job.run_id,
        "error": job.error,
        "paid_fen": job.report.get("paid_fen"),
        "seconds": job.report.get("seconds"),
    }


def _snapshot(job: Job) -> tuple[Any, ...]:
    return (job.state, job.stage, job.done, job.total)


def _run(job: Job, work: Callable[[], None]) -> None:
    """Do the work in this thread; a second thread writes the job's row when it changed (at
    most every ``SAVE_EVERY_S``) and as a heartbeat, so the work never waits for the row (on
    SQLite a grading run holds the write lock until it commits)."""
    job.state = "running"
    finished = threading.Event()

    def writer() -> None:
        written, beat = None, 0.0
        while not finished.wait(SAVE_EVERY_S):
            now = _snapshot(job)
            if now != written or time.monotonic() - beat >= HEARTBEAT_S:
                save(job)
                written, beat = now, time.monotonic()

    threading.Thread(target=writer, daemon=True, name=f"job-{job.id}-writer").start()
    try:
        work()
        job.state = "done"
    except ZhiboError as exc:
        job.error, job.state = f"{exc.name}: {exc.detail}", "failed"
    except Exception as exc:  # the page must say it failed; the log keeps the trace
        log.exception("console %s job %s failed", job.kind, job.id)
        job.error, job.state = f"{type(exc).__name__}: see the server log", "failed"
    finally:
        finished.set()
        job.finished_at = utcnow()
        save(job)
        with _lock:
            _running.pop(job.id, None)


def _start(job: Job, work: Callable[[], None]) -> Job:
    save(job)  # queued: any process can show it from now on
    with _lock:
        _running[job.id] = job
    thread = threading.Thread(target=_run, args=(job, work), daemon=True, name=f"job-{job.id}")
    thread.start()
    return job


def _stage(job: Job, stage: str) -> None:
    """The work reached ``stage`` (the writer thread records it)."""
    job.stage = stage


def _new(kind: str, principal: Principal, engine: Engine, **fields: Any) -> Job:
    return Job(
        id=uuid.uuid4().hex[:16],
        kind=kind,
        started_by=principal.token_id,
        started_at=utcnow(),
        engine=engine,
        **fields,
    )


def start_settlement(engine: Engine, principal: Principal, as_of: date, policy: str | None) -> Job:
    from zhibo.settlement import service as settlement_service
    from zhibo.settlement.schemas import PolicyRef

    job = _new("settlement", principal, engine, as_of=as_of, policy=policy)

    def work() -> None:
        chosen = (
            settlement_service.policy_from_ref(PolicyRef(name=job.policy)) if job.policy else None
        )
        report = settlement_service.run(engine, as_of, chosen)
        job.report, job.run_id = report.as_dict(), report.run_id

    return _start(job, work)


def start_index_rebuild(engine: Engine, principal: Principal, data_dir: Any) -> Job:
    """A new search index from the database, swapped in when complete (the live one serves
    searches meanwhile)."""
    from zhibo.catalog.search.indexer import rebuild

    job = _new("index", principal, engine)

    def counted(done: int, total: int) -> None:
        job.stage, job.done, job.total = "index", done, total
        if total and done >= total:
            job.stage = "swap"

    def work() -> None:
        _stage(job, "index")
        report = rebuild(engine, progress=counted, data_dir=data_dir)
        job.report = {"products": report.products, "seconds": round(report.seconds, 3)}
        job.done = report.products

    return _start(job, work)


def start_grading(engine: Engine, principal: Principal, as_of: date, data_dir: Any) -> Job:
    """Grade every account as of a day, in one unit of work (nothing is visible until the
    whole run commits)."""
    from zhibo.events.lake import lake_root
    from zhibo.grading import service as grading_service
    from zhibo.kit.db import unit_of_work

    job = _new("grading", principal, engine, as_of=as_of)

    def reached(stage: str) -> None:
        _stage(job, stage)

    def work() -> None:
        with unit_of_work(engine) as db:
            summary = grading_service.run(db, as_of, lake_root=lake_root(data_dir), stage=reached)
        job.report = {
            "seconds": summary.seconds,
            "key_rooms": summary.key_rooms,
            "notifications": summary.notifications,
            "model_version": summary.model_version,
        }

    return _start(job, work)


def _job(db: Session, principal: Principal, job_id: str) -> Job:
    principal.require(Role.OPERATOR)
    with _lock:
        here = _running.get(job_id)
    if here is not None:  # running in this process: fresher than its row
        return here
    row = db.get(ConsoleJob, job_id[:32])
    if row is None:
        raise NotFound(f"job: no job {job_id!r}")
    return _from_row(row)


async def _operator_form(request: Request, principal: Principal) -> Any:
    form = await request.form()
    console_session.check_csrf(request, str(form.get("csrf", "")))
    principal.require(Role.OPERATOR)
    return form


def _as_of(form: Any) -> date:
    as_of = _day(str(form.get("as_of", ""))[:10], "as_of")
    if as_of is None:
        raise InvalidInput("as_of: give the day (YYYY-MM-DD)")
    return as_of


@router.post("/settlement/runs")
async def start_run(request: Request, principal: SignedIn) -> Response:
    """An operator settles as of a day (as ``POST /v1/settlement/runs``), in the background."""
    from zhibo.settlement.policy import BUILT_IN

    form = await _operator_form(request, principal)
    as_of = _as_of(form)
    policy = str(form.get("policy", "")).strip() or None
    if policy is not None and policy not in BUILT_IN:
        raise InvalidInput(f"policy: {policy!r} is not one of {', '.join(BUILT_IN)}")
    job = start_settlement(request.app.state.engine, principal, as_of, policy)
    return RedirectResponse(f"/console/jobs/{job.id}", 303)


@router.post("/jobs/index")
async def start_index(request: Request, principal: SignedIn) -> Response:
    """An operator rebuilds the product pool's search index (``zhibo catalog index
    --rebuild``), in the background."""
    await _operator_form(request, principal)
    state = request.app.state
    job = start_index_rebuild(state.engine, principal, state.settings.data_dir)
    return RedirectResponse(f"/console/jobs/{job.id}", 303)


@router.post("/jobs/grading")
async def start_grading_run(request: Request, principal: SignedIn) -> Response:
    """An operator grades every account as of a day (``zhibo grade run``), in the
    background."""
    form = await _operator_form(request, principal)
    state = request.app.state
    job = start_grading(state.engine, principal, _as_of(form), state.settings.data_dir)
    return RedirectResponse(f"/console/jobs/{job.id}", 303)


JobId = Annotated[str, "a job id"]


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, db: DB, principal: SignedIn) -> HTMLResponse:
    """The long actions an operator may start here, and the last ones started."""
    principal.require(Role.OPERATOR)
    today = utcnow().date()
    return render(request, "jobs.html", {"jobs": recent(db), "today": today}, principal)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, db: DB, principal: SignedIn, job_id: JobId) -> HTMLResponse:
    job = _job(db, principal, job_id)
    t = translator(console_session.language(request))
    labels = {
        "state": {name: t(f"job.state.{name}") for name in STATES},
        "stage": {name: t(f"job.stage.{name}") for name in STAGES[job.kind]},
    }
    context = {"job": job, "now": progress(db, job), "active": "jobs", "labels": labels}
    return render(request, "job.html", context, principal)


@router.get("/jobs/{job_id}/progress")
def job_progress(db: DB, principal: SignedIn, job_id: JobId) -> JSONResponse:
    job = _job(db, principal, job_id)
    return JSONResponse(progress(db, job), headers={"Cache-Control": "no-store"})
