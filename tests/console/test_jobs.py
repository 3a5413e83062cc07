"""The console's long actions besides the settlement run: an operator rebuilds the search index
and runs a grading from the Jobs page; each runs in the background and its polled progress
only goes forward, names its stages and ends done (or failed, with the error's name)."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import builders as b
from tests.console.test_pages import _csrf, _sign_in
from zhibo.console import jobs
from zhibo.kit.auth import create_token
from zhibo.models import Role
from zhibo.models.grading import GradingRun


def _follow(client: TestClient, location: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    deadline = time.monotonic() + 30
    seen = []
    while True:
        now = client.get(location + "/progress").json()
        seen.append(now)
        if now["state"] in ("done", "failed"):
            return now, seen
        assert time.monotonic() < deadline, f"the job did not finish: {now}"
        time.sleep(0.02)


def test_an_operator_rebuilds_the_index_and_runs_a_grading_with_progress(
    client: TestClient, db: Session
) -> None:
    for index in range(12):
        b.product(db, title=f"保湿面霜 {index}", price_fen=1_000 + index)
    b.streamer(db, partner_row=b.partner(db))
    tokens = {role: create_token(db, role, None)[0] for role in (Role.OPERATOR, Role.AUDITOR)}
    db.commit()

    _sign_in(client, tokens[Role.AUDITOR])
    assert client.get("/console/jobs").status_code == 403
    _sign_in(client, tokens[Role.OPERATOR])
    page = client.get("/console/jobs")
    assert page.status_code == 200 and 'href="/console/jobs" aria-current="page"' in page.text
    csrf = _csrf(page.text)
    assert client.post("/console/jobs/index", data={}).status_code == 403  # no CSRF value
    _sign_in(client, tokens[Role.AUDITOR])
    auditor_csrf = _csrf(client.get("/console/goals").text)
    assert client.post("/console/jobs/index", data={"csrf": auditor_csrf}).status_code == 403
    _sign_in(client, tokens[Role.OPERATOR])

    started = client.post("/console/jobs/index", data={"csrf": csrf})
    assert started.status_code == 303
    job_page = client.get(started.headers["location"])
    assert job_page.status_code == 200 and 'data-kind="index"' in job_page.text
    now, seen = _follow(client, started.headers["location"])
    assert now["state"] == "done", now
    assert (
        now["progress"] == 1
        and (now["done"], now["total"]) == (12, 12)
        and now["stages"] == list(jobs.STAGES["index"])
    )
    progress = [item["progress"] for item in seen]
    assert progress == sorted(progress)  # never back
    found = client.get("/console/pool", params={"q": "面霜"})
    assert found.text.count('<tr data-product="') == 12

    bad = client.post("/console/jobs/grading", data={"csrf": csrf, "as_of": "2026-02-30"})
    assert bad.status_code == 422 and "as_of" in bad.text
    started = client.post("/console/jobs/grading", data={"csrf": csrf, "as_of": "2026-11-20"})
    assert started.status_code == 303
    now, seen = _follow(client, started.headers["location"])
    assert now["state"] == "done", now
    assert now["progress"] == 1 and now["stage"] == "done"
    stages = [item["stage"] for item in seen]
    order = list(jobs.STAGES["grading"])
    assert [order.index(stage) for stage in stages] == sorted(order.index(s) for s in stages)
    db.expire_all()
    assert db.scalar(select(GradingRun.id).where(GradingRun.as_of == jobs.date(2026, 11, 20)))
    listed = client.get("/console/jobs").text
    assert listed.count("<tr data-job=") >= 2 and "评级 2026-11-20" in listed


def test_a_failed_job_says_why_and_progress_is_within_its_stage() -> None:
    from zhibo.kit.errors import Conflict
    from zhibo.kit.time import utcnow

    job = jobs.Job(id="x", kind="index", started_by=None, started_at=utcnow())
    job.state, job.stage, job.done, job.total = "running", "index", 50, 100
    half = jobs.progress(None, job)  # type: ignore[arg-type]  (no database read for an index)
    assert 1 / 3 < half["progress"] < 2 / 3 and (half["done"], half["total"]) == (50, 100)

    def refuse() -> None:
        raise Conflict("a rebuild is running already")

    jobs._run(job, refuse)
    assert job.state == "failed" and job.error == "Conflict: a rebuild is running already"


def test_a_job_is_shown_by_every_process_and_one_whose_process_stopped_is_failed(
    client: TestClient, db: Session
) -> None:
    """Progress comes from the job's row, so another API process (not the one running the
    work) shows it; a running job without heartbeats is shown as interrupted."""
    from datetime import timedelta

    from zhibo.kit.time import utcnow
    from zhibo.models.console import ConsoleJob

    operator = create_token(db, Role.OPERATOR, None)[0]
    db.commit()
    _sign_in(client, operator)
    elsewhere = jobs.Job(
        id="elsewhere",
        kind="index",
        started_by=None,
        started_at=utcnow(),
        state="running",
        stage="index",
        done=40,
        total=100,
        engine=db.get_bind(),  # type: ignore[arg-type]
    )
    jobs.save(elsewhere)  # written by "another process": not in this one's running jobs
    now = client.get("/console/jobs/elsewhere/progress").json()
    assert (now["state"], now["stage"], now["done"], now["total"]) == ("running", "index", 40, 100)
    assert 'data-job="elsewhere"' in client.get("/console/jobs").text

    db.query(ConsoleJob).filter_by(id="elsewhere").update(
        {"updated_at": utcnow() - timedelta(seconds=jobs.STALE_S + 1)}
    )
    db.commit()
    now = client.get("/console/jobs/elsewhere/progress").json()
    assert now["state"] == "failed" and "interrupted" in now["error"]
    assert client.get("/console/jobs/nothing/progress").status_code == 404
