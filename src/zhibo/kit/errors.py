"""One error hierarchy. Every domain error carries the HTTP status it maps to.

The API renders each as ``{"error": <class name>, "detail": <message>}``; the CLI prints the
same name and message and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class ZhiboError(Exception):
    """Base of every error zhibo raises on purpose."""

    status_code: int = 400

    def __init__(self, detail: Any = None) -> None:
        self.detail = detail if detail is not None else (self.__doc__ or "").strip()
        super().__init__(str(self.detail))

    @property
    def name(self) -> str:
        return type(self).__name__


class InvalidInput(ZhiboError):
    """The input breaks a rule; ``detail`` names the field and the reason."""

    status_code = 422


class NotFound(ZhiboError):
    """The requested thing does not exist, or the caller may not know that it exists."""

    status_code = 404


class Conflict(ZhiboError):
    """The request conflicts with the current state."""

    status_code = 409


class Unauthenticated(ZhiboError):
    """No valid API token was given."""

    status_code = 401


class Forbidden(ZhiboError):
    """The caller's role may not do this."""

    status_code = 403


class IllegalTransition(Conflict):
    """A state machine refused a move; subclasses name the aggregate and condition."""

    def __init__(self, entity: str, current: str, action: str) -> None:
        self.entity = entity
        self.current = current
        self.action = action
        super().__init__(f"{entity} is {current}: cannot {action}")
