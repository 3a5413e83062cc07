"""Per-token rate limits on the endpoints a leaked or runaway token could flood: event ingestion
and pool search (docs/security.md).

Built on the ``limits`` library with its sliding-window-counter strategy. The counters live in
memory by default (one API process); with ``ZHIBO_RATE_LIMIT_STORAGE=redis://host:6379`` every
API process counts against the same limit. Over the limit a request gets
``429 {"error": "RateLimited", "detail": {...}}`` with a ``Retry-After`` header. If the shared
store cannot be reached the request is let through and a warning is logged: a limit is a guard
against abuse, not a reason to stop taking events.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the dependency's annotation,
# which names a closure variable.
import logging
import math
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from zhibo.config import Settings
from zhibo.kit.api import ErrorBody
from zhibo.kit.auth import Principal
from zhibo.kit.errors import ZhiboError

logger = logging.getLogger("zhibo.ratelimit")

#: The limited scopes and the setting that holds each one's rate.
SCOPES = {"ingest": "rate_limit_ingest", "search": "rate_limit_search"}

#: The OpenAPI entry of the 429 answer, for the limited endpoints' ``responses``.
RATE_LIMITED_RESPONSE: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "Over the token's rate limit: retry after `Retry-After` seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}},
    }
}


class RateLimited(ZhiboError):
    """The token made more requests of this kind than its rate limit allows."""

    status_code = 429

    def __init__(self, detail: dict[str, Any], retry_after: int) -> None:
        super().__init__(detail)
        #: Sent as response headers by the API's error handler.
        self.headers = {"Retry-After": str(retry_after)}


def parse_rate(text: str | None) -> RateLimitItem | None:
    """``"600/minute"`` (any ``limits`` notation); empty or ``"0"``: no limit."""
    text = (text or "").strip()
    if text in ("", "0"):
        return None
    return parse(text)


class RateLimits:
    """The process's limiter: one storage, one rate per scope."""

    def __init__(self, settings: Settings) -> None:
        self.prefix = settings.rate_limit_prefix
        self.rates: dict[str, RateLimitItem | None] = {
            scope: parse_rate(getattr(settings, name)) if settings.rate_limit_enabled else None
            for scope, name in SCOPES.items()
        }
        self.storage: Storage | None = None
        if any(self.rates.values()):
            uri = settings.rate_limit_storage or "memory://"
            options: dict[str, Any] = {}
            if uri.startswith(("redis://", "rediss://", "redis+")):
                options = {"key_prefix": self.prefix, "socket_timeout": 0.5}
            storage = storage_from_string(uri, **options)
            if not isinstance(storage, Storage):  # an async (limits.aio) storage URI
                raise ValueError(f"rate_limit_storage: {uri!r} is not a synchronous storage")
            self.storage = storage
            self.limiter = SlidingWindowCounterRateLimiter(storage)

    def check(self, scope: str, principal: Principal) -> None:
        """Count one request of ``scope`` for the principal's token; 429 over the limit."""
        rate = self.rates.get(scope)
        if rate is None or self.storage is None:
            return
        key = (self.prefix, scope, f"token-{principal.token_id}")
        try:
            allowed = self.limiter.hit(rate, *key)
            if allowed:
                return
            stats = self.limiter.get_window_stats(rate, *key)
        except Exception as exc:  # the shared store is down: let the request through
            logger.warning("rate limit store unavailable (%s): %s not limited", exc, scope)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            {
                "field": "Authorization",
                "reason": f"this token is over its {scope} rate limit of {rate}",
                "limit": str(rate),
                "scope": scope,
                "retry_after_seconds": retry_after,
            },
            retry_after,
        )


def limits_of(request: Request) -> RateLimits:
    state = request.app.state
    if getattr(state, "rate_limits", None) is None:
        state.rate_limits = RateLimits(state.settings)
    limiter: RateLimits = state.rate_limits
    return limiter


def rate_limited(scope: str, principal_dependency: Callable[..., Principal]) -> Any:
    """A dependency counting the request against ``scope``'s per-token rate: declare it after
    the role check (``principal_dependency``, shared with the endpoint and resolved once) so
    refused roles get 403 and do not use up the limit."""
    assert scope in SCOPES, scope

    def dependency(
        request: Request, principal: Annotated[Principal, Depends(principal_dependency)]
    ) -> None:
        limits_of(request).check(scope, principal)

    dependency.__name__ = f"rate_limit_{scope}"
    return Depends(dependency)
