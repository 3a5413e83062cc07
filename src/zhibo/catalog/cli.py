"""``zhibo catalog``: import products into the pool, index it, search it, check the index."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from zhibo.kit.cli import ready_engine

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
# === end: import ===

# === section: search, index, check (catalog/search/) ===
# === end: search ===
