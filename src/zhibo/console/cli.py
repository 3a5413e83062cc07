"""``zhibo user``: the console's users (username and password sign-in, one role each).

The password is read from a hidden prompt (asked twice) or, with ``--password-stdin``, from the
first line of standard input; never from the arguments, which other users of the machine can
read in the process list and which shells keep in their history."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from zhibo.kit.cli import err, fail, ready_engine
from zhibo.kit.errors import ZhiboError

user_app = typer.Typer(help="Console users (username and password sign-in).", no_args_is_help=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[
        str, typer.Option(help="operator|compliance|streamer|partner|brand|auditor|viewer")
    ],
    subject: Annotated[
        int | None,
        typer.Option(help="Id of the streamer, partner, brand or viewer the user acts as"),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a console user; the password is asked for (or read from standard input)."""
    from zhibo.console import accounts
    from zhibo.kit.db import unit_of_work

    password = _password(password_stdin)
    try:
        with unit_of_work(ready_engine()) as session:
            user = accounts.create_user(session, username, password, role, subject)
            created = f"user {user.username} ({user.role}, identity token #{user.token_id})"
    except ZhiboError as error:
        fail(error, 2)
    err.print(f"created {created}", markup=False)


@user_app.command("list")
def user_list() -> None:
    """List console users (username, role, subject, state; never a password or hash)."""
    from zhibo.console import accounts
    from zhibo.kit.db import unit_of_work

    with unit_of_work(ready_engine()) as session:
        for user in accounts.list_users(session):
            state = "disabled" if user.disabled_at else "active"
            if state == "active" and user.locked_until is not None:
                state = f"locked until {user.locked_until:%Y-%m-%d %H:%M:%S}Z"
            typer.echo(
                f"{user.username}\t{user.role}\t{user.subject_id or '-'}\t{state}\t"
                f"token#{user.token_id}"
            )


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable a console user: its sessions end at once (its identity token is revoked)."""
    from zhibo.console import accounts
    from zhibo.kit.db import unit_of_work

    try:
        with unit_of_work(ready_engine()) as session:
            accounts.disable_user(session, username)
    except ZhiboError as error:
        fail(error, 2)
    err.print(f"disabled {username}", markup=False)


@user_app.command("password")
def user_password(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Set a user's password (asked for, or read from standard input); clears a lockout and
    ends the user's open console sessions."""
    from zhibo.console import accounts
    from zhibo.kit.db import unit_of_work

    password = _password(password_stdin)
    try:
        with unit_of_work(ready_engine()) as session:
            accounts.set_password(session, username, password)
    except ZhiboError as error:
        fail(error, 2)
    err.print(f"password changed for {username}", markup=False)


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Re-enable a disabled user (under a new identity token)."""
    from zhibo.console import accounts
    from zhibo.kit.db import unit_of_work

    try:
        with unit_of_work(ready_engine()) as session:
            accounts.enable_user(session, username)
    except ZhiboError as error:
        fail(error, 2)
    err.print(f"enabled {username}", markup=False)
