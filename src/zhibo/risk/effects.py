"""Side effects on other systems (a room's event stream, the media server) run only after the
transaction that decided them commits: a rolled-back decision has no effect outside the
database, and a committed one is visible to whoever the effect reaches."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_KEY = "zhibo.risk.after_commit"
_LISTENING = "zhibo.risk.after_commit.listening"


def after_commit(db: Session, effect: Callable[[], None]) -> None:
    """Run ``effect`` once ``db`` commits; forget it if ``db`` rolls back."""
    if not db.info.get(_LISTENING):
        # Once per session (sessions are short-lived); never removed while dispatching.
        event.listen(db, "after_commit", _run)
        event.listen(db, "after_rollback", _drop)
        db.info[_LISTENING] = True
    db.info.setdefault(_KEY, []).append(effect)


def _run(db: Session) -> None:
    for effect in db.info.pop(_KEY, []):
        try:
            effect()
        except Exception:  # an unreachable media server must not undo a committed decision
            log.exception("risk side effect %s failed", getattr(effect, "__name__", effect))


def _drop(db: Session) -> None:
    db.info.pop(_KEY, None)


def mark(db: Session) -> int:
    """How many effects are queued now (see ``discard_since``)."""
    return len(db.info.get(_KEY, ()))


def discard_since(db: Session, count: int) -> None:
    """Forget the effects queued after ``mark`` returned ``count`` (a savepoint rolled back)."""
    pending = db.info.get(_KEY)
    if pending is not None:
        del pending[count:]
