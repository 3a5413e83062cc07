"""``zhibo catalog``: import products into the pool, index it, search it, check the index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from zhibo.kit.cli import err, fail, ready_engine

catalog_app = typer.Typer(
    help="The product pool: import, index, search, check.", no_args_is_help=True
)


@catalog_app.command("stats")
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """How many products, brands and categories the pool holds, and index changes pending."""
    from sqlalchemy import func, select

    from zhibo.catalog import outbox
    from zhibo.kit.db import unit_of_work
    from zhibo.models import Brand, Category, Product

    with unit_of_work(ready_engine()) as session:
        figures = {
            "products": session.scalar(select(func.count()).select_from(Product)) or 0,
            "brands": session.scalar(select(func.count()).select_from(Brand)) or 0,
            "categories": session.scalar(select(func.count()).select_from(Category)) or 0,
            "index_changes_pending": outbox.pending(session),
        }
    if as_json:
        typer.echo(json.dumps(figures))
    else:
        for name, value in figures.items():
            typer.echo(f"{name:>22}: {value:,}")


# === section: import (catalog/importer.py) ===
@catalog_app.command("import")
def import_products(
    file: Annotated[
        Path, typer.Argument(help="A .csv, .jsonl/.ndjson or .parquet file", show_default=False)
    ],
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="FILE_COLUMN=FIELD",
            help="Read a file column as an import field (repeatable)",
        ),
    ] = None,
    create_missing: Annotated[
        bool,
        typer.Option(
            "--create-missing",
            help="Create unknown brands (by name) and categories (with their ancestors)",
        ),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Reject report path [default: FILE.rejects.csv]"),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, max=5_000, help="Rows per transaction")
    ] = 2_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON")] = False,
) -> None:
    """Upsert products into the pool by (brand, product_id); bad rows go to a reject report.

    Fields: product_id brand category title description price_fen reference_price_fen
    commission_rate_bp stock [currency] [status]. Other columns are ignored.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from zhibo.catalog.importer import job, readers
    from zhibo.catalog.importer.fields import parse_mapping
    from zhibo.catalog.importer.report import RejectReport, UnwritableReport, default_path
    from zhibo.kit.errors import InvalidInput, ZhiboError

    try:
        source = readers.open_source(file, parse_mapping(mapping or []), chunk_rows)
    except ZhiboError as error:
        fail(error, 2)
    report_path = rejects or default_path(file)
    report: RejectReport | None = None
    try:
        if report_path.resolve() == file.resolve():
            raise UnwritableReport(f"--rejects: {report_path} is the file being imported")
        report = RejectReport(report_path)
        if source.ignored:
            names = ", ".join(sorted(source.ignored))
            err.print(f"ignoring columns that are not import fields: {names}", markup=False)
        engine = ready_engine()
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=err,
            disable=as_json,
            transient=True,
        ) as progress:
            task = progress.add_task("import", total=source.progress()[1])
            counts = job.run_import(
                engine,
                source,
                report,
                create_missing=create_missing,
                chunk_rows=chunk_rows,
                on_chunk=lambda done: progress.update(task, completed=done[0]),
            )
    except typer.Exit:
        raise
    except ZhiboError as error:
        fail(error, 2 if isinstance(error, InvalidInput) else 1)
    except KeyboardInterrupt:
        fail(job.ImportFailed("interrupted; import the file again to finish"), 130)
    except Exception as exc:  # a database outage, a full disk: a message, not a traceback
        reason = (str(exc).splitlines() or [""])[0][:300]
        fail(job.ImportFailed(f"{type(exc).__name__}: {reason}"), 1)
    finally:
        if report is not None:
            report.close()
        source.close()
    if as_json:
        typer.echo(json.dumps(counts.as_dict()))
    else:
        typer.echo(", ".join(f"{name} {value:,}" for name, value in counts.as_dict().items()))
    err.print(f"reject report: {report_path} ({report.lines:,} lines)", markup=False)


# === end: import ===


# === section: search, index, check (catalog/search/) ===
@catalog_app.command("search")
def search_pool(
    query: Annotated[str | None, typer.Argument(help="Words that must all match")] = None,
    category: Annotated[str | None, typer.Option(help="Category id or path (subtree)")] = None,
    brand: Annotated[str | None, typer.Option(help="Brand id or name")] = None,
    min_price_fen: Annotated[int | None, typer.Option("--min-price-fen")] = None,
    max_price_fen: Annotated[int | None, typer.Option("--max-price-fen")] = None,
    min_commission_bp: Annotated[int | None, typer.Option("--min-commission-bp")] = None,
    in_stock: Annotated[bool, typer.Option("--in-stock", help="Only products with stock")] = False,
    sort: Annotated[str, typer.Option(help="relevance|commission|sales|price")] = "relevance",
    limit: Annotated[int, typer.Option(help="1..100")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as a JSON array")] = False,
) -> None:
    """Search the product pool (builds the index first if there is none)."""
    from zhibo.catalog.search import store
    from zhibo.catalog.search.indexer import rebuild
    from zhibo.catalog.search.service import PoolQuery, hits_as_json
    from zhibo.catalog.search.service import search_pool as run_search
    from zhibo.config import get_settings
    from zhibo.kit.db import unit_of_work
    from zhibo.kit.errors import ZhiboError

    engine = ready_engine()
    live = store.LiveIndex(get_settings().data_dir)
    pool_query = PoolQuery(
        q=query,
        category=category,
        brand=brand,
        min_price_fen=min_price_fen,
        max_price_fen=max_price_fen,
        min_commission_bp=min_commission_bp,
        in_stock=in_stock,
        sort=sort,
        limit=limit,
    )
    try:
        if not live.exists():
            err.print("no search index yet: building it")
            rebuild(engine, progress=True)
        with unit_of_work(engine) as session:
            page = run_search(session, live.get(), None, pool_query)
    except ZhiboError as error:
        fail(error, 2)
    hits = hits_as_json(page.items)
    if as_json:
        typer.echo(json.dumps(hits, ensure_ascii=False))
        return
    for hit in hits:
        typer.echo(
            f"{hit['id']:>10}  {hit['price_fen'] / 100:>10.2f}  "
            f"{hit['commission_rate_bp'] / 100:>5.1f}%  {hit['sales_30d']:>7}  {hit['title']}"
        )
    exact = "" if page.total_exact else "at least "
    err.print(f"{len(hits)} shown, {exact}{page.total:,} matching", markup=False)


@catalog_app.command("index")
def index_pool(
    rebuild_index: Annotated[
        bool, typer.Option("--rebuild", help="Build a new index from the database and swap it in")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep the index fresh from the change queue")
    ] = False,
    threads: Annotated[int, typer.Option(min=1, max=8, help="Indexing threads")] = 1,
) -> None:
    """Build the search index, or follow changes (the external indexer)."""
    import signal
    import threading

    from zhibo.catalog.search.indexer import Follower, rebuild
    from zhibo.config import get_settings
    from zhibo.kit.errors import ZhiboError

    if not rebuild_index and not follow:
        fail("give --rebuild, --follow or both", 2)
    engine = ready_engine()
    data_dir = get_settings().data_dir
    try:
        if rebuild_index:
            report = rebuild(engine, progress=True, data_dir=data_dir, threads=threads)
            rate = report.products / max(report.seconds, 1e-9)
            err.print(
                f"indexed {report.products:,} products in {report.seconds:.1f} s "
                f"({rate:,.0f}/s) at {report.path}",
                markup=False,
            )
        if follow:
            stop = threading.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_args: stop.set())
            err.print("following the change queue (Ctrl-C stops)")
            Follower(engine, data_dir).run(stop, wait_for_lock=False)
    except ZhiboError as error:
        fail(error, 1)


@catalog_app.command("check")
def check_index(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    examples: Annotated[int, typer.Option(min=0, max=100, help="Examples per kind")] = 5,
) -> None:
    """Compare the index with the database; exit 1 when they drifted apart."""
    from zhibo.catalog.search import store
    from zhibo.catalog.search.check import check
    from zhibo.config import get_settings
    from zhibo.kit.errors import ZhiboError

    engine = ready_engine()
    try:
        report = check(engine, store.LiveIndex(get_settings().data_dir).get(), examples=examples)
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        typer.echo(
            f"store {report.store_products:,} sellable, index {report.indexed_documents:,}: "
            f"missing {report.missing:,}, extra {report.extra:,}, "
            f"duplicates {report.duplicates:,}, "
            + ", ".join(f"stale {name} {count:,}" for name, count in report.stale.items())
        )
        for kind, found in report.examples.items():
            typer.echo(f"  {kind}: {found}")
    if report.drift:
        raise typer.Exit(1)


# === end: search ===
