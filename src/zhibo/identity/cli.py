"""``zhibo identity``, ``zhibo retention`` and ``zhibo report``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from zhibo.kit.cli import err, fail, ready_engine
from zhibo.kit.errors import InvalidInput, ZhiboError

identity_app = typer.Typer(help="Real-name identity, blacklist and tips.", no_args_is_help=True)
blacklist_app = typer.Typer(help="The blacklist.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention of live content and records.", no_args_is_help=True)
identity_app.add_typer(blacklist_app, name="blacklist")
patrol_app = typer.Typer(
    help="Patrol shifts and coverage (1 reviewer per 50 rooms).", no_args_is_help=True
)
shift_app = typer.Typer(help="Reviewers' patrol shifts.", no_args_is_help=True)
patrol_app.add_typer(shift_app, name="shift")


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(InvalidInput(f"{option}: {value!r} is not a date (YYYY-MM-DD)"), 2)


def _moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(InvalidInput(f"{option}: {value!r} is not a date or time (ISO 8601)"), 2)
    if moment.tzinfo is None:
        if "T" in value or " " in value:
            fail(InvalidInput(f"{option}: give a timezone (Z or an offset)"), 2)
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@identity_app.command("check-id")
def check_id(
    number: Annotated[str, typer.Argument(help="A resident identity number (18 characters)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Age as of this date (default: today, UTC)")
    ] = None,
    streamer: Annotated[
        bool, typer.Option("--streamer", help="Also require the streamer age rule (16+)")
    ] = False,
    consent: Annotated[
        bool, typer.Option("--consent", help="With --streamer: a guardian consent is on record")
    ] = False,
) -> None:
    """Validate an ID number (checksum, region, birth date) and give the age; never prints the
    number."""
    from zhibo.config import get_settings
    from zhibo.identity.numbers import IdCheck, check_id_number

    day = _day(as_of, "--as-of") or datetime.now(UTC).date()
    result = check_id_number(number, day)
    age = result.age
    if streamer and result.valid and age is not None:
        min_age = get_settings().streamer_min_age
        if age < min_age:
            reason: str | None = f"streamers must be at least {min_age}"
        elif age < 18 and not consent:
            reason = "16-17: a guardian's consent must be on record"
        else:
            reason = None
        if reason is not None:
            result = IdCheck(False, None, result.birth_date, age, None, reason)
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return
    if result.valid:
        err.print(f"valid: born {result.birth_date}, age {result.age}")
    else:
        err.print(f"[bold red]invalid[/]: {result.reason}")
        raise typer.Exit(1)


@identity_app.command("check-code")
def check_code(code: str) -> None:
    """Validate a unified social credit code (organisations)."""
    from zhibo.identity.numbers import validate_credit_code

    try:
        validate_credit_code(code)
    except ZhiboError as error:
        fail(error, 1)
    err.print("valid")


@identity_app.command("new-key")
def new_key() -> None:
    """Print a fresh key for ZHIBO_IDENTITY_KEY."""
    from zhibo.identity.crypto import new_key as make

    typer.echo(make())


@identity_app.command("reveal")
def reveal(
    streamer_id: int,
    field: Annotated[str, typer.Option(help="id_number or phone")],
    actor: Annotated[str, typer.Option(help="Who reads it (audited)")],
    purpose: Annotated[str, typer.Option(help="Why it is needed (audited)")],
) -> None:
    """Print a streamer's clear ID number or phone; the read is audited with who and why."""
    from zhibo.identity.service import reveal as read
    from zhibo.kit.db import unit_of_work

    try:
        with unit_of_work(ready_engine()) as session:
            value = read(
                session, streamer_id=streamer_id, field=field, actor=actor, purpose=purpose
            )
    except ZhiboError as error:
        fail(error, 2)
    typer.echo(value)


@identity_app.command("credit-tips")
def credit_tips(
    at: Annotated[str | None, typer.Option(help="As of this time (default: now)")] = None,
) -> None:
    """Credit streamers with the tips whose hold period has ended."""
    from zhibo.identity.tipping import credit_due
    from zhibo.kit.db import unit_of_work

    with unit_of_work(ready_engine()) as session:
        credited = credit_due(session, _moment(at, "--at"))
        total = sum(tip.amount_fen for tip in credited)
    typer.echo(json.dumps({"credited": len(credited), "amount_fen": total}))


@identity_app.command("post-tips")
def post_tips() -> None:
    """Post the ledger entries of tips made before tips were on the ledger (idempotent)."""
    from zhibo.identity.tip_ledger import backfill
    from zhibo.kit.db import unit_of_work

    with unit_of_work(ready_engine()) as session:
        posted = backfill(session)
    typer.echo(json.dumps({"posted": posted}))


@blacklist_app.command("expire")
def blacklist_expire() -> None:
    """Mark entries whose duration ended as expired (with history)."""
    from zhibo.identity.blacklist import expire_due
    from zhibo.kit.db import unit_of_work

    with unit_of_work(ready_engine()) as session:
        expired = expire_due(session)
        typer.echo(json.dumps({"expired": [entry.id for entry in expired]}))


@blacklist_app.command("list")
def blacklist_list(active: bool = True) -> None:
    """List entries (masked)."""
    from zhibo.identity.blacklist import entries
    from zhibo.kit.db import unit_of_work
    from zhibo.kit.time import utcnow

    with unit_of_work(ready_engine()) as session:
        for e in entries(session, active_at=utcnow() if active else None):
            until = e.expires_at.date() if e.expires_at else "until lifted"
            typer.echo(
                f"{e.id}\t{e.id_number_masked or '-'}\t{e.phone_masked or '-'}\t{e.status}"
                f"\t{until}\t{e.reasons}"
            )


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, delete nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Purge as of this date/time (default: now)")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="A retention policy file (default: the built-in one)")
    ] = None,
) -> None:
    """Delete expired live content, logs and records (database rows and lake files); legal
    holds and key rooms' longer periods are kept; the run and what it removed are recorded."""
    from zhibo.config import get_settings
    from zhibo.identity.retention import load_policies, run
    from zhibo.kit.db import unit_of_work

    try:
        policies = load_policies(policy)
        with unit_of_work(ready_engine()) as session:
            record, results = run(
                session,
                data_dir=get_settings().data_dir,
                as_of=_moment(as_of, "--as-of"),
                dry_run=dry_run,
                policies=policies,
            )
            out = {
                "run_id": record.id,
                "dry_run": dry_run,
                "as_of": record.as_of.isoformat(),
                "policy_version": record.policy_version,
                "removed": record.removed,
                "targets": [vars(result) for result in results],
            }
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(json.dumps(out))
        return
    for result in results:
        err.print(
            f"{result.data_class}/{result.target}: removed {result.removed:,}, kept "
            f"{result.kept_on_hold:,} on hold and {result.kept_key_room:,} of key rooms"
        )


def report(
    from_day: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD, UTC)")],
    to_day: Annotated[str, typer.Option("--to", help="Last day, inclusive")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the CSV files and HTML")],
) -> None:
    """Export the regulator report for a date range: CSV files and report.html."""
    from zhibo.identity.report import build, write
    from zhibo.kit.db import unit_of_work

    start, end = _day(from_day, "--from"), _day(to_day, "--to")
    assert start is not None and end is not None
    if end < start:
        fail(InvalidInput("--to: before --from"), 2)
    with unit_of_work(ready_engine()) as session:
        sections = build(session, start, end)
    try:
        files = write(sections, out, start, end)
    except ZhiboError as error:  # e.g. a symbolic link planted in --out
        fail(error, 2)
    for section in sections:
        err.print(f"{section.name}: {len(section.rows):,} rows")
    typer.echo(str(files["html"]))


def _shift_json(shift: object) -> str:
    from zhibo.identity.schemas import PatrolShiftOut

    return PatrolShiftOut.model_validate(shift).model_dump_json()


@shift_app.command("start")
def shift_start(
    reviewer: Annotated[int, typer.Option(help="The reviewer's compliance token id")],
    at: Annotated[str | None, typer.Option(help="Start time (default: now)")] = None,
    until: Annotated[str | None, typer.Option(help="End time, for a planned shift")] = None,
    by: Annotated[str, typer.Option(help="Who records it")] = "cli",
) -> None:
    """Start (or record) a reviewer's patrol shift; prints it as JSON."""
    from zhibo.identity.patrol import start_shift
    from zhibo.kit.db import unit_of_work

    try:
        with unit_of_work(ready_engine()) as session:
            shift = start_shift(
                session,
                reviewer_token_id=reviewer,
                starts_at=_moment(at, "--at"),
                ends_at=_moment(until, "--until"),
                created_by=by,
            )
            out = _shift_json(shift)
    except ZhiboError as error:
        fail(error, 2)
    typer.echo(out)


@shift_app.command("end")
def shift_end(
    reviewer: Annotated[int | None, typer.Option(help="End this reviewer's open shift")] = None,
    shift: Annotated[int | None, typer.Option(help="End this shift")] = None,
    at: Annotated[str | None, typer.Option(help="End time (default: now)")] = None,
) -> None:
    """End a patrol shift (by id, or the reviewer's open one); prints it as JSON."""
    from zhibo.identity.patrol import end_shift
    from zhibo.kit.db import unit_of_work

    if (reviewer is None) == (shift is None):
        fail(InvalidInput("--reviewer, --shift: name exactly one"), 2)
    try:
        with unit_of_work(ready_engine()) as session:
            ended = end_shift(
                session, shift_id=shift, reviewer_token_id=reviewer, at=_moment(at, "--at")
            )
            out = _shift_json(ended)
    except ZhiboError as error:
        fail(error, 2)
    typer.echo(out)


@patrol_app.command("coverage")
def patrol_coverage(
    from_time: Annotated[str, typer.Option("--from", help="Start (date or ISO time, UTC)")],
    to_time: Annotated[str, typer.Option("--to", help="End, exclusive (date or ISO time)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Patrol coverage per UTC hour: rooms online, reviewers on shift, the 1-per-N rule."""
    from zhibo.identity.patrol import coverage
    from zhibo.kit.db import unit_of_work

    start, end = _moment(from_time, "--from"), _moment(to_time, "--to")
    assert start is not None and end is not None
    try:
        with unit_of_work(ready_engine()) as session:
            hours = coverage(session, start, end)
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        from dataclasses import asdict

        rows = [{**asdict(h), "hour": h.hour.isoformat()} for h in hours]
        typer.echo(json.dumps({"hours": rows}))
        return
    for h in hours:
        if h.online_rooms or h.reviewers:
            mark = "ok" if h.meets_rule else "SHORT"
            err.print(
                f"{h.hour:%Y-%m-%d %H:00}  rooms {h.online_rooms:>5} (key {h.key_rooms})  "
                f"reviewers {h.reviewers:>3}/{h.reviewers_required:<3} {mark}"
            )
