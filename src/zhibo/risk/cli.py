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
    from zhibo.risk.rules import default_rules, load_rules

    return load_rules(path) if path is not None else default_rules()


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
) -> None:
    """Run the risk rules over order and event files; write DIR/findings.json and .csv."""
    import time

    from zhibo.risk.scan import parse_mapping, scan, write_findings

    started = time.perf_counter()
    try:
        rule_set = _rules(rules)
        columns = parse_mapping(mapping or [])
        findings = scan(orders, events, columns, rule_set)
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
        "map": columns,
    }
    write_findings(findings, out, summary)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        err.print(
            f"{len(findings)} findings in {elapsed:.2f} s → {out / 'findings.json'}, "
            f"{out / 'findings.csv'}"
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
    from zhibo.risk.rules import default_rules

    typer.echo(json.dumps(default_rules().model_dump(mode="json"), ensure_ascii=False, indent=1))
