"""``zhibo risk scan`` over files from elsewhere: column mapping, outputs, malformed files, and
the public Shopee 2020 data set checked against a naive reading of its definition."""

from __future__ import annotations

import csv
import json
import os
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from tests.processes import zhibo
from tests.risk import reference
from zhibo.risk.brushing import replay
from zhibo.risk.scan import InvalidScanFile, parse_mapping, read_orders, scan
from zhibo.risk.schemas import Finding

SHOPEE = Path(__file__).resolve().parents[3] / "shared/data/shopee-order-brushing-2020/orders.csv"
SHOPEE_MAP = ["orderid=order_id", "shopid=seller_id", "userid=buyer_id", "event_time=created_at"]
HEADER = "orderid,shopid,userid,event_time\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "ZHIBO_DATA_DIR": str(tmp_path / "data")}


def _write(path: Path, body: str) -> Path:
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_scan_cli_writes_findings_json_and_csv(tmp_path: Path, env: dict[str, str]) -> None:
    orders = _write(
        tmp_path / "orders.csv",
        "1,10,7,2019-12-27 10:00:00\n2,10,7,2019-12-27 10:20:00\n3,10,7,2019-12-27 11:00:00\n"
        "4,10,8,2019-12-27 11:00:01\n5,11,9,2019-12-27 10:00:00\n6,11,9,2019-12-27 12:00:00\n",
    )
    out = tmp_path / "out"
    done = zhibo(
        "risk",
        "scan",
        "--orders",
        str(orders),
        *[arg for item in SHOPEE_MAP for arg in ("--map", item)],
        "--out",
        str(out),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    findings = json.loads((out / "findings.json").read_text("utf-8"))
    assert len(findings) == 1
    finding = findings[0]
    for field in (
        "detector",
        "entity_type",
        "entity_id",
        "user_ids",
        "window_start",
        "window_end",
        "severity",
        "evidence",
    ):
        assert field in finding
    assert finding["detector"] == "order_concentration"
    assert (finding["entity_id"], finding["user_ids"]) == (10, [7])
    assert finding["window_start"] == "2019-12-27T10:00:00"
    assert finding["window_end"] == "2019-12-27T11:00:00"
    assert replay(Finding.model_validate(finding)) == [7]
    with (out / "findings.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["entity_id"] == "10" and json.loads(rows[0]["user_ids"]) == [7]
    assert json.loads(rows[0]["evidence"])["orders_in_brushing_periods"] == 3


def test_canonical_column_names_need_no_mapping_and_parquet_is_read(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        {
            "order_id": [1, 2, 3],
            "seller_id": ["shop-a"] * 3,
            "buyer_id": ["u1"] * 3,
            "created_at": [datetime(2026, 11, 1, 10, m) for m in (0, 1, 2)],
        }
    ).with_columns(pl.col("created_at").dt.replace_time_zone("UTC")).write_parquet(path)
    findings = scan(path, None)
    assert [(f.entity_id, f.user_ids) for f in findings] == [("shop-a", ["u1"])]
    assert findings[0].window_start is not None and findings[0].window_start.tzinfo is not None


def test_epoch_seconds_are_read_as_times(tmp_path: Path) -> None:
    path = _write(tmp_path / "o.csv", "1,1,1,1577527841\n2,1,1,1577527842\n3,1,1,1577527843\n")
    canonical = read_orders(path, parse_mapping(SHOPEE_MAP))
    assert canonical.table.column("t").to_pylist()[0] == 1577527841 * 1_000_000


@pytest.mark.parametrize(
    ("body", "mapping", "message"),
    [
        (
            "1,10,7,2019-12-27 10:00:00\n2,10,7,not a time\n",
            SHOPEE_MAP,
            "row 2 (line 3), column 'event_time': cannot read 'not a time' as a time",
        ),
        (
            "1,10,7,2019-12-27 10:00:00\n2,10,,2019-12-27 10:00:00\n",
            SHOPEE_MAP,
            "row 2 (line 3), column 'userid' is empty",
        ),
        (
            "1,10,7,2019-12-27 10:00:00\n",
            SHOPEE_MAP[:3],
            "no column for the order field(s) created_at",
        ),
        ("1,10,7,2019-12-27 10:00:00\n", [*SHOPEE_MAP, "nope=buyer_id"], "column 'nope'"),
    ],
)
def test_malformed_files_are_refused_naming_row_and_column(
    tmp_path: Path, body: str, mapping: list[str], message: str
) -> None:
    path = _write(tmp_path / "orders.csv", body)
    with pytest.raises(InvalidScanFile) as refused:
        scan(path, None, parse_mapping(mapping))
    assert message in str(refused.value.detail)


def test_scan_cli_refuses_bad_input_with_exit_2(tmp_path: Path, env: dict[str, str]) -> None:
    path = _write(tmp_path / "orders.csv", "1,10,7,2019-12-27 10:00:00\n2,10,7,31/02/2019\n")
    done = zhibo(
        "risk",
        "scan",
        "--orders",
        str(path),
        *[arg for item in SHOPEE_MAP for arg in ("--map", item)],
        "--out",
        str(tmp_path / "out"),
        env=env,
    )
    assert done.returncode == 2
    assert "InvalidScanFile" in done.stderr and "row 2" in done.stderr
    assert "'event_time'" in done.stderr
    unknown = zhibo(
        "risk",
        "scan",
        "--orders",
        str(path),
        "--map",
        "shopid=shop",
        "--out",
        str(tmp_path / "out"),
        env=env,
    )
    assert unknown.returncode == 2 and "unknown field 'shop'" in unknown.stderr


def test_comments_in_an_event_file_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "uid,sid,when,body\n1,5,2026-11-01T10:00:00+00:00,主播最佳\n"
        "2,5,2026-11-01T10:00:01+00:00,好看\n3,5,2026-11-01T10:00:02+00:00,\n"
        "4,6,2026-11-01T10:00:03+00:00,加V: abc123\n",
        encoding="utf-8",
    )
    mapping = parse_mapping(["uid=user_id", "sid=session_id", "when=ts", "body=text"])
    findings = scan(None, path, mapping)
    assert [(f.rule_id, f.entity_id, f.user_ids) for f in findings] == [
        ("false_advertising.absolute_terms", 5, [1]),
        ("off_platform.contact", 6, [4]),
    ]
    assert findings[0].evidence["match"]["term"] == "最佳"


@pytest.mark.skipif(not SHOPEE.exists(), reason="the shared Shopee data set is not here")
def test_shopee_2020_brushing_shops_and_users_match_the_definition() -> None:
    findings = scan(SHOPEE, None, parse_mapping(SHOPEE_MAP))
    frame = pl.read_csv(SHOPEE).with_columns(
        pl.col("event_time").str.to_datetime().dt.epoch("s").alias("t")
    )
    rows = list(zip(frame["orderid"], frame["shopid"], frame["userid"], frame["t"], strict=True))
    expected = reference.brushing(rows)
    assert {f.entity_id: list(f.user_ids) for f in findings} == expected
    assert len(expected) == 315  # brushing shops (of 489 in the file)
    for finding in findings[:50]:
        assert replay(finding) == finding.user_ids
