"""Blacklist evasion: a new account sharing an ID-number hash, phone hash or device with a
blacklisted person; clear identifiers are hashed on reading and never shown."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from tests.risk.detecting import detect, us
from zhibo.identity.hashing import id_number_hash, phone_hash
from zhibo.risk.detectors import ScanInputs
from zhibo.risk.scan import scan

DAY = 86400
ID_A, ID_B = "110101199001011234", "310101198502023456"


def _hash(value: str, purpose: str) -> str:
    return id_number_hash(value) if purpose == "id_number" else phone_hash(value)


BLACKLIST = pl.DataFrame(
    {
        "entry_id": [1, 2],
        "listed_t": [us(0), us(0)],
        "expires_t": [None, us(30 * DAY)],
        "id_number_hash": [_hash(ID_A, "id_number"), _hash(ID_B, "id_number")],
        "phone_hash": [_hash("13800000001", "phone"), None],
        "device_ids": [["dev-1", "dev-2"], []],
    },
    schema_overrides={"expires_t": pl.Int64, "device_ids": pl.List(pl.String)},
)


def _accounts(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema_overrides={
            "account_id": pl.Int64,
            "created_t": pl.Int64,
            "id_number_hash": pl.String,
            "phone_hash": pl.String,
            "device_ids": pl.List(pl.String),
        },
    )


def test_new_accounts_behind_a_blacklisted_identity() -> None:
    accounts = _accounts(
        [
            # The listed person's own old account (created before the listing): not evasion.
            {
                "account_id": 1,
                "created_t": us(-100 * DAY),
                "id_number_hash": _hash(ID_A, "id_number"),
            },
            # A new account with the same ID number.
            {"account_id": 2, "created_t": us(5 * DAY), "id_number_hash": _hash(ID_A, "id_number")},
            # A new account, new ID number, but the blacklisted phone and one of the devices.
            {
                "account_id": 3,
                "created_t": us(6 * DAY),
                "phone_hash": _hash("13800000001", "phone"),
                "device_ids": ["dev-9", "dev-2"],
            },
            # Person B's listing expired after 30 days: an account made on day 40 is lawful.
            {
                "account_id": 4,
                "created_t": us(40 * DAY),
                "id_number_hash": _hash(ID_B, "id_number"),
            },
            # Person B back on day 10, while listed.
            {
                "account_id": 5,
                "created_t": us(10 * DAY),
                "id_number_hash": _hash(ID_B, "id_number"),
            },
            {"account_id": 6, "created_t": us(10 * DAY), "device_ids": ["dev-7"]},
        ]
    )
    found = detect("blacklist.evasion", ScanInputs(accounts=accounts, blacklist=BLACKLIST))
    assert [f.entity_id for f in found] == [2, 3, 5]
    matched = {f.entity_id: sorted(e["matched"] for e in f.evidence["entries"]) for f in found}
    assert matched == {
        2: ["id_number_hash"],
        3: ["device_ids", "phone_hash"],
        5: ["id_number_hash"],
    }
    # Only some identifiers: phones alone.
    phones = detect(
        "blacklist.evasion",
        ScanInputs(accounts=accounts, blacklist=BLACKLIST),
        identifiers=["phone_hash"],
    )
    assert [f.entity_id for f in phones] == [3]


def test_files_with_clear_id_numbers_are_hashed_on_reading(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        f"uid,registered,id_no,mobile\n7,2026-11-20T00:00:00Z,{ID_A},13900000000\n"
        f"8,2026-11-20T00:00:00Z,{ID_B},13900000001\n",
        encoding="utf-8",
    )
    blacklist = tmp_path / "blacklist.csv"
    blacklist.write_text(
        f"entry_id,listed_at,id_number,device_ids\n1,2026-01-01T00:00:00Z,{ID_A},dev-1;dev-2\n",
        encoding="utf-8",
    )
    mapping = {
        "accounts:uid": "account_id",
        "accounts:registered": "created_at",
        "accounts:id_no": "id_number",
        "accounts:mobile": "phone",
    }
    findings = scan(None, None, mapping, accounts=accounts, blacklist=blacklist)
    evasion = [f for f in findings if f.detector == "blacklist_evasion"]
    assert [f.entity_id for f in evasion] == [7]
    text = json.dumps([f.model_dump(mode="json") for f in findings], ensure_ascii=False)
    assert ID_A not in text and "13900000000" not in text
    # The hashes are the identity store's, so its blacklist (hashes only) matches too.
    stored = tmp_path / "stored.csv"
    stored.write_text(
        f"entry_id,listed_at,id_number_hash\n1,2026-01-01T00:00:00Z,{id_number_hash(ID_A)}\n",
        encoding="utf-8",
    )
    again = scan(None, None, mapping, accounts=accounts, blacklist=stored)
    assert [f.entity_id for f in again if f.detector == "blacklist_evasion"] == [7]
