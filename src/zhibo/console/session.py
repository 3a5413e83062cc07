"""Who is signed in to the console. Two kinds of session, one cookie (HttpOnly,
SameSite=Strict, limited to /console; Secure over HTTPS and on loopback addresses, which
browsers treat as secure):

* an API token: the cookie holds the token, checked on every request exactly as the API checks
  a bearer token, so a revoked token signs its console session out at once;
* a console user (username and password, ``console.accounts``): the cookie holds
  ``u1.<user id>.<expiry>.<signature>``, an HMAC under the deployment key over the user, the
  expiry and a fingerprint of the password hash — so changing the password ends the old
  sessions — and every request checks that the user is not disabled and its identity token
  not revoked.

Forms carry a CSRF value derived from the cookie."""

from __future__ import annotations

import hmac
import time

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from zhibo.console.i18n import DEFAULT, choose
from zhibo.kit.auth import Principal, authenticate
from zhibo.kit.errors import Forbidden, Unauthenticated
from zhibo.kit.hashing import keyed_hash

USER_SESSION_PREFIX = "u1."

TOKEN_COOKIE = "zhibo_console"
LANGUAGE_COOKIE = "zhibo_lang"
#: Eight hours: a working day; signing in again costs a paste.
MAX_AGE_SECONDS = 8 * 3600
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


class SignInRequired(Unauthenticated):
    """The console needs a signed-in token: the page sends the browser to sign in."""


class CsrfRefused(Forbidden):
    """A form came without the signed-in session's CSRF value."""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or (request.url.hostname or "") in LOOPBACK


def set_token(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        secure=_secure(request),
        samesite="strict",
        path="/console",
    )


def clear_token(response: Response) -> None:
    response.delete_cookie(TOKEN_COOKIE, path="/console")


def set_language(request: Request, response: Response, language: str) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE,
        choose(language),
        max_age=365 * 86400,
        httponly=True,
        secure=_secure(request),
        samesite="lax",
        path="/console",
    )


def language(request: Request) -> str:
    return choose(request.cookies.get(LANGUAGE_COOKIE, DEFAULT))


def token_of(request: Request) -> str | None:
    return request.cookies.get(TOKEN_COOKIE) or None


def principal_of(db: Session, request: Request) -> Principal:
    """The signed-in principal, or ``SignInRequired``."""
    token = token_of(request)
    if token is None:
        raise SignInRequired("sign in with an API token or a username and password")
    if token.startswith(USER_SESSION_PREFIX):
        return _user_principal(db, token)
    try:
        return authenticate(db, f"Bearer {token}")
    except Unauthenticated as exc:
        raise SignInRequired(str(exc.detail)) from exc


def _signature(user_id: int, expires: int, password_hash: str) -> str:
    # The hash's last characters are its salted digest: a new password, a new fingerprint.
    fingerprint = password_hash[-16:]
    return keyed_hash(f"{user_id}.{expires}.{fingerprint}", purpose="console-user-session")[:43]


def user_session_value(user_id: int, password_hash: str, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + MAX_AGE_SECONDS)
    signature = _signature(user_id, expires, password_hash)
    return f"{USER_SESSION_PREFIX}{user_id}.{expires}.{signature}"


def _user_principal(db: Session, value: str) -> Principal:
    from zhibo.console import accounts

    try:
        user_text, expires_text, signature = value.removeprefix(USER_SESSION_PREFIX).split(".")
        user_id, expires = int(user_text), int(expires_text)
    except ValueError:
        raise SignInRequired("the console session is not one of ours; sign in again") from None
    user = accounts.session_user(db, user_id)
    if (
        user is None
        or expires < time.time()
        or not hmac.compare_digest(signature, _signature(user_id, expires, user.password_hash))
    ):
        raise SignInRequired("the console session has ended; sign in again")
    return accounts.principal_of_user(user)


def csrf_value(request: Request) -> str:
    token = token_of(request)
    return keyed_hash(token, purpose="console-csrf")[:32] if token else ""


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = csrf_value(request)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise CsrfRefused("csrf: the form is stale or came from elsewhere; reload the page")
