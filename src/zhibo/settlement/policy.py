"""Settlement policies are data: when commission becomes payable, how much is held in reserve
and for how long, and how much sooner each streamer level is paid (its own per-level table, or
``acceleration_from = "grading"``: the level's unlocks in the grading model).

A policy is a versioned Pydantic document, loadable from TOML, YAML or JSON; unknown fields,
negative numbers and rates over 100 % are refused with the field named. Its ``digest`` (SHA-256
of the canonical JSON) is recorded with every settlement that used it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zhibo.kit.documents import SUFFIXES, read_document, validated
from zhibo.kit.errors import InvalidInput, NotFound

Event = Literal["confirmed", "delivered"]
MAX_DAYS = 3660
#: Streamer levels (``Streamer.level``): 0 (selling rights revoked; what it earned before is
#: still paid) to 5.
MIN_LEVEL, MAX_LEVEL = 0, 5


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Monthly(_Strict):
    """Payable on ``day`` of the ``months_after``-th month after the month of ``after``."""

    kind: Literal["monthly"] = "monthly"
    #: Day of the month commission is paid (1..28, so every month has it).
    day: int = Field(ge=1, le=28)
    #: The order event that starts the cycle.
    after: Event = "confirmed"
    #: 1: the month after the event's month.
    months_after: int = Field(default=1, ge=0, le=12)


class After(_Strict):
    """Payable ``return_window_days + plus_days`` after the event (the day of the event is day
    0)."""

    kind: Literal["after"] = "after"
    event: Event = "confirmed"
    #: No-reason return window after the event, in days (China: 7).
    return_window_days: int = Field(default=7, ge=0, le=MAX_DAYS)
    #: Further days before payment.
    plus_days: int = Field(default=0, ge=0, le=MAX_DAYS)


class Reserve(_Strict):
    """Part of each payout held back as a refund reserve, released after ``hold_days``."""

    #: Percent of each payout's new commission held (0..100, at most two decimals).
    hold_percent: Decimal = Field(ge=0, le=100, max_digits=5, decimal_places=2)
    #: Days the reserve is held before it is released into a payout.
    hold_days: int = Field(ge=0, le=MAX_DAYS)

    @property
    def hold_bp(self) -> int:
        return int(self.hold_percent * 100)


Schedule = Annotated[Monthly | After, Field(discriminator="kind")]


class SettlementPolicy(_Strict):
    """When commission becomes payable. Recorded by name, version and digest with each run."""

    #: Short name, e.g. ``reform-monthly-5``.
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    #: Bump on every change: a (name, version) pair always means the same rules.
    version: int = Field(default=1, ge=1)
    description: str = Field(default="", max_length=2000)
    schedule: Schedule
    reserve: Reserve | None = None
    #: Streamer level (0..5) → days sooner than the schedule (never before the event itself).
    #: With ``acceleration_from = "grading"`` this is filled in by ``resolved()`` only.
    acceleration_days: dict[int, int] = Field(default_factory=dict)
    #: Where per-level acceleration comes from. ``policy``: ``acceleration_days`` above.
    #: ``grading``: each level's ``settlement_acceleration_days`` in the active grading model
    #: (one source of truth with the level's other unlocks); a run records the days it used.
    acceleration_from: Literal["policy", "grading"] = "policy"
    #: Set by ``resolved()``: the grading model version ``acceleration_days`` was copied from.
    acceleration_model: str | None = Field(default=None, max_length=64)

    @field_validator("acceleration_days")
    @classmethod
    def _levels(cls, value: dict[int, int]) -> dict[int, int]:
        for level, days in value.items():
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                raise ValueError(f"level {level} is outside {MIN_LEVEL}..{MAX_LEVEL}")
            if not 0 <= days <= MAX_DAYS:
                raise ValueError(f"level {level}: {days} days is outside 0..{MAX_DAYS}")
        return dict(sorted(value.items()))

    @model_validator(mode="after")
    def _one_source(self) -> SettlementPolicy:
        if self.acceleration_from == "policy" and self.acceleration_model is not None:
            raise ValueError("acceleration_model: only set when acceleration_from = 'grading'")
        if (
            self.acceleration_from == "grading"
            and self.acceleration_model is None
            and self.acceleration_days
        ):
            raise ValueError(
                "acceleration_days: acceleration_from = 'grading' takes the days from the "
                "grading model; leave acceleration_days out"
            )
        return self

    def resolved(self) -> SettlementPolicy:
        """This policy with acceleration taken from the grading model copied in (days and model
        version), as a run records it; other policies are returned unchanged."""
        if self.acceleration_from != "grading" or self.acceleration_model is not None:
            return self
        from zhibo.grading.service import active_model

        model = active_model()
        days = {
            level.level: level.unlocks.settlement_acceleration_days
            for level in model.levels
            if level.unlocks.settlement_acceleration_days
        }
        document = self.model_dump(mode="json")
        document.update(acceleration_days=days, acceleration_model=model.version)
        return SettlementPolicy.model_validate(document)

    @property
    def source_digest(self) -> str:
        """Digest of the policy as written (before ``resolved()``): what a re-run compares."""
        document = self.model_dump(mode="json")
        if self.acceleration_from == "grading":
            document.update(acceleration_days={}, acceleration_model=None)
        return hashlib.sha256(_canonical(document).encode()).hexdigest()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def canonical_json(self) -> str:
        return _canonical(self.model_dump(mode="json"))

    @property
    def event(self) -> Event:
        return self.schedule.after if isinstance(self.schedule, Monthly) else self.schedule.event

    def acceleration_for(self, level: int) -> int:
        if self.acceleration_from == "grading" and self.acceleration_model is None:
            from zhibo.grading.service import unlocks_for

            return unlocks_for(level).settlement_acceleration_days
        return self.acceleration_days.get(level, 0)

    def payable_on(self, event_at: datetime, level: int = 1) -> date:
        """The day commission on an order whose event happened at ``event_at`` becomes
        payable, for a streamer of ``level``."""
        event_day = event_at.astimezone(UTC).date()
        schedule = self.schedule
        if isinstance(schedule, Monthly):
            year, month = _add_months(event_day.year, event_day.month, schedule.months_after)
            day = date(year, month, schedule.day)
            if day < event_day:  # months_after=0 and the day has passed: next month
                year, month = _add_months(year, month, 1)
                day = date(year, month, schedule.day)
        else:
            day = event_day + timedelta(days=schedule.return_window_days + schedule.plus_days)
        return max(event_day, day - timedelta(days=self.acceleration_for(level)))

    def event_cutoff(self, as_of: date, level: int) -> datetime:
        """Orders whose event happened strictly before this instant are payable by ``as_of``.

        ``payable_on`` is monotonic in the event time, so "payable by as_of" is a prefix of
        event times: settlement runs select it with one range condition per level.
        """
        # Search the latest event day whose payable day is <= as_of (at most ~13 months back).
        candidate = as_of
        for _ in range(MAX_DAYS + 400):
            moment = datetime(candidate.year, candidate.month, candidate.day, tzinfo=UTC)
            if self.payable_on(moment, level) <= as_of:
                next_day = candidate + timedelta(days=1)
                return datetime(next_day.year, next_day.month, next_day.day, tzinfo=UTC)
            candidate -= timedelta(days=1)
        return datetime(1970, 1, 1, tzinfo=UTC)


def _canonical(document: dict[str, Any]) -> str:
    # The acceleration source keys are left out at their defaults, so policies written before
    # they existed keep their digests.
    if document.get("acceleration_from") == "policy":
        document.pop("acceleration_from")
    if document.get("acceleration_model") is None:
        document.pop("acceleration_model", None)
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


BUILT_IN: dict[str, SettlementPolicy] = {
    policy.name: policy
    for policy in (
        SettlementPolicy(
            name="legacy-monthly-20",
            description="Before the reform: commission payable on the 20th of the month after "
            "receipt was confirmed.",
            schedule=Monthly(day=20, after="confirmed"),
        ),
        SettlementPolicy(
            name="reform-monthly-5",
            description="The reform: the same monthly cycle, paid on the 5th, 15 days sooner.",
            schedule=Monthly(day=5, after="confirmed"),
        ),
        SettlementPolicy(
            name="kuaishou-style",
            description="Receipt confirmed + 7-day return window + 2 days; 5 % held 8 days as "
            "a refund reserve; each level paid as many days sooner as the grading model's "
            "settlement_acceleration_days (built-in model: levels 4 and 5, 1 and 2 days).",
            schedule=After(event="confirmed", return_window_days=7, plus_days=2),
            reserve=Reserve(hold_percent=Decimal(5), hold_days=8),
            acceleration_from="grading",
        ),
    )
}
DEFAULT_POLICY = "reform-monthly-5"


class PolicyInvalid(InvalidInput):
    """A settlement policy document breaks a rule; the detail names each field."""


class UnknownPolicy(NotFound):
    """No built-in policy has that name and no such file exists."""


def parse_policy(data: Any, source: str = "policy") -> SettlementPolicy:
    return validated(SettlementPolicy, data, source, PolicyInvalid)


def load_policy_file(path: Path) -> SettlementPolicy:
    """Read a policy from a .toml, .yaml/.yml or .json file."""
    return parse_policy(read_document(path, PolicyInvalid, unreadable=UnknownPolicy), path.name)


def resolve_policy(name_or_file: str) -> SettlementPolicy:
    """A built-in policy by name, or a policy file by path."""
    if name_or_file in BUILT_IN:
        return BUILT_IN[name_or_file]
    path = Path(name_or_file)
    if path.suffix.lower() in SUFFIXES or path.exists():
        return load_policy_file(path)
    known = ", ".join(sorted(BUILT_IN))
    raise UnknownPolicy(f"policy: {name_or_file!r} is neither a built-in ({known}) nor a file")
