"""``zhibo risk``: check a text, scan order and event files, validate rule files."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zhibo.kit.cli import err, fail
from zhibo.kit.errors import ZhiboError

if TYPE_CHECKING:
    from zhibo.risk.rules import RuleSet

risk_app = typer.Typer(help="Risk control: text checks, batch scans, rules.", no_args_is_help=True)
rules_app = typer.Typer(help="Risk rule files.", no_args_is_help=True)
risk_app.add_typer(rules_app, name="rules")

RulesOption = Annotated[
    Path | None, typer.Option("--rules", help="A rule file (default: the built-in rules)")
]


def _rules(path: Path | None) -> RuleSet:
    from zhibo.risk.rules import configured_rules, load_rules

    return load_rules(path) if path is not None else configured_rules()


@risk_app.command("check-text")
def check_text_command(
    text: Annotated[str, typer.Argument(help="The text to check (a title, comment ...)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the matches as JSON")] = False,
    field: Annotated[
        str | None, typer.Option(help="Only rules reading this field (title, comment ...)")
    ] = None,
    rules: RulesOption = None,
) -> None:
    """Banned absolute terms, health claims and off-platform contacts in TEXT.

    Each match has term, category, start and end (offsets in TEXT), the text as written, the
    normalized form that matched, and the rule (id, version, state) that reports it."""
    from zhibo.risk.screens import check_text

    try:
        matches = [item.as_dict() for item in check_text(text, _rules(rules), field)]
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(json.dumps(matches, ensure_ascii=False))
        return
    if not matches:
        err.print("no match")
    for match in matches:
        typer.echo(
            f"{match['start']}-{match['end']}\t{match['text']}\t{match['term']}\t"
            f"{match['category']}\t{match['rule_id']}@{match['rule_version']} "
            f"({match['rule_state']})"
        )


@risk_app.command("scan")
def scan_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for findings.json and .csv")],
    orders: Annotated[Path | None, typer.Option("--orders", help="Orders (CSV/Parquet)")] = None,
    events: Annotated[Path | None, typer.Option("--events", help="Events (CSV/Parquet)")] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="file_column=field, e.g. shopid=seller_id (repeatable)"),
    ] = None,
    rules: RulesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary")] = False,
    prices: Annotated[
        Path | None, typer.Option("--prices", help="Price history (reference prices)")
    ] = None,
    viewers: Annotated[Path | None, typer.Option("--viewers", help="Viewers (ages)")] = None,
    accounts: Annotated[
        Path | None, typer.Option("--accounts", help="Accounts to check against the blacklist")
    ] = None,
    blacklist: Annotated[Path | None, typer.Option("--blacklist", help="Blacklist")] = None,
    seller_links: Annotated[
        Path | None,
        typer.Option("--seller-links", help="Sellers' own accounts, devices, addresses"),
    ] = None,
    sessions: Annotated[
        Path | None, typer.Option("--sessions", help="Sessions (end times, titles)")
    ] = None,
    products: Annotated[
        Path | None, typer.Option("--products", help="Products (titles, descriptions)")
    ] = None,
    sim: Annotated[
        Path | None,
        typer.Option("--sim", help="A `zhibo simulate` directory: all its files, mapped"),
    ] = None,
) -> None:
    """Run the risk rules over order, event and other files; write DIR/findings.json and .csv.

    Map columns with --map file_column=field, or kind:file_column=field for one kind of file
    (orders, events, prices, viewers, accounts, blacklist, seller_links, sessions, products)."""
    import time

    from zhibo.risk.scan import parse_mapping, read_sim, run_rules, scan, write_findings

    started = time.perf_counter()
    more = {
        "prices": prices,
        "viewers": viewers,
        "accounts": accounts,
        "blacklist": blacklist,
        "seller_links": seller_links,
        "sessions": sessions,
        "products": products,
    }
    try:
        rule_set = _rules(rules)
        columns = parse_mapping(mapping or [])
        if sim is not None:
            findings = run_rules(read_sim(sim), rule_set)
        else:
            findings = scan(orders, events, columns, rule_set, **more)
    except ZhiboError as error:
        fail(error, 2)
    elapsed = time.perf_counter() - started
    summary = {
        "findings": len(findings),
        "by_rule": _count(f"{f.rule_id}@{f.rule_version}" for f in findings),
        "users": len({(f.entity_id, u) for f in findings for u in f.user_ids}),
        "seconds": round(elapsed, 3),
        "rules_version": rule_set.version,
        "rules_digest": rule_set.digest(),
        "orders": str(orders) if orders else None,
        "events": str(events) if events else None,
        **{kind: str(path) for kind, path in more.items() if path is not None},
        "sim": str(sim) if sim else None,
        "map": columns,
    }
    try:
        write_findings(findings, out, summary)
    except ZhiboError as error:  # e.g. a symbolic link planted in --out
        fail(error, 2)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        err.print(
            f"{len(findings)} findings in {elapsed:.2f} s → {out / 'findings.json'}, "
            f"{out / 'findings.csv'}"
        )


@risk_app.command("replay")
def replay_command(
    finding_id: Annotated[
        int | None, typer.Option("--finding-id", help="A stored finding (reads the database)")
    ] = None,
    findings: Annotated[
        Path | None, typer.Option("--findings", help="A findings.json written by `risk scan`")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON")] = False,
) -> None:
    """Re-run each finding's rule version over its evidence: reproduced, partial (evidence
    capped), not_reproduced (with the differences) or not_replayable. Exit 1 if any finding
    is not reproduced."""
    from zhibo.risk.replay import ReplayResult, replay, replay_stored

    if (finding_id is None) == (findings is None):
        fail("give exactly one of --finding-id and --findings", 2)
    results: list[ReplayResult] = []
    try:
        if finding_id is not None:
            from zhibo.kit.cli import ready_engine
            from zhibo.kit.db import unit_of_work

            with unit_of_work(ready_engine()) as db:
                results.append(replay_stored(db, finding_id))
        else:
            assert findings is not None
            try:
                items = json.loads(findings.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                fail(f"{findings}: cannot read a findings list: {exc}", 2)
            if not isinstance(items, list):
                fail(f"{findings}: not a list of findings", 2)
            results.extend(replay(item) for item in items)
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in results], ensure_ascii=False))
    else:
        for index, result in enumerate(results):
            typer.echo(
                f"{index}\t{result.rule_id}@{result.rule_version}\t{result.entity_type} "
                f"{result.entity_id}\t{result.status}\t"
                + "; ".join(result.differences or ([result.note] if result.note else []))
            )
    if any(r.status == "not_reproduced" for r in results):
        raise typer.Exit(1)


@risk_app.command("backtest")
def backtest_command(
    labels: Annotated[
        Path, typer.Option("--labels", help="Labelled tactics (the simulator's labels.parquet)")
    ],
    rules: RulesOption = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The simulated platform (default: the labels' directory)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the report to this JSON file")
    ] = None,
) -> None:
    """Score the rules against labelled data: precision, recall and F1 per tactic, and what
    the rule file changes against the built-in rules (findings added and removed)."""
    from zhibo.risk.backtest import run_backtest

    try:
        report = run_backtest(labels, _rules(rules), data)
    except ZhiboError as error:
        fail(error, 2)
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if out is not None:
        out.write_text(text + "\n", "utf-8")
    if as_json:
        typer.echo(text)
        return
    typer.echo(f"rules {report['rules_version']} against {report['labels']}")
    before = {(s["tactic"], s["entity_type"], s["rule"]): s for s in report["default_scores"]}
    for score in report["scores"]:
        name = score["rule"] or f"{score['tactic']} ({score['entity_type']})"
        old = before.get((score["tactic"], score["entity_type"], score["rule"]))
        change = ""
        if old is not None and (old["precision"], old["recall"]) != (
            score["precision"],
            score["recall"],
        ):
            change = f"  (default: precision {old['precision']} recall {old['recall']})"
        typer.echo(
            f"{name:<48} precision {score['precision']} recall {score['recall']} "
            f"f1 {score['f1']} tp {score['true_positives']} fp {score['false_positives']} "
            f"fn {score['false_negatives']}{change}"
        )
    for change in report["diff"]:
        added = sum(1 for item in change["added"])
        removed = sum(1 for item in change["removed"])
        typer.echo(
            f"changed {change['rule_id']} {'/'.join(change['versions'])}: "
            f"{change['findings_before']} → {change['findings_after']} findings, "
            f"+{added} -{removed}"
        )


def _count(keys: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


@rules_app.command("check")
def rules_check(path: Annotated[Path, typer.Argument(help="A rule file (.toml or .json)")]) -> None:
    """Validate a rule file; print its rules (id, version, detector, state, severity)."""
    from zhibo.risk.rules import load_rules

    try:
        rule_set = load_rules(path)
    except ZhiboError as error:
        fail(error, 2)
    typer.echo(f"{rule_set.version}: {len(rule_set.rules)} rules, digest {rule_set.digest()[:12]}")
    for rule in rule_set.rules:
        typer.echo(f"{rule.key}\t{rule.detector}\t{rule.state}\t{rule.severity}")


@rules_app.command("show")
def rules_show() -> None:
    """Print the built-in rule set as JSON."""
    from zhibo.risk.rules import configured_rules

    typer.echo(json.dumps(configured_rules().model_dump(mode="json"), ensure_ascii=False, indent=1))


# Cases, decisions, appeals and the audit log (registers their commands on ``risk_app``).
from zhibo.risk import cases_cli as _cases_cli  # noqa: E402, F401
