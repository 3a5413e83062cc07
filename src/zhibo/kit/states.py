"""A tiny declarative state machine helper: allowed moves and the error a refused move raises."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from zhibo.kit.errors import IllegalTransition


def require_state(
    entity: str,
    current: StrEnum | str,
    allowed: Iterable[StrEnum],
    action: str,
    error: type[IllegalTransition] = IllegalTransition,
) -> None:
    """Raise ``error`` unless ``current`` is one of ``allowed``."""
    allowed_values = {str(state) for state in allowed}
    if str(current) not in allowed_values:
        raise error(entity, str(current), action)
