"""The authorization matrix (authz_matrix.toml) against the app: every route is declared, every
role gets exactly what the matrix says, and scoped roles reach only their own subjects."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from tests.security.conftest import ROLES, World
from zhibo.kit.hashing import keyed_hash

MATRIX_FILE = Path(__file__).with_name("authz_matrix.toml")
SHORTHANDS = {
    "global": ("operator", "compliance", "auditor"),
    "any": ROLES,
    "public": (*ROLES, "anonymous"),
}
SCOPED_ROLES = {"streamer", "partner", "brand", "viewer"}


@dataclass(frozen=True)
class Entry:
    key: str
    allow: frozenset[str]
    scoped: frozenset[str]
    own: int | None
    body: Any
    form: dict[str, str]
    stream: bool
    console: bool
    secret: bool
    starts_work: bool

    @property
    def method(self) -> str:
        return self.key.split(" ", 1)[0]

    @property
    def template(self) -> str:
        return self.key.split(" ", 1)[1]


def _expand(roles: list[str]) -> frozenset[str]:
    out: set[str] = set()
    for role in roles:
        out.update(SHORTHANDS.get(role, (role,)))
    unknown = out - {*ROLES, "anonymous"}
    assert not unknown, f"unknown roles in the matrix: {unknown}"
    return frozenset(out)


def load_matrix() -> dict[str, Entry]:
    raw = tomllib.loads(MATRIX_FILE.read_text(encoding="utf-8"))
    entries = {}
    for key, spec in raw.items():
        allow = _expand(spec.pop("allow"))
        scoped = _expand(spec.pop("scoped", []))
        assert scoped <= allow & SCOPED_ROLES, f"{key}: scoped roles must be allowed scoped roles"
        entries[key] = Entry(
            key,
            allow,
            scoped,
            spec.pop("own", None),
            spec.pop("body", None),
            spec.pop("form", {}),
            spec.pop("stream", False),
            spec.pop("console", False),
            spec.pop("secret", False),
            spec.pop("starts_work", False),
        )
        assert not spec, f"{key}: unknown keys {sorted(spec)}"
    return entries


MATRIX = load_matrix()


def app_routes(app: FastAPI) -> set[str]:
    keys = set()
    for route in iter_route_contexts(app.routes):
        methods = (route.methods or set()) - {"HEAD"}
        if not methods:
            keys.add(f"MOUNT {route.path}")
        keys.update(f"{method} {route.path}" for method in methods)
    return keys


def test_every_route_is_in_the_matrix(world: World) -> None:
    routes = app_routes(world.app)
    undeclared = sorted(routes - MATRIX.keys())
    assert not undeclared, (
        "routes missing from tests/security/authz_matrix.toml (declare who may call them): "
        f"{undeclared}"
    )
    stale = sorted(MATRIX.keys() - routes)
    assert not stale, f"the matrix lists routes the app no longer has: {stale}"


# --- calling a route as a role -------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(\w+)(?::\w+)?\}")


def _fill_path(template: str, ids: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if match.group(0) == "{product_id:path}":
            return str(ids["product_external_id"])
        return str(ids[name])

    return _PLACEHOLDER.sub(value, template)


def _fill_body(body: Any, ids: dict[str, Any]) -> Any:
    if isinstance(body, dict):
        return {key: _fill_body(value, ids) for key, value in body.items()}
    if isinstance(body, list):
        return [_fill_body(value, ids) for value in body]
    if isinstance(body, str) and (match := re.fullmatch(r"\{(\w+)\}", body)):
        return ids[match.group(1)]
    return body


async def _first_status(app: FastAPI, method: str, path: str, headers: dict[str, str]) -> int:
    """The status of a (possibly endless) streaming response, without reading its body."""
    status = 0
    started = anyio.Event()
    sent_request = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await started.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            started.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    with anyio.move_on_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(app, scope, receive, send)
            await started.wait()
            group.cancel_scope.cancel()
    return status


def call(world: World, entry: Entry, role: str, ids: dict[str, Any]) -> tuple[int, str]:
    """(status, what it says) of calling the entry's route as ``role`` with ``ids``: the
    Location of a redirect, else the error name of a JSON error."""
    path = _fill_path(entry.template, ids)
    headers = world.headers(role)
    token = world.tokens.get(role)
    if entry.console:
        headers = {"Cookie": f"zhibo_console={token}"} if token else {}
    if entry.stream:
        assert world.client.portal is not None
        status = world.client.portal.call(_first_status, world.app, entry.method, path, headers)
        return status, "Forbidden" if status == 403 else ""
    if entry.template == "/console/static":
        path = "/console/static/console.css"
    if entry.console and entry.method == "POST":
        form = dict(entry.form)
        if token:
            form["csrf"] = keyed_hash(token, purpose="console-csrf")[:32]
        if entry.template == "/console/signin" and token:
            form = {"token": token}
        response = world.client.post(path, data=form, headers=headers)
    elif entry.secret and entry.method == "POST":
        form = {"app": "live", "name": "key", "clientid": "1"}
        response = world.client.post(path, data=form, headers=headers)
    elif entry.body is not None:
        body = _fill_body(entry.body, ids)
        response = world.client.request(entry.method, path, json=body, headers=headers)
    else:
        response = world.client.request(entry.method, path, headers=headers)
    if "location" in response.headers:
        return response.status_code, response.headers["location"]
    if response.headers.get("content-type", "").startswith("application/json"):
        error = response.json()
        return response.status_code, error.get("error", "") if isinstance(error, dict) else ""
    # A console page's 403 is rendered as HTML; no page answers 403 except to refuse.
    return response.status_code, "Forbidden" if response.status_code == 403 else ""


def _refused(entry: Entry, role: str, status: int, location: str) -> bool:
    if entry.secret:
        return status == 403
    if role == "anonymous":
        if entry.console:
            return status in (401, 403) or (
                status == 303 and location.startswith("/console/signin")
            )
        return status == 401
    return status == 403


#: 403s that refuse the caller; other 403s are the domain's own refusals (an unverified
#: streamer going live, a minor tipping) and mean the caller got in.
REFUSALS = {"Forbidden", "CsrfRefused", "MediaHookForbidden"}


def _let_in(entry: Entry, status: int, said: str) -> bool:
    if status == 401 or (status == 403 and said in REFUSALS) or status >= 500:
        return False
    # A console page sends a browser that is not signed in to sign in (signing out too).
    refused_page = entry.console and entry.method == "GET" and status == 303
    return not (refused_page and said.startswith("/console/signin"))


@pytest.mark.parametrize("key", list(MATRIX))
def test_route_as_every_role(world: World, key: str) -> None:
    entry = MATRIX[key]
    wrong = []
    for role in (*ROLES, "anonymous"):
        ids = dict(world.own[role])
        if entry.stream and role in entry.allow and role not in entry.scoped:
            ids["room_id"] = 987654  # a missing room: the role check passes, no stream opens
        if entry.starts_work and role in entry.allow:
            continue
        status, said = call(world, entry, role, ids)
        if role in entry.allow:
            if not _let_in(entry, status, said):
                wrong.append(f"{role} may call it but got {status}")
            elif role in entry.scoped and entry.own is not None and status != entry.own:
                wrong.append(f"{role} on its own subject got {status}, not {entry.own}")
        elif not _refused(entry, role, status, said):
            wrong.append(f"{role} may not call it but got {status} {said}".rstrip())
        if role in entry.scoped:
            status, said = call(world, entry, role, world.other[role])
            # Another subject named in a body is an unknown reference: 422 naming the field.
            unknown_reference = status == 422 and entry.body is not None
            if status != 404 and not (status == 403 and said in REFUSALS) and not unknown_reference:
                wrong.append(f"{role} reached another subject's data: {status} {said}")
    assert not wrong, f"{key}: " + "; ".join(wrong)


# --- lists: a scoped role sees its own subjects' rows and none of the other's -----------------

LIST_SCOPES = [
    # (route, id field of an item, the world's id it must hold, roles)
    ("/v1/orders", "id", "order_id", ("streamer", "partner", "brand", "viewer")),
    ("/v1/streamers", "id", "streamer_id", ("streamer", "partner")),
    ("/v1/partners", "id", "partner_id", ("partner",)),
    ("/v1/products", "brand_id", "brand_id", ("brand",)),
    ("/v1/risk/cases", "id", "case_id", ("streamer", "partner", "viewer")),
]


def _items(payload: Any) -> list[dict[str, Any]]:
    return payload["items"] if isinstance(payload, dict) else payload


@pytest.mark.parametrize(("path", "field", "key", "roles"), LIST_SCOPES)
def test_lists_hold_only_the_callers_own(
    world: World, path: str, field: str, key: str, roles: tuple[str, ...]
) -> None:
    for role in roles:
        response = world.client.get(path, headers=world.headers(role))
        assert response.status_code == 200, (role, response.text)
        seen = {item[field] for item in _items(response.json())}
        assert world.own[role][key] in seen, f"{role} does not see its own {key}"
        assert world.other[role][key] not in seen, f"{role} sees another subject's {key}"
    everything = world.client.get(path, headers=world.headers("auditor"))
    seen = {item[field] for item in _items(everything.json())}
    assert {world.own["streamer"][key], world.other["streamer"][key]} <= seen
