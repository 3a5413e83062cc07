"""The simulated platform looks like the real thing: sizes, heavy tails, valid identities."""

from __future__ import annotations

import re
from datetime import date

import duckdb
from stdnum.cn import ric, uscc

from tests.sim.helpers import rows, scalar

START = date(2026, 11, 1)


def test_small_scale_sizes(sim_db: duckdb.DuckDBPyConnection) -> None:
    assert scalar(sim_db, "SELECT count(*) FROM products") == 20_000
    assert scalar(sim_db, "SELECT count(*) FROM streamers") == 300
    assert scalar(sim_db, "SELECT count(*) FROM partners") == 30
    assert 40_000 <= scalar(sim_db, "SELECT count(*) FROM viewers") < 45_000
    assert 500_000 <= scalar(sim_db, "SELECT count(*) FROM events") <= 1_500_000
    types = dict(rows(sim_db, "SELECT type, count(*) FROM events GROUP BY 1"))
    assert set(types) == {
        "enter",
        "leave",
        "like",
        "comment",
        "follow",
        "share",
        "add_to_cart",
        "order",
        "gift",
    }


def test_category_tree_has_two_levels_and_risk_classes(sim_db: duckdb.DuckDBPyConnection) -> None:
    assert 35 <= scalar(sim_db, "SELECT count(*) FROM categories") <= 50
    assert scalar(sim_db, "SELECT count(*) FROM categories WHERE parent_id IS NULL") >= 8
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM categories c JOIN categories p ON c.parent_id = p.category_id "
            "WHERE p.parent_id IS NOT NULL",
        )
        == 0
    )
    risk = {r for (r,) in rows(sim_db, "SELECT DISTINCT risk_class FROM categories")}
    assert risk == {"low", "medium", "high", "restricted"}
    # Products sit on leaves only.
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM products WHERE category_id NOT IN "
            "(SELECT category_id FROM categories WHERE parent_id IS NOT NULL)",
        )
        == 0
    )


def test_streamer_gmv_and_followers_are_heavy_tailed(sim_db: duckdb.DuckDBPyConnection) -> None:
    n = scalar(sim_db, "SELECT count(*) FROM streamers")
    top = max(1, n // 100)
    gmv_share = scalar(
        sim_db,
        f"""
        WITH g AS (
            SELECT s.streamer_id, coalesce(sum(o.amount_fen), 0) AS gmv
            FROM streamers s LEFT JOIN orders o USING (streamer_id) GROUP BY 1
        )
        SELECT sum(gmv) FILTER (WHERE rk <= {top}) / sum(gmv)
        FROM (SELECT gmv, row_number() OVER (ORDER BY gmv DESC) AS rk FROM g)
        """,
    )
    assert gmv_share > 0.3
    follower_share = scalar(
        sim_db,
        f"""
        SELECT sum(followers) FILTER (WHERE rk <= {top}) / sum(followers)
        FROM (SELECT followers, row_number() OVER (ORDER BY followers DESC) AS rk FROM streamers)
        """,
    )
    assert follower_share > 0.3
    ratio = scalar(sim_db, "SELECT max(followers) / median(followers) FROM streamers")
    assert ratio > 100


def test_identity_numbers_validate(sim_db: duckdb.DuckDBPyConnection) -> None:
    for number, phone, birth in rows(sim_db, "SELECT id_number, phone, birth_date FROM streamers"):
        assert ric.is_valid(number), number
        assert ric.get_birth_date(number) == birth
        assert re.fullmatch(r"1[3-9]\d{9}", phone), phone
        age = (START - birth).days / 365.25
        assert 16 <= age < 61
    teens = scalar(
        sim_db,
        "SELECT count(*) FROM streamers WHERE birth_date > DATE '2026-11-01' - INTERVAL 18 YEAR",
    )
    assert 0 < teens < 20
    for (number,) in rows(sim_db, "SELECT id_number FROM blacklist"):
        assert ric.is_valid(number)
    for table in ("brands", "partners"):
        for (code,) in rows(sim_db, f"SELECT social_credit_code FROM {table}"):
            assert uscc.is_valid(code), code
    assert scalar(sim_db, "SELECT count(DISTINCT id_number) = count(*) FROM streamers")
    assert scalar(sim_db, "SELECT count(DISTINCT phone) = count(*) FROM streamers")


def test_brands_partners_and_contracts(sim_db: duckdb.DuckDBPyConnection) -> None:
    new = scalar(sim_db, "SELECT count(*) FROM brands WHERE new_brand_date IS NOT NULL")
    assert 0.05 < new / 800 < 0.2
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM brands WHERE new_brand_date IS NOT NULL AND "
            "(year(new_brand_date) <> 2026 OR new_brand_date >= DATE '2026-11-01')",
        )
        == 0
    )
    kinds = {k for (k,) in rows(sim_db, "SELECT DISTINCT kind FROM partners")}
    assert kinds <= {"agency", "live_base", "service_provider"} and "agency" in kinds
    with_partner = scalar(sim_db, "SELECT avg((partner_id IS NOT NULL)::int) FROM streamers")
    assert with_partner > 0.6
    assert scalar(
        sim_db,
        "SELECT min(partner_share_bp) >= 1000 AND max(partner_share_bp) <= 5000 FROM contracts",
    )
    # Exactly one contract per contracted streamer, with the streamer's partner.
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM streamers s FULL JOIN contracts c USING (streamer_id) "
            "WHERE s.partner_id IS DISTINCT FROM c.partner_id",
        )
        == 0
    )


def test_products_prices_and_titles(sim_db: duckdb.DuckDBPyConnection) -> None:
    medians = dict(
        rows(
            sim_db,
            "SELECT c.path, median(price_fen) FROM products p JOIN categories c USING "
            "(category_id) GROUP BY 1",
        )
    )
    assert medians["electronics/computers"] > 10 * medians["food/snacks"]
    assert scalar(
        sim_db,
        "SELECT min(commission_rate_bp) >= 100 AND max(commission_rate_bp) <= 5000 FROM products",
    )
    ascii_titles = scalar(
        sim_db, "SELECT avg(regexp_matches(title, '^[ -~]+$')::int) FROM products"
    )
    cjk_titles = scalar(sim_db, "SELECT avg(regexp_matches(title, '[一-龥]')::int) FROM products")
    assert 0.05 < ascii_titles < 0.4 and cjk_titles > 0.6
    with_reference = scalar(
        sim_db,
        "SELECT avg((reference_price_fen >= price_fen)::int) FROM products "
        "WHERE reference_price_fen IS NOT NULL",
    )
    assert with_reference == 1
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM (SELECT brand_id, external_id FROM products GROUP BY 1, 2 "
            "HAVING count(*) > 1)",
        )
        == 0
    )


def test_viewers_devices_and_minors(sim_db: duckdb.DuckDBPyConnection) -> None:
    minors = scalar(sim_db, "SELECT avg(is_minor::int) FROM viewers")
    assert 0.01 < minors < 0.06
    # Known birth dates agree with the minor flag.
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM viewers WHERE birth_date IS NOT NULL AND is_minor <> "
            "(birth_date > DATE '2026-11-01' - INTERVAL 18 YEAR)",
        )
        == 0
    )
    per_viewer = dict(
        rows(
            sim_db,
            "SELECT n, count(*) FROM "
            "(SELECT count(*) n FROM viewer_devices GROUP BY viewer_id) GROUP BY 1",
        )
    )
    assert set(per_viewer) <= {1, 2, 3}
    assert scalar(sim_db, "SELECT count(DISTINCT viewer_id) FROM viewer_devices") == scalar(
        sim_db, "SELECT count(*) FROM viewers"
    )
    shared = scalar(
        sim_db,
        "SELECT count(*) FROM "
        "(SELECT device_id FROM viewer_devices GROUP BY 1 HAVING count(*) > 1)",
    )
    assert shared > 100


def test_sessions_shelves_and_watch_times(sim_db: duckdb.DuckDBPyConnection) -> None:
    statuses = {s for (s,) in rows(sim_db, "SELECT DISTINCT status FROM sessions")}
    assert {"scheduled", "ended", "suspended"} <= statuses
    per_day = scalar(
        sim_db,
        "SELECT max(n) FROM (SELECT streamer_id, scheduled_start_at::date d, count(*) n "
        "FROM sessions GROUP BY 1, 2)",
    )
    assert per_day <= 2
    size = rows(
        sim_db, "SELECT min(n), max(n) FROM (SELECT count(*) n FROM shelf GROUP BY session_id)"
    )
    assert size[0][0] >= 5 and size[0][1] <= 40
    assert scalar(sim_db, "SELECT count(*) FROM shelf WHERE slot_fee_fen > 0") > 0
    # Watch times: most visits are minutes long, some last an hour.
    dwell = rows(
        sim_db,
        """
        SELECT median(s), quantile_cont(s, 0.99) FROM (
            SELECT epoch(l.ts - e.ts) s FROM events e JOIN events l
            ON e.session_id = l.session_id AND e.user_id = l.user_id
            WHERE e.type = 'enter' AND l.type = 'leave'
        )
        """,
    )
    median, p99 = dwell[0]
    assert 60 < median < 900 and p99 > 1800


def test_orders_refunds_and_lifecycle_mix(sim_db: duckdb.DuckDBPyConnection) -> None:
    statuses = dict(rows(sim_db, "SELECT status, count(*) FROM orders GROUP BY 1"))
    assert set(statuses) == {"paid", "shipped", "delivered", "confirmed", "refunded"}
    total = sum(statuses.values())
    assert 0.02 < statuses["refunded"] / total < 0.15
    partial = scalar(
        sim_db, "SELECT count(*) FROM orders WHERE refunded_fen > 0 AND refunded_fen < amount_fen"
    )
    assert partial > 0
    # Ordinary buyers buy once or twice per session.
    per_session = rows(
        sim_db,
        "SELECT n, count(*) FROM (SELECT count(*) n FROM orders GROUP BY session_id, buyer_id) "
        "GROUP BY 1 ORDER BY 1",
    )
    counts = dict(per_session)
    assert counts[1] > 5 * counts.get(2, 0) > 0
