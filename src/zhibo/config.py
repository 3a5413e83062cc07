"""zhibo's settings: one object, read from the environment (prefix ``ZHIBO_``) or ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of a zhibo deployment. The embedded default needs none of them set."""

    model_config = SettingsConfigDict(env_prefix="ZHIBO_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty: a SQLite file under ./var/. "
        "Production: postgresql+psycopg://user@host/db",
    )
    bus_url: str = Field(
        default="memory://",
        description="Event bus: memory:// (in-process) or nats://host:4222 (NATS JetStream); "
        "a cluster as several URLs separated by commas (nats://a:4222,nats://b:4222).",
    )
    bus_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        description="Replicas of the JetStream stream (3 on a 3-node NATS cluster, so one "
        "node may stop while events flow). Applied when a process creates or updates it.",
    )
    data_dir: Path = Field(
        default=Path("var/data"),
        description="Event lake (Parquet), search index and other files.",
    )
    risk_rules_file: Path | None = Field(
        default=None,
        description="A risk rule file (TOML/YAML/JSON) the real-time engine, the pool's text "
        "screens and the cases run instead of the packaged rules (docs/risk.md).",
    )
    secret_key: SecretStr = Field(
        default=SecretStr("zhibo-development-key-change-me"),
        description="Key for keyed hashes of personal data (ID numbers, phones, IPs). "
        "Set a long random value in production.",
    )
    media_hook_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret nginx-rtmp sends as ?secret= on the on_publish and "
        "on_publish_done hook URLs (compared in constant time). Unset or empty: the hooks "
        "accept loopback clients only. Set a long random value in production.",
    )
    media_control_url: str = Field(
        default="",
        description="Base URL of nginx-rtmp's HTTP server with `rtmp_control` (e.g. "
        "http://127.0.0.1:8080): suspending a session drops its publisher through "
        "{url}/control/drop/publisher. Empty: suspensions cut no stream (logged).",
    )
    publish_reconnect_grace_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="How long a live session waits after its RTMP push ends (on_publish_done) "
        "for a push of its room to resume it; after that it ends as of the moment the push "
        "ended. 0: the session ends as soon as its push ends.",
    )
    events_partitions: int = Field(
        default=8,
        gt=0,
        le=1024,
        description="Bus partitions of viewer events (subjects zhibo.events.p0..N-1, by room id "
        "modulo N); each partition is consumed by one worker at a time.",
    )
    max_request_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="Largest accepted request body."
    )
    # Abuse limits (docs/security.md).
    max_batch_events: int = Field(
        default=100_000,
        gt=0,
        description="Most events one POST /v1/events batch may hold (413 above it).",
    )
    rate_limit_enabled: bool = Field(
        default=True, description="false: no per-token rate limits at all (benchmarks)."
    )
    rate_limit_ingest: str = Field(
        default="1000/second",
        description="Per-token rate of POST /v1/events requests, in `limits` notation "
        "(e.g. 600/minute); empty or 0: unlimited.",
    )
    rate_limit_search: str = Field(
        default="50/second",
        description="Per-token rate of GET /v1/pool/search requests; empty or 0: unlimited.",
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where the rate-limit counters live: memory:// (each API process counts "
        "alone) or redis://host:6379 (all API processes share one limit per token).",
    )
    rate_limit_prefix: str = Field(
        default="zhibo", min_length=1, description="Key prefix of the counters in Redis."
    )
    search_indexer: Literal["embedded", "external"] = Field(
        default="embedded",
        description="Who keeps the search index fresh: a thread of `zhibo serve` (embedded) or "
        "a separate `zhibo catalog index --follow` process (external).",
    )
    # Identity and compliance (zhibo.identity; docs/identity.md).
    identity_key: SecretStr | None = Field(
        default=None,
        description="AES-256-GCM key for ID numbers and phones at rest: 32 bytes, urlsafe "
        "base64 (`zhibo identity new-key`). Unset: a development key is generated into "
        "{data_dir}/keys/identity.key on first use (never for production).",
    )
    identity_provider: Literal["attestation", "test"] = Field(
        default="attestation",
        description="Verification provider re-checked before each session goes live: "
        "`attestation` (an operator's recorded attestation) or `test` (tests only).",
    )
    streamer_min_age: int = Field(
        default=16, ge=16, le=30, description="Youngest streamer; under 18 needs consent."
    )
    tip_max_per_tip_fen: int = Field(default=50_000, ge=0, description="Most one tip, in fen.")
    tip_max_per_day_fen: int = Field(
        default=500_000, ge=0, description="Most a viewer tips in a day, in fen."
    )
    tip_max_per_month_fen: int = Field(
        default=5_000_000, ge=0, description="Most a viewer tips in a calendar month, in fen."
    )
    tip_reminder_day_fen: int = Field(
        default=100_000, ge=0, description="A spending reminder once a day's tips reach this."
    )
    tip_hold_hours: int = Field(
        default=72, ge=0, description="Tips are credited to the streamer after this hold."
    )
    tip_day_timezone: str = Field(
        default="Asia/Shanghai", description="The zone whose calendar days and months the caps use."
    )
    tip_platform_share_bp: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="The platform's share of a tip, in basis points, kept when it is credited.",
    )
    complaint_deadline_hours: int = Field(
        default=72,
        gt=0,
        description="Feedback deadline: an open complaint older than this is overdue.",
    )
    virtual_host_label: str = Field(
        default="AI 虚拟主播 · virtual (AI) host",
        description="Label shown to viewers in rooms of virtual (AI) hosts.",
    )
    patrol_rooms_per_reviewer: int = Field(
        default=50, gt=0, description="At least one reviewer per this many online rooms."
    )
    # Production mode (docs/operations.md: workers, readiness, metrics, logs, read replica).
    database_read_url: str = Field(
        default="",
        description="SQLAlchemy URL of a read replica for the read-only endpoints that may lag "
        "a second (leaderboards, goals, statement listings). Empty: they read the primary.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="zhibo's logs on standard error: text lines or JSON lines (one object per "
        "record, with the request id). ID and phone numbers are masked either way.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token GET /metrics requires. Unset or empty: /metrics answers "
        "loopback clients only.",
    )
    worker_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="Pause between iterations of `zhibo worker risk|grading|settlement`.",
    )
    grading_hour_utc: int = Field(
        default=2,
        ge=0,
        le=23,
        description="`zhibo worker grading` grades the previous day once the UTC hour reaches "
        "this (and later that day if it was down then).",
    )
    settlement_hour_utc: int = Field(
        default=3,
        ge=0,
        le=23,
        description="`zhibo worker settlement` settles the current day (as_of) once the UTC "
        "hour reaches this; unfinished runs are resumed at any hour.",
    )
    page_size_default: int = Field(default=50, gt=0, le=1000)
    page_size_max: int = Field(default=500, gt=0, le=10000)
    currency: str = Field(default="CNY", min_length=3, max_length=3)

    @field_validator("rate_limit_ingest", "rate_limit_search")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        if value.strip() not in ("", "0"):
            parse(value)  # ValueError names the notation it could not read
        return value.strip()

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path('var').resolve() / 'zhibo.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
