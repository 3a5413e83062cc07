"""Where the goal definitions live: the ``goal_definition_versions`` table. Every change
appends a version with who made it, when, why and the values it replaced; nothing is
overwritten. Version 0 (DOMAIN.md's defaults) is implicit until the first change.

Earlier versions of zhibo kept the versions in ``{data_dir}/goals/definitions.json``; when the
table is empty and that file exists, its versions are imported once (the table is then the
only source; the file is left alone and may be deleted)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhibo.goals.schemas import FieldChange, GoalDefinitions, GoalVersion
from zhibo.kit.documents import describe
from zhibo.kit.errors import Conflict, InvalidInput
from zhibo.kit.time import utcnow
from zhibo.models.console import GoalDefinitionVersion

LEGACY_FILE = Path("goals") / "definitions.json"


class GoalDocumentInvalid(InvalidInput):
    """The old goal document cannot be read as goal versions (nothing is imported)."""


class GoalsChangedConcurrently(Conflict):
    """Someone else saved a version at the same moment: reload and try again."""


def default_version() -> GoalVersion:
    """Version 0: DOMAIN.md's defaults, in force until an operator changes them."""
    return GoalVersion(
        version=0,
        definitions=GoalDefinitions(),
        changed_by="default",
        changed_at=datetime(2021, 4, 1, tzinfo=utcnow().tzinfo),
        reason="DOMAIN.md §1 defaults",
    )


def changes_between(old: GoalDefinitions, new: GoalDefinitions) -> dict[str, FieldChange]:
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    return {
        name: FieldChange(old=before.get(name), new=value)
        for name, value in after.items()
        if before.get(name) != value
    }


def _version_of(row: GoalDefinitionVersion) -> GoalVersion:
    return GoalVersion(
        version=row.version,
        definitions=GoalDefinitions.model_validate_json(row.definitions),
        changed_by=row.changed_by,
        changed_at=row.changed_at,
        reason=row.reason,
        changes={
            name: FieldChange.model_validate(value)
            for name, value in json.loads(row.changes or "{}").items()
        },
    )


def _row_of(version: GoalVersion) -> GoalDefinitionVersion:
    return GoalDefinitionVersion(
        version=version.version,
        definitions=version.definitions.model_dump_json(),
        changes=json.dumps(
            {name: change.model_dump(mode="json") for name, change in version.changes.items()},
            ensure_ascii=False,
            sort_keys=True,
        ),
        changed_by=version.changed_by,
        changed_at=version.changed_at,
        reason=version.reason,
    )


def _stored(db: Session) -> list[GoalVersion]:
    rows = db.scalars(select(GoalDefinitionVersion).order_by(GoalDefinitionVersion.version))
    return [_version_of(row) for row in rows]


def import_legacy(db: Session, data_dir: Path) -> int:
    """Import the old JSON document's versions when the table is still empty; returns how
    many were imported (0 when there is nothing to import or the table already has rows)."""
    path = Path(data_dir) / LEGACY_FILE
    if not path.exists() or db.scalar(select(func.count()).select_from(GoalDefinitionVersion)):
        return 0
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        versions = [GoalVersion.model_validate(item) for item in raw["versions"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        detail = describe(exc) if isinstance(exc, ValidationError) else str(exc)
        raise GoalDocumentInvalid(f"{path}: {detail}") from exc
    previous = default_version()
    imported = 0
    for version in versions:
        if version.version == 0:  # the defaults are implicit
            previous = version
            continue
        changes = changes_between(previous.definitions, version.definitions)
        db.add(_row_of(version.model_copy(update={"changes": changes})))
        previous = version
        imported += 1
    try:
        db.flush()
    except IntegrityError as exc:
        raise GoalsChangedConcurrently("goals: imported concurrently; try again") from exc
    return imported


def history(db: Session, data_dir: Path | None = None) -> list[GoalVersion]:
    """Every version, oldest first, from version 0 (the defaults)."""
    if data_dir is not None:
        import_legacy(db, data_dir)
    return [default_version(), *_stored(db)]


def current(db: Session, data_dir: Path | None = None) -> GoalVersion:
    if data_dir is not None:
        import_legacy(db, data_dir)
    row = db.scalar(
        select(GoalDefinitionVersion).order_by(GoalDefinitionVersion.version.desc()).limit(1)
    )
    return default_version() if row is None else _version_of(row)


def save(
    db: Session,
    definitions: GoalDefinitions,
    changed_by: str,
    reason: str = "",
    at: datetime | None = None,
    data_dir: Path | None = None,
) -> GoalVersion:
    """Append a version, with what it changed from the current one. Two saves at once: one
    wins, the other is ``GoalsChangedConcurrently`` (the version is the primary key)."""
    previous = current(db, data_dir)
    version = GoalVersion(
        version=previous.version + 1,
        definitions=definitions,
        changed_by=changed_by,
        changed_at=at or utcnow(),
        reason=reason,
        changes=changes_between(previous.definitions, definitions),
    )
    db.add(_row_of(version))
    try:
        db.flush()
    except IntegrityError as exc:
        raise GoalsChangedConcurrently(
            f"goals: version {version.version} was saved by someone else; reload and try again"
        ) from exc
    return version
