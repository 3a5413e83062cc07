"""Fake engagement in batch: like storms from few accounts (the real-time rule's definition over
a file) and duplicate or near-duplicate comments across accounts (MinHash LSH)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.risk.detecting import detect, events
from zhibo.risk.detectors import ScanInputs
from zhibo.risk.detectors.engagement import near_duplicate_families


def _likers(session: int, n: int, seed: int, per_event: int = 5) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "session_id": session,
            "user_id": 1000 + int(u),
            "t": float(t),
            "type": "like",
            "count": per_event,
        }
        for u, t in zip(rng.integers(0, 5000, n), rng.uniform(0, 7200, n), strict=True)
    ]


def _storm(session: int, accounts: int, at: float, likes_each: int) -> list[dict[str, Any]]:
    return [
        {
            "session_id": session,
            "user_id": 1 + a,
            "t": at + k,
            "type": "like",
            "count": likes_each // 40,
        }
        for a in range(accounts)
        for k in range(40)
    ]


def test_a_like_storm_from_three_accounts() -> None:
    data = ScanInputs(events=events(_likers(1, 3000, 1) + _storm(1, 3, 3600, 8000)))
    [finding] = detect("fake_engagement.like_storm", data)
    assert finding.entity_id == 1 and finding.user_ids == [1, 2, 3]
    assert finding.evidence["peak_top_share_bp"] >= 8000
    # Straddling a window boundary does not hide it: windows hop by half their length.
    shifted = ScanInputs(events=events(_likers(1, 3000, 1) + _storm(1, 3, 3600 + 29, 8000)))
    assert [f.user_ids for f in detect("fake_engagement.like_storm", shifted)] == [[1, 2, 3]]


def test_many_ordinary_likers_and_storms_spread_over_many_accounts_are_not_storms() -> None:
    busy = ScanInputs(events=events(_likers(1, 20_000, 2, per_event=20)))
    assert detect("fake_engagement.like_storm", busy) == []
    # Fifty accounts sharing the storm: the five most active give less than 80 % of it.
    spread = ScanInputs(events=events(_storm(1, 50, 3600, 400)))
    assert detect("fake_engagement.like_storm", spread) == []


HIRED = "这款真的太好用了，回购三次了，姐妹们冲！"


def _comments(session: int, texts: list[tuple[int, float, str]]) -> list[dict[str, Any]]:
    return [
        {
            "session_id": session,
            "user_id": u,
            "t": t,
            "type": "comment",
            "text": text,
            "event_id": f"e{u}-{t}",
        }
        for u, t, text in texts
    ]


def test_duplicate_comments_with_small_variations_across_accounts() -> None:
    variants = [
        HIRED,
        HIRED + "👍",
        HIRED.replace("！", "!!"),
        "这款真的太好用了 回购三次了 姐妹们冲～",
        "這款真的太好用了，回購三次了，姐妹們衝！",  # traditional characters
        "这款真的太好用了，回购三次了，姐妹们冲冲冲！",
    ]  # a near-duplicate, not identical
    hired = [(10 + i, 600 + 60 * i, text) for i, text in enumerate(variants)]
    ordinary = [
        (100 + i, 30 * i, f"第{i}次来看，{'质地很清爽' if i % 2 else '物流特别快'}，支持一下")
        for i in range(40)
    ]
    data = ScanInputs(events=events(_comments(1, hired + ordinary)))
    [finding] = detect("fake_engagement.duplicate_comments", data)
    assert finding.entity_id == 1 and finding.user_ids == [10, 11, 12, 13, 14, 15]
    assert finding.evidence["accounts"] == 6
    assert {post["user_id"] for post in finding.evidence["posts"]} == set(range(10, 16))


def test_any_window_counts_not_a_fixed_grid() -> None:
    # Five accounts over 20 minutes starting at 00:20 of the half hour: a fixed 30-minute grid
    # (or two offset grids) would cut them in two; any 30-minute window holds them all.
    posts = [(10 + i, 1200 + 300 * i, HIRED) for i in range(5)]
    [finding] = detect(
        "fake_engagement.duplicate_comments", ScanInputs(events=events(_comments(1, posts)))
    )
    assert finding.user_ids == [10, 11, 12, 13, 14]
    # Over 40 minutes, no 30-minute window holds five accounts.
    slower = [(10 + i, 1200 + 600 * i, HIRED) for i in range(5)]
    assert (
        detect(
            "fake_engagement.duplicate_comments", ScanInputs(events=events(_comments(1, slower)))
        )
        == []
    )


def test_short_phrases_spread_out_posts_and_a_single_account_are_not_duplicates() -> None:
    short = [(i, 10 * i, "666") for i in range(50)] + [(100 + i, 10 * i, "已拍") for i in range(50)]
    assert (
        detect("fake_engagement.duplicate_comments", ScanInputs(events=events(_comments(1, short))))
        == []
    )
    # Five accounts, but an hour apart each: not within the 30-minute window.
    slow = [(10 + i, 3600 * i, HIRED) for i in range(5)]
    assert (
        detect("fake_engagement.duplicate_comments", ScanInputs(events=events(_comments(1, slow))))
        == []
    )
    # One account repeating itself ten times.
    spam = [(10, 60 * i, HIRED) for i in range(10)]
    assert (
        detect("fake_engagement.duplicate_comments", ScanInputs(events=events(_comments(1, spam))))
        == []
    )
    # The same text in five different sessions.
    spread = [row for s in range(5) for row in _comments(s, [(10 + s, 60, HIRED)])]
    assert detect("fake_engagement.duplicate_comments", ScanInputs(events=events(spread))) == []


def test_near_duplicate_families_join_similar_texts_only() -> None:
    texts = [
        "主播人美心善东西也好闭眼入就对了",
        "主播人美心善东西也好闭眼入就对了呀",
        "刚收到货质量超级好比专柜便宜太多了",
        "今天不买真的亏大了库存不多了",
    ]
    family = near_duplicate_families(texts, threshold=0.8, num_perm=64, shingle=3)
    assert family[0] == family[1]
    assert len({family[0], family[2], family[3]}) == 3
