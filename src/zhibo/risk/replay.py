"""Replay a finding: re-run the same rule version over the evidence the finding carries.

:func:`replay` takes a finding (a :class:`~zhibo.risk.schemas.Finding`, the JSON of one from
``findings.json``, or a stored ``RiskFinding`` row), finds the rule it records (id *and* version)
among the configured rules, the packaged rules, or (failing both) builds it from the parameters
the evidence carries, turns the evidence back into the detector's input (evidence rows → small
Polars frames → the detector function) and compares the result with the finding: same detector
and entity, the same users, the window within :data:`WINDOW_TOLERANCE`.

Statuses: ``reproduced``; ``partial`` (the evidence was capped, so only a subset could be re-run
and what it gives agrees with the finding); ``not_reproduced`` (with the differences listed);
``not_replayable`` (the evidence holds no input rows: findings recorded before their detector
kept them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zhibo.kit.errors import InvalidInput, NotFound
from zhibo.risk.rules import (
    Rule,
    RuleSet,
    RuleState,
    configured_rules,
    default_rules,
    parse_rules,
)
from zhibo.risk.schemas import Finding

#: Window ends may differ by this much (times pass through ISO text and back).
WINDOW_TOLERANCE = timedelta(seconds=1)

Status = Literal["reproduced", "partial", "not_reproduced", "not_replayable"]


class UnknownRuleVersion(NotFound):
    """The finding's rule version is neither configured nor packaged, and its evidence does not
    carry the rule's parameters: it cannot be replayed."""


class ReplayResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: Status
    detector: str
    rule_id: str
    rule_version: int
    #: Where the rule came from: ``configured``, ``packaged`` or ``evidence`` (its parameters).
    rule_source: str
    entity_type: str
    entity_id: str
    differences: list[str] = Field(default_factory=list)
    #: Why the status is ``partial`` or ``not_replayable``.
    note: str = ""
    #: What the re-run found for the same entity (None: nothing).
    replayed: Finding | None = None

    @property
    def reproduced(self) -> bool:
        return self.status in ("reproduced", "partial")


# --- inputs ------------------------------------------------------------------------------------


def as_finding(value: Finding | Mapping[str, Any] | Any) -> Finding:
    """A finding from a :class:`Finding`, a ``findings.json`` object or a ``RiskFinding`` row."""
    if isinstance(value, Finding):
        return value
    if isinstance(value, Mapping):
        data = dict(value)
    else:  # a stored row: JSON text columns
        data = {
            name: getattr(value, name)
            for name in (
                "detector",
                "rule_id",
                "rule_version",
                "rule_state",
                "severity",
                "entity_type",
                "entity_id",
                "user_ids",
                "window_start",
                "window_end",
                "evidence",
            )
        }
    for name in ("user_ids", "evidence", "measures"):
        if isinstance(data.get(name), str):
            data[name] = json.loads(data[name])
    data.pop("measures", None)
    try:
        return Finding.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(f"not a finding: {exc.errors()[0]['msg']}") from exc


def resolve_rule(finding: Finding) -> tuple[Rule, str]:
    """The rule version the finding records, and where it was found."""
    sources: list[tuple[str, Callable[[], RuleSet]]] = [
        ("configured", configured_rules),
        ("packaged", default_rules),
    ]
    for source, load in sources:
        try:
            rule = load().get(finding.rule_id)
        except KeyError:
            continue
        if rule.version == finding.rule_version and rule.detector == finding.detector:
            return rule, source
    params = finding.evidence.get("parameters")
    if not isinstance(params, dict) and finding.detector == "order_concentration":
        params = {
            key: finding.evidence[key]
            for key in ("window_seconds", "min_orders_per_buyer")
            if key in finding.evidence
        } or None
    if not isinstance(params, dict):
        raise UnknownRuleVersion(
            f"rule {finding.rule_id}@{finding.rule_version} is neither configured nor packaged "
            "and the finding's evidence does not carry its parameters"
        )
    document = {
        "schema_version": 1,
        "version": "replay",
        "rules": [
            {
                "id": finding.rule_id,
                "version": finding.rule_version,
                "detector": finding.detector,
                "state": "shadow",
                "severity": str(finding.severity),
                "parameters": params,
            }
        ],
    }
    return parse_rules(document, f"evidence of {finding.rule_id}@{finding.rule_version}").rules[
        0
    ], "evidence"


# --- evidence → detector input -----------------------------------------------------------------


class NotReplayable(Exception):
    """The detector's evidence cannot be turned back into its input."""


def _us(value: Any) -> int:
    if isinstance(value, int):
        return value
    moment = datetime.fromisoformat(str(value))
    epoch = datetime(1970, 1, 1, tzinfo=moment.tzinfo and UTC)
    return (moment - epoch) // timedelta(microseconds=1)


def _frame(rows: list[dict[str, Any]], **constant: Any) -> pl.DataFrame:
    frame = pl.DataFrame(rows, infer_schema_length=None)
    if "t_us" in frame.columns:
        frame = frame.rename({"t_us": "t"})
    for column, value in constant.items():
        if value is not None and column not in frame.columns:
            frame = frame.with_columns(pl.lit(value).alias(column))
    return frame


def _entity(finding: Finding) -> Any:
    return finding.entity_id


def _orders_inputs(finding: Finding) -> Any:
    from zhibo.risk.detectors import ScanInputs

    orders = _frame(finding.evidence["orders"], seller_id=_entity(finding))
    return ScanInputs(orders=orders, aware=_aware(finding))


def _refund_inputs(finding: Finding) -> Any:
    from zhibo.risk.detectors import ScanInputs

    evidence = finding.evidence
    orders = _frame(evidence["orders"], seller_id=_entity(finding), session_id=evidence["stream"])
    sessions = pl.DataFrame(
        {"session_id": [evidence["stream"]], "ended_t": [_us(evidence["stream_end"])]}
    )
    return ScanInputs(orders=orders, sessions=sessions, aware=_aware(finding))


def _posts_inputs(finding: Finding) -> Any:
    from zhibo.risk.detectors import ScanInputs

    events = _frame(finding.evidence["posts"], session_id=_entity(finding))
    return ScanInputs(events=events, aware=_aware(finding))


def _minor_tip_inputs(finding: Finding, rule: Rule) -> Any:
    from zhibo.risk.detectors import ScanInputs

    tips = finding.evidence["tips"]
    kind = rule.parameters["tip_types"][0]
    session = _entity(finding) if finding.entity_type == "session" else None
    events = _frame(tips, session_id=session, type=kind).drop("reason")
    reasons = {row["user_id"]: row["reason"] for row in tips}
    viewers = pl.DataFrame(
        {
            "user_id": list(reasons),
            "is_minor": [reason == "minor" for reason in reasons.values()],
            "real_name_verified": [False for _ in reasons],
        }
    )
    return ScanInputs(events=events, viewers=viewers, aware=_aware(finding))


def _self_purchase_inputs(finding: Finding) -> Any:
    from zhibo.risk.detectors import ScanInputs

    orders: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for row in finding.evidence["orders"]:
        order = {key: row[key] for key in ("order_id", "buyer_id", "t")}
        for link in row.get("links") or []:
            kind, _, value = str(link).partition("=")
            links.append({"seller_id": str(finding.entity_id), kind: value})
            if kind != "user_id":
                order[kind] = value
        orders.append(order)
    if not links:
        raise NotReplayable("the evidence does not name the seller's own identifiers")
    order_frame = _frame(orders, seller_id=str(finding.entity_id))
    link_frame = pl.DataFrame(links, infer_schema_length=None).cast(pl.String)
    return ScanInputs(orders=order_frame, seller_links=link_frame, aware=_aware(finding))


def _price_inputs(finding: Finding) -> Any:
    """The prices a pricing finding names: those charged before the promotion (or the price
    before a raise and the raise) and the promotion's own row."""
    from zhibo.risk.detectors import ScanInputs

    evidence = finding.evidence
    rows: list[tuple[int, int, int | None]] = []
    if finding.detector == "reference_price":
        for item in evidence["prices_charged"]:
            rows.append((_us(item["effective_at"]), int(item["price_fen"]), None))
    else:
        raised = _us(evidence["raised_at"])
        rows.append((raised - 1_000_000, int(evidence["price_before_fen"]), None))
        rows.append((raised, int(evidence["raised_fen"]), None))
    rows.append(
        (
            _us(evidence["promotion_start"]),
            int(evidence["price_fen"]),
            int(evidence["reference_price_fen"]),
        )
    )
    prices = pl.DataFrame(
        {
            "product_id": [finding.entity_id] * len(rows),
            "t": [row[0] for row in rows],
            "price_fen": [row[1] for row in rows],
            "reference_price_fen": [row[2] for row in rows],
        },
        schema_overrides={"t": pl.Int64, "price_fen": pl.Int64, "reference_price_fen": pl.Int64},
    )
    return ScanInputs(prices=prices, aware=_aware(finding))


def _tip_cap_inputs(finding: Finding, rule: Rule) -> Any:
    from zhibo.risk.detectors import ScanInputs

    kind = rule.parameters["tip_types"][0]
    events = _frame(finding.evidence["tips"], type=kind)
    return ScanInputs(events=events, aware=_aware(finding))


def _minor_purchase_inputs(finding: Finding) -> Any:
    from zhibo.risk.detectors import ScanInputs

    rows = finding.evidence["orders"]
    orders = _frame(rows)
    if "minor" in orders.columns:
        orders = orders.drop("minor")
    buyers = sorted({row["buyer_id"] for row in rows if row.get("minor")}, key=str)
    viewers = pl.DataFrame({"user_id": buyers, "is_minor": [True] * len(buyers)})
    viewers = viewers.cast({"user_id": orders.schema["buyer_id"]})
    return ScanInputs(orders=orders, viewers=viewers, aware=_aware(finding))


def _evasion_inputs(finding: Finding) -> Any:
    """The account (its identifiers' hash prefixes) and the entries it matched (theirs)."""
    from zhibo.risk.detectors import ScanInputs

    evidence = finding.evidence
    own = evidence.get("account_identifiers")
    if not isinstance(own, dict):
        raise NotReplayable("the evidence does not hold the account's identifiers")
    kinds = ("id_number_hash", "phone_hash", "device_ids")
    listed = pl.List(pl.String)
    accounts = pl.DataFrame(
        {
            "account_id": [str(finding.entity_id)],
            "created_t": [_us(evidence["account_created_at"])],
            **{kind: [own.get(kind) or []] for kind in kinds},
        },
        schema_overrides={kind: listed for kind in kinds},
    )
    entries: dict[str, dict[str, Any]] = {}
    for row in evidence["entries"]:
        entry = entries.setdefault(
            str(row["entry_id"]),
            {
                "entry_id": row["entry_id"],
                "listed_t": _us(row["listed_at"]),
                "expires_t": None if row.get("expires_at") is None else _us(row["expires_at"]),
                **{kind: [] for kind in kinds},
            },
        )
        entry[row["matched"]].append(str(row["hash_prefix"]))
    blacklist = pl.DataFrame(
        list(entries.values()),
        schema_overrides={"expires_t": pl.Int64, **{kind: listed for kind in kinds}},
    )
    return ScanInputs(
        accounts=accounts,
        blacklist=blacklist,
        aware=_aware(finding),
        account_type=finding.entity_type,
    )


def _span(finding: Finding) -> tuple[int, int]:
    if finding.window_start is None or finding.window_end is None:
        raise NotReplayable("the finding has no window")
    return _us(finding.window_start), _us(finding.window_end)


def _shared_device_inputs(finding: Finding) -> Any:
    """Each account on a crowded device or IP (labels stand for the values), and the
    session's first and last event (accountless)."""
    from zhibo.risk.detectors import ScanInputs

    first, last = _span(finding)
    rows: list[dict[str, Any]] = [
        {"user_id": None, "t": first},
        {"user_id": None, "t": last},
    ]
    for pair in finding.evidence["pairs"]:
        rows.append({"user_id": pair["user_id"], "t": first, pair["kind"]: pair["value"]})
    events = _frame(rows, session_id=finding.entity_id)
    if "device_id" not in events.columns:
        events = events.with_columns(pl.lit(None, pl.String).alias("device_id"))
    return ScanInputs(events=events, aware=_aware(finding))


def _engagement_inputs(finding: Finding) -> Any:
    """The room's per-session aggregates as events: ``viewers`` accounts entering, ``engaged``
    of them commenting; the flagged session spans the finding's window."""
    from zhibo.risk.detectors import ScanInputs

    first, last = _span(finding)
    session_ids: list[Any] = []
    users: list[str] = []
    times: list[int] = []
    types: list[str] = []
    for row in finding.evidence["history"]:
        for i in range(int(row["viewers"])):
            user = f"{row['session_id']}:{i}"
            kinds = ["enter", "comment"] if i < int(row["engaged"]) else ["enter"]
            for kind in kinds:
                session_ids.append(row["session_id"])
                users.append(user)
                times.append(first)
                types.append(kind)
    session_ids.append(finding.entity_id)
    users.append("end")
    times.append(last)
    types.append("leave")
    events = pl.DataFrame(
        {"session_id": session_ids, "user_id": users, "t": times, "type": types},
        schema_overrides={"t": pl.Int64},
        strict=False,
    )
    events = events.with_columns(
        pl.col("session_id").cast(pl.String),
        pl.lit(finding.evidence["room_id"]).alias("room_id"),
    )
    return ScanInputs(events=events, aware=_aware(finding))


def _bot_inputs(finding: Finding) -> Any:
    """Each passive visit as an enter and a leave, and the session's last event."""
    from zhibo.risk.detectors import ScanInputs

    rows: list[dict[str, Any]] = [
        {"user_id": None, "t": int(finding.evidence["session_last_us"]), "type": "end"}
    ]
    for visit in finding.evidence["visits"]:
        rows.append({"user_id": visit["user_id"], "t": visit["enter_us"], "type": "enter"})
        rows.append({"user_id": visit["user_id"], "t": visit["leave_us"], "type": "leave"})
    events = _frame(rows, session_id=finding.entity_id)
    return ScanInputs(events=events, aware=_aware(finding))


def _like_inputs(finding: Finding) -> Any:
    """Each account's likes of a half-step as two like events (all at its first like, none at
    its last); past the cap, the rest of a half-step as accounts of at most the fewest likes
    kept (so the top accounts stay the top ones)."""
    from zhibo.risk.detectors import ScanInputs

    evidence = finding.evidence
    rows: list[dict[str, Any]] = []
    for row in evidence["likes"]:
        rows.append({"user_id": row["user_id"], "t": row["first_us"], "count": row["likes"]})
        rows.append({"user_id": row["user_id"], "t": row["last_us"], "count": 0})
    fewest = min((int(row["likes"]) for row in evidence["likes"]), default=1) or 1
    half = max(1, int(evidence["parameters"]["window_seconds"]) * 1_000_000 // 2)
    pseudo = 0
    for rest in evidence.get("likes_rest") or []:
        left = int(rest["likes"])
        while left > 0:
            pseudo -= 1
            part = min(left, fewest)
            rows.append({"user_id": pseudo, "t": int(rest["step"]) * half, "count": part})
            left -= part
    events = _frame(rows, session_id=finding.entity_id, type="like")
    return ScanInputs(events=events, aware=_aware(finding))


def _realtime_storm(finding: Finding, rule: Rule, subset: bool) -> tuple[Finding | None, list[str]]:
    """A real-time like storm: the window's likes (per account and half-step) through the
    real-time engine's own window code again, with nothing before them."""
    from zhibo.risk.cases import Context
    from zhibo.risk.realtime import _LIKES_SCHEMA, RealtimeRisk

    rows = finding.evidence["like_events"]
    likes = pl.DataFrame(
        {
            "room_id": [finding.entity_id] * len(rows),
            "ts": [int(row["ts_ms"]) for row in rows],
            "user_id": [row["user_id"] for row in rows],
            "count": [int(row["count"]) for row in rows],
            "session_id": [None] * len(rows),
        },
        schema_overrides={"session_id": pl.Int64},
        strict=False,
    ).with_columns(
        pl.col("room_id").cast(pl.Int64),
        pl.col("user_id").cast(pl.Int64),
        pl.from_epoch(pl.col("ts"), time_unit="ms").dt.replace_time_zone("UTC"),
    )
    rule = rule.model_copy(update={"state": RuleState.SHADOW})
    single = RuleSet(schema_version=1, version="replay", rules=[rule])
    engine = RealtimeRisk(engine=None, ctx=Context(rules=single))
    engine._likes[rule.id] = pl.DataFrame(schema=_LIKES_SCHEMA)
    found = [item.finding for item in engine._storms(rule, likes)] if rows else []
    replayed = _same_entity(found, finding)
    differences = _compare(finding, replayed, subset)
    if not subset and not differences and replayed is not None:
        for key in ("likes", "accounts", "top_accounts"):
            old, new = finding.evidence.get(key), replayed.evidence.get(key)
            if json.dumps(old, default=str) != json.dumps(new, default=str):
                differences.append(f"{key} {new} != recorded {old}")
    return replayed, differences


def _bots_capped(finding: Finding, rule: Rule) -> list[str]:
    """Capped bot evidence: each kept flagged visit's features re-checked against the rule."""
    params = rule.parameters
    differences = []
    flagged = [row for row in finding.evidence["visits"] if row.get("flagged")]
    for row in flagged:
        density, arrivals = int(row["density"]), int(row["arrivals"])
        if density < params["min_synchronized"] or density < params["min_share"] * arrivals:
            differences.append(f"visit of {row['user_id']}: density {density} below the rule")
    count = finding.evidence.get("synchronized_passive_visits", len(flagged))
    if int(count) < params["min_bots"]:
        differences.append(f"{count} synchronized visits < min_bots {params['min_bots']}")
    return differences


def _aware(finding: Finding) -> bool:
    moment = finding.window_start or finding.window_end
    return moment is None or moment.tzinfo is not None


#: Detector → (evidence key holding the rows, the count the rows were capped from, builder).
_BUILDERS: dict[str, tuple[str, str | None, Callable[[Finding, Rule], Any]]] = {
    "buyer_rings": ("orders", "ring_orders", lambda f, r: _orders_inputs(f)),
    "refund_after_stream": ("orders", "fast_refunds", lambda f, r: _refund_inputs(f)),
    "duplicate_comments": ("posts", "comments", lambda f, r: _posts_inputs(f)),
    "minor_tipping": ("tips", None, _minor_tip_inputs),
    "self_purchase": ("orders", "self_purchases", lambda f, r: _self_purchase_inputs(f)),
    "tipping_caps": ("tips", "tips_count", _tip_cap_inputs),
    "minor_purchases": ("orders", "orders_count", lambda f, r: _minor_purchase_inputs(f)),
    "blacklist_evasion": ("entries", None, lambda f, r: _evasion_inputs(f)),
    "shared_devices": ("pairs", "pair_count", lambda f, r: _shared_device_inputs(f)),
    "viewer_engagement": ("history", "history_count", lambda f, r: _engagement_inputs(f)),
    "bot_viewers": ("visits", "visit_count", lambda f, r: _bot_inputs(f)),
    "like_storm": ("likes", "like_rows", lambda f, r: _like_inputs(f)),
    "reference_price": ("promotion_start", None, lambda f, r: _price_inputs(f)),
    "raise_then_discount": ("promotion_start", None, lambda f, r: _price_inputs(f)),
}

#: How many rows each detector keeps in its evidence (fewer than its count and at least this
#: many: the evidence was capped, and the replay is partial).
_CAPS = {
    "buyer_rings": 200,
    "self_purchase": 200,
    "refund_after_stream": 200,
    "duplicate_comments": 50,
    "minor_tipping": 200,
    "tipping_caps": 200,
    "minor_purchases": 200,
    "shared_devices": 200,
    "viewer_engagement": 200,
    "bot_viewers": 200,
    "like_storm": 200,
}

#: Feature values a full replay must give again, as recorded.
_FEATURES: dict[str, tuple[str, ...]] = {
    "tipping_caps": ("breaches",),
    "minor_purchases": ("breaches",),
    "blacklist_evasion": ("entries",),
    "shared_devices": ("accounts_on_crowded_devices_or_ips", "crowded_devices", "crowded_ips"),
    "viewer_engagement": (
        "viewers",
        "engaged_viewers",
        "engagement_rate",
        "room_sessions_compared",
        "room_median_viewers",
        "room_median_engagement_rate",
    ),
    "bot_viewers": ("synchronized_passive_visits", "median_dwell_seconds", "arrival_cells"),
    "like_storm": ("peak_window_likes", "peak_top_accounts_likes", "peak_accounts"),
}


def _features(recorded: Finding, replayed: Finding | None) -> list[str]:
    if replayed is None:
        return []
    differences = []
    for key in _FEATURES.get(recorded.detector, ()):
        old = json.dumps(recorded.evidence.get(key), sort_keys=True, default=str)
        new = json.dumps(replayed.evidence.get(key), sort_keys=True, default=str)
        if old != new:
            differences.append(f"{key} {new} != recorded {old}")
    return differences


class _Mismatch(Exception):
    """The evidence contradicts itself (e.g. fewer rows than it counts, and not capped)."""


#: How each detector replays: ``full`` (the evidence holds every input row behind the finding;
#: when capped, the replay is ``partial``), ``partial`` (feature values re-checked against the
#: rule's thresholds), ``not`` (the evidence holds aggregates only).
REPLAYABLE: dict[str, str] = {
    "banned_terms": "full",
    "off_platform_lure": "full",
    "order_concentration": "full",
    "buyer_rings": "full",
    "refund_after_stream": "full",
    "duplicate_comments": "full",
    "minor_tipping": "full",
    "self_purchase": "full",
    "reference_price": "full",
    "raise_then_discount": "full",
    "like_storm": "full",
    "bot_viewers": "full",
    "viewer_engagement": "full",
    "shared_devices": "full",
    "tipping_caps": "full",
    "minor_purchases": "full",
    "blacklist_evasion": "full",
}


# --- replay ------------------------------------------------------------------------------------


def _compare(recorded: Finding, replayed: Finding | None, subset: bool) -> list[str]:
    if replayed is None:
        return [f"the rule finds nothing for {recorded.entity_type} {recorded.entity_id}"]
    differences: list[str] = []
    if replayed.detector != recorded.detector:
        differences.append(f"detector {replayed.detector} != {recorded.detector}")
    mine, theirs = {str(u) for u in recorded.user_ids}, {str(u) for u in replayed.user_ids}
    if (theirs - mine) if subset else (theirs != mine):
        differences.append(
            f"users {sorted(theirs)} != recorded {sorted(mine)}"
            + (f" (missing {sorted(mine - theirs)})" if mine - theirs and not subset else "")
            + (f" (extra {sorted(theirs - mine)})" if theirs - mine else "")
        )
    for name in ("window_start", "window_end"):
        old, new = getattr(recorded, name), getattr(replayed, name)
        if old is None or new is None:
            if old != new and not subset:
                differences.append(f"{name} {new} != recorded {old}")
            continue
        if old.tzinfo is None:
            old = old.replace(tzinfo=new.tzinfo)
        if new.tzinfo is None:
            new = new.replace(tzinfo=old.tzinfo)
        inside = recorded.window_start is not None and recorded.window_end is not None
        if subset and inside:
            start, end = recorded.window_start, recorded.window_end
            assert start is not None and end is not None
            start = start if start.tzinfo else start.replace(tzinfo=new.tzinfo)
            end = end if end.tzinfo else end.replace(tzinfo=new.tzinfo)
            if start - WINDOW_TOLERANCE <= new <= end + WINDOW_TOLERANCE:
                continue
        elif abs(new - old) <= WINDOW_TOLERANCE:
            continue
        differences.append(f"{name} {new.isoformat()} != recorded {old.isoformat()}")
    return differences


def _text(finding: Finding, rule: Rule) -> tuple[Finding | None, list[str]]:
    """Every recorded span (``match`` of a scan finding, ``matches`` of a real-time one) is
    matched again by the rule in the recorded text, with the same term, offsets and
    normalised form."""
    from zhibo.risk.screens import check_text

    evidence = finding.evidence
    recorded = evidence.get("matches") or [evidence.get("match") or {}]
    single = RuleSet(
        schema_version=1,
        version="replay",
        rules=[rule.model_copy(update={"state": RuleState.SHADOW})],
    )
    matches = [item.match.as_dict() for item in check_text(evidence["text"], single)]
    keys = ("term", "category", "start", "end", "normalized")
    found = [{key: match.get(key) for key in keys} for match in matches]
    listed = "; ".join(
        f"{m['term']} at {m['start']}-{m['end']} ({m['normalized']})" for m in matches
    )
    differences = []
    for span in recorded:
        wanted = {key: span.get(key) for key in keys}
        if wanted not in found:
            differences.append(
                f"match {wanted['term']} at {wanted['start']}-{wanted['end']} "
                f"({wanted['normalized']}) not found in the text; the rule finds: "
                f"{listed or 'nothing'}"
            )
    return (None if differences else finding), differences


def _like_storm(finding: Finding, rule: Rule) -> list[str]:
    """A like storm's evidence holds its feature values (the window's likes, its top accounts
    and their likes), not the like events: the rule's thresholds are re-checked on those."""
    evidence = finding.evidence
    params = rule.parameters
    if "top_accounts" in evidence:  # real time
        total, top_rows = evidence["likes"], evidence["top_accounts"]
        top = sum(int(row["likes"]) for row in top_rows)
        users = [row["user_id"] for row in top_rows]
    elif "peak_accounts" in evidence:  # batch
        total, top = evidence["peak_window_likes"], evidence["peak_top_accounts_likes"]
        top_rows = evidence["peak_accounts"]
        best = sorted((int(row["likes"]) for row in top_rows), reverse=True)
        summed = sum(best[: params["max_accounts"]])
        if summed > top:  # the listed accounts are among the top ones
            return [f"the listed accounts' likes {summed} exceed the recorded top {top}"]
        users = list(finding.user_ids)
    else:
        raise NotReplayable("the evidence holds no like counts")
    differences = []
    if len(top_rows) > params["max_accounts"] and "top_accounts" in evidence:
        differences.append(f"{len(top_rows)} top accounts > max_accounts {params['max_accounts']}")
    if total < params["min_likes"]:
        differences.append(f"likes {total} < min_likes {params['min_likes']}")
    if top * 10_000 < total * params["min_share_bp"]:
        differences.append(
            f"top accounts' share {top * 10_000 // max(total, 1)} bp < {params['min_share_bp']} bp"
        )
    if {str(u) for u in users} - {str(u) for u in finding.user_ids}:
        differences.append(f"accounts {users} are not the finding's users {finding.user_ids}")
    return differences


def _same_entity(findings: list[Finding], finding: Finding) -> Finding | None:
    """The re-run's finding of the same entity (of several, the one whose window ends
    closest to the recorded one)."""
    same = [
        item
        for item in findings
        if item.entity_type == finding.entity_type and str(item.entity_id) == str(finding.entity_id)
    ]
    if len(same) > 1 and finding.window_end is not None:
        end = finding.window_end

        def distance(item: Finding) -> float:
            if item.window_end is None:
                return float("inf")
            other = item.window_end
            if (other.tzinfo is None) != (end.tzinfo is None):
                other = other.replace(tzinfo=end.tzinfo)
            return abs((other - end).total_seconds())

        same.sort(key=distance)
    return same[0] if same else None


def replay(value: Finding | Mapping[str, Any] | Any) -> ReplayResult:
    """Re-run the finding's rule version over its evidence and say whether it reproduces."""
    finding = as_finding(value)
    rule, source = resolve_rule(finding)
    base = {
        "detector": finding.detector,
        "rule_id": finding.rule_id,
        "rule_version": finding.rule_version,
        "rule_source": source,
        "entity_type": finding.entity_type,
        "entity_id": str(finding.entity_id),
    }
    evidence = finding.evidence
    note = ""
    subset = False
    replayed: Finding | None
    try:
        if finding.detector in ("banned_terms", "off_platform_lure"):
            if "text" not in evidence:
                raise NotReplayable("the evidence holds no text")
            replayed, differences = _text(finding, rule)
        elif finding.detector == "order_concentration":
            from zhibo.risk.brushing import concentration_findings
            from zhibo.risk.brushing import replay as check_windows

            orders = _frame(evidence["orders"], seller_id=finding.entity_id)
            table = orders.select("order_id", "seller_id", "buyer_id", "t").to_arrow()
            replayed = _same_entity(concentration_findings(table, rule, _aware(finding)), finding)
            differences = _compare(finding, replayed, False)
            try:
                check_windows(finding)
            except (ValueError, KeyError, TypeError) as exc:
                differences.append(f"recorded windows: {exc}")
        elif finding.detector == "like_storm" and "like_events" in evidence:
            total = evidence.get("like_rows")
            if evidence.get("truncated"):
                subset = True
                note = f"evidence capped: {len(evidence['like_events'])} of {total} like rows"
            elif isinstance(total, int) and total != len(evidence["like_events"]):
                raise _Mismatch(
                    f"the evidence holds {len(evidence['like_events'])} like rows, "
                    f"the finding counts {total}"
                )
            replayed, differences = _realtime_storm(finding, rule, subset)
        elif finding.detector == "like_storm" and not isinstance(evidence.get("likes"), list):
            differences = _like_storm(finding, rule)
            replayed = None if differences else finding
            subset = True
            note = "feature values re-checked against the rule (the like events are not kept)"
        elif finding.detector in _BUILDERS and REPLAYABLE.get(finding.detector) == "full":
            from zhibo.risk.detectors import RUNNERS

            key, count_key, build = _BUILDERS[finding.detector]
            rows = evidence.get(key)
            if rows is None or rows == []:
                raise NotReplayable(f"the evidence holds no {key}")
            rows = rows if isinstance(rows, list) else [rows]
            total = evidence.get(count_key) if count_key else None
            capped = isinstance(total, int) and total > len(rows) >= _CAPS.get(finding.detector, 0)
            if evidence.get("truncated") or capped:
                subset = True
                note = f"evidence capped: {len(rows)} of {total or 'more'} {key} re-run"
            elif isinstance(total, int) and total != len(rows):
                raise _Mismatch(f"the evidence holds {len(rows)} {key}, the finding counts {total}")
            if subset and finding.detector == "bot_viewers":
                differences = _bots_capped(finding, rule)
                replayed = None if differences else finding
            else:
                inputs = build(finding, rule)
                replayed = _same_entity(RUNNERS[finding.detector].detect(inputs, rule), finding)
                differences = _compare(finding, replayed, subset)
                if not subset and not differences:
                    differences = _features(finding, replayed)
        else:
            raise NotReplayable(
                f"{finding.detector} findings carry aggregate features only, not the input rows"
            )
    except NotReplayable as exc:
        return ReplayResult(status="not_replayable", note=str(exc), **base)
    except _Mismatch as exc:
        return ReplayResult(status="not_reproduced", differences=[str(exc)], **base)
    except (KeyError, TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        return ReplayResult(
            status="not_reproduced",
            differences=[f"the evidence cannot be re-run: {type(exc).__name__}: {exc}"],
            **base,
        )
    if differences:
        status: Status = "not_reproduced"
    else:
        status = "partial" if subset else "reproduced"
    return ReplayResult(
        status=status, differences=differences, note=note, replayed=replayed, **base
    )


def replay_stored(db: Any, finding_id: int) -> ReplayResult:
    """Replay the stored finding ``finding_id`` (a ``risk_findings`` row)."""
    from zhibo.models.risk import RiskFinding

    row = db.get(RiskFinding, finding_id)
    if row is None:
        raise NotFound(f"finding {finding_id} does not exist")
    return replay(row)
