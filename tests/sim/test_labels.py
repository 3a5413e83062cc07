"""Every label is what it claims, and unlabelled data does not show the same patterns."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import duckdb

from tests.sim.helpers import rows, scalar
from zhibo.sim import patterns
from zhibo.sim.labels import TACTICS

Labels = list[dict[str, Any]]


def _of(labels: Labels, tactic: str) -> Labels:
    return [label for label in labels if label["tactic"] == tactic]


def _users(labels: Labels, *tactics: str) -> set[int]:
    return {u for label in labels if label["tactic"] in tactics for u in label["user_ids"]}


def test_every_tactic_is_injected_a_few_to_a_few_dozen_times(labels: Labels) -> None:
    counts = defaultdict(int)
    for label in labels:
        counts[label["tactic"]] += 1
    assert set(counts) == set(TACTICS)
    for tactic, count in counts.items():
        assert 3 <= count <= 60, (tactic, count)


def test_order_brushing_windows_have_three_orders_per_buyer(
    sim_db: duckdb.DuckDBPyConnection, labels: Labels
) -> None:
    for label in _of(labels, "order_brushing"):
        assert label["entity_type"] == "streamer"
        orders, buyers, ring_buyers, addresses, address = rows(
            sim_db,
            """SELECT count(*), count(DISTINCT buyer_id),
            count(DISTINCT buyer_id) FILTER (WHERE list_contains(?, buyer_id)),
            count(DISTINCT address_hash) FILTER (WHERE list_contains(?, buyer_id)),
            any_value(address_hash) FILTER (WHERE list_contains(?, buyer_id))
            FROM orders WHERE streamer_id = ? AND paid_at >= ? AND paid_at < ?""",
            label["user_ids"],
            label["user_ids"],
            label["user_ids"],
            label["entity_id"],
            label["window_start"],
            label["window_end"],
        )[0]
        assert orders / buyers >= 3
        assert orders == label["detail"]["orders_in_window"]
        assert buyers == label["detail"]["unique_buyers_in_window"]
        assert address == label["detail"]["address_hash"]
        assert ring_buyers == len(label["user_ids"]) >= 3
        assert addresses == 1
        assert (
            scalar(
                sim_db, "SELECT streamer_id FROM sessions WHERE session_id = ?", label["session_id"]
            )
            == label["entity_id"]
        )
        # Ring accounts share devices: fewer devices than accounts.
        devices = scalar(
            sim_db,
            "SELECT count(DISTINCT device_id) FROM viewer_devices "
            "WHERE list_contains(?, viewer_id)",
            label["user_ids"],
        )
        assert devices < len(label["user_ids"])


def test_ordinary_buying_never_reaches_three_orders_per_buyer_in_an_hour(
    sim_db: duckdb.DuckDBPyConnection, labels: Labels
) -> None:
    ring = sorted(_users(labels, "order_brushing"))
    worst = scalar(
        sim_db,
        """
        WITH o AS (SELECT * FROM orders WHERE NOT list_contains(?, buyer_id))
        SELECT max(n / b) FROM (
            SELECT a.order_id, count(*) n, count(DISTINCT x.buyer_id) b FROM o a JOIN o x
            ON a.streamer_id = x.streamer_id AND x.paid_at >= a.paid_at
            AND x.paid_at < a.paid_at + INTERVAL 1 HOUR
            GROUP BY 1
        )
        """,
        ring,
    )
    assert worst < 3


def test_bots_only_enter_and_leave(sim_db: duckdb.DuckDBPyConnection, labels: Labels) -> None:
    bots = sorted(_users(labels, "bot_viewers"))
    assert len(bots) >= 100
    kinds = {
        k
        for (k,) in rows(
            sim_db, "SELECT DISTINCT type FROM events WHERE list_contains(?, user_id)", bots
        )
    }
    assert kinds == {"enter", "leave"}
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM viewers WHERE list_contains(?, viewer_id) AND real_name_verified",
            bots,
        )
        == 0
    )
    for label in _of(labels, "bot_viewers"):
        entered, devices = rows(
            sim_db,
            "SELECT count(DISTINCT user_id), count(DISTINCT device_id) FROM events "
            "WHERE session_id = ? AND type = 'enter' AND list_contains(?, user_id)",
            label["entity_id"],
            label["user_ids"],
        )[0]
        assert entered == len(label["user_ids"])
        assert devices * 3 < entered  # phone farms: many accounts per device
        # Synchronised arrivals and one dwell time.
        spread = scalar(
            sim_db,
            """SELECT stddev_pop(epoch(l.ts - e.ts)) FROM events e JOIN events l
            ON e.session_id = l.session_id AND e.user_id = l.user_id
            WHERE e.session_id = ? AND e.type = 'enter' AND l.type = 'leave'
            AND list_contains(?, e.user_id) AND l.ts < (SELECT ended_at FROM sessions
            WHERE session_id = e.session_id)""",
            label["entity_id"],
            label["user_ids"],
        )
        assert spread is None or spread < 5


def test_like_storms_are_huge_and_ordinary_likes_are_not(
    sim_db: duckdb.DuckDBPyConnection, labels: Labels
) -> None:
    for label in _of(labels, "like_storm"):
        per_user = rows(
            sim_db,
            "SELECT user_id, sum(count) FROM events WHERE type = 'like' AND session_id = ? "
            "AND ts BETWEEN ? AND ? AND list_contains(?, user_id) GROUP BY 1",
            label["entity_id"],
            label["window_start"],
            label["window_end"],
            label["user_ids"],
        )
        assert len(per_user) == len(label["user_ids"]) <= 5
        assert all(total >= 5_000 for _, total in per_user)
    storm = sorted(_users(labels, "like_storm"))
    ordinary_max = scalar(
        sim_db,
        "SELECT max(s) FROM (SELECT sum(count) s FROM events WHERE type = 'like' "
        "AND NOT list_contains(?, user_id) GROUP BY session_id, user_id)",
        storm,
    )
    assert ordinary_max < 5_000


def test_banned_terms_are_in_labelled_products_only(
    sim_db: duckdb.DuckDBPyConnection, labels: Labels
) -> None:
    labelled = {label["entity_id"]: label for label in _of(labels, "banned_terms")}
    evasions = {label["detail"]["evasion"] for label in labelled.values()}
    assert len(evasions) >= 4
    for product_id, title, description in rows(
        sim_db, "SELECT product_id, title, description FROM products"
    ):
        label = labelled.get(product_id)
        if label is None:
            assert not patterns.banned_terms_in(title + description), product_id
            continue
        text = title if label["detail"]["field"] == "title" else description
        assert label["detail"]["surface"] in text
        assert label["detail"]["term"] in patterns.normalise(text)


def test_fake_original_prices_are_above_the_lowest_price_of_the_week_before(
    sim_db: duckdb.DuckDBPyConnection, labels: Labels
) -> None:
    claims = rows(
        sim_db,
        """
        WITH h AS (
            SELECT *, lead(effective_at) OVER w AS until, lag(reference_price_fen) OVER w AS prev
            FROM price_history WINDOW w AS (PARTITION BY product_id ORDER BY effective_at)
        ), claims AS (
            SELECT product_id, effective_at AS t0, reference_price_fen AS ref FROM h
            WHERE reference_price_fen IS NOT NULL AND prev IS NULL
        )
        SELECT c.product_id, c.t0, c.ref, min(h.price_fen) AS low
        FROM claims c LEFT JOIN h ON h.product_id = c.product_id AND h.effective_at < c.t0
        AND coalesce(h.until, TIMESTAMPTZ 'infinity') > c.t0 - INTERVAL 7 DAY
        GROUP BY ALL
        """,
    )
    fake = {pid for pid, _t0, ref, low in claims if low is None or ref > low}
    labelled = {label["entity_id"] for label in _of(labels, "fake_original_price")}
    assert fake == labelled
    for label in _of(labels, "fake_original_price"):
        current = scalar(
            sim_db,
            "SELECT reference_price_fen FROM products WHERE product_id = ?",
            label["entity_id"],
        )
        assert (
            current
            == label["detail"]["reference_price_fen"]
            > label["detail"]["lowest_price_7d_fen"]
        )


def test_only_minors_in_minor_tipping_labels_tip_as_minors(
    sim_db: duckdb.DuckDBPyConnection, labels: Labels
) -> None:
    labelled_pairs = set()
    for label in _of(labels, "minor_tipping"):
        for user in label["user_ids"]:
            labelled_pairs.add((label["entity_id"], user))
            assert scalar(sim_db, "SELECT is_minor FROM viewers WHERE viewer_id = ?", user)
            gifts = scalar(
                sim_db,
                "SELECT count(*) FROM events WHERE type = 'gift' AND session_id = ? "
                "AND user_id = ? "
                "AND ts BETWEEN ? AND ?",
                label["entity_id"],
                user,
                label["window_start"],
                label["window_end"],
            )
            assert gifts >= 1
    tipping_minors = set(
        rows(
            sim_db,
            "SELECT DISTINCT session_id, user_id FROM events e "
            "JOIN viewers v ON v.viewer_id = e.user_id "
            "WHERE e.type = 'gift' AND v.is_minor",
        )
    )
    assert tipping_minors == labelled_pairs
    # Everyone else who tips is a verified adult.
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM events e JOIN viewers v ON v.viewer_id = e.user_id "
            "WHERE e.type = 'gift' AND NOT v.is_minor AND NOT v.real_name_verified",
        )
        == 0
    )


def test_blacklist_evasion_reuses_a_listed_identity(
    sim_db: duckdb.DuckDBPyConnection, labels: Labels
) -> None:
    labelled = set()
    for label in _of(labels, "blacklist_evasion"):
        labelled.add(label["entity_id"])
        streamer = rows(
            sim_db,
            "SELECT id_number, phone, created_at, status FROM streamers WHERE streamer_id = ?",
            label["entity_id"],
        )[0]
        entry = rows(
            sim_db,
            "SELECT id_number, phone, listed_at FROM blacklist WHERE entry_id = ?",
            label["detail"]["blacklist_entry_id"],
        )[0]
        matched = set(label["detail"]["matched"])
        assert matched
        assert ("id_number" in matched) == (streamer[0] == entry[0])
        assert ("phone" in matched) == (streamer[1] == entry[1])
        assert streamer[2] > entry[2]
        assert streamer[3] == "active"
    # Apart from banned streamers (the listed accounts themselves), nobody else matches.
    matches = {
        sid
        for (sid,) in rows(
            sim_db,
            "SELECT streamer_id FROM streamers s WHERE status <> 'banned' AND EXISTS "
            "(SELECT 1 FROM blacklist b WHERE b.id_number = s.id_number OR b.phone = s.phone)",
        )
    }
    assert matches == labelled


def test_off_platform_lures_are_in_labelled_places_only(
    sim_db: duckdb.DuckDBPyConnection, labels: Labels
) -> None:
    lures = _of(labels, "off_platform_lure")
    products = {lb["entity_id"] for lb in lures if lb["entity_type"] == "product"}
    titles = {lb["entity_id"] for lb in lures if lb["detail"].get("field") == "session_title"}
    comment_labels = [lb for lb in lures if lb["user_ids"]]
    assert products and titles and comment_labels
    for product_id, title, description in rows(
        sim_db, "SELECT product_id, title, description FROM products"
    ):
        assert patterns.has_lure(title + " " + description) == (product_id in products)
    for session_id, title in rows(sim_db, "SELECT session_id, title FROM sessions"):
        assert patterns.has_lure(title) == (session_id in titles)
    lurers = _users(labels, "off_platform_lure")
    for label in comment_labels:
        texts = rows(
            sim_db,
            "SELECT text FROM events WHERE type = 'comment' AND session_id = ? "
            "AND list_contains(?, user_id)",
            label["entity_id"],
            label["user_ids"],
        )
        assert texts and all(label["detail"]["contact"] in t for (t,) in texts)
    for user, text in rows(sim_db, "SELECT user_id, text FROM events WHERE type = 'comment'"):
        if user not in lurers:
            assert not patterns.has_lure(text), text


def test_duplicate_comments_come_from_hired_accounts_only(
    sim_db: duckdb.DuckDBPyConnection, labels: Labels
) -> None:
    hired = _users(labels, "duplicate_comments")
    for label in _of(labels, "duplicate_comments"):
        texts = rows(
            sim_db,
            "SELECT user_id, text FROM events WHERE type = 'comment' AND session_id = ? "
            "AND list_contains(?, user_id)",
            label["entity_id"],
            label["user_ids"],
        )
        base = patterns.normalise(label["detail"]["text"])
        assert {u for u, _ in texts} == set(label["user_ids"])
        assert len(label["user_ids"]) >= 5
        assert all(patterns.normalise(t) == base for _, t in texts)
    # Ordinary viewers: no long comment is posted by five or more accounts in one session.
    per_text: dict[tuple[int, str], set[int]] = defaultdict(set)
    for session, user, text in rows(
        sim_db,
        "SELECT session_id, user_id, text FROM events "
        "WHERE type = 'comment' AND length(text) >= 10",
    ):
        if user not in hired:
            per_text[(session, patterns.normalise(text))].add(user)
    assert max(len(users) for users in per_text.values()) < 5
