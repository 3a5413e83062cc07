"""HTTP endpoints for the ecosystem goals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from zhibo.goals import service
from zhibo.goals.schemas import GoalDefinitionsChange, GoalsOut, GoalVersion
from zhibo.kit.api import DB, ERROR_RESPONSES, READERS, require
from zhibo.kit.auth import Principal
from zhibo.kit.schemas import UtcDatetime
from zhibo.models import Role

router = APIRouter(prefix="/v1", tags=["goals"], responses=ERROR_RESPONSES)

Readers = Annotated[Principal, Depends(require(*READERS))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]


@router.get("/goals", response_model=GoalsOut)
def get_goals(
    request: Request,
    db: DB,
    principal: Readers,
    at: UtcDatetime | None = None,
    limit: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> GoalsOut:
    """The four 2021 ecosystem goals: count now, progress, the trend through the year, the
    projection to year end and who counts (``limit`` members per goal)."""
    data_dir = request.app.state.settings.data_dir
    return service.goals_for(db, principal, data_dir, at=at, limit=limit)


@router.get("/goals/definitions", response_model=list[GoalVersion])
def goal_definitions(request: Request, db: DB, principal: Readers) -> list[GoalVersion]:
    """Every version of the targets and definitions, oldest first, each with what it changed
    (old and new values)."""
    return service.definitions_history(db, principal, request.app.state.settings.data_dir)


@router.put("/goals/definitions", response_model=GoalVersion)
def change_goal_definitions(
    request: Request, db: DB, principal: Operator, body: GoalDefinitionsChange
) -> GoalVersion:
    """Change the targets or what counts towards them (a new version, with who, when and the
    values it replaced)."""
    data_dir = request.app.state.settings.data_dir
    return service.change_definitions(db, principal, body.definitions, body.reason, data_dir)
