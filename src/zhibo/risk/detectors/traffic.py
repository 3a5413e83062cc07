"""Fake traffic in live sessions, from the viewer events (``enter``/``leave`` and interactions).

- ``bot_viewers``: bought viewers arrive together and stay the same time without doing anything.
  Passive visits (an enter and a leave, nothing between) are placed on a grid of arrival time ×
  dwell; a visit whose 3 × 3 neighbourhood of cells holds at least ``min_synchronized`` passive
  visits of the session arrived in a synchronised, uniform-dwell crowd. Visits cut by the end of
  the session (everyone present leaves then) are left out. A session with at least ``min_bots``
  such visits is reported, with the accounts.
- ``viewer_engagement``: the session's audience is far above the room's usual (median of its
  other sessions) while the share of viewers who interact is far below the room's usual.
- ``shared_devices``: many accounts of one session on few devices or IP addresses (phone farms).
"""

from __future__ import annotations

from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from zhibo.risk.detectors.base import US, ScanInputs, iso, runner
from zhibo.risk.rules import Rule
from zhibo.risk.schemas import Finding

PRESENCE = ("enter", "leave")
#: Input rows a finding keeps as evidence (more: ``truncated``, the replay is partial).
_EVIDENCE_ROWS = 200


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotViewerParams(_Params):
    """Synchronised arrivals with uniform dwell and no interaction."""

    #: Width of an arrival-time cell.
    arrival_bin_seconds: int = Field(default=60, ge=1)
    #: Width of a dwell-time cell.
    dwell_bin_seconds: int = Field(default=2, ge=1)
    #: Passive visits in a visit's 3 × 3 neighbourhood for it to count as synchronised.
    min_synchronized: int = Field(default=15, ge=2)
    #: Share of the passive arrivals of the same minutes that the neighbourhood must hold (in a
    #: huge audience many arrive each minute; few of them by chance stay the same time).
    min_share: float = Field(default=0.1, gt=0, le=1)
    #: Synchronised passive visits for a finding.
    min_bots: int = Field(default=30, ge=1)
    #: Visits leaving this close to the session's last event were cut by its end.
    end_margin_seconds: int = Field(default=60, ge=0)


class EngagementParams(_Params):
    """Audience out of line with engagement, against the room's own history."""

    #: Other sessions of the room needed for a history.
    min_history: int = Field(default=2, ge=1)
    #: Audience at least this multiple of the room's median.
    min_viewer_ratio: float = Field(default=2.0, gt=1)
    #: Share of viewers who interact at most this fraction of the room's median share.
    max_engagement_ratio: float = Field(default=0.5, gt=0, lt=1)
    #: Sessions with fewer viewers are not judged.
    min_viewers: int = Field(default=50, ge=1)


class SharedDeviceParams(_Params):
    """Many viewers on few devices or IPs."""

    #: A device used by at least this many accounts in one session is crowded.
    min_accounts_per_device: int = Field(default=4, ge=2)
    #: An IP address used by at least this many accounts in one session is crowded.
    min_accounts_per_ip: int = Field(default=20, ge=2)
    #: Accounts on crowded devices or IPs for a finding.
    min_accounts: int = Field(default=20, ge=1)


def _visits(events: pl.DataFrame) -> pl.DataFrame:
    """One row per (session, user): first enter, last leave, interactions."""
    return events.group_by("session_id", "user_id").agg(
        pl.col("t").filter(pl.col("type") == "enter").min().alias("enter"),
        pl.col("t").filter(pl.col("type") == "leave").max().alias("leave"),
        (~pl.col("type").is_in(PRESENCE)).sum().alias("interactions"),
    )


def _session_events(inputs: ScanInputs) -> pl.DataFrame:
    events = inputs.events
    assert events is not None
    return events.filter(pl.col("session_id").is_not_null())


@runner("bot_viewers", BotViewerParams, ("events", ("type", "session_id")))
def bot_viewers(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: BotViewerParams = rule.params()
    events = _session_events(inputs)
    last = events.group_by("session_id").agg(pl.col("t").max().alias("session_last"))
    visits = (
        _visits(events)
        .join(last, on="session_id")
        .filter(
            (pl.col("interactions") == 0)
            & pl.col("enter").is_not_null()
            & pl.col("leave").is_not_null()
            & (pl.col("leave") < pl.col("session_last") - params.end_margin_seconds * US)
        )
        .with_columns(
            (pl.col("enter") // (params.arrival_bin_seconds * US)).alias("a"),
            ((pl.col("leave") - pl.col("enter")) // (params.dwell_bin_seconds * US)).alias("d"),
        )
    )
    if visits.is_empty():
        return []
    cells = visits.group_by("session_id", "a", "d").len("n")
    # Each cell's count added to its 8 neighbours and itself: the neighbourhood density.
    spread = pl.concat(
        [
            cells.with_columns(pl.col("a") + da, pl.col("d") + dd)
            for da in (-1, 0, 1)
            for dd in (-1, 0, 1)
        ]
    )
    density = spread.group_by("session_id", "a", "d").agg(pl.col("n").sum().alias("density"))
    arrivals = visits.group_by("session_id", "a").len("n")
    nearby = (
        pl.concat([arrivals.with_columns(pl.col("a") + da) for da in (-1, 0, 1)])
        .group_by("session_id", "a")
        .agg(pl.col("n").sum().alias("arrivals"))
    )
    crowd = (
        visits.join(density, on=["session_id", "a", "d"])
        .join(nearby, on=["session_id", "a"])
        .filter(
            (pl.col("density") >= params.min_synchronized)
            & (pl.col("density") >= params.min_share * pl.col("arrivals"))
        )
    )
    sessions = (
        crowd.group_by("session_id")
        .agg(
            pl.len().alias("bots"),
            pl.col("enter").min().alias("first"),
            pl.col("leave").max().alias("last"),
            ((pl.col("leave") - pl.col("enter")) / US).median().alias("median_dwell_s"),
            ((pl.col("leave") - pl.col("enter")) / US).std().alias("dwell_std_s"),
            pl.col("a").n_unique().alias("arrival_minutes"),
        )
        .filter(pl.col("bots") >= params.min_bots)
        .sort("session_id")
    )
    audience = (
        events.filter(pl.col("type") == "enter")
        .group_by("session_id")
        .agg(pl.col("user_id").n_unique().alias("viewers"))
    )
    sessions = sessions.join(audience, on="session_id", how="left")
    features = visits.join(density, on=["session_id", "a", "d"]).join(
        nearby, on=["session_id", "a"]
    )
    findings = []
    for row in sessions.iter_rows(named=True):
        users = crowd.filter(pl.col("session_id") == row["session_id"])
        # The input rows behind it: the session's passive visits in the flagged arrival cells
        # and next to them (what the densities were counted from), flagged ones first, with the
        # features used; and the session's last event (visits cut by the end are left out).
        cells = users.select(pl.col("a").unique())
        band = pl.concat([cells.with_columns(pl.col("a") + da) for da in (-1, 0, 1)]).unique()
        near = (
            features.filter(pl.col("session_id") == row["session_id"])
            .join(band, on="a", how="semi")
            .with_columns(pl.col("user_id").is_in(users["user_id"].implode()).alias("flagged"))
            .sort(["flagged", "enter", "user_id"], descending=[True, False, False])
        )
        visit_rows = near.select(
            "user_id",
            pl.col("enter").alias("enter_us"),
            pl.col("leave").alias("leave_us"),
            "density",
            "arrivals",
            "flagged",
        )
        session_last = last.filter(pl.col("session_id") == row["session_id"])["session_last"][0]
        bursts = (
            users.group_by("a")
            .agg(pl.len().alias("arrivals"), pl.col("enter").min().alias("from_us"))
            .sort("a")
        )
        findings.append(
            Finding.of(
                rule,
                entity_type="session",
                entity_id=row["session_id"],
                user_ids=sorted(users["user_id"].to_list()),
                window_start=inputs.at(row["first"]),
                window_end=inputs.at(row["last"]),
                evidence={
                    "synchronized_passive_visits": row["bots"],
                    "viewers": row["viewers"],
                    "median_dwell_seconds": round(row["median_dwell_s"], 3),
                    "dwell_std_seconds": round(row["dwell_std_s"] or 0.0, 3),
                    "arrival_cells": [
                        {"from": iso(f), "arrivals": n}
                        for n, f in bursts.select("arrivals", "from_us").iter_rows()
                    ],
                    "visits": visit_rows.head(_EVIDENCE_ROWS).to_dicts(),
                    "visit_count": visit_rows.height,
                    "truncated": visit_rows.height > _EVIDENCE_ROWS,
                    "session_last_us": session_last,
                    "parameters": params.model_dump(),
                },
            )
        )
    return findings


def session_engagement(events: pl.DataFrame) -> pl.DataFrame:
    """Per session: ``viewers`` (accounts that entered), ``engaged`` (accounts that did anything
    else), ``rate`` (engaged / viewers), ``room_id``."""
    return (
        _visits(events)
        .join(events.group_by("session_id").agg(pl.col("room_id").first()), on="session_id")
        .group_by("session_id", "room_id")
        .agg(
            pl.col("enter").is_not_null().sum().alias("viewers"),
            ((pl.col("interactions") > 0) & pl.col("enter").is_not_null()).sum().alias("engaged"),
        )
        .with_columns((pl.col("engaged") / pl.col("viewers")).alias("rate"))
    )


@runner("viewer_engagement", EngagementParams, ("events", ("type", "session_id", "room_id")))
def viewer_engagement(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: EngagementParams = rule.params()
    events = _session_events(inputs)
    per = session_engagement(events).filter(pl.col("viewers") > 0)
    others = (
        per.join(per, on="room_id", suffix="_other")
        .filter(pl.col("session_id") != pl.col("session_id_other"))
        .group_by("session_id")
        .agg(
            pl.len().alias("history"),
            pl.col("viewers_other").median().alias("median_viewers"),
            pl.col("rate_other").median().alias("median_rate"),
        )
    )
    flagged = (
        per.join(others, on="session_id")
        .filter(
            (pl.col("history") >= params.min_history)
            & (pl.col("viewers") >= params.min_viewers)
            & (pl.col("viewers") >= params.min_viewer_ratio * pl.col("median_viewers"))
            & (pl.col("rate") <= params.max_engagement_ratio * pl.col("median_rate"))
        )
        .sort("session_id")
    )
    span = events.group_by("session_id").agg(
        pl.col("t").min().alias("first"), pl.col("t").max().alias("last")
    )
    flagged = flagged.join(span, on="session_id")
    history = per.select("session_id", "room_id", "viewers", "engaged").sort("session_id")
    return [
        Finding.of(
            rule,
            entity_type="session",
            entity_id=row["session_id"],
            window_start=inputs.at(row["first"]),
            window_end=inputs.at(row["last"]),
            evidence={
                "room_id": row["room_id"],
                "viewers": row["viewers"],
                "engaged_viewers": row["engaged"],
                "engagement_rate": round(row["rate"], 6),
                "room_sessions_compared": row["history"],
                "room_median_viewers": row["median_viewers"],
                "room_median_engagement_rate": round(row["median_rate"], 6),
                # The per-session aggregates the room's baseline was computed from (this
                # session's first).
                "history": _history(history, row["room_id"], row["session_id"]),
                "history_count": row["history"] + 1,
                "truncated": row["history"] + 1 > _EVIDENCE_ROWS,
                "parameters": params.model_dump(),
            },
        )
        for row in flagged.iter_rows(named=True)
    ]


def _history(history: pl.DataFrame, room_id: object, session_id: object) -> list[dict[str, Any]]:
    room = history.filter(pl.col("room_id") == room_id).drop("room_id")
    own = room.filter(pl.col("session_id") == session_id)
    others = room.filter(pl.col("session_id") != session_id)
    return pl.concat([own, others]).head(_EVIDENCE_ROWS).to_dicts()


@runner("shared_devices", SharedDeviceParams, ("events", ("session_id", "device_id")))
def shared_devices(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: SharedDeviceParams = rule.params()
    events = _session_events(inputs)
    crowded: list[pl.DataFrame] = []
    for column, least in (
        ("device_id", params.min_accounts_per_device),
        ("ip", params.min_accounts_per_ip),
    ):
        if column not in events.columns:
            continue
        pairs = events.select("session_id", "user_id", pl.col(column).alias("value")).drop_nulls()
        pairs = pairs.unique()
        crowded.append(
            pairs.with_columns(pl.len().over("session_id", "value").alias("accounts"))
            .filter(pl.col("accounts") >= least)
            .with_columns(pl.lit(column).alias("kind"))
        )
    if not crowded:
        return []
    hits = pl.concat(crowded)
    sessions = (
        hits.group_by("session_id")
        .agg(pl.col("user_id").n_unique().alias("accounts"))
        .filter(pl.col("accounts") >= params.min_accounts)
        .sort("session_id")
    )
    span = events.group_by("session_id").agg(
        pl.col("t").min().alias("first"),
        pl.col("t").max().alias("last"),
        pl.col("user_id").n_unique().alias("viewers"),
    )
    findings = []
    for session_id, accounts in sessions.iter_rows():
        mine = hits.filter(pl.col("session_id") == session_id)
        values = (
            mine.group_by("kind", "value")
            .agg(pl.col("accounts").first())
            .sort("accounts", "value", descending=[True, False])
        )
        window = span.filter(pl.col("session_id") == session_id).row(0, named=True)
        # The input rows behind it: each account on a crowded device or IP, the value named by a
        # label local to the finding (``device_id#1``...: equal values, equal labels; no device
        # or address leaves in these rows).
        labels = mine.select("kind", "value").unique().sort("kind", "value")
        labels = labels.with_columns(
            (
                pl.col("kind") + "#" + (pl.int_range(pl.len()).over("kind") + 1).cast(pl.String)
            ).alias("label")
        )
        pairs = (
            mine.join(labels, on=["kind", "value"])
            .select("user_id", "kind", pl.col("label").alias("value"))
            .unique()
            .sort("kind", "value", "user_id")
        )
        findings.append(
            Finding.of(
                rule,
                entity_type="session",
                entity_id=session_id,
                user_ids=sorted(mine["user_id"].unique().to_list()),
                window_start=inputs.at(window["first"]),
                window_end=inputs.at(window["last"]),
                evidence={
                    "accounts_on_crowded_devices_or_ips": accounts,
                    "viewers": window["viewers"],
                    "crowded_devices": int((values["kind"] == "device_id").sum()),
                    "crowded_ips": int((values["kind"] == "ip").sum()),
                    "values": values.head(50).to_dicts(),
                    "pairs": pairs.head(_EVIDENCE_ROWS).to_dicts(),
                    "pair_count": pairs.height,
                    "truncated": pairs.height > _EVIDENCE_ROWS,
                    "parameters": params.model_dump(),
                },
            )
        )
    return findings
