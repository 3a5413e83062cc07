"""``zhibo settle``: accrue commission, run settlements, compare policies, choose the policy,
read statements and upcoming payouts, agree and settle slot fees."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from zhibo.kit.cli import err, fail, ready_engine
from zhibo.kit.errors import ZhiboError

settle_app = typer.Typer(
    help="Commission, settlement runs, payouts and what-if comparisons.", no_args_is_help=True
)
policy_app = typer.Typer(help="Settlement policies: list, check, show, set.", no_args_is_help=True)
settle_app.add_typer(policy_app, name="policy")
slot_fee_app = typer.Typer(
    help="Slot fees (坑位费) per session-product: agree, settle, list.", no_args_is_help=True
)
settle_app.add_typer(slot_fee_app, name="slot-fee")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on standard output")]


def _day(value: str, field: str = "--as-of") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{field}: {value!r} is not a date (YYYY-MM-DD)", 2)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, default=str))


@settle_app.command("run")
def run_command(
    as_of: Annotated[str, typer.Option("--as-of", help="Settle what is payable by this day")],
    policy: Annotated[
        str | None,
        typer.Option(help="Built-in policy name or policy file (default: the active policy)"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Settle: accrue commission, make payable what the policy says is due, write payout
    batches. Idempotent and resumable: run it again for the same day after any failure."""
    from zhibo.settlement import service

    day = _day(as_of)
    try:
        report = service.run(ready_engine(), day, service.resolve(policy))
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        _echo_json(report.as_dict())
        return
    from zhibo.kit.money import yuan

    policy_label = f"{report.policy['name']}@{report.policy['version']}"
    err.print(
        f"settlement {report.as_of} ({policy_label}, {report.status}"
        f"{', resumed' if report.resumed else ''}): {report.orders_settled:,} orders, "
        f"{report.clawbacks:,} claw-backs, {report.batches:,} payouts, "
        f"paid {yuan(report.paid_fen)}, reserve held {yuan(report.reserve_held_fen)}, "
        f"carried {yuan(report.carried_fen)} in {report.seconds:.1f} s"
    )


@settle_app.command("accrue")
def accrue_command(as_json: AsJson = False) -> None:
    """Compute commission for paid orders and apply refunds (also done by every run)."""
    from zhibo.kit.db import unit_of_work
    from zhibo.settlement.accrual import accrue

    try:
        with unit_of_work(ready_engine()) as db:
            result = accrue(db)
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        _echo_json({"orders": result.orders, "refunds": result.refunds})
    else:
        err.print(f"accrued {result.orders:,} orders and {result.refunds:,} refunds")


@settle_app.command("compare")
def compare_command(
    policy: Annotated[
        list[str], typer.Option(help="Built-in name or policy file; repeat to compare")
    ],
    paid_from: Annotated[str | None, typer.Option(help="Orders paid from this day")] = None,
    paid_to: Annotated[str | None, typer.Option(help="Orders paid up to this day")] = None,
    project_pending: Annotated[
        bool,
        typer.Option(
            "--project-pending",
            help="Estimate when orders still awaiting confirmation will be confirmed",
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Replay order history under each policy (nothing is written) and compare days to cash,
    cash paid by day and reserve held, overall and per streamer level and partner."""
    from zhibo.kit.db import unit_of_work
    from zhibo.settlement import service
    from zhibo.settlement.policy import resolve_policy

    start = _day(paid_from, "--paid-from") if paid_from else None
    end = _day(paid_to, "--paid-to") if paid_to else None
    try:
        policies = [resolve_policy(name) for name in policy]
        with unit_of_work(ready_engine()) as db:
            result = service.compare_policies(
                db, policies, start, end, project_pending=project_pending
            )
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        _echo_json(result)
        return
    table = Table(title=f"what-if over {result['orders_replayed']:,} orders")
    for column in ("policy", "orders", "pending", "mean days", "p50", "p90", "reserve peak"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name, outcome in result["policies"].items():
        table.add_row(
            name,
            f"{outcome['orders']:,}",
            f"{outcome['orders_pending']:,}",
            str(outcome["mean_days_to_cash"]),
            str(outcome["p50_days_to_cash"]),
            str(outcome["p90_days_to_cash"]),
            f"{outcome['reserve_held_peak_fen'] / 100:,.2f}",
        )
    Console().print(table)
    for name, difference in result["difference_vs_baseline"].items():
        typer.echo(f"{name} vs {result['baseline']}: {difference}")


@settle_app.command("statement")
def statement_command(
    streamer: Annotated[int | None, typer.Option(help="Streamer id")] = None,
    partner: Annotated[int | None, typer.Option(help="Partner id")] = None,
    batch: Annotated[int | None, typer.Option(help="One statement (payout batch) id")] = None,
    as_json: AsJson = False,
) -> None:
    """A payee's statements (oldest first), or one statement with its lines."""
    from zhibo.kit.auth import Principal
    from zhibo.kit.db import unit_of_work
    from zhibo.models import Role
    from zhibo.models.settlement import PayeeKind
    from zhibo.settlement import statements

    operator = Principal(Role.OPERATOR)
    try:
        with unit_of_work(ready_engine()) as db:
            if batch is not None:
                data: Any = statements.get_statement(db, operator, batch).model_dump(mode="json")
            else:
                kind, subject = _payee(streamer, partner)
                rows, _ = statements.list_statements(db, PayeeKind(kind), subject, None, 500)
                data = [row.model_dump(mode="json") for row in rows]
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        _echo_json(data)
        return
    for statement in data if isinstance(data, list) else [data]:
        _print_statement(statement)


def _print_statement(statement: dict[str, Any]) -> None:
    from zhibo.kit.money import yuan

    lines = [
        f"statement {statement['id']}  {statement['payee_kind']} {statement['payee_id']}  "
        f"as of {statement['as_of']}  policy {statement['policy']['name']}"
        f"@{statement['policy']['version']}",
        f"  orders settled        {statement['orders']:>12,}",
        f"  commission (net)      {yuan(statement['commission_fen']):>12}",
        f"  tax withheld          {yuan(statement['tax_fen']):>12}",
        f"  claw-backs            {yuan(-statement['clawback_fen']):>12}",
        *(
            [
                f"  tips paid             {yuan(statement['tips_fen']):>12}"
                f"  ({statement['tips']:,} tips)",
                f"  tip claw-backs        {yuan(-statement['tip_clawback_fen']):>12}",
            ]
            if statement.get("tips") or statement.get("tip_clawback_fen")
            else []
        ),
        f"  carried in            {yuan(statement['carried_in_fen']):>12}",
        f"  reserve held          {yuan(-statement['reserve_held_fen']):>12}"
        + (
            f"  (released {statement['reserve_release_on']})"
            if statement["reserve_held_fen"]
            else ""
        ),
        f"  reserve released      {yuan(statement['reserve_released_fen']):>12}",
        f"  paid                  {yuan(statement['paid_fen']):>12}",
        f"  carried to next       {yuan(statement['carried_out_fen']):>12}",
    ]
    typer.echo("\n".join(lines))


def _payee(streamer: int | None, partner: int | None) -> tuple[str, int]:
    if (streamer is None) == (partner is None):
        fail("--streamer, --partner: name exactly one payee", 2)
    if streamer is not None:
        return "streamer", streamer
    assert partner is not None
    return "partner", partner


@settle_app.command("upcoming")
def upcoming_command(
    streamer: Annotated[int | None, typer.Option(help="Streamer id")] = None,
    partner: Annotated[int | None, typer.Option(help="Partner id")] = None,
    as_json: AsJson = False,
) -> None:
    """Upcoming payouts by date under the active policy."""
    from zhibo.kit.db import unit_of_work
    from zhibo.models.settlement import PayeeKind
    from zhibo.settlement import choices, statements

    kind, subject = _payee(streamer, partner)
    with unit_of_work(ready_engine()) as db:
        result = statements.upcoming(db, PayeeKind(kind), subject, choices.active_policy(db))
    if as_json:
        _echo_json(result.model_dump(mode="json"))
        return
    from zhibo.kit.money import yuan

    for day in result.days:
        typer.echo(
            f"{day.payable_on}  {day.orders:>6,} orders  {yuan(day.commission_fen):>12}"
            + (f"  + reserve {yuan(day.reserve_release_fen)}" if day.reserve_release_fen else "")
        )
    typer.echo(
        f"awaiting confirmation: {result.awaiting_event_orders:,} orders, "
        f"{yuan(result.awaiting_event_fen)}"
    )


@policy_app.command("list")
def policy_list(as_json: AsJson = False) -> None:
    """Built-in policies."""
    from zhibo.settlement.policy import BUILT_IN
    from zhibo.settlement.service import policy_out

    data = [policy_out(policy).model_dump(mode="json") for policy in BUILT_IN.values()]
    if as_json:
        _echo_json(data)
        return
    for item in data:
        typer.echo(f"{item['name']}@{item['version']}  {item['document']['description']}")


@policy_app.command("check")
def policy_check(
    file: Annotated[Path, typer.Argument(help="A .toml, .yaml or .json policy file")],
    as_json: AsJson = False,
) -> None:
    """Validate a policy file; prints its name, version and digest."""
    from zhibo.settlement.policy import load_policy_file
    from zhibo.settlement.service import policy_out

    try:
        policy = load_policy_file(file)
    except ZhiboError as error:
        fail(error, 2)
    out = policy_out(policy).model_dump(mode="json")
    if as_json:
        _echo_json(out)
    else:
        typer.echo(f"{policy.label} ok, digest {policy.digest}")


@policy_app.command("show")
def policy_show(as_json: AsJson = False) -> None:
    """The active policy and the history of choices."""
    from zhibo.kit.db import unit_of_work
    from zhibo.settlement import choices
    from zhibo.settlement.service import choice_out, policy_out

    with unit_of_work(ready_engine()) as db:
        active = policy_out(choices.active_policy(db)).model_dump(mode="json")
        history = [choice_out(row).model_dump(mode="json") for row in choices.policy_history(db)]
    if as_json:
        _echo_json({"active": active, "history": history})
        return
    typer.echo(f"active: {active['name']}@{active['version']} ({active['digest'][:12]})")
    for row in history:
        typer.echo(f"  {row['chosen_at']}  {row['name']}@{row['version']}  {row['reason']}")


@policy_app.command("set")
def policy_set(
    policy: Annotated[str, typer.Argument(help="Built-in policy name or policy file")],
    reason: Annotated[str, typer.Option(help="Why (kept in the history)")] = "",
    by: Annotated[str, typer.Option(help="Who chose it")] = "cli",
) -> None:
    """Make a policy the active one (the history keeps every choice)."""
    from zhibo.kit.db import unit_of_work
    from zhibo.settlement import choices
    from zhibo.settlement.policy import resolve_policy

    try:
        chosen = resolve_policy(policy)
        with unit_of_work(ready_engine()) as db:
            choices.choose_policy(db, chosen, chosen_by=by, reason=reason)
    except ZhiboError as error:
        fail(error, 2)
    err.print(f"active policy: {chosen.label} ({chosen.digest[:12]})")


SessionOption = Annotated[int, typer.Option("--session", help="Live session id")]
ProductOption = Annotated[int, typer.Option("--product", help="Product id")]


def _print_slot_fee(fee: dict[str, Any]) -> None:
    from zhibo.kit.money import yuan

    target = f"target {yuan(fee['sales_target_fen'])}" if fee["sales_target_fen"] else "fixed"
    line = (
        f"session {fee['session_id']} product {fee['product_id']}: "
        f"{yuan(fee['slot_fee_fen'])} ({target})"
    )
    if fee["settled_at"]:
        line += (
            f", settled: sales {yuan(fee['sales_fen'])}, refunded {yuan(fee['refunded_fen'])}, "
            f"tax {yuan(fee['tax_fen'])}, streamer {yuan(fee['streamer_net_fen'])}"
        )
    typer.echo(line)


@slot_fee_app.command("agree")
def slot_fee_agree(
    session: SessionOption,
    product: ProductOption,
    fee: Annotated[int, typer.Option("--fee", help="Slot fee in fen (≥ 0)")],
    target: Annotated[
        int | None,
        typer.Option("--target", help="Sales target in fen (> 0); omit for a fixed fee"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Agree a session-product's slot fee up front (as an operator); the brand's payment is
    posted to the ledger. The same terms again are a no-op."""
    from pydantic import ValidationError

    from zhibo.kit.auth import Principal
    from zhibo.kit.db import unit_of_work
    from zhibo.kit.time import utcnow
    from zhibo.models import Role
    from zhibo.settlement import slots
    from zhibo.settlement.schemas import SlotFeeCreate

    if fee < 0:
        fail(f"--fee: must not be negative, got {fee}", 2)
    if target is not None and target <= 0:
        fail(f"--target: must be positive, got {target}", 2)
    try:
        body = SlotFeeCreate(
            session_id=session, product_id=product, slot_fee_fen=fee, sales_target_fen=target
        )
        with unit_of_work(ready_engine()) as db:
            out = slots.agree(db, Principal(Role.OPERATOR), body, utcnow())
    except ZhiboError as error:
        fail(error, 2)
    except ValidationError as error:
        first = error.errors()[0]
        fail(f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}", 2)
    data = out.model_dump(mode="json")
    if as_json:
        _echo_json(data)
    else:
        _print_slot_fee(data)


@slot_fee_app.command("settle")
def slot_fee_settle(
    session: SessionOption, product: ProductOption, as_json: AsJson = False
) -> None:
    """Settle a slot fee after its session ended: the brand's pro-rata part back, the rest to
    the streamer less tax (settlement runs do this for every ended session too)."""
    from zhibo.kit.auth import Principal
    from zhibo.kit.db import unit_of_work
    from zhibo.kit.time import utcnow
    from zhibo.models import Role
    from zhibo.settlement import slots

    try:
        with unit_of_work(ready_engine()) as db:
            out = slots.settle(db, Principal(Role.OPERATOR), session, product, utcnow())
    except ZhiboError as error:
        fail(error, 2)
    data = out.model_dump(mode="json")
    if as_json:
        _echo_json(data)
    else:
        _print_slot_fee(data)


@slot_fee_app.command("list")
def slot_fee_list(
    session: Annotated[int | None, typer.Option("--session", help="Only this session")] = None,
    as_json: AsJson = False,
) -> None:
    """Agreed slot fees, oldest first (up to 500)."""
    from zhibo.kit.auth import Principal
    from zhibo.kit.db import unit_of_work
    from zhibo.models import Role
    from zhibo.settlement import slots

    with unit_of_work(ready_engine()) as db:
        rows, _ = slots.list_slot_fees(db, Principal(Role.OPERATOR), None, 500, session)
    data = [row.model_dump(mode="json") for row in rows]
    if as_json:
        _echo_json(data)
        return
    for fee in data:
        _print_slot_fee(fee)
