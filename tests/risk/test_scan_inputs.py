"""Reading the scan's other inputs: per-kind column mapping, flags, dates and lists, and
malformed values refused with the file, row and column named."""

from __future__ import annotations

from pathlib import Path

import pytest

from zhibo.kit.errors import InvalidInput
from zhibo.risk.scan import InvalidScanFile, parse_mapping, read_inputs, scan


def test_a_kind_prefix_maps_a_column_of_one_kind_only(tmp_path: Path) -> None:
    mapping = parse_mapping(
        ["viewers:uid=user_id", "uid=buyer_id", "shop=seller_id", "when=created_at"]
    )
    assert mapping == {
        "viewers:uid": "user_id",
        "uid": "buyer_id",
        "shop": "seller_id",
        "when": "created_at",
    }
    with pytest.raises(InvalidInput, match="unknown viewers field 'buyer_id'"):
        parse_mapping(["viewers:uid=buyer_id"])
    orders = tmp_path / "orders.csv"
    orders.write_text("id,shop,uid,when\n1,5,7,2026-11-01T10:00:00Z\n", encoding="utf-8")
    viewers = tmp_path / "viewers.csv"
    viewers.write_text(
        "uid,minor,born,verified\n7,no,2010-05-01,true\n8,,,false\n", encoding="utf-8"
    )
    more = parse_mapping(
        [
            "id=order_id",
            "viewers:minor=is_minor",
            "viewers:born=birth_date",
            "viewers:verified=real_name_verified",
        ]
    )
    inputs = read_inputs({"orders": orders, "viewers": viewers}, {**mapping, **more})
    assert inputs.orders is not None and inputs.viewers is not None
    assert inputs.orders.columns == ["order_id", "seller_id", "buyer_id", "t"]
    assert inputs.viewers.to_dicts()[0]["is_minor"] is False
    assert str(inputs.viewers["birth_date"][0]) == "2010-05-01"
    assert inputs.viewers["real_name_verified"].to_list() == [True, False]


def test_a_mapped_column_must_be_in_some_file_of_its_field(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text("user_id,ts,type\n1,2026-11-01T10:00:00Z,enter\n", encoding="utf-8")
    with pytest.raises(InvalidScanFile, match="no file for 'session_id' has"):
        read_inputs({"events": events}, parse_mapping(["sid=session_id"]))
    # Events need no text column: the traffic detectors read enter, leave and likes.
    inputs = read_inputs({"events": events}, {})
    assert inputs.events is not None and inputs.events.columns == ["user_id", "t", "type"]


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        (
            "viewers",
            "user_id,is_minor\n1,true\n2,perhaps\n",
            "row 2 (line 3), column 'is_minor': cannot read 'perhaps' as true or false",
        ),
        (
            "viewers",
            "user_id,birth_date\n1,2001-13-45\n",
            "row 1 (line 2), column 'birth_date': cannot read '2001-13-45' as a date",
        ),
        (
            "prices",
            "product_id,price_fen,effective_at,reference_price_fen\n1,9.5,2026-11-01,\n",
            "column 'price_fen': cannot read '9.5' as a whole number",
        ),
        (
            "prices",
            "product_id,price_fen,effective_at\n1,950,2026-11-01\n",
            "no column for the price field(s) reference_price_fen",
        ),
        ("blacklist", "entry_id,listed_at\n1,\n", "row 1 (line 2), column 'listed_at' is empty"),
    ],
)
def test_malformed_inputs_are_refused_naming_row_and_column(
    tmp_path: Path, kind: str, body: str, message: str
) -> None:
    path = tmp_path / f"{kind}.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InvalidScanFile) as refused:
        scan(None, None, {}, **{kind: path})
    assert message in str(refused.value.detail)


def test_device_lists_in_text_are_split(tmp_path: Path) -> None:
    path = tmp_path / "blacklist.csv"
    path.write_text(
        "entry_id,listed_at,device_ids\n1,2026-01-01T00:00:00Z, a ; b|c \n", encoding="utf-8"
    )
    inputs = read_inputs({"blacklist": path}, {})
    assert inputs.blacklist is not None
    assert inputs.blacklist["device_ids"].to_list() == [["a", "b", "c"]]
