"""What grading does: run a grading for a day, explain a streamer's grade, list its history and
credit, name the key live rooms, and tell other domains what a level unlocks.

A run is one batch job: credit recoveries, the metrics (``metrics``, DuckDB over the lake and
the orders), the grades (``scoring``, Polars), then one write of all results and notices. The
streamer's ``level`` column is set in the same unit of work, so the product pool's permission
check (``zhibo.catalog.policy``, which reads the active model's unlocks) sees a new level as
soon as the run commits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session

from zhibo.grading import credit, repository
from zhibo.grading.metrics import Metrics, Sources, compute_metrics, lake_files
from zhibo.grading.recommendation import lift_traffic_limit as lift_traffic_limit
from zhibo.grading.recommendation import limit_traffic as limit_traffic
from zhibo.grading.schemas import (
    Change,
    Counterfactual,
    CreditChangeOut,
    CreditOut,
    GateExplanation,
    GradeExplanation,
    KeyRoomOut,
    LevelHistoryItem,
    MetricExplanation,
    PartnerGradeExplanation,
    RunSummary,
    TippingCapsOut,
    UnlocksOut,
)
from zhibo.grading.scoring import Scheme, change_options, grade
from zhibo.grading.scoring_model import (
    PARTNER_METRICS,
    STREAMER_METRICS,
    ScoringModel,
    Unlocks,
    default_model,
    load_model,
    parse_model,
)
from zhibo.kit.auth import Principal
from zhibo.kit.errors import NotFound
from zhibo.kit.money import yuan
from zhibo.kit.time import utcnow
from zhibo.models import LiveRoom, Partner, Role, Streamer
from zhibo.models.category import RiskClass
from zhibo.models.grading import GradedKind, GradeResult


class GradingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIBO_GRADING_", env_file=".env", extra="ignore")

    model_file: Path | None = Field(
        default=None,
        description="Scoring model file (TOML, YAML or JSON). Unset: the built-in model.",
    )


class NotGradedYet(NotFound):
    """No grading run has graded this account yet: run `zhibo grade run`."""


@lru_cache(maxsize=1)
def grading_settings() -> GradingSettings:
    return GradingSettings()


def active_model() -> ScoringModel:
    """The model new runs use and permissions follow: ``ZHIBO_GRADING_MODEL_FILE`` or the
    built-in one."""
    return _model_from(grading_settings().model_file)


@lru_cache(maxsize=4)
def _model_from(path: Path | None) -> ScoringModel:
    return default_model() if path is None else load_model(path)


def unlocks_for(level: int, model: ScoringModel | None = None) -> Unlocks:
    """What a level may do under the active model (settlement, live and tipping read this)."""
    return (model or active_model()).unlocks(max(0, min(5, level)))


@dataclass(frozen=True, slots=True)
class StreamerTippingCaps:
    """Most a viewer may tip a streamer now, in fen, from its level's unlocks; the gift check
    records ``level`` and ``model_version`` with its decision."""

    streamer_id: int
    level: int
    model_version: str
    per_tip_fen: int
    per_day_fen: int
    per_month_fen: int


def tipping_caps_for(db: Session, streamer_id: int) -> StreamerTippingCaps:
    """The tipping caps of the streamer's current level under the active model (level 0: all
    zero, no tips). Raises ``NotFound`` for an unknown streamer. For gift enforcement
    (``zhibo.identity``): read it inside the gift's unit of work."""
    streamer = db.get(Streamer, streamer_id)
    if streamer is None:
        raise NotFound(f"streamer_id: no streamer with id {streamer_id}")
    model = active_model()
    caps = unlocks_for(streamer.level, model).tipping_caps
    return StreamerTippingCaps(
        streamer_id=streamer_id,
        level=streamer.level,
        model_version=model.version,
        per_tip_fen=caps.per_tip_fen,
        per_day_fen=caps.per_day_fen,
        per_month_fen=caps.per_month_fen,
    )


def selling_classes(model: ScoringModel | None = None) -> dict[int, frozenset[RiskClass]]:
    """Level → category risk classes it may sell: what ``zhibo.catalog.policy`` enforces."""
    model = model or active_model()
    return {level.level: level.unlocks.risk_classes for level in model.levels}


def shelf_sizes(model: ScoringModel | None = None) -> dict[int, int]:
    """Level → most products on one session's shelf: what ``zhibo.catalog.selection``
    enforces."""
    model = model or active_model()
    return {level.level: level.unlocks.shelf_size for level in model.levels}


def levels_with(unlock: str, model: ScoringModel | None = None) -> frozenset[int]:
    """The levels whose unlocks switch on a flag (``recommendation_traffic``, ``campaigns``)."""
    model = model or active_model()
    return frozenset(level.level for level in model.levels if bool(getattr(level.unlocks, unlock)))


def streamer_scheme(model: ScoringModel) -> Scheme:
    return Scheme(model.metrics, model.levels, model.gates, STREAMER_METRICS)


def partner_scheme(model: ScoringModel) -> Scheme:
    return Scheme(model.partners.metrics, model.levels, (), PARTNER_METRICS)


# --- the batch --------------------------------------------------------------------------------


@dataclass
class Graded:
    """A run's results before they are stored: one frame per kind, ready to insert."""

    streamers: pl.DataFrame
    partners: pl.DataFrame
    rooms: pl.DataFrame


def grade_population(metrics: Metrics, model: ScoringModel) -> Graded:
    """Grade every streamer, partner and room; pure and vectorised (the benchmark calls it)."""
    streamers = _graded_frame(metrics.streamers.drop("partner_id"), streamer_scheme(model), model)
    partners = _graded_frame(metrics.partners, partner_scheme(model), model)
    return Graded(streamers=streamers, partners=partners, rooms=_key_rooms(metrics.rooms, model))


def _graded_frame(metrics: pl.DataFrame, scheme: Scheme, model: ScoringModel) -> pl.DataFrame:
    """Id, level, score, gate, reason and the JSON inputs of each row."""
    graded = grade(metrics, scheme)
    used = list(
        dict.fromkeys([m.metric for m in scheme.metrics] + [g.when.metric for g in scheme.gates])
    )
    names = {level.level: level.name for level in model.levels}
    frame = graded.hstack([metrics[m].alias(f"value__{m}") for m in used])

    def struct(prefix: str, keys: list[str]) -> pl.Expr:
        if not keys:
            return pl.lit(None)
        return pl.struct([pl.col(f"{prefix}__{key}").alias(key) for key in keys])

    metric_names = [m.metric for m in scheme.metrics]
    gate_names = [g.name for g in scheme.gates]
    applied = (
        pl.concat_list(
            [pl.when(pl.col(f"gate__{g}")).then(pl.lit(g)).otherwise(None) for g in gate_names]
        ).list.drop_nulls()
        if gate_names
        else pl.lit([], dtype=pl.List(pl.String))
    )
    inputs = pl.struct(
        values=struct("value", used),
        percentiles=struct("pct", metric_names),
        contributions=struct("contribution", metric_names),
        gates=applied,
        need=struct("need", metric_names),
        combo=struct("combo", metric_names),
        fix=struct("fix", gate_names),
        level_by_score=pl.col("level_by_score"),
        cap=pl.col("cap"),
    ).struct.json_encode()
    by_score_name = pl.col("level_by_score").replace_strict(names, return_dtype=pl.String)
    reason = pl.concat_str(
        [
            pl.lit("score "),
            pl.col("score_bp").cast(pl.String),
            pl.lit(" bp reaches "),
            by_score_name,
        ]
    )
    reason = (
        pl.when(pl.col("gate").is_not_null())
        .then(
            pl.concat_str(
                [
                    reason,
                    pl.lit("; capped at L"),
                    pl.col("cap").cast(pl.String),
                    pl.lit(" by gate "),
                    pl.col("gate"),
                ]
            )
        )
        .otherwise(reason)
    )
    return frame.select(
        pl.col(graded.columns[0]).alias("subject_id"),
        "level",
        "score_bp",
        "gate",
        reason.alias("reason"),
        inputs.alias("inputs"),
    )


def _key_rooms(rooms: pl.DataFrame, model: ScoringModel) -> pl.DataFrame:
    rules = model.key_rooms
    top = rooms.height * rules.top_share_bp // 10_000
    ranked = rooms.with_columns(
        pl.struct(pl.col("avg_online_viewers_30d"), -pl.col("room_id"))
        .rank("ordinal", descending=True)
        .alias("_online_rank"),
        pl.struct(pl.col("gmv_fen_30d"), -pl.col("room_id"))
        .rank("ordinal", descending=True)
        .alias("_gmv_rank"),
    )
    online_top = (pl.col("_online_rank") <= top) & (pl.col("avg_online_viewers_30d") > 0)
    gmv_top = (pl.col("_gmv_rank") <= top) & (pl.col("gmv_fen_30d") > 0)
    online_min = pl.col("avg_online_viewers_30d") >= rules.min_avg_online_viewers_30d
    gmv_min = pl.col("gmv_fen_30d") >= rules.min_gmv_fen_30d
    reasons = pl.concat_list(
        pl.when(online_top).then(pl.lit(f"top {top} by average online viewers")),
        pl.when(gmv_top).then(pl.lit(f"top {top} by GMV")),
        pl.when(online_min).then(
            pl.lit(f"average online viewers ≥ {rules.min_avg_online_viewers_30d:,}")
        ),
        pl.when(gmv_min).then(pl.lit(f"GMV ≥ {yuan(rules.min_gmv_fen_30d)} yuan")),
    ).list.drop_nulls()
    return ranked.select(
        "room_id",
        "streamer_id",
        "gmv_fen_30d",
        "avg_online_viewers_30d",
        (online_top | gmv_top | online_min | gmv_min).alias("is_key_room"),
        reasons.list.join(", ").alias("reason"),
    )


def load_sources(db: Session, as_of: date, lake_root: Path, model: ScoringModel) -> Sources:
    return Sources(
        streamers=repository.load_streamers(db),
        rooms=repository.load_rooms(db),
        orders=repository.load_orders(db, as_of),
        event_files=lake_files(lake_root, as_of),
        complaints=repository.load_complaints(db, as_of),
        violations=repository.load_violations(db, as_of),
        credit=repository.credit_frame(credit.balances(db)),
        initial_credit_tenths=model.credit.initial_tenths,
    )


def run(
    db: Session,
    as_of: date,
    *,
    lake_root: Path,
    model: ScoringModel | None = None,
    stage: Callable[[str], None] | None = None,
) -> RunSummary:
    """Grade every account as of the end of ``as_of``; running a day again replaces its run
    (same inputs and model: same results, same notices). ``stage`` is told each step as it
    starts (``credit``, ``metrics``, ``grade``, ``store``): the console's progress page."""
    started = time.perf_counter()
    tell = stage or (lambda _name: None)
    model = model or active_model()
    repository.record_model(db, model)
    tell("credit")
    recoveries = credit.apply_recovery(db, as_of, model.credit)
    db.flush()
    tell("metrics")
    metrics = compute_metrics(load_sources(db, as_of, lake_root, model), as_of)
    tell("grade")
    graded = grade_population(metrics, model)
    tell("store")
    run_row, previous = repository.start_run(db, as_of, model.version)
    rows, notices = result_rows(graded, run_row.id, previous, model.version, utcnow())
    repository.insert_results(db, rows)
    repository.insert_notifications(db, notices)
    if repository.is_latest(db, as_of):
        repository.set_streamer_levels(
            db, dict(zip(graded.streamers["subject_id"], graded.streamers["level"], strict=True))
        )
        key = graded.rooms.filter(pl.col("is_key_room"))["room_id"].to_list()
        repository.set_key_rooms(db, set(key))
    summary = RunSummary(
        as_of=as_of,
        model_version=model.version,
        levels=_counts(graded.streamers),
        partner_levels=_counts(graded.partners),
        key_rooms=int(graded.rooms["is_key_room"].sum()),
        notifications=len(notices),
        credit_recoveries=recoveries,
        seconds=round(time.perf_counter() - started, 3),
    )
    repository.finish_run(db, run_row, summary.model_dump(mode="json"), utcnow())
    return summary


def result_rows(
    graded: Graded,
    run_id: int,
    previous: dict[Any, Any],
    model_version: str,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows to insert for a run: every result, and a notice per changed level."""
    rows: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    for kind, frame in (
        (GradedKind.STREAMER, graded.streamers),
        (GradedKind.PARTNER, graded.partners),
    ):
        for subject_id, level, score, gate, reason, inputs in frame.iter_rows():
            before = previous.get((kind, subject_id))
            rows.append(
                {
                    "run_id": run_id,
                    "kind": kind,
                    "subject_id": subject_id,
                    "level": level,
                    "previous_level": before,
                    "score_bp": score,
                    "gate": gate,
                    "is_key_room": False,
                    "reason": reason,
                    "inputs": inputs,
                    "model_version": model_version,
                }
            )
            if before != level:
                notices.append(
                    {
                        "run_id": run_id,
                        "kind": kind,
                        "subject_id": subject_id,
                        "from_level": before,
                        "to_level": level,
                        "reason": reason,
                        "created_at": now,
                    }
                )
    # Rooms: only key rooms are stored (the patrol queue); any other room is simply not key.
    key_rooms = graded.rooms.filter(pl.col("is_key_room"))
    for room_id, _sid, gmv, online, is_key, reason in key_rooms.iter_rows():
        rows.append(
            {
                "run_id": run_id,
                "kind": GradedKind.ROOM,
                "subject_id": room_id,
                "level": None,
                "previous_level": None,
                "score_bp": 0,
                "gate": None,
                "is_key_room": is_key,
                "reason": reason,
                "inputs": json.dumps({"gmv_fen_30d": gmv, "avg_online_viewers_30d": online}),
                "model_version": model_version,
            }
        )
    return rows, notices


def _counts(frame: pl.DataFrame) -> dict[str, int]:
    counts = {str(level): 0 for level in range(6)}
    for level, count in frame.group_by("level").len().iter_rows():
        counts[str(level)] = int(count)
    return counts


# --- explanations -----------------------------------------------------------------------------

LABELS = {
    "gmv_fen": "GMV",
    "net_gmv_fen": "GMV after refunds",
    "orders": "orders",
    "buyers": "buyers",
    "followers_gained": "followers gained",
    "visits": "visits",
    "unique_viewers": "unique viewers",
    "avg_online_viewers": "average online viewers",
    "conversion_bp": "conversion",
    "refund_rate_bp": "refund rate",
    "complaint_rate_bp": "complaint rate",
    "complaints": "complaints",
    "violations": "violations",
    "violations_minor": "minor violations",
    "violations_moderate": "moderate violations",
    "violations_serious": "serious violations",
    "violations_critical": "critical violations",
    "active_streamers": "streamers with sales",
    "credit_points_tenths": "credit points",
    "identity_verified": "verified identity",
    "tenure_days": "days on the platform",
    "streamers": "streamers",
}


def _split(metric: str) -> tuple[str, str]:
    """``gmv_fen_30d`` → (``gmv_fen``, ``in 30 days``)."""
    base, _, window = metric.rpartition("_")
    if window.endswith("d") and window[:-1].isdigit() and base:
        return base, f"in {window[:-1]} days"
    return metric, ""


def label(metric: str) -> str:
    base, window = _split(metric)
    return f"{LABELS.get(base, base)} {window}".strip()


def _amount(unit: str, value: int) -> str:
    if unit == "fen":
        return f"{yuan(value)} yuan"
    if unit == "bp":
        return f"{value / 100:.2f} %"
    if unit == "tenths":
        return f"{value / 10:.1f}"
    return f"{value:,}"


def change_text(metric: str, current: int, required: int, units: dict[str, str]) -> str:
    unit = units.get(metric, "count")
    base, window = _split(metric)
    name = LABELS.get(base, base)
    suffix = f" {window}" if window else ""
    if unit == "flag":
        return f"{name}: required" if required else f"no {name}"
    if required > current:
        if unit in ("fen", "count"):
            return f"+{_amount(unit, required - current)} {name}{suffix}"
        return f"{name}{suffix} of at least {_amount(unit, required)}"
    return f"{name}{suffix} of at most {_amount(unit, required)}"


def _visible_streamer(db: Session, principal: Principal, streamer_id: int) -> Streamer:
    streamer = db.get(Streamer, streamer_id)
    visible = streamer is not None and (
        principal.is_global
        or (principal.role == Role.STREAMER and principal.subject_id == streamer_id)
        or (principal.role == Role.PARTNER and streamer.partner_id == principal.subject_id)
    )
    if not visible or streamer is None:
        raise NotFound(f"streamer_id: no streamer with id {streamer_id}")
    return streamer


def _model_of(db: Session, version: str) -> ScoringModel:
    document = repository.stored_model(db, version)
    if document is None:  # pragma: no cover - runs always record their model
        return active_model()
    return parse_model(document, f"grading_models[{version}]")


def explain(db: Session, principal: Principal, streamer_id: int) -> GradeExplanation:
    """The latest grade of a streamer with every input, gate and counterfactual."""
    _visible_streamer(db, principal, streamer_id)
    result = repository.latest_result(db, GradedKind.STREAMER, streamer_id)
    if result is None:
        raise NotGradedYet(f"streamer_id: streamer {streamer_id} has not been graded yet")
    return explain_result(db, result)


def explain_result(db: Session, result: GradeResult) -> GradeExplanation:
    model = _model_of(db, result.model_version)
    common, values, level = _explanation(
        db, result, model, streamer_scheme(model), STREAMER_METRICS
    )
    return GradeExplanation(
        **common,
        streamer_id=result.subject_id,
        credit_points_tenths=values.get("credit_points_tenths", model.credit.initial_tenths),
        unlocks=unlocks_out(model.unlocks(level)),
    )


def explain_partner(db: Session, principal: Principal, partner_id: int) -> PartnerGradeExplanation:
    """A partner's latest grade; a partner sees its own, global readers all."""
    visible = principal.is_global or (
        principal.role == Role.PARTNER and principal.subject_id == partner_id
    )
    result = repository.latest_result(db, GradedKind.PARTNER, partner_id) if visible else None
    if not visible or db.get(Partner, partner_id) is None:
        raise NotFound(f"partner_id: no partner with id {partner_id}")
    if result is None:
        raise NotGradedYet(f"partner_id: partner {partner_id} has not been graded yet")
    model = _model_of(db, result.model_version)
    common, _values, _level = _explanation(
        db, result, model, partner_scheme(model), PARTNER_METRICS
    )
    return PartnerGradeExplanation(**common, partner_id=partner_id)


def _explanation(
    db: Session,
    result: GradeResult,
    model: ScoringModel,
    scheme: Scheme,
    units: dict[str, str],
) -> tuple[dict[str, Any], dict[str, int], int]:
    run_row = repository.run_for(db, result.run_id)
    assert run_row is not None
    inputs = json.loads(result.inputs)
    values: dict[str, int] = inputs["values"]
    level = int(result.level or 0)
    metrics = [
        MetricExplanation(
            metric=item.metric,
            label=label(item.metric),
            value=values[item.metric],
            percentile_bp=inputs["percentiles"][item.metric],
            weight=item.weight,
            better=item.better,
            contribution_bp=inputs["contributions"][item.metric],
        )
        for item in scheme.metrics
    ]
    gates = {gate.name: gate for gate in scheme.gates}
    applied = [
        GateExplanation(
            name=name,
            description=gates[name].description,
            metric=gates[name].when.metric,
            value=values[gates[name].when.metric],
            max_level=gates[name].max_level,
            capping=name == result.gate,
        )
        for name in inputs["gates"]
    ]
    row: dict[str, object] = {}
    for prefix in ("need", "combo", "fix"):
        for key, value in (inputs.get(prefix) or {}).items():
            row[f"{prefix}__{key}"] = value
    counterfactuals = []
    for option in change_options(row, scheme) if level < 5 else []:
        changes = [
            Change(
                metric=metric,
                current=values[metric],
                required=required,
                delta=required - values[metric],
                text=change_text(metric, values[metric], required, units),
            )
            for metric, required in option.items()
        ]
        counterfactuals.append(
            Counterfactual(
                target_level=level + 1,
                changes=changes,
                text=" and ".join(change.text for change in changes),
            )
        )
    common = {
        "as_of": run_row.as_of,
        "model_version": result.model_version,
        "level": level,
        "level_name": model.levels[level].name,
        "previous_level": result.previous_level,
        "score_bp": result.score_bp,
        "level_by_score": int(inputs["level_by_score"]),
        "reason": result.reason,
        "metrics": metrics,
        "gates_applied": applied,
        "counterfactuals": counterfactuals,
        "next_level_hint": ", or ".join(c.text for c in counterfactuals) or None,
    }
    return common, values, level


def unlocks_out(unlocks: Unlocks) -> UnlocksOut:
    return UnlocksOut(
        risk_classes=sorted(unlocks.risk_classes, key=list(RiskClass).index),
        shelf_size=unlocks.shelf_size,
        recommendation_traffic=unlocks.recommendation_traffic,
        campaigns=unlocks.campaigns,
        settlement_acceleration_days=unlocks.settlement_acceleration_days,
        tipping_caps=TippingCapsOut(**unlocks.tipping_caps.model_dump()),
    )


def level_history(
    db: Session, principal: Principal, streamer_id: int, limit: int = 90
) -> list[LevelHistoryItem]:
    _visible_streamer(db, principal, streamer_id)
    return [
        LevelHistoryItem(
            as_of=as_of,
            level=result.level,
            previous_level=result.previous_level,
            score_bp=result.score_bp,
            gate=result.gate,
            reason=result.reason,
            model_version=result.model_version,
        )
        for as_of, result in repository.results_history(db, GradedKind.STREAMER, streamer_id, limit)
    ]


def credit_of(db: Session, principal: Principal, streamer_id: int) -> CreditOut:
    _visible_streamer(db, principal, streamer_id)
    rules = active_model().credit
    current = credit.balance(db, streamer_id, rules)
    return CreditOut(
        streamer_id=streamer_id,
        balance_tenths=current,
        rights_revoked=current <= 0,
        changes=[
            CreditChangeOut(
                id=row.id,
                delta_tenths=row.delta_tenths,
                balance_tenths=row.balance_tenths,
                cause=str(row.cause),
                violation_id=row.violation_id,
                occurred_at=row.occurred_at,
                note=row.note,
            )
            for row in credit.history(db, streamer_id)
        ],
    )


def key_rooms(db: Session) -> list[KeyRoomOut]:
    """The patrol queue: key rooms of the latest run, busiest first."""
    from sqlalchemy import select

    from zhibo.models.grading import GradingRun

    latest = db.scalar(select(GradingRun).order_by(GradingRun.as_of.desc()).limit(1))
    if latest is None:
        return []
    model = _model_of(db, latest.model_version)
    rows = db.execute(
        select(GradeResult.subject_id, GradeResult.inputs, GradeResult.reason, LiveRoom.streamer_id)
        .join(LiveRoom, LiveRoom.id == GradeResult.subject_id)
        .where(
            GradeResult.run_id == latest.id,
            GradeResult.kind == GradedKind.ROOM,
            GradeResult.is_key_room.is_(True),
        )
    ).all()
    out = []
    for room_id, inputs, reason, streamer_id in rows:
        data = json.loads(inputs)
        out.append(
            KeyRoomOut(
                room_id=room_id,
                streamer_id=streamer_id,
                gmv_fen_30d=data["gmv_fen_30d"],
                avg_online_viewers_30d=data["avg_online_viewers_30d"],
                retention_days=model.key_rooms.retention_days,
                reason=reason,
            )
        )
    out.sort(key=lambda r: (-r.avg_online_viewers_30d, -r.gmv_fen_30d, r.room_id))
    return out


def retention_days(room: LiveRoom, model: ScoringModel | None = None) -> int:
    """How long a room's live content is kept: longer for key rooms."""
    rules = (model or active_model()).key_rooms
    return rules.retention_days if room.is_key_room else rules.standard_retention_days
