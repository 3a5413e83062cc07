"""Quality of the first risk detectors on simulated platforms with labelled tactics.

For each seed (none of them used by the tests), ``zhibo.sim.generate`` writes a small platform;
then, as an operator would: every product title and description goes through ``check_text``
(field-aware), every session title too, ``zhibo.risk.scan.scan`` runs over ``events.parquet``
(comments) and over ``orders.parquet`` mapped with ``streamer_id=seller_id`` and
``paid_at=created_at``. Only *active* rules count as flagging. Precision and recall are per
labelled entity (product, session, streamer); for brushing also per (streamer, user), where the
rule by definition names only the top-share buyers, not the whole ring.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import polars as pl

from zhibo.risk.scan import parse_mapping, scan
from zhibo.risk.screens import check_text
from zhibo.sim import generate

SEEDS = [int(s) for s in os.environ.get("ZHIBO_BENCH_RISK_SEEDS", "101,202").split(",")]


def _score(name: str, flagged: set[object], truth: set[object]) -> str:
    hits = len(flagged & truth)
    precision = hits / len(flagged) if flagged else 1.0
    recall = hits / len(truth) if truth else 1.0
    return (
        f"{name:<44} precision {precision:.3f} recall {recall:.3f} "
        f"({hits} of {len(flagged)} flagged, {len(truth)} labelled)"
    )


def _active(text: str, field: str, detector: str) -> bool:
    return any(
        m.rule.detector == detector and m.rule.measures_to_apply()
        for m in check_text(text, field=field)
    )


def evaluate(directory: Path) -> list[str]:
    labels = pl.read_parquet(directory / "labels.parquet")

    def truth(tactic: str, entity: str) -> pl.DataFrame:
        return labels.filter((pl.col("tactic") == tactic) & (pl.col("entity_type") == entity))

    products = pl.read_parquet(directory / "products.parquet")
    terms: set[object] = set()
    lures: set[object] = set()
    for product_id, title, description in products.select(
        "product_id", "title", "description"
    ).iter_rows():
        for field, text in (("title", title), ("description", description)):
            if _active(text, field, "banned_terms"):
                terms.add(product_id)
            if _active(text, field, "off_platform_lure"):
                lures.add(product_id)
    sessions = pl.read_parquet(directory / "sessions.parquet", columns=["session_id", "title"])
    titled = {
        sid for sid, title in sessions.iter_rows() if _active(title, "title", "off_platform_lure")
    }
    session_lures = truth("off_platform_lure", "session")
    events = scan(None, directory / "events.parquet", {})
    commented = {f.entity_id for f in events if f.detector == "off_platform_lure" and f.measures}
    started = time.perf_counter()
    orders = scan(
        directory / "orders.parquet",
        None,
        parse_mapping(["streamer_id=seller_id", "paid_at=created_at"]),
    )
    brushing_seconds = time.perf_counter() - started
    rings = truth("order_brushing", "streamer")
    return [
        _score(
            "banned_terms (products)",
            terms,
            set(truth("banned_terms", "product")["entity_id"].to_list()),
        ),
        _score(
            "off_platform_lure (products)",
            lures,
            set(truth("off_platform_lure", "product")["entity_id"].to_list()),
        ),
        _score(
            "off_platform_lure (session titles)",
            titled,
            {r["entity_id"] for r in session_lures.iter_rows(named=True) if not r["user_ids"]},
        ),
        _score(
            "off_platform_lure (sessions, via comments)",
            commented,
            {r["entity_id"] for r in session_lures.iter_rows(named=True) if r["user_ids"]},
        ),
        _score(
            "order_brushing (streamers)",
            {f.entity_id for f in orders},
            set(rings["entity_id"].to_list()),
        ),
        _score(
            "order_brushing (streamer, top-share user)",
            {(f.entity_id, u) for f in orders for u in f.user_ids},
            {(r["entity_id"], u) for r in rings.iter_rows(named=True) for u in r["user_ids"]},
        ),
        f"{'brushing scan of orders.parquet':<44} {brushing_seconds:.2f} s",
    ]


def main() -> None:
    for seed in SEEDS:
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp) / "sim"
            generate(seed, "small", directory, progress=False)
            print(f"seed {seed} (small):")
            for line in evaluate(directory):
                print("  " + line)


if __name__ == "__main__":
    main()
