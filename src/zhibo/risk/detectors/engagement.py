"""Fake engagement: like storms from few accounts, duplicate comments across accounts.

- ``like_storm``: in a sliding window of ``window_seconds`` (five steps of a fifth of it), the
  accounts that each sent at least ``min_account_likes`` likes; a storm is a window where at most
  ``max_accounts`` such accounts sent at least ``min_likes`` likes and ``min_share`` of all the
  session's likes in that window.
- ``duplicate_comments``: comments are folded (the lexicon's folding: full-width, traditional,
  symbols and emoji dropped), cut into character shingles and hashed with MinHash (datasketch);
  LSH finds the pairs of distinct texts whose estimated Jaccard similarity reaches ``threshold``,
  and connected components of those pairs are the near-duplicate families (identical folded
  texts are one family from the start). A family posted by at least ``min_accounts`` accounts of
  one session within any window of ``window_seconds`` (each post opens one) is
  reported. Short texts (``min_chars``) are left out: "666" and "已拍" are what real viewers say.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from zhibo.risk.detectors.base import US, ScanInputs, iso, runner
from zhibo.risk.rules import LikeStormParams, Rule
from zhibo.risk.schemas import Finding

#: Input rows a like storm keeps as evidence.
_EVIDENCE_ROWS = 200


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DuplicateCommentParams(_Params):
    """Near-duplicate comments across accounts (MinHash LSH)."""

    #: Estimated Jaccard similarity of character shingles that makes two texts near-duplicates.
    threshold: float = Field(default=0.8, gt=0, le=1)
    num_perm: int = Field(default=64, ge=16, le=512)
    shingle: int = Field(default=3, ge=1, le=10)
    #: Folded texts shorter than this are not compared.
    min_chars: int = Field(default=8, ge=1)
    #: Distinct accounts posting one family within the window.
    min_accounts: int = Field(default=5, ge=2)
    window_seconds: int = Field(default=1800, ge=60)


@runner("like_storm", None, ("events", ("type", "session_id")))
def like_storm(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    """The real-time definition (:class:`zhibo.risk.rules.LikeStormParams`) over a file: hopping
    windows of ``window_seconds`` advancing by half of it; a storm window has at least
    ``min_likes`` likes of which the ``max_accounts`` most active accounts gave at least
    ``min_share_bp``. Reported per session, with those of the accounts that each gave at least
    a quarter of their average required share."""
    params: LikeStormParams = rule.params()
    events = inputs.events
    assert events is not None
    half = max(1, params.window_seconds * US // 2)
    count = pl.col("count").fill_null(1) if "count" in events.columns else pl.lit(1)
    likes = events.filter((pl.col("type") == "like") & pl.col("session_id").is_not_null())
    if likes.is_empty():
        return []
    per_user = (
        likes.select("session_id", "user_id", "t", count.cast(pl.Int64).alias("likes"))
        .with_columns((pl.col("t") // half).alias("b"))
        .group_by("session_id", "user_id", "b")
        .agg(
            pl.col("likes").sum(), pl.col("t").min().alias("first"), pl.col("t").max().alias("last")
        )
    )
    # Window k holds half-steps k and k + 1.
    spread = pl.concat([per_user, per_user.with_columns(pl.col("b") - 1)])
    user_window = (
        spread.group_by("session_id", "b", "user_id")
        .agg(pl.col("likes").sum(), pl.col("first").min(), pl.col("last").max())
        .with_columns(
            pl.col("likes").rank("ordinal", descending=True).over("session_id", "b").alias("rank")
        )
    )
    windows = (
        user_window.group_by("session_id", "b")
        .agg(
            pl.col("likes").sum().alias("total"),
            pl.col("likes").filter(pl.col("rank") <= params.max_accounts).sum().alias("top"),
        )
        .filter(
            (pl.col("total") >= params.min_likes)
            & (pl.col("top") * 10_000 >= pl.col("total") * params.min_share_bp)
        )
    )
    # The storm's accounts: top accounts that each gave at least a quarter of the average share
    # the top accounts must give (an ordinary liker ranked fifth in a storm window is not one).
    least = params.min_share_bp / 10_000 / params.max_accounts / 4
    storms = (
        user_window.filter(pl.col("rank") <= params.max_accounts)
        .join(windows, on=["session_id", "b"])
        .filter(pl.col("likes") >= least * pl.col("total"))
    )
    sessions = (
        storms.group_by("session_id")
        .agg(
            pl.col("user_id").unique().sort().alias("users"),
            pl.col("first").min(),
            pl.col("last").max(),
        )
        .sort("session_id")
    )
    findings = []
    for session_id, users, first, last in sessions.iter_rows():
        mine = windows.filter(pl.col("session_id") == session_id)
        peak = mine.sort("total", "b", descending=[True, False]).row(0, named=True)
        top = (
            storms.filter((pl.col("session_id") == session_id) & (pl.col("b") == peak["b"]))
            .select("user_id", "likes")
            .sort("likes", "user_id", descending=[True, False])
        )
        # The input rows behind it: the likes of the storm windows' half-steps, per account and
        # half-step (what the rule sums; ``first_us``/``last_us`` bound its times), most likes
        # first; past the cap the rest of each half-step as one number.
        steps = pl.concat([mine.select("b"), mine.select(pl.col("b") + 1)]).unique()
        behind = (
            per_user.filter(pl.col("session_id") == session_id)
            .join(steps, on="b", how="semi")
            .sort(["likes", "b", "user_id"], descending=[True, False, False])
        )
        kept = behind.head(_EVIDENCE_ROWS)
        rest = (
            behind.slice(_EVIDENCE_ROWS)
            .group_by("b")
            .agg(pl.col("likes").sum(), pl.len().alias("accounts"))
            .sort("b")
        )
        findings.append(
            Finding.of(
                rule,
                entity_type="session",
                entity_id=session_id,
                user_ids=list(users),
                window_start=inputs.at(first),
                window_end=inputs.at(last),
                evidence={
                    "likes": kept.select(
                        "user_id",
                        pl.col("b").alias("step"),
                        pl.col("first").alias("first_us"),
                        pl.col("last").alias("last_us"),
                        "likes",
                    ).to_dicts(),
                    "like_rows": behind.height,
                    "likes_rest": rest.rename({"b": "step"}).to_dicts(),
                    "truncated": behind.height > _EVIDENCE_ROWS,
                    "peak_window_start": iso(peak["b"] * half),
                    "peak_window_likes": peak["total"],
                    "peak_top_accounts_likes": peak["top"],
                    "peak_top_share_bp": peak["top"] * 10_000 // peak["total"],
                    "peak_accounts": top.to_dicts(),
                    "storm_windows": mine.height,
                    "parameters": params.model_dump(),
                },
            )
        )
    return findings


def _shingles(text: str, size: int) -> list[bytes]:
    if len(text) <= size:
        return [text.encode("utf-8")]
    return [text[i : i + size].encode("utf-8") for i in range(len(text) - size + 1)]


def near_duplicate_families(
    texts: list[str], threshold: float, num_perm: int, shingle: int
) -> np.ndarray:
    """A family number per text: texts joined by LSH pairs of estimated Jaccard ≥ threshold."""
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # Imported here: datasketch takes seconds to import, and the real-time path imports this
    # package (for ScanInputs) on a process's first order.
    from datasketch import MinHash, MinHashLSH

    hashes = MinHash.bulk([_shingles(text, shingle) for text in texts], num_perm=num_perm)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    with lsh.insertion_session() as session:
        for index, minhash in enumerate(hashes):
            session.insert(index, minhash, check_duplication=False)
    left: list[int] = []
    right: list[int] = []
    for index, minhash in enumerate(hashes):
        for other in lsh.query(minhash):
            if other > index and minhash.jaccard(hashes[other]) >= threshold:
                left.append(index)
                right.append(int(other))
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, family = connected_components(graph, directed=False)
    return np.asarray(family, dtype=np.int64)


def _folded(texts: pl.Series) -> pl.Series:
    from zhibo.risk.text import banned_term_matcher

    folder = banned_term_matcher().folder
    return texts.map_elements(folder.flat, return_dtype=pl.String)


@runner("duplicate_comments", DuplicateCommentParams, ("events", ("text", "session_id")))
def duplicate_comments(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: DuplicateCommentParams = rule.params()
    events = inputs.events
    assert events is not None
    comments = events.filter(pl.col("text").is_not_null() & pl.col("session_id").is_not_null())
    if "type" in comments.columns:
        comments = comments.filter(pl.col("type") == "comment")
    texts = comments.select(pl.col("text").unique())
    texts = texts.with_columns(_folded(texts["text"]).alias("folded")).filter(
        pl.col("folded").str.len_chars() >= params.min_chars
    )
    if texts.is_empty():
        return []
    distinct = texts.select(pl.col("folded").unique().sort())
    family = near_duplicate_families(
        distinct["folded"].to_list(), params.threshold, params.num_perm, params.shingle
    )
    distinct = distinct.with_columns(pl.Series("family", family))
    keep = ["session_id", "user_id", "t", "text"] + (
        ["event_id"] if "event_id" in comments.columns else []
    )
    posts = comments.select(keep).join(texts, on="text").join(distinct, on="folded")
    width = params.window_seconds * US
    # Any window of ``width``: each post opens one; a window holding posts of enough distinct
    # accounts marks all its posts. Families are small (a self-join per family is cheap).
    posts = posts.with_row_index("post")
    pairs = posts.select("session_id", "family", "post", pl.col("t").alias("opens")).join(
        posts.select("session_id", "family", pl.col("post").alias("inside"), "t", "user_id"),
        on=["session_id", "family"],
    )
    pairs = pairs.filter(
        (pl.col("t") >= pl.col("opens")) & (pl.col("t") <= pl.col("opens") + width)
    )
    crowded = (
        pairs.group_by("post")
        .agg(pl.col("user_id").n_unique().alias("n"), pl.col("inside"))
        .filter(pl.col("n") >= params.min_accounts)
        .select(pl.col("inside").explode().unique())
    )
    hits = posts.join(crowded, left_on="post", right_on="inside", how="semi").drop("post")
    groups = (
        hits.group_by("session_id", "family")
        .agg(
            pl.col("user_id").unique().sort().alias("users"),
            pl.col("t").min().alias("first"),
            pl.col("t").max().alias("last"),
            pl.len().alias("comments"),
        )
        .sort("session_id", "family")
    )
    findings = []
    for session_id, family_id, users, first, last, count in groups.iter_rows():
        mine = hits.filter((pl.col("session_id") == session_id) & (pl.col("family") == family_id))
        variants = mine.group_by("text").agg(pl.col("user_id").n_unique().alias("accounts"))
        sample: list[dict[str, Any]] = (
            mine.sort("t").select([c for c in keep if c != "session_id"]).head(50).to_dicts()
        )
        findings.append(
            Finding.of(
                rule,
                entity_type="session",
                entity_id=session_id,
                user_ids=list(users),
                window_start=inputs.at(first),
                window_end=inputs.at(last),
                evidence={
                    "accounts": len(users),
                    "comments": count,
                    "variants": variants.sort("accounts", "text", descending=[True, False])
                    .head(20)
                    .to_dicts(),
                    "folded": mine["folded"][0],
                    "posts": sample,
                    "parameters": params.model_dump(),
                },
            )
        )
    return findings
