"""The scoring model is data: a versioned TOML, YAML or JSON document validated here.

It says which metrics count and how (percentile within the platform, higher or lower better,
weight), which hard gates cap the level, the score each level L0-L5 needs and what each level
unlocks, when a room is a key live room, and the credit-point rules. Unknown fields and bad
values are refused with the field named (``levels.3.min_score_bp: ...``). Each grading result
records the model version; the document itself is kept in ``grading_models`` for replay.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    model_validator,
)

from zhibo.kit.documents import read_document, validated
from zhibo.kit.errors import InvalidInput
from zhibo.models.category import RiskClass
from zhibo.models.grading import ViolationSeverity

LEVELS = tuple(range(6))
WINDOWS = (7, 30, 90)
SEVERITIES = tuple(severity.value for severity in ViolationSeverity)


def _windowed(*names: str) -> list[str]:
    return [f"{name}_{days}d" for name in names for days in WINDOWS]


#: Metrics computed per streamer (``zhibo.grading.metrics``), by unit. A model may use any.
STREAMER_METRICS: dict[str, str] = {
    **dict.fromkeys(_windowed("gmv_fen", "net_gmv_fen"), "fen"),
    **dict.fromkeys(
        _windowed(
            "orders",
            "buyers",
            "followers_gained",
            "visits",
            "unique_viewers",
            "avg_online_viewers",
            "complaints",
            "violations",
            *(f"violations_{severity}" for severity in SEVERITIES),
        ),
        "count",
    ),
    **dict.fromkeys(_windowed("conversion_bp", "refund_rate_bp", "complaint_rate_bp"), "bp"),
    "credit_points_tenths": "tenths",
    "identity_verified": "flag",
    "tenure_days": "days",
}
#: Metrics computed per partner, summed over its streamers.
PARTNER_METRICS: dict[str, str] = {
    **dict.fromkeys(_windowed("gmv_fen", "net_gmv_fen"), "fen"),
    **dict.fromkeys(
        _windowed(
            "orders",
            "buyers",
            "active_streamers",
            "violations",
            *(f"violations_{severity}" for severity in SEVERITIES),
        ),
        "count",
    ),
    **dict.fromkeys(_windowed("refund_rate_bp"), "bp"),
    "streamers": "count",
}

Fen = Annotated[int, Field(strict=True, ge=0, le=10**13)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeightedMetric(_Strict):
    """One metric's share of the score."""

    #: A metric name from ``STREAMER_METRICS`` (or ``PARTNER_METRICS`` under ``partners``).
    metric: str
    #: Relative weight; the score divides by the sum of weights.
    weight: int = Field(strict=True, ge=1, le=1000)
    #: ``higher``: more is better (GMV). ``lower``: less is better (refund rate).
    better: Literal["higher", "lower"]
    #: How raw values become 0..10000: the percentile within the platform (midrank for ties).
    normalise: Literal["percentile"] = "percentile"


class Condition(_Strict):
    metric: str
    op: Literal[">=", ">", "<=", "<", "=="]
    value: int = Field(strict=True)


class Gate(_Strict):
    """A hard rule: when ``when`` holds, the level is at most ``max_level``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    #: Shown to the streamer with the facts.
    description: str = Field(min_length=1, max_length=300)
    when: Condition
    max_level: int = Field(strict=True, ge=0, le=5)


class TippingCaps(_Strict):
    """Most a viewer may tip this streamer, in fen (the law also caps tips per viewer)."""

    per_tip_fen: Fen
    per_day_fen: Fen
    per_month_fen: Fen

    @model_validator(mode="after")
    def _ordered(self) -> TippingCaps:
        if not self.per_tip_fen <= self.per_day_fen <= self.per_month_fen:
            raise ValueError("per_tip_fen <= per_day_fen <= per_month_fen must hold")
        return self


class Unlocks(_Strict):
    """What a level may do."""

    #: Category risk classes it may sell (enforced by the product pool).
    risk_classes: frozenset[RiskClass]
    #: Most products on one session's shelf.
    shelf_size: int = Field(strict=True, ge=0, le=10_000)
    #: Eligible for recommendation traffic.
    recommendation_traffic: bool
    #: Eligible for platform campaigns.
    campaigns: bool
    #: Days sooner commission is paid than the settlement policy's schedule.
    settlement_acceleration_days: int = Field(strict=True, ge=0, le=30)
    tipping_caps: TippingCaps

    @field_serializer("risk_classes")
    def _ordered_classes(self, value: frozenset[RiskClass]) -> list[str]:
        # A stable order, so the same model always has the same digest.
        return [risk.value for risk in RiskClass if risk in value]


class Level(_Strict):
    level: int = Field(strict=True, ge=0, le=5)
    name: str = Field(min_length=1, max_length=60)
    #: Lowest score (basis points of the best possible) that reaches this level.
    min_score_bp: int = Field(strict=True, ge=0, le=10_000)
    unlocks: Unlocks


class KeyRooms(_Strict):
    """Key live rooms get real-time patrol and longer retention of their live content."""

    #: Share of all rooms, in basis points, that is key by rank: the top share by average
    #: online viewers and the top share by GMV in 30 days (10 = 0.1 %; rounded down).
    top_share_bp: int = Field(strict=True, ge=0, le=10_000)
    min_avg_online_viewers_30d: int = Field(strict=True, ge=1)
    min_gmv_fen_30d: Fen = Field(ge=1)
    #: Retention of a key room's live video (the rules: at least 3 years).
    retention_days: int = Field(strict=True, ge=1095, le=36_500)
    #: Retention of other rooms' live content (the rules: at least 60 days).
    standard_retention_days: int = Field(strict=True, ge=60, le=36_500)


class CreditRules(_Strict):
    """Credit points, in tenths of a point (DOMAIN.md §4: 12 points, deductions 0.5-12)."""

    initial_tenths: int = Field(strict=True, ge=1, le=1000)
    #: Default deduction per violation severity (the risk engine may set another, 0..120).
    deduction_tenths: dict[ViolationSeverity, Annotated[int, Field(strict=True, ge=0, le=120)]]
    #: Points given back after each clean stretch.
    recovery_tenths: int = Field(strict=True, ge=1, le=1000)
    #: Clean days needed for one recovery...
    clean_days: int = Field(strict=True, ge=1, le=365)
    #: ...or this many while the balance is below ``low_below_tenths``.
    clean_days_when_low: int = Field(strict=True, ge=1, le=365)
    low_below_tenths: int = Field(strict=True, ge=0, le=1000)

    @model_validator(mode="after")
    def _complete(self) -> CreditRules:
        missing = [s.value for s in ViolationSeverity if s not in self.deduction_tenths]
        if missing:
            raise ValueError(f"deduction_tenths: no deduction for {', '.join(missing)}")
        return self


class PartnerScoring(_Strict):
    metrics: list[WeightedMetric] = Field(min_length=1)


class ScoringModel(_Strict):
    schema_version: Literal[1] = 1
    #: Recorded with every result computed under this model.
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    description: str = ""
    metrics: list[WeightedMetric] = Field(min_length=1)
    gates: list[Gate] = Field(default_factory=list)
    #: Exactly L0..L5, in order.
    levels: list[Level] = Field(min_length=6, max_length=6)
    key_rooms: KeyRooms
    credit: CreditRules
    partners: PartnerScoring

    @model_validator(mode="after")
    def _consistent(self) -> ScoringModel:
        _check_metrics("metrics", self.metrics, STREAMER_METRICS)
        _check_metrics("partners.metrics", self.partners.metrics, PARTNER_METRICS)
        seen: set[str] = set()
        for index, gate in enumerate(self.gates):
            if gate.when.metric not in STREAMER_METRICS:
                raise ValueError(f"gates.{index}.when.metric: unknown metric {gate.when.metric!r}")
            if gate.name in seen:
                raise ValueError(f"gates.{index}.name: {gate.name!r} appears twice")
            seen.add(gate.name)
        for index, level in enumerate(self.levels):
            if level.level != index:
                raise ValueError(f"levels.{index}.level: expected {index}, got {level.level}")
        if self.levels[0].min_score_bp != 0:
            raise ValueError("levels.0.min_score_bp: level 0 must need no score")
        for index in range(2, 6):
            if self.levels[index].min_score_bp <= self.levels[index - 1].min_score_bp:
                raise ValueError(
                    f"levels.{index}.min_score_bp: must be above level {index - 1}'s "
                    f"({self.levels[index - 1].min_score_bp})"
                )
        for index in range(1, 6):
            below, here = self.levels[index - 1].unlocks, self.levels[index].unlocks
            if not below.risk_classes <= here.risk_classes:
                raise ValueError(
                    f"levels.{index}.unlocks.risk_classes: level {index} may not sell less "
                    f"than level {index - 1}"
                )
        return self

    @property
    def weight_total(self) -> int:
        return sum(item.weight for item in self.metrics)

    def unlocks(self, level: int) -> Unlocks:
        return self.levels[level].unlocks

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def digest(self) -> str:
        canonical = json.dumps(self.document(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _check_metrics(field: str, items: list[WeightedMetric], known: dict[str, str]) -> None:
    names: set[str] = set()
    for index, item in enumerate(items):
        if item.metric not in known:
            raise ValueError(f"{field}.{index}.metric: unknown metric {item.metric!r}")
        if item.metric in names:
            raise ValueError(f"{field}.{index}.metric: {item.metric!r} appears twice")
        names.add(item.metric)


class InvalidScoringModel(InvalidInput):
    """The scoring model document was refused; ``detail`` names each bad field."""


def parse_model(data: Any, source: str = "model") -> ScoringModel:
    return validated(ScoringModel, data, source, InvalidScoringModel)


def load_model(path: Path) -> ScoringModel:
    """Read and validate a model file (``.toml``, ``.yaml``/``.yml`` or ``.json``)."""
    return parse_model(read_document(path, InvalidScoringModel), str(path))


@lru_cache(maxsize=1)
def default_model() -> ScoringModel:
    """The built-in model (``default_model.toml`` beside this module)."""
    text = resources.files("zhibo.grading").joinpath("default_model.toml").read_text("utf-8")
    return parse_model(tomllib.loads(text), "default_model.toml")
