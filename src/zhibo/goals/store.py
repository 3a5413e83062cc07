"""Where the goal definitions live: a small versioned JSON document in the data directory
(``{data_dir}/goals/definitions.json``) until the goals get a table of their own. Every change
appends a version with who made it, when and why; nothing is overwritten."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from zhibo.goals.schemas import GoalDefinitions, GoalVersion
from zhibo.kit.documents import describe
from zhibo.kit.errors import InvalidInput
from zhibo.kit.time import utcnow

FILE_NAME = "definitions.json"


class GoalDocumentInvalid(InvalidInput):
    """The stored goal document cannot be read as goal versions."""


def _path(data_dir: Path) -> Path:
    return Path(data_dir) / "goals" / FILE_NAME


def default_version() -> GoalVersion:
    """Version 0: DOMAIN.md's defaults, in force until an operator changes them."""
    return GoalVersion(
        version=0,
        definitions=GoalDefinitions(),
        changed_by="default",
        changed_at=datetime(2021, 4, 1, tzinfo=utcnow().tzinfo),
        reason="DOMAIN.md §1 defaults",
    )


def history(data_dir: Path) -> list[GoalVersion]:
    """Every version, oldest first (version 0, the defaults, when nobody changed them)."""
    path = _path(data_dir)
    if not path.exists():
        return [default_version()]
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        versions = [GoalVersion.model_validate(item) for item in raw["versions"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        detail = describe(exc) if isinstance(exc, ValidationError) else str(exc)
        raise GoalDocumentInvalid(f"{path}: {detail}") from exc
    return versions or [default_version()]


def current(data_dir: Path) -> GoalVersion:
    return history(data_dir)[-1]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def save(
    data_dir: Path,
    definitions: GoalDefinitions,
    changed_by: str,
    reason: str = "",
    at: datetime | None = None,
) -> GoalVersion:
    """Append a version; written to a temporary file and renamed, so a reader sees the old
    document or the new one, never half of one."""
    path = _path(data_dir)
    with _locked(path):
        versions = history(data_dir) if path.exists() else [default_version()]
        version = GoalVersion(
            version=versions[-1].version + 1,
            definitions=definitions,
            changed_by=changed_by,
            changed_at=at or utcnow(),
            reason=reason,
        )
        versions.append(version)
        document = {"versions": [item.model_dump(mode="json") for item in versions]}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, ensure_ascii=False, indent=1), "utf-8")
        os.replace(temporary, path)
    return version
