"""Blacklist evasion (batch): a blacklisted person back behind a new account.

An account (``accounts``: a streamer, shop or viewer account with the keyed hashes of its ID
number and phone and its devices) matches a blacklist entry (``blacklist``) when they share an
ID-number hash, a phone hash or a device, the account was created after the person was listed,
and the listing was still in force then. The blacklisted account itself (created before its
listing) is not a new account. Clear ID numbers and phones are hashed when read, with the
identity store's keyed hashes (:mod:`zhibo.identity.hashing`, so its blacklist matches), and
never appear in findings: the evidence names the entry, the kind of identifier and the first 12
characters of its hash, and the account's own matched identifiers the same way (what a replay
rebuilds the input from). Devices are compared as the files give them.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from zhibo.risk.detectors.base import ScanInputs, iso, runner
from zhibo.risk.rules import Rule
from zhibo.risk.schemas import Finding

#: Characters of a hash (or device id) shown in evidence.
_PREFIX = 12

Identifier = Literal["id_number_hash", "phone_hash", "device_ids"]


def _identifiers() -> list[Identifier]:
    return ["id_number_hash", "phone_hash", "device_ids"]


class BlacklistEvasionParams(BaseModel):
    """Which identifiers tie a new account to a blacklist entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identifiers: list[Identifier] = Field(default_factory=_identifiers, min_length=1)
    #: Only accounts created after the listing (the listed account itself is not evasion).
    only_new_accounts: bool = True


def _values(frame: pl.DataFrame, key: list[str], kind: str) -> pl.DataFrame:
    column = pl.col(kind)
    if frame.schema[kind] == pl.List(pl.String):
        exploded = frame.select(*key, column.alias("value")).explode("value")
    else:
        exploded = frame.select(*key, column.cast(pl.String).alias("value"))
    return exploded.drop_nulls("value").filter(pl.col("value") != "").unique()


@runner("blacklist_evasion", BlacklistEvasionParams, ("accounts", ()))
def blacklist_evasion(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: BlacklistEvasionParams = rule.params()
    accounts, blacklist = inputs.accounts, inputs.blacklist
    if accounts is None or blacklist is None:
        return []
    entry_key = ["entry_id", "listed_t"] + (
        ["expires_t"] if "expires_t" in blacklist.columns else []
    )
    matches: list[pl.DataFrame] = []
    for kind in params.identifiers:
        if kind not in accounts.columns or kind not in blacklist.columns:
            continue
        mine = _values(accounts, ["account_id", "created_t"], kind)
        listed = _values(blacklist, entry_key, kind)
        matches.append(mine.join(listed, on="value").with_columns(pl.lit(kind).alias("kind")))
    if not matches:
        return []
    hits = pl.concat(matches, how="diagonal_relaxed")
    if params.only_new_accounts:
        hits = hits.filter(pl.col("created_t") > pl.col("listed_t"))
        if "expires_t" in hits.columns:
            hits = hits.filter(
                pl.col("expires_t").is_null() | (pl.col("expires_t") > pl.col("created_t"))
            )
    findings = []
    for (account_id,), mine in hits.sort("account_id", "entry_id", "kind").group_by(
        "account_id", maintain_order=True
    ):
        created = mine["created_t"][0]
        # The account's side of each match (kind -> hash prefixes): with the entries, the rows
        # a replay rebuilds the detector's input from (prefixes only, never a clear value).
        own: dict[str, list[str]] = {}
        for kind, value in mine.select("kind", "value").unique().sort("kind", "value").iter_rows():
            own.setdefault(kind, []).append(str(value)[:_PREFIX])
        findings.append(
            Finding.of(
                rule,
                entity_type=inputs.account_type,
                entity_id=account_id,
                window_start=inputs.at(created),
                window_end=inputs.at(created),
                evidence={
                    "account_created_at": iso(created),
                    "account_identifiers": own,
                    "entries": [
                        {
                            "entry_id": row["entry_id"],
                            "listed_at": iso(row["listed_t"]),
                            "expires_at": iso(row.get("expires_t")),
                            "matched": row["kind"],
                            "hash_prefix": str(row["value"])[:_PREFIX],
                        }
                        for row in mine.iter_rows(named=True)
                    ],
                    "parameters": params.model_dump(),
                },
            )
        )
    return findings
