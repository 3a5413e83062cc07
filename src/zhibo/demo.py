"""``zhibo demo``: a populated platform on the embedded default, in one command."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

console = Console(stderr=True)

DEMO_DIR = Path("var/demo")


def run_demo(host: str, port: int, seed: int, serve_api: bool = True) -> dict[str, str]:
    """Simulate, load, create demo tokens, then serve. Returns the tokens it printed."""
    from zhibo.config import Settings
    from zhibo.kit import migrate
    from zhibo.kit.db import make_engine
    from zhibo.load.service import load_directory
    from zhibo.sim.generator import generate

    started = time.monotonic()
    configured = os.environ.get("ZHIBO_DATABASE_URL")
    if configured:
        url = configured
    else:
        # A fresh demo every time: the simulated days end today.
        shutil.rmtree(DEMO_DIR, ignore_errors=True)
        url = f"sqlite:///{(DEMO_DIR / 'zhibo.db').resolve()}"
    sim_dir = DEMO_DIR / "platform"
    days = 7
    start = (datetime.now(UTC) - timedelta(days=days)).date()

    console.rule("[bold]zhibo demo")
    console.print(f"1/5 simulating a small platform ({days} days from {start}, seed {seed})")
    shutil.rmtree(sim_dir, ignore_errors=True)
    generate(seed=seed, scale="small", out=sim_dir, start=start, days=days, progress=True)

    console.print(f"2/5 building the schema on {url.split('///')[0]}")
    engine = make_engine(url)
    migrate.upgrade(engine)

    console.print("3/5 loading the platform and indexing its product pool")
    counts = load_directory(engine, sim_dir, progress=True)
    from zhibo.catalog.search.indexer import rebuild

    rebuild(engine, progress=True, data_dir=Settings(database_url=url).data_dir)

    console.print("4/5 settling commission and grading streamers (as of yesterday)")
    from zhibo.events.lake import lake_root
    from zhibo.grading import service as grading
    from zhibo.kit.db import unit_of_work
    from zhibo.settlement.run import run_settlement

    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    run_settlement(engine, yesterday)
    with unit_of_work(engine) as db:
        grading.run(db, yesterday, lake_root=lake_root(Settings(database_url=url).data_dir))

    console.print("5/5 creating demo tokens")
    tokens = _demo_tokens(engine)
    elapsed = time.monotonic() - started
    lines = [
        f"set-up took {elapsed:.0f} s; "
        f"{counts.get('products', 0):,} products, {counts.get('streamers', 0):,} streamers, "
        f"{counts.get('orders', 0):,} orders",
        "",
        f"Console:    http://{host}:{port}/console  (sign in with a token below)",
        f"API docs:   http://{host}:{port}/docs",
        f"Health:     http://{host}:{port}/healthz",
        "",
    ]
    for label, token in tokens.items():
        lines.append(f"{label:<26} {token}")
    lines += [
        "",
        f"try:  curl -H 'Authorization: Bearer {tokens['operator']}' "
        f"http://{host}:{port}/v1/orders?limit=3",
    ]
    # The ready panel goes to standard output (progress went to standard error), so scripts can
    # read the tokens: each is on a line of its own after its label.
    Console().print(
        Panel("\n".join(lines), title="zhibo is ready", expand=False), crop=False, soft_wrap=True
    )
    print(f"demo token (operator): {tokens['operator']}", flush=True)
    if serve_api:
        import uvicorn

        from zhibo.app import create_app

        settings = Settings(database_url=url)
        uvicorn.run(create_app(settings, engine), host=host, port=port, log_level="info")
    return tokens


def _demo_tokens(engine: Engine) -> dict[str, str]:
    from zhibo.kit.auth import create_token
    from zhibo.kit.db import unit_of_work
    from zhibo.models import Brand, Order, Partner, Role, Streamer

    tokens: dict[str, str] = {}
    with unit_of_work(engine) as session:
        tokens["operator"] = create_token(session, Role.OPERATOR, None, "demo")[0]
        tokens["compliance"] = create_token(session, Role.COMPLIANCE, None, "demo")[0]
        tokens["auditor"] = create_token(session, Role.AUDITOR, None, "demo")[0]
        top_streamer = session.scalar(
            select(Order.streamer_id)
            .group_by(Order.streamer_id)
            .order_by(func.sum(Order.amount_fen).desc())
            .limit(1)
        ) or session.scalar(select(Streamer.id).limit(1))
        if top_streamer is not None:
            tokens[f"streamer {top_streamer}"] = create_token(
                session, Role.STREAMER, top_streamer, "demo"
            )[0]
        partner = session.scalar(select(Partner.id).order_by(Partner.id).limit(1))
        if partner is not None:
            tokens[f"partner {partner}"] = create_token(session, Role.PARTNER, partner, "demo")[0]
        brand = session.scalar(select(Brand.id).order_by(Brand.id).limit(1))
        if brand is not None:
            tokens[f"brand {brand}"] = create_token(session, Role.BRAND, brand, "demo")[0]
    return {("operator" if key == "operator" else key): value for key, value in tokens.items()}
