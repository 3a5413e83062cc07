"""Fake traffic: bot viewers (synchronised, uniform dwell, passive), audiences out of line with
the room's engagement, many viewers on few devices or IPs."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.risk.detecting import detect, events
from zhibo.risk.detectors import ScanInputs

END = 4 * 3600  # sessions last four hours


def _ordinary(session: int, n: int, seed: int, first_user: int = 10_000) -> list[dict[str, Any]]:
    """Ordinary viewers: arrivals over the session, log-normal dwell, some interact."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        user = first_user + i
        enter = float(rng.uniform(0, END * 0.9))
        leave = min(enter + float(rng.lognormal(np.log(240), 1.1)) + 5, END - 300)
        device = f"dev-{user}"
        rows.append(
            {
                "session_id": session,
                "room_id": 1,
                "user_id": user,
                "t": enter,
                "type": "enter",
                "device_id": device,
                "ip": f"ip-{user}",
            }
        )
        rows.append(
            {
                "session_id": session,
                "room_id": 1,
                "user_id": user,
                "t": leave,
                "type": "leave",
                "device_id": device,
                "ip": f"ip-{user}",
            }
        )
        if rng.random() < 0.4:
            rows.append(
                {
                    "session_id": session,
                    "room_id": 1,
                    "user_id": user,
                    "t": (enter + leave) / 2,
                    "type": "like",
                    "count": 3,
                }
            )
    rows.append({"session_id": session, "room_id": 1, "user_id": 1, "t": END, "type": "leave"})
    return rows


def _bots(
    session: int,
    n: int,
    at: float,
    dwell: float,
    seed: int,
    interact: bool = False,
    per_device: int = 1,
    jitter: float = 2.0,
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        user = 50_000 + i
        enter = at + float(rng.uniform(0, 60))
        leave = enter + dwell + float(rng.uniform(-jitter, jitter))
        device = f"farm-{i // per_device}"
        for t, kind in ((enter, "enter"), (leave, "leave")):
            rows.append(
                {
                    "session_id": session,
                    "room_id": 1,
                    "user_id": user,
                    "t": t,
                    "type": kind,
                    "device_id": device,
                    "ip": f"farm-ip-{i // 40}",
                }
            )
        if interact:
            rows.append(
                {
                    "session_id": session,
                    "room_id": 1,
                    "user_id": user,
                    "t": enter + 5,
                    "type": "like",
                    "count": 1,
                }
            )
    return rows


def test_a_synchronised_passive_crowd_with_one_dwell_is_bots() -> None:
    data = ScanInputs(events=events(_ordinary(1, 400, 1) + _bots(1, 120, 3600, 600, 2)))
    [finding] = detect("fake_traffic.bot_viewers", data)
    assert finding.entity_id == 1
    assert finding.user_ids == list(range(50_000, 50_120))
    assert finding.evidence["synchronized_passive_visits"] == 120
    assert abs(finding.evidence["median_dwell_seconds"] - 600) < 3


def test_evasion_by_jittering_dwell_a_little_is_still_caught_and_a_lot_escapes() -> None:
    data = ScanInputs(events=events(_ordinary(1, 200, 3) + _bots(1, 150, 3600, 600, 4, jitter=3)))
    [finding] = detect("fake_traffic.bot_viewers", data)
    assert len(finding.user_ids) >= 140
    # Dwell spread over ±5 minutes: no longer uniform, and no longer reported (a known limit).
    spread = ScanInputs(
        events=events(_ordinary(1, 200, 3) + _bots(1, 150, 3600, 600, 4, jitter=300))
    )
    assert detect("fake_traffic.bot_viewers", spread) == []


def test_ordinary_audiences_and_interacting_crowds_are_not_bots() -> None:
    assert (
        detect("fake_traffic.bot_viewers", ScanInputs(events=events(_ordinary(1, 3000, 5)))) == []
    )
    # A crowd that arrives together but interacts (a shared link in a group chat).
    crowd = ScanInputs(
        events=events(_ordinary(1, 300, 6) + _bots(1, 120, 3600, 600, 7, interact=True))
    )
    assert detect("fake_traffic.bot_viewers", crowd) == []
    # Everyone still present at the end leaves together: not a crowd of bots.
    rows = _ordinary(1, 300, 8)
    rows += [r for r in _bots(1, 120, END - 700, 700, 9, jitter=0) if r["type"] == "enter"]
    rows += [
        {"session_id": 1, "room_id": 1, "user_id": 50_000 + i, "t": END, "type": "leave"}
        for i in range(120)
    ]
    assert detect("fake_traffic.bot_viewers", ScanInputs(events=events(rows))) == []


def test_audience_out_of_line_with_engagement_against_the_rooms_history() -> None:
    rows: list[dict[str, Any]] = []
    for session in (1, 2, 3):
        rows += _ordinary(session, 150, session)
    flooded = _ordinary(4, 150, 4) + _bots(4, 400, 3600, 600, 5)
    data = ScanInputs(events=events(rows + flooded))
    [finding] = detect("fake_traffic.engagement_mismatch", data)
    assert finding.entity_id == 4
    evidence = finding.evidence
    assert evidence["viewers"] == 550 and evidence["room_sessions_compared"] == 3
    assert evidence["engagement_rate"] < 0.5 * evidence["room_median_engagement_rate"]
    # A session that is merely bigger, with the room's usual engagement, is not reported.
    bigger = ScanInputs(events=events(rows + _ordinary(4, 600, 4)))
    assert detect("fake_traffic.engagement_mismatch", bigger) == []
    # Without enough history, nothing is judged.
    alone = ScanInputs(events=events(_ordinary(1, 150, 1) + flooded))
    assert detect("fake_traffic.engagement_mismatch", alone) == []


def test_many_viewers_on_few_devices() -> None:
    farm = _bots(1, 100, 3600, 600, 10, interact=True, per_device=8)
    data = ScanInputs(events=events(_ordinary(1, 500, 11) + farm))
    [finding] = detect("fake_traffic.shared_devices", data)
    assert finding.user_ids == list(range(50_000, 50_100))
    assert finding.evidence["crowded_devices"] >= 10
    # Families sharing a tablet (two or three accounts per device) are not a farm.
    families = _bots(1, 100, 3600, 600, 12, interact=True, per_device=3)
    quiet = [r | {"ip": f"home-{r['user_id']}"} for r in families]
    assert (
        detect(
            "fake_traffic.shared_devices", ScanInputs(events=events(_ordinary(1, 200, 13) + quiet))
        )
        == []
    )
