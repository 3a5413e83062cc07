"""Console users: sign-in with a username and password (besides an API token), as one role and
subject each.

* Passwords are hashed with Argon2id (``argon2-cffi``'s ``PasswordHasher``, its default
  parameters: RFC 9106's low-memory choice); the clear password and the hash are never logged
  or shown, and the password never comes from the command line's arguments.
* Each user has an identity token (an ``api_tokens`` row whose clear value was discarded), so
  what a user does is attributed as a token's is (``compliance#<token id>``), and revoking the
  token or disabling the user ends its console sessions at once.
* A failed sign-in says only that it failed. After ``FREE_ATTEMPTS`` failures in a row a
  username is locked for a delay that doubles with each further failure (``BASE_LOCK`` up to
  ``MAX_LOCK``); while locked, even the right password is refused with the same message.
  Unknown usernames are treated alike (in this process's memory), and their password is still
  hashed, so neither the answer nor its time tells whether a username exists.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.kit.auth import Principal, create_token, revoke_token
from zhibo.kit.errors import Conflict, InvalidInput, NotFound
from zhibo.kit.time import utcnow
from zhibo.models import ApiToken, Role
from zhibo.models.console import ConsoleUser

#: Failures in a row before a username is locked.
FREE_ATTEMPTS = 5
#: The first lock; each further failure doubles it, up to ``MAX_LOCK``.
BASE_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
#: Unknown usernames remembered for their lockout (oldest forgotten first).
UNKNOWN_KEPT = 10_000


class UsernameTaken(Conflict):
    """A console user with this username exists already."""


class PasswordTooWeak(InvalidInput):
    """The password is too short (or too long)."""


@dataclass(frozen=True, slots=True)
class UserPrincipal(Principal):
    """A principal signed in as a console user: its identity token, and its username for the
    goals' change history and the page header."""

    username: str = ""


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """Verified against for unknown or disabled usernames, so a refusal costs the same time."""
    return hasher().hash("decoy password, never a user's")


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise PasswordTooWeak(
            f"password: between {MIN_PASSWORD_LENGTH} and {MAX_PASSWORD_LENGTH} characters"
        )


def normalise_username(username: str) -> str:
    return username.strip().lower()


def create_user(
    db: Session, username: str, password: str, role: Role | str, subject_id: int | None
) -> ConsoleUser:
    """A new console user with its identity token; the role and subject are checked as a
    token's are (a scoped role names an existing subject, a global role none)."""
    username = normalise_username(username)
    if not USERNAME.match(username):
        raise InvalidInput(
            "username: 2 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )
    _check_password(password)
    if db.scalar(select(ConsoleUser.id).where(ConsoleUser.username == username)) is not None:
        raise UsernameTaken(f"username: {username!r} is taken")
    _clear, token = create_token(db, role, subject_id, name=f"console user {username}")
    del _clear  # nobody signs in with it: it only names the user in audit trails
    user = ConsoleUser(
        username=username,
        password_hash=hasher().hash(password),
        role=token.role,
        subject_id=subject_id,
        token_id=token.id,
        created_at=utcnow(),
        failed_attempts=0,
    )
    db.add(user)
    db.flush()
    return user


def list_users(db: Session) -> list[ConsoleUser]:
    return list(db.scalars(select(ConsoleUser).order_by(ConsoleUser.username)))


def get_user(db: Session, username: str) -> ConsoleUser:
    user = db.scalar(
        select(ConsoleUser).where(ConsoleUser.username == normalise_username(username))
    )
    if user is None:
        raise NotFound(f"user: no console user {username!r}")
    return user


def disable_user(db: Session, username: str) -> ConsoleUser:
    """Disable a user and revoke its identity token: its open sessions end at once."""
    user = get_user(db, username)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    revoke_token(db, user.token_id)
    return user


def set_password(db: Session, username: str, password: str) -> ConsoleUser:
    """Give a user a new password (checked like a new one), clearing any lockout. The user's
    open console sessions end: a session is bound to the password hash it signed in with."""
    user = get_user(db, username)
    _check_password(password)
    user.password_hash = hasher().hash(password)
    user.failed_attempts = 0
    user.locked_until = None
    return user


def enable_user(db: Session, username: str) -> ConsoleUser:
    """Re-enable a disabled user under a new identity token (the revoked one stays revoked,
    so the audit trail keeps telling the two periods apart)."""
    user = get_user(db, username)
    if user.disabled_at is None:
        return user
    old = db.get(ApiToken, user.token_id)
    role = old.role if old is not None else user.role
    _clear, token = create_token(db, role, user.subject_id, name=f"console user {user.username}")
    del _clear
    user.token_id = token.id
    user.disabled_at = None
    user.failed_attempts = 0
    user.locked_until = None
    return user


# --- sign-in ----------------------------------------------------------------------------------


@dataclass
class _Attempts:
    failures: int = 0
    locked_until: datetime | None = None


_unknown: OrderedDict[str, _Attempts] = OrderedDict()
_unknown_lock = threading.Lock()


def lock_after(failures: int) -> timedelta | None:
    """How long a username is locked after this many failures in a row (None: not locked)."""
    if failures < FREE_ATTEMPTS:
        return None
    return min(BASE_LOCK * 2 ** (failures - FREE_ATTEMPTS), MAX_LOCK)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _unknown_attempt(username: str, password: str, now: datetime) -> None:
    _verify(_decoy_hash(), password)
    with _unknown_lock:
        attempts = _unknown.pop(username, None) or _Attempts()
        if attempts.locked_until is None or attempts.locked_until <= now:
            attempts.failures += 1
            delay = lock_after(attempts.failures)
            attempts.locked_until = now + delay if delay else None
        _unknown[username] = attempts
        while len(_unknown) > UNKNOWN_KEPT:
            _unknown.popitem(last=False)


def authenticate_password(
    db: Session, username: str, password: str, now: datetime | None = None
) -> ConsoleUser | None:
    """The signed-in user, or ``None`` for any failure (unknown, wrong password, locked,
    disabled): the caller shows one message for all of them."""
    now = now or utcnow()
    username = normalise_username(username)[:64]
    user = db.scalar(select(ConsoleUser).where(ConsoleUser.username == username))
    if user is None:
        _unknown_attempt(username, password, now)
        return None
    if user.locked_until is not None and user.locked_until > now:
        _verify(_decoy_hash(), password)  # the lock holds whatever the password; same time
        return None
    token = db.get(ApiToken, user.token_id)
    usable = user.disabled_at is None and token is not None and token.revoked_at is None
    if not _verify(user.password_hash if usable else _decoy_hash(), password) or not usable:
        user.failed_attempts += 1
        delay = lock_after(user.failed_attempts)
        user.locked_until = now + delay if delay else None
        return None
    user.failed_attempts, user.locked_until, user.last_signed_in_at = 0, None, now
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hasher().hash(password)
    return user


def principal_of_user(user: ConsoleUser) -> UserPrincipal:
    return UserPrincipal(
        role=Role(user.role),
        subject_id=user.subject_id,
        token_id=user.token_id,
        username=user.username,
    )


def session_user(db: Session, user_id: int) -> ConsoleUser | None:
    """The user behind a console session, while it may still use the console."""
    user = db.get(ConsoleUser, user_id)
    if user is None or user.disabled_at is not None:
        return None
    token = db.get(ApiToken, user.token_id)
    if token is None or token.revoked_at is not None:
        return None
    return user
