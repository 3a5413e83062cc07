"""API tokens and roles.

Every endpoint declares the roles that may call it (``Depends(require(Role.X, ...))``); scoped
roles (streamer, partner, brand, viewer) act only as their token's subject, and services narrow
every query to what that subject may see.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.kit.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from zhibo.kit.hashing import token_hash
from zhibo.kit.time import utcnow
from zhibo.models.token import SCOPED_ROLES, ApiToken, Role

TOKEN_PREFIX = "zb_"
#: Roles that may read everything (subject to their own endpoint declarations).
GLOBAL_READERS = frozenset({Role.OPERATOR, Role.COMPLIANCE, Role.AUDITOR})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a role and, for scoped roles, the id of the subject it acts as."""

    role: Role
    subject_id: int | None = None
    token_id: int | None = None

    @property
    def is_global(self) -> bool:
        return self.role in GLOBAL_READERS

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(sorted(str(role) for role in roles))
            raise Forbidden(f"role {self.role} may not do this (allowed: {allowed})")


def create_token(
    session: Session, role: Role | str, subject_id: int | None, name: str = ""
) -> tuple[str, ApiToken]:
    """Issue a token; returns the clear token (shown once) and its stored row."""
    try:
        role = Role(role)
    except ValueError as exc:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput(f"role: {role!r} is not one of {choices}") from exc
    if role in SCOPED_ROLES and subject_id is None:
        raise InvalidInput(f"subject: a {role} token must name the {role} it acts as")
    if role not in SCOPED_ROLES and subject_id is not None:
        raise InvalidInput(f"subject: a {role} token acts for the whole platform, not a subject")
    if subject_id is not None:
        _check_subject_exists(session, role, subject_id)
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=token_hash(clear),
        prefix=clear[:10],
        role=role,
        subject_id=subject_id,
        name=name,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return clear, row


def _check_subject_exists(session: Session, role: Role, subject_id: int) -> None:
    from zhibo.models import Brand, Partner, Streamer, Viewer

    model = {
        Role.STREAMER: Streamer,
        Role.PARTNER: Partner,
        Role.BRAND: Brand,
        Role.VIEWER: Viewer,
    }[role]
    if session.get(model, subject_id) is None:
        raise NotFound(f"subject: no {role} with id {subject_id}")


def authenticate(session: Session, authorization: str | None) -> Principal:
    if not authorization:
        raise Unauthenticated("Authorization: send 'Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization: send 'Bearer <token>'")
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token.strip())))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("Authorization: unknown or revoked token")
    return Principal(role=Role(row.role), subject_id=row.subject_id, token_id=row.id)


def revoke_token(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"token: no token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row
