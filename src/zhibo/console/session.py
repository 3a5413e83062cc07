"""Who is signed in to the console: the API token lives in an HttpOnly, SameSite=Strict
cookie (Secure over HTTPS and on loopback addresses, which browsers treat as secure), and is
checked on every request exactly as the API checks a bearer token, so a revoked token signs
its console session out at once. Forms carry a CSRF value derived from the token."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from zhibo.console.i18n import DEFAULT, choose
from zhibo.kit.auth import Principal, authenticate
from zhibo.kit.errors import Forbidden, Unauthenticated
from zhibo.kit.hashing import keyed_hash

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
        raise SignInRequired("sign in with an API token")
    try:
        return authenticate(db, f"Bearer {token}")
    except Unauthenticated as exc:
        raise SignInRequired(str(exc.detail)) from exc


def csrf_value(request: Request) -> str:
    token = token_of(request)
    return keyed_hash(token, purpose="console-csrf")[:32] if token else ""


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = csrf_value(request)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise CsrfRefused("csrf: the form is stale or came from elsewhere; reload the page")
