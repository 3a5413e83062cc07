"""Scoring, vectorised: metrics frame in, levels, explanations and counterfactuals out.

Pure functions of a Polars frame (one row per account) and the scoring model, so grading a
million accounts is a handful of column operations and the same inputs always give the same
levels. All arithmetic is in integers.

Percentile of a value within the platform, in basis points: ``(2·less + equal) · 10000 //
(2·(n − 1))``, where ``less`` and ``equal`` count the *other* accounts below and equal to it
(the midrank; for lower-is-better metrics the order is reversed). Raising one's own value
never lowers one's own percentile, so more GMV never lowers a level. The score is
``Σ weight·percentile // Σ weight`` and the level the highest whose ``min_score_bp`` it reaches,
capped by the lowest ``max_level`` of the gates that apply.

Counterfactuals: for an account below L5, the smallest single-metric change that reaches the
next level's score (holding every other account and metric fixed), plus the changes that lift
every gate capping it below that level. Applied to the frame and graded again, each reaches
the next level; ``tests/grading`` checks this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from zhibo.grading.scoring_model import Gate, Level, WeightedMetric

BP = 10_000
#: Highest value a metric of these units can take (a change beyond it is no counterfactual).
UPPER_BOUNDS = {"bp": BP, "flag": 1}

_OPS = {
    ">=": lambda column, value: column >= value,
    ">": lambda column, value: column > value,
    "<=": lambda column, value: column <= value,
    "<": lambda column, value: column < value,
    "==": lambda column, value: column == value,
}


@dataclass(frozen=True)
class Scheme:
    """What grading needs of a model for one kind of account."""

    metrics: Sequence[WeightedMetric]
    levels: Sequence[Level]
    gates: Sequence[Gate] = ()
    #: Metric name → unit (for bounds on counterfactual values).
    units: dict[str, str] | None = None

    @property
    def weight_total(self) -> int:
        return sum(item.weight for item in self.metrics)


def gate_fix(gate: Gate) -> int:
    """The nearest value of the gate's metric at which the gate no longer applies."""
    op, value = gate.when.op, gate.when.value
    if op == ">=":
        return value - 1
    if op == ">":
        return value
    if op == "<=":
        return value + 1
    if op == "<":
        return value
    return value + 1  # "==": the next value up (identity_verified 0 → 1)


@dataclass(frozen=True)
class _Distribution:
    """A metric's distinct values (in goodness order), their counts, and each row's index into
    them: one sort serves both the percentiles and the counterfactuals."""

    values: np.ndarray
    counts: np.ndarray
    inverse: np.ndarray

    @classmethod
    def of(cls, goodness: np.ndarray) -> _Distribution:
        values, inverse, counts = np.unique(goodness, return_inverse=True, return_counts=True)
        return cls(values, counts, inverse.reshape(-1))

    def percentiles(self) -> np.ndarray:
        n = len(self.inverse)
        if n <= 1:
            return np.zeros(n, dtype=np.int64)
        le = np.cumsum(self.counts)
        # rank_min + rank_max − 2 = (less + 1) + le − 2
        twice_midrank = (le - self.counts) + le - 1
        return twice_midrank[self.inverse] * BP // (2 * (n - 1))


def _goodness(values: pl.Series, better: str) -> pl.Series:
    values = values.cast(pl.Int64)
    return values if better == "higher" else -values


def grade(metrics: pl.DataFrame, scheme: Scheme, *, counterfactuals: bool = True) -> pl.DataFrame:
    """Grade every row of ``metrics`` (which holds the scheme's metric and gate columns).

    Returns the input's first column (the id) and: ``score_bp``, ``level_by_score``, ``cap``,
    ``gate`` (the capping gate, or null), ``level``; per metric ``pct__<m>`` and
    ``contribution__<m>`` (basis points of the score, rounded down); per gate ``gate__<g>``
    (whether it applies); and with ``counterfactuals`` per metric ``need__<m>`` (the value
    that reaches the next level alone, or null) and per gate ``fix__<g>`` (the value lifting it
    when it caps the account below the next level, else null).
    """
    id_column = metrics.columns[0]
    total_weight = scheme.weight_total
    n = metrics.height
    columns: dict[str, pl.Series] = {id_column: metrics[id_column]}
    weighted = pl.Series(np.zeros(n, dtype=np.int64))
    percentiles: dict[str, pl.Series] = {}
    distributions: dict[str, _Distribution] = {}
    for item in scheme.metrics:
        goodness = _goodness(metrics[item.metric], item.better).to_numpy()
        distribution = distributions[item.metric] = _Distribution.of(goodness)
        pct = pl.Series(distribution.percentiles())
        percentiles[item.metric] = pct
        weighted = weighted + pct * item.weight
        columns[f"pct__{item.metric}"] = pct
        columns[f"contribution__{item.metric}"] = pct * item.weight // total_weight
    score = weighted // total_weight
    by_score = pl.Series(np.zeros(n, dtype=np.int64))
    for level in scheme.levels[1:]:
        by_score = by_score + (score >= level.min_score_bp).cast(pl.Int64)
    cap = pl.Series(np.full(n, 5, dtype=np.int64))
    gate_name = pl.Series([None] * n, dtype=pl.String)
    applies: dict[str, pl.Series] = {}
    # The lowest cap wins; among equal caps the first gate listed names the reason.
    for gate in sorted(scheme.gates, key=lambda g: g.max_level, reverse=True):
        hit = _OPS[gate.when.op](metrics[gate.when.metric].cast(pl.Int64), gate.when.value)
        applies[gate.name] = hit
        lower = hit & (cap > gate.max_level)
        cap = pl.select(pl.when(lower).then(gate.max_level).otherwise(cap)).to_series()
        gate_name = pl.select(
            pl.when(lower).then(pl.lit(gate.name)).otherwise(gate_name)
        ).to_series()
    for gate in scheme.gates:
        columns[f"gate__{gate.name}"] = applies[gate.name]
    level_series = pl.select(pl.min_horizontal(by_score, cap)).to_series()
    gate_name = pl.select(pl.when(by_score > cap).then(gate_name).otherwise(None)).to_series()
    columns.update(
        score_bp=score,
        level_by_score=by_score,
        cap=cap,
        gate=gate_name,
        level=level_series,
    )
    frame = pl.DataFrame(columns)
    if counterfactuals:
        frame = frame.hstack(
            _counterfactuals(metrics, scheme, frame, weighted, percentiles, distributions)
        )
    return frame


@dataclass(frozen=True)
class _Ladder:
    """A metric's reachable values (in goodness order) and, for each, ``left + right`` over all
    rows: the midrank numerator an account moved there gets, plus 2 for itself."""

    values: np.ndarray
    reach: np.ndarray

    @classmethod
    def of(cls, distribution: _Distribution) -> _Ladder:
        values, counts = distribution.values, distribution.counts
        le = np.cumsum(counts)
        less = le - counts
        # values + 1 equal to the next value is that value itself: drop the duplicate.
        # (No rows, no values: an empty ladder.)
        distinct = np.append(values[1:] != values[:-1] + 1, bool(len(values)))[: len(values)]
        all_v = np.concatenate([values, (values + 1)[distinct]])
        all_g = np.concatenate([less + le, (2 * le)[distinct]])
        order = np.argsort(all_v, kind="stable")
        return cls(all_v[order], all_g[order])

    def value_for(self, want_pct: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Smallest goodness value giving at least ``want_pct``, and whether one exists."""
        k = -((-np.clip(want_pct, 0, BP) * 2 * max(n - 1, 1)) // BP)
        index = np.searchsorted(self.reach, k + 2, side="left")
        found = index < len(self.values)
        if not len(self.values):
            return np.zeros(len(want_pct), np.int64), found
        return self.values[np.minimum(index, len(self.values) - 1)], found


def _raw(
    goodness: np.ndarray, item: WeightedMetric, units: dict[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Goodness back to the metric's values, and whether each is a value the metric can take."""
    raw = goodness if item.better == "higher" else -goodness
    possible = raw >= 0
    bound = UPPER_BOUNDS.get(units.get(item.metric, ""))
    if bound is not None:
        possible &= raw <= bound
    return raw, possible


def _counterfactuals(
    metrics: pl.DataFrame,
    scheme: Scheme,
    graded: pl.DataFrame,
    weighted: pl.Series,
    percentiles: dict[str, pl.Series],
    distributions: dict[str, _Distribution],
) -> list[pl.Series]:
    n = metrics.height
    level = graded["level"].to_numpy()
    by_score = graded["level_by_score"].to_numpy()
    target = np.minimum(level + 1, 5)
    below_top = level < 5
    thresholds = np.array([lvl.min_score_bp for lvl in scheme.levels], dtype=np.int64)
    needed_total = thresholds[target] * scheme.weight_total
    needs_score = below_top & (by_score < target) & (n > 1)
    weighted_np = weighted.to_numpy()
    units = scheme.units or {}
    ladders = {item.metric: _Ladder.of(distributions[item.metric]) for item in scheme.metrics}
    out: list[pl.Series] = []
    single_found = np.zeros(n, dtype=bool)
    for item in scheme.metrics:
        own = percentiles[item.metric].to_numpy() * item.weight
        # Smallest percentile of this metric that lifts the score to the target's threshold.
        want_pct = -((weighted_np - own - needed_total) // item.weight)
        chosen, found = ladders[item.metric].value_for(want_pct, n)
        raw, possible = _raw(chosen, item, units)
        feasible = needs_score & (want_pct <= BP) & found & possible
        single_found |= feasible
        out.append(_masked(f"need__{item.metric}", raw, feasible))
    out.extend(
        _combined(
            metrics,
            scheme,
            ladders,
            percentiles,
            weighted_np,
            needed_total,
            needs_score & ~single_found,
        )
    )
    for gate in scheme.gates:
        hit = graded[f"gate__{gate.name}"].to_numpy()
        blocking = hit & below_top & (gate.max_level < target)
        fix = np.full(n, gate_fix(gate), dtype=np.int64)
        out.append(_masked(f"fix__{gate.name}", fix, blocking))
    return out


def _combined(
    metrics: pl.DataFrame,
    scheme: Scheme,
    ladders: dict[str, _Ladder],
    percentiles: dict[str, pl.Series],
    weighted: np.ndarray,
    needed_total: np.ndarray,
    open_rows: np.ndarray,
) -> list[pl.Series]:
    """Where no single metric suffices: raise metrics to the platform's best in order of
    weight, and the last one only as far as needed (``combo__<m>`` columns)."""
    n = metrics.height
    units = scheme.units or {}
    weighted = weighted.copy()
    out: dict[str, pl.Series] = {}
    remaining = open_rows.copy()
    values: dict[str, np.ndarray] = {}
    used: dict[str, np.ndarray] = {}
    for item in sorted(scheme.metrics, key=lambda m: -m.weight):
        own = percentiles[item.metric].to_numpy() * item.weight
        ladder = ladders[item.metric]
        want_pct = -((weighted - own - needed_total) // item.weight)
        chosen, found = ladder.value_for(want_pct, n)
        raw, possible = _raw(chosen, item, units)
        finishes = remaining & (want_pct <= BP) & found & possible
        top, top_found = ladder.value_for(np.full(n, BP), n)
        top_raw, top_possible = _raw(top, item, units)
        current = metrics[item.metric].cast(pl.Int64).to_numpy()
        improves = top_found & top_possible & (top_raw != current)
        raise_to_top = remaining & ~finishes & improves
        values[item.metric] = np.where(finishes, raw, top_raw)
        used[item.metric] = finishes | raise_to_top
        weighted = np.where(raise_to_top, weighted - own + BP * item.weight, weighted)
        remaining &= ~finishes
    reached = open_rows & ~remaining
    for item in scheme.metrics:
        name = f"combo__{item.metric}"
        out[name] = _masked(name, values[item.metric], used[item.metric] & reached)
    return [out[f"combo__{item.metric}"] for item in scheme.metrics]


def _masked(name: str, values: np.ndarray, mask: np.ndarray) -> pl.Series:
    series = pl.Series(name, values.astype(np.int64), dtype=pl.Int64)
    return pl.select(pl.when(pl.Series(mask)).then(series).otherwise(None)).to_series()


def change_options(row: dict[str, object], scheme: Scheme) -> list[dict[str, int]]:
    """The counterfactuals of one graded row as metric → required value, one dict per option.

    Each option includes every gate fix the row needs; where a fix and a score change touch the
    same metric, the stricter value is kept.
    """
    better = {item.metric: item.better for item in scheme.metrics}
    fixes: dict[str, int] = {}
    for gate in scheme.gates:
        value = row.get(f"fix__{gate.name}")
        if isinstance(value, int):
            lowers = gate.when.op in (">=", ">")
            metric = gate.when.metric
            if metric in fixes:
                value = min(fixes[metric], value) if lowers else max(fixes[metric], value)
            fixes[metric] = value
    score_options: list[dict[str, int]] = []
    for item in scheme.metrics:
        value = row.get(f"need__{item.metric}")
        if isinstance(value, int):
            score_options.append({item.metric: value})
    combo = {
        item.metric: value
        for item in scheme.metrics
        if isinstance(value := row.get(f"combo__{item.metric}"), int)
    }
    if combo:
        score_options.append(combo)
    if not score_options:
        return [dict(fixes)] if fixes else []
    options = []
    for option in score_options:
        merged = dict(fixes)
        for metric, value in option.items():
            if metric in merged:
                pick = max if better.get(metric) == "higher" else min
                value = pick(merged[metric], value)
            merged[metric] = value
        options.append(merged)
    return options


def apply_changes(metrics: pl.DataFrame, subject_id: int, changes: dict[str, int]) -> pl.DataFrame:
    """``metrics`` with one row's metrics set to ``changes`` (a what-if)."""
    id_column = metrics.columns[0]
    return metrics.with_columns(
        [
            pl.when(pl.col(id_column) == subject_id)
            .then(pl.lit(value, dtype=metrics.schema[metric]))
            .otherwise(pl.col(metric))
            .alias(metric)
            for metric, value in changes.items()
        ]
    )
