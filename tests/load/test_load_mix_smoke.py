"""The load benchmark (``bench/load_mix.py``) keeps working: a tiny world, one API worker and
one pipeline worker for a few seconds, against PostgreSQL and a private nats-server."""

from __future__ import annotations

import shutil

import pytest
from bench import load_mix

pytestmark = pytest.mark.postgres


def test_tiny_load_reports_every_class_without_errors(pg_database: str) -> None:
    # pg_database: skips when PostgreSQL is not reachable (the benchmark makes its own database).
    if shutil.which("nats-server") is None:
        pytest.skip("nats-server is not installed")
    report = load_mix.run(
        load_mix.WorldSize(
            products=1_500, streamers=20, viewers=2_000, days=2, sim_events=10_000, live=10
        ),
        api_workers=[1],
        pipeline_workers=1,
        repeat=1,
        seconds=3.0,
        event_rate=2_000,
        rates={"search": 4.0, "metrics": 10.0, "orders": 3.0, "dashboard": 3.0},
        batch=500,
        steps=[],
        step_seconds=0.0,
        warmup_s=0.5,
        healthz_count=10,
        drain_s=10.0,
        ingest_s=1.0,
    )
    assert report["world"]["products"] == 1_500
    config = report["configs"]["1"]
    mix = config["mix"]
    assert set(mix["classes"]) == set(load_mix.CLASSES)
    for kind, figures in mix["classes"].items():
        assert figures["per_s"] > 0, kind
        assert figures["errors"] == 0, (kind, mix["errors"])
        assert figures["p50_ms"] <= figures["p99_ms"], kind
    # Ingestion is real end to end: the API queued the events on JetStream and the pipeline
    # worker committed them to the metrics.
    assert mix["accepted_per_s"] > 0
    assert mix["applied_per_s"] > 0
    assert config["baseline"]["ingest_only_accepted_per_s"] > 0
    assert config["baseline"]["me_p50_ms"] > 0
    assert set(mix["cpu"]) >= {"api", "pipeline", "nats", "generator", "machine"}


def test_break_criteria() -> None:
    def result(metrics_p99: float, search_p99: float, accepted: float, applied: float) -> object:
        classes = {k: {"p99_ms": 1.0, "requests": 100, "errors": 0} for k in load_mix.CLASSES}
        classes["metrics"]["p99_ms"] = metrics_p99
        classes["search"]["p99_ms"] = search_p99
        return load_mix.PhaseResult(
            seconds=10,
            offered_events_per_s=100_000,
            accepted_per_s=accepted,
            applied_per_s=applied,
            backlog_after=0,
            classes=classes,
            cpu={},
            errors=[],
        )

    assert load_mix.broken(result(40, 90, 99_000, 98_000)) == []  # type: ignore[arg-type]
    assert "metrics p99" in load_mix.broken(result(51, 90, 99_000, 98_000))[0]  # type: ignore[arg-type]
    assert "search p99" in load_mix.broken(result(40, 101, 99_000, 98_000))[0]  # type: ignore[arg-type]
    assert "accepted" in load_mix.broken(result(40, 90, 90_000, 90_000))[0]  # type: ignore[arg-type]
    assert "pipeline" in load_mix.broken(result(40, 90, 99_000, 80_000))[0]  # type: ignore[arg-type]
