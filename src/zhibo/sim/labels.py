"""Labels of injected tactics: the ground truth, written only to ``labels.parquet``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

TACTICS = (
    "order_brushing",
    "bot_viewers",
    "like_storm",
    "banned_terms",
    "fake_original_price",
    "minor_tipping",
    "blacklist_evasion",
    "off_platform_lure",
    "duplicate_comments",
)


@dataclass
class Label:
    tactic: str
    entity_type: str
    entity_id: int
    window_start_ms: int
    session_id: int | None = None
    #: Viewer ids of the accounts involved, sorted.
    user_ids: list[int] = field(default_factory=list)
    window_end_ms: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def detail_json(self) -> str:
        return orjson.dumps(self.detail, option=orjson.OPT_SORT_KEYS).decode("utf-8")
