"""Order-brushing concentration rule on the public Shopee 2020 data set.

Measured: ``zhibo.risk.scan.scan`` (read the CSV, map the columns, validate, run the DuckDB
query, build findings with their evidence) and the detection step alone on the already-read
table. Baseline in the same run: a naive reading of the definition in Python
(``tests/risk/reference.py``: every window start where the window's contents can change, orders
and unique buyers counted per window), which also checks that both give the same shops and users.
A second figure scales the data (the same shops' orders, shifted by whole weeks) to 1M orders.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from tests.risk import reference

from bench.common import median_seconds
from zhibo.risk.brushing import concentration_findings
from zhibo.risk.rules import default_rules
from zhibo.risk.scan import parse_mapping, read_orders, scan

SHOPEE = Path(__file__).resolve().parents[2] / "shared/data/shopee-order-brushing-2020/orders.csv"
MAPPING = ["orderid=order_id", "shopid=seller_id", "userid=buyer_id", "event_time=created_at"]


def main() -> None:
    if not SHOPEE.exists():
        print(f"skipped: {SHOPEE} is not here")
        return
    mapping = parse_mapping(MAPPING)
    rule = default_rules().get("order_brushing.concentration")
    findings = scan(SHOPEE, None, mapping)
    canonical = read_orders(SHOPEE, mapping)
    orders = canonical.table
    whole = median_seconds(lambda: scan(SHOPEE, None, mapping), repeat=3)
    detect = median_seconds(lambda: concentration_findings(orders, rule, False), repeat=3)

    frame = pl.read_csv(SHOPEE).with_columns(
        pl.col("event_time").str.to_datetime().dt.epoch("s").alias("t")
    )
    rows = list(zip(frame["orderid"], frame["shopid"], frame["userid"], frame["t"], strict=True))
    expected: dict[object, list[object]] = {}

    def naive() -> None:
        expected.clear()
        expected.update(reference.brushing(rows))

    naive_seconds = median_seconds(naive, repeat=1)
    same = {f.entity_id: list(f.user_ids) for f in findings} == expected
    n = orders.num_rows
    print(f"Shopee 2020: {n:,} orders, {len(set(frame['shopid']))} shops")
    print(
        f"brushing shops {len(findings)}, brushing (shop, user) pairs "
        f"{sum(len(f.user_ids) for f in findings)}; same as the naive reading: {same}"
    )
    print(f"scan (read + validate + detect + evidence): {whole:.2f} s = {n / whole:,.0f} orders/s")
    print(f"detect only: {detect:.2f} s = {n / detect:,.0f} orders/s")
    print(
        f"baseline, naive Python reading: {naive_seconds:.2f} s = {n / naive_seconds:,.0f} orders/s"
    )
    print(f"ratio (detect vs naive): {naive_seconds / detect:.1f}x")

    week_us = 7 * 86400 * 1_000_000
    copies = max(1, 1_000_000 // n)
    scaled = pa.concat_tables(
        [
            orders.set_column(
                orders.schema.get_field_index("t"),
                "t",
                pc.add(orders.column("t"), copy * week_us),
            ).set_column(
                orders.schema.get_field_index("order_id"),
                "order_id",
                pc.add(orders.column("order_id"), copy * 10**15),
            )
            for copy in range(copies)
        ]
    )
    big = median_seconds(lambda: concentration_findings(scaled, rule, False), repeat=1)
    print(
        f"scaled x{copies}: {scaled.num_rows:,} orders, detect {big:.2f} s = "
        f"{scaled.num_rows / big:,.0f} orders/s"
    )


if __name__ == "__main__":
    main()
