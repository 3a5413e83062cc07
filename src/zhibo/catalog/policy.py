"""Which category risk classes a streamer's level may sell: graded management as data.

The policy is versioned and recorded with every refusal, so a refused selection can be explained
("level 1 may sell low-risk categories; beauty/medical is high") and replayed.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, model_validator

from zhibo.models import RiskClass

LEVELS = range(1, 6)


class SellingPolicy(BaseModel):
    """Risk classes each streamer level may sell."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(description="Recorded with every decision made under this policy")
    #: Level (1-5) -> the category risk classes it may sell.
    allowed: dict[int, frozenset[RiskClass]]

    @model_validator(mode="after")
    def _every_level(self) -> SellingPolicy:
        missing = [level for level in LEVELS if level not in self.allowed]
        if missing:
            raise ValueError(f"allowed: no entry for levels {missing}")
        for level in LEVELS[1:]:
            if not self.allowed[level - 1] <= self.allowed[level]:
                raise ValueError(f"allowed: level {level} may not sell less than level {level - 1}")
        return self

    def may_sell(self, level: int, risk_class: RiskClass) -> bool:
        return risk_class in self.allowed.get(level, frozenset())

    def classes_for(self, level: int) -> frozenset[RiskClass]:
        return self.allowed.get(level, frozenset())


@lru_cache(maxsize=1)
def default_policy() -> SellingPolicy:
    low, medium, high, restricted = (
        RiskClass.LOW,
        RiskClass.MEDIUM,
        RiskClass.HIGH,
        RiskClass.RESTRICTED,
    )
    return SellingPolicy(
        version="selling-2026-11-26",
        allowed={
            1: frozenset({low}),
            2: frozenset({low, medium}),
            3: frozenset({low, medium, high}),
            4: frozenset({low, medium, high}),
            5: frozenset({low, medium, high, restricted}),
        },
    )
