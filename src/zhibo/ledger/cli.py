"""``zhibo ledger``: check that the books balance, and show account balances."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zhibo.kit.cli import err, fail, ready_engine

ledger_app = typer.Typer(help="The double-entry ledger: check, balances.", no_args_is_help=True)


@ledger_app.command("check")
def check_ledger(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Trial balance zero per currency, every entry balanced, reversals sound, orders traced.

    Exits 0 when the ledger is sound, 1 when anything is wrong (each problem names the entry
    key and/or order id).
    """
    from zhibo.kit.db import unit_of_work
    from zhibo.kit.errors import ZhiboError
    from zhibo.ledger import check

    try:
        with unit_of_work(ready_engine()) as session:
            report = check(session)
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        trial = ", ".join(f"{total:,} {cur}" for cur, total in report.trial_balance.items())
        err.print(
            f"{report.entries:,} entries, {report.postings:,} postings, "
            f"{report.accounts:,} accounts; trial balance: {trial or 'empty'}",
            highlight=False,
        )
    if report.balanced:
        if not as_json:
            typer.echo("balanced")
        return
    for problem in report.problems:
        where = []
        if problem.order_id is not None:
            where.append(f"order {problem.order_id}")
        if problem.entry_key is not None:
            where.append(f"entry {problem.entry_key!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        err.print(f"[bold red]problem[/]: {escape(prefix + problem.what)}", highlight=False)
    if report.more_problems:
        err.print(f"... and {report.more_problems:,} more", highlight=False)
    raise typer.Exit(1)


@ledger_app.command("balances")
def show_balances(
    prefix: Annotated[
        str, typer.Option("--prefix", help="Only accounts whose code starts with this")
    ] = "",
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            help="Balances as of this UTC time (ISO 8601)",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as a JSON array")] = False,
) -> None:
    """Balance of each account (debit > 0, credit < 0), in yuan and fen."""
    from datetime import UTC

    from zhibo.kit.db import unit_of_work
    from zhibo.kit.money import yuan
    from zhibo.ledger import balances

    when = None if as_of is None else as_of.replace(tzinfo=UTC)
    with unit_of_work(ready_engine()) as session:
        found = balances(session, prefix, as_of=when)
    if as_json:
        rows = [
            {"account": code, "currency": currency, "balance_fen": fen}
            for (code, currency), fen in found.items()
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=f"balances{f' ({prefix}*)' if prefix else ''}")
    table.add_column("account")
    table.add_column("currency")
    table.add_column("balance", justify="right")
    table.add_column("fen", justify="right")
    for (code, currency), fen in found.items():
        table.add_row(escape(code), currency, yuan(fen), str(fen))
    Console().print(table)
