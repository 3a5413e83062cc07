"""The console's own tables: the ecosystem goals' definitions (versioned, every edit kept with
who, when, why and the values it replaced) and the console's user accounts (sign-in with a
username and password as one role and subject)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId, enum_column
from zhibo.models.token import Role


class GoalDefinitionVersion(Base):
    """One version of the goals' targets and definitions; a change appends a row, nothing is
    overwritten. Version 0 (DOMAIN.md's defaults) is implicit until the first change."""

    __tablename__ = "goal_definition_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: The whole validated ``GoalDefinitions`` as JSON (targets, thresholds in fen, what
    #: "paid" and "professional" mean, time zone, run-rate window).
    definitions: Mapped[str] = mapped_column(Text)
    #: JSON ``{field: {"old": ..., "new": ...}}``: what this version changed from the one before.
    changes: Mapped[str] = mapped_column(Text, default="{}")
    #: ``operator#<token id>`` (an API token) or ``operator#<token id>:<username>`` (a console
    #: user), ``import:<file>`` for versions imported from the old JSON document.
    changed_by: Mapped[str] = mapped_column(String(120))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(500), default="")


class ConsoleUser(Base):
    """A person who signs in to the console with a username and password, as one role (and,
    for scoped roles, one subject). The password is kept only as an Argon2id hash."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: Argon2id (PHC string, with its own salt and parameters); never logged or shown.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The user's identity in the audit trails: an API token created with the user whose clear
    #: value was never shown to anyone, so actions read ``compliance#<id>`` as a token's do, and
    #: revoking it (or disabling the user) ends the user's console sessions.
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Consecutive failed sign-ins since the last success; from the fifth on, each failure
    #: locks the username for a doubling delay (see ``console.accounts``).
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConsoleJob(Base):
    """A long action started from the console (settlement run, index rebuild, grading run) and
    how far it got, so that any API process can show its progress (the work runs in a thread
    of the process that started it, which writes this row as it goes)."""

    __tablename__ = "console_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    #: The API token (or console user's identity token) that started it.
    started_by: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    as_of: Mapped[date | None] = mapped_column(Date)
    policy: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(12))
    stage: Mapped[str] = mapped_column(String(20))
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(500))
    #: The work's report as JSON (e.g. a settlement run's figures).
    report: Mapped[str] = mapped_column(Text, default="{}")
    #: Last written by the process doing the work: a running job not written for long belongs
    #: to a process that stopped.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
