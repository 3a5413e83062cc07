"""What a streamer's level may put on a shelf: which category risk classes, and how many
products per session. Graded management as data.

The policy is versioned and recorded with every refusal, so a refused selection can be explained
("level 1 may sell low-risk categories; beauty/medical is high") and replayed. It has no data of
its own: the default policy is a view of the active grading model's unlocks (``risk_classes``
and ``shelf_size`` per level, ``zhibo.grading``), so the level a grading run sets decides at once
what the pool lets a streamer sell. Level 0 (rights revoked) sells nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from zhibo.models import RiskClass

LEVELS = range(0, 6)
#: Levels a policy must name; level 0, if left out, may sell nothing.
REQUIRED_LEVELS = range(1, 6)


class SellingPolicy(BaseModel):
    """Risk classes each streamer level may sell."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(description="Recorded with every decision made under this policy")
    #: Level (0-5) -> the category risk classes it may sell.
    allowed: dict[int, frozenset[RiskClass]]
    #: Level (0-5) -> most products on one session's shelf; a level left out has no limit.
    shelf_sizes: dict[int, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _every_level(self) -> SellingPolicy:
        missing = [level for level in REQUIRED_LEVELS if level not in self.allowed]
        if missing:
            raise ValueError(f"allowed: no entry for levels {missing}")
        extra = [level for level in self.allowed if level not in LEVELS]
        if extra:
            raise ValueError(f"allowed: levels {extra} are outside 0..5")
        for level in LEVELS[1:]:
            if not self.allowed.get(level - 1, frozenset()) <= self.allowed[level]:
                raise ValueError(f"allowed: level {level} may not sell less than level {level - 1}")
        for level, size in self.shelf_sizes.items():
            if level not in LEVELS:
                raise ValueError(f"shelf_sizes: level {level} is outside 0..5")
            if size < 0:
                raise ValueError(f"shelf_sizes: level {level} has a negative size ({size})")
        return self

    def may_sell(self, level: int, risk_class: RiskClass) -> bool:
        return risk_class in self.allowed.get(level, frozenset())

    def classes_for(self, level: int) -> frozenset[RiskClass]:
        return self.allowed.get(level, frozenset())

    def shelf_size_for(self, level: int) -> int | None:
        """Most products a level may have on one session's shelf; ``None``: no limit."""
        return self.shelf_sizes.get(level)


def default_policy() -> SellingPolicy:
    """The active grading model's risk classes and shelf sizes per level (versioned as the
    model)."""
    from zhibo.grading.service import active_model, selling_classes, shelf_sizes

    model = active_model()
    return _policy_for(
        model.version,
        tuple(sorted(selling_classes(model).items())),
        tuple(sorted(shelf_sizes(model).items())),
    )


_cache: dict[tuple[object, ...], SellingPolicy] = {}


def _policy_for(
    version: str,
    allowed: tuple[tuple[int, frozenset[RiskClass]], ...],
    sizes: tuple[tuple[int, int], ...],
) -> SellingPolicy:
    key = (version, allowed, sizes)
    if key not in _cache:
        _cache[key] = SellingPolicy(version=version, allowed=dict(allowed), shelf_sizes=dict(sizes))
    return _cache[key]
