"""How big a simulated platform is: the named scales and the knobs tests can shrink."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Scale:
    """Sizes of one simulated platform. Counts are targets: the generator keeps them exactly
    for catalogue and people, approximately for sessions, events and orders."""

    name: str
    products: int
    brands: int
    streamers: int
    partners: int
    viewers: int
    days: int
    #: Approximate number of viewer events over the whole run; audiences are sized to fit it.
    events_target: int
    #: Multiplies the number of injected instances of every illegal tactic.
    tactic_factor: float

    def with_days(self, days: int | None) -> Scale:
        """The same scale over another number of days; the event budget follows the days."""
        if days is None or days == self.days:
            return self
        if days < 1:
            raise ValueError("days must be at least 1")
        events = max(10_000, self.events_target * days // self.days)
        return replace(self, days=days, events_target=events)


SCALES: dict[str, Scale] = {
    "small": Scale(
        name="small",
        products=20_000,
        brands=800,
        streamers=300,
        partners=30,
        viewers=40_000,
        days=7,
        events_target=1_000_000,
        tactic_factor=1.0,
    ),
    "medium": Scale(
        name="medium",
        products=200_000,
        brands=5_000,
        streamers=3_000,
        partners=200,
        viewers=400_000,
        days=14,
        events_target=10_000_000,
        tactic_factor=5.0,
    ),
    "large": Scale(
        name="large",
        products=2_000_000,
        brands=25_000,
        streamers=20_000,
        partners=1_000,
        viewers=3_000_000,
        days=30,
        events_target=55_000_000,
        tactic_factor=20.0,
    ),
}


def resolve_scale(scale: str | Scale, days: int | None = None) -> Scale:
    """A named scale (``small|medium|large``) or a custom one, with an optional day override."""
    if isinstance(scale, Scale):
        return scale.with_days(days)
    try:
        return SCALES[scale].with_days(days)
    except KeyError:
        known = "|".join(SCALES)
        raise ValueError(f"unknown scale {scale!r}: expected {known}") from None
