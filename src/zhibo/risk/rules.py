"""Risk rules are data: a versioned TOML (or JSON) document validated here.

Each rule names a *detector* (the pure function that looks for a tactic), the detector's
parameters, a severity, the measures it triggers and its state: ``draft`` (not run), ``shadow``
(run and its findings recorded, but no measure applied) or ``active``. Detectors register the
Pydantic model of their parameters in :data:`DETECTORS`; a rule's parameters are validated
against it. A bad file is refused with the field named (``rules.2.parameters.window_seconds:
...``). Every finding records the rule id and version, so a decision can be traced and replayed.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from zhibo.kit.documents import read_document
from zhibo.kit.errors import InvalidInput


class RuleState(StrEnum):
    DRAFT = "draft"
    """Written, not run."""
    SHADOW = "shadow"
    """Run and recorded; never applies a measure (to measure a rule before it acts)."""
    ACTIVE = "active"
    """Run, recorded, and its measures applied."""


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Measure(StrEnum):
    """What a finding of an active rule triggers, lightest first (DOMAIN.md §2)."""

    PROMPT = "prompt"
    """A pop-up prompt to the streamer."""
    VIEWER_NOTICE = "viewer_notice"
    """A risk notice to the room's viewers (e.g. against trading off the platform)."""
    WARNING = "warning"
    """A violation warning on the account's record."""
    TRAFFIC_LIMIT = "traffic_limit"
    """The room drops out of recommendation listings."""
    SUSPENSION = "suspension"
    """The live stream is cut."""
    CREDIT_DEDUCTION = "credit_deduction"
    FUNCTION_RESTRICTION = "function_restriction"
    PUBLISHING_SUSPENSION = "publishing_suspension"
    ACCOUNT_CANCELLATION = "account_cancellation"
    REREGISTRATION_BAN = "reregistration_ban"
    BLACKLIST = "blacklist"
    REVIEW = "review"
    """A human reviewer looks at the finding before anything else happens."""
    REFUSE_LISTING = "refuse_listing"
    """The product pool refuses to put the product on a shelf."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- detector parameters -----------------------------------------------------------------------


class BannedTermsParams(_Strict):
    """False advertising: the lexicon categories this rule reports."""

    #: Categories of ``data/lexicon.toml`` (e.g. ``absolute_rank``, ``medical_claim``).
    categories: list[str] = Field(min_length=1)
    #: Text fields the rule reads (product ``title``/``description``, ``comment``, ...).
    fields: list[str] = Field(default_factory=lambda: ["title", "description"], min_length=1)

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: list[str]) -> list[str]:
        from zhibo.risk.text import default_lexicon

        known = default_lexicon().categories
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ValueError(f"unknown lexicon categories {unknown}; known: {sorted(known)}")
        return value


class LureParams(_Strict):
    """Off-platform lures: which contact kinds this rule reports."""

    kinds: list[Literal["wechat", "qq", "qr_code", "phone"]] = Field(min_length=1)
    fields: list[str] = Field(
        default_factory=lambda: ["title", "description", "comment"], min_length=1
    )


class ConcentrationParams(_Strict):
    """Order brushing, Shopee's definition: a seller is brushing in any window of
    ``window_seconds`` (both ends included) where orders / unique buyers >=
    ``min_orders_per_buyer``."""

    #: Window length; the public definition uses one hour.
    window_seconds: int = Field(default=3600, ge=1, le=7 * 86400)
    #: The concentration threshold (orders per unique buyer); the public definition uses 3.
    min_orders_per_buyer: float = Field(default=3.0, ge=1.0)


class LikeStormParams(_Strict):
    """Fake engagement, in real time: a room gets at least ``min_likes`` likes within
    ``window_seconds`` and its ``max_accounts`` most active likers gave at least
    ``min_share_bp`` of them (``zhibo.risk.realtime``)."""

    #: Window length (hopping windows of this length, advancing by half of it).
    window_seconds: int = Field(default=60, ge=2, le=3600)
    #: Fewer likes than this in a window is never a storm.
    min_likes: int = Field(default=1000, ge=1)
    #: How many accounts "few accounts" means.
    max_accounts: int = Field(default=5, ge=1, le=100)
    #: Share of the window's likes those accounts gave, in basis points.
    min_share_bp: int = Field(default=8000, ge=1, le=10000)
    #: A finding this close to the share threshold (basis points) goes to human review.
    uncertain_margin_bp: int = Field(default=500, ge=0, le=10000)


#: Detector name → the model of its parameters. A detector module may add its own.
DETECTORS: dict[str, type[BaseModel]] = {
    "banned_terms": BannedTermsParams,
    "off_platform_lure": LureParams,
    "order_concentration": ConcentrationParams,
    "like_storm": LikeStormParams,
}


def register_detector(name: str, parameters: type[BaseModel]) -> None:
    DETECTORS[name] = parameters


# --- rules -------------------------------------------------------------------------------------


class Rule(_Strict):
    #: Stable identifier, e.g. ``false_advertising.absolute_terms``.
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", max_length=100)
    #: Bumped whenever anything below changes; findings record it.
    version: int = Field(ge=1)
    detector: str
    state: RuleState
    severity: Severity
    #: Applied, in order, when the rule is active; never while it is a draft or in shadow.
    measures: list[Measure] = Field(default_factory=list)
    #: The provision the rule enforces, quoted in notices.
    legal_basis: str = ""
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, value: str) -> str:
        if value not in DETECTORS:
            raise ValueError(f"unknown detector {value!r}; known: {sorted(DETECTORS)}")
        return value

    @field_validator("parameters")
    @classmethod
    def _valid_parameters(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        detector = info.data.get("detector")
        if detector is None:  # the detector itself was refused
            return value
        try:
            checked = DETECTORS[detector].model_validate(value)
        except ValidationError as exc:
            raise ValueError(_describe(exc, prefix="@")) from exc
        return checked.model_dump(mode="json")

    @property
    def key(self) -> str:
        """``id@version``, as findings and screens name the rule."""
        return f"{self.id}@{self.version}"

    @property
    def runs(self) -> bool:
        return self.state != RuleState.DRAFT

    def measures_to_apply(self) -> list[Measure]:
        """The rule's measures when it is active; none in shadow or draft."""
        return list(self.measures) if self.state == RuleState.ACTIVE else []

    def params(self) -> Any:
        """The parameters as the detector's model."""
        return DETECTORS[self.detector].model_validate(self.parameters)


class RuleSet(_Strict):
    schema_version: Literal[1]
    #: The version of the whole document (recorded with every scan).
    version: str = Field(min_length=1)
    description: str = ""
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        seen: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            if rule.id in seen:
                raise ValueError(
                    f"rules.{index}.id: {rule.id!r} is already used by rules.{seen[rule.id]}"
                )
            seen[rule.id] = index
        return self

    def running(self, detector: str) -> list[Rule]:
        """Rules of ``detector`` that run (shadow and active), in file order."""
        return [rule for rule in self.rules if rule.detector == detector and rule.runs]

    def get(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def digest(self) -> str:
        document = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(document.encode("utf-8")).hexdigest()


class InvalidRuleFile(InvalidInput):
    """The rule file breaks a rule; ``detail`` names the field."""


def _describe(exc: ValidationError, prefix: str = "") -> str:
    problems: list[str] = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if message.startswith("@"):
            # A nested model's own errors, already located: join the two paths.
            problems.extend(f"{location}.{part}" for part in message.removeprefix("@").split("; @"))
        else:
            problems.append(f"{prefix}{location}: {message}" if location else message)
    return "; ".join(problems)


def _load_detectors() -> None:
    """Import the batch detectors so that their parameter models are registered."""
    import zhibo.risk.detectors  # noqa: F401


def parse_rules(data: Any, source: str = "rules") -> RuleSet:
    _load_detectors()
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise InvalidRuleFile(f"{source}: {_describe(exc)}") from exc


def load_rules(path: Path) -> RuleSet:
    """Read and validate a rule file (``.toml``, ``.yaml``/``.yml`` or ``.json``)."""
    return parse_rules(read_document(path, InvalidRuleFile), str(path))


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    """The packaged rule set (``zhibo/risk/data/rules.toml``)."""
    text = resources.files("zhibo.risk").joinpath("data/rules.toml").read_text("utf-8")
    return parse_rules(tomllib.loads(text), "zhibo/risk/data/rules.toml")


_configured: dict[tuple[str, int], RuleSet] = {}


def configured_rules() -> RuleSet:
    """The rules the platform runs: the file named by the setting ``ZHIBO_RISK_RULES_FILE``
    (re-read when it changes), else the packaged set. A bad file is refused with the field
    named (``InvalidRuleFile``), never half-applied."""
    from zhibo.config import get_settings

    path = get_settings().risk_rules_file
    if path is None:
        return default_rules()
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError as exc:
        raise InvalidRuleFile(f"ZHIBO_RISK_RULES_FILE: cannot read {path}: {exc.strerror}") from exc
    found = _configured.get(key)
    if found is None:
        found = load_rules(path)
        _configured.clear()
        _configured[key] = found
    return found
