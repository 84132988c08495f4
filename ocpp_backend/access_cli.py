"""``frostgrid user add|passwd|role|list|remove`` and ``frostgrid token create|list|revoke`` (API tokens).

Registered in ``cli.py``. RFID id tags moved to ``frostgrid idtag``; ``frostgrid token add TAG``
still registers an id tag, with a deprecation note, so that old scripts keep working.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ocpp_backend.operator_models import ROLES

user_app = typer.Typer(
    help="Operator accounts (dashboard and API logins) and their roles.", no_args_is_help=True
)
token_app = typer.Typer(
    help="API tokens for machines (Authorization: Bearer). Id tags (RFID cards): see `frostgrid idtag`.",
    no_args_is_help=True,
)

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $FROSTGRID_DB or sqlite+aiosqlite:///./frostgrid.db)."),
]
RoleOption = Annotated[str, typer.Option("--role", "-r", help=f"One of: {', '.join(ROLES)}.")]


def _run(db: str | None, work: Any) -> Any:
    from ocpp_backend.cli import _with_services

    return _with_services(db, work)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise _fail(f"unknown role {role!r}: use one of {', '.join(ROLES)}")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        # One line; the newline a pipe or here-string adds is not part of the password.
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


# -- users ---------------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="User name (login).")],
    role: RoleOption,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Create a user; the password is asked twice without echo (or read from stdin)."""
    from ocpp_backend.users import UserExists

    _check_role(role)
    password = _read_password(password_stdin)

    async def work(services: Any) -> None:
        await services.access.add_user(name, password, role)

    try:
        _run(db, work)
    except UserExists:
        raise _fail(f"user {name} already exists") from None
    except ValueError as error:
        raise _fail(str(error)) from None
    console.print(f"added user [bold]{name}[/] ({role})")


@user_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Set a user's password (asked twice without echo); their sessions end."""
    password = _read_password(password_stdin)
    _change_user(db, name, lambda access: access.set_password(name, password))
    console.print(f"password of [bold]{name}[/] changed")


@user_app.command("role")
def user_role(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    role: Annotated[str, typer.Argument(metavar="ROLE", help=f"One of: {', '.join(ROLES)}.")],
    db: DbOption = None,
) -> None:
    """Change a user's role (from their next request on); the last admin keeps the role."""
    _check_role(role)
    _change_user(db, name, lambda access: access.set_role(name, role))
    console.print(f"user [bold]{name}[/] is now {role}")


@user_app.command("list")
def user_list(db: DbOption = None) -> None:
    """List users and their roles."""

    async def work(services: Any) -> list[Any]:
        return await services.access.list_users()

    users = _run(db, work)
    table = Table(title=f"{len(users)} user(s)")
    for column in ("user", "role", "created", "last login"):
        table.add_column(column)
    for user in users:
        table.add_row(user.username, user.role, _when(user.created_at), _when(user.last_login_at))
    console.print(table)


@user_app.command("remove")
def user_remove(name: Annotated[str, typer.Argument(metavar="NAME")], db: DbOption = None) -> None:
    """Delete a user and end their sessions (not the last admin)."""
    _change_user(db, name, lambda access: access.remove_user(name))
    console.print(f"removed user [bold]{name}[/]")


def _change_user(db: str | None, name: str, change: Callable[[Any], Awaitable[Any]]) -> None:
    """Run ``change(access service)``; an unknown user, the last admin or a bad value end the
    command with the reason."""
    from ocpp_backend.users import LastAdmin, UnknownUser

    async def work(services: Any) -> None:
        await change(services.access)

    try:
        _run(db, work)
    except UnknownUser:
        raise _fail(f"no user {name}") from None
    except LastAdmin:
        raise _fail(f"{name} is the last admin: make another user admin first") from None
    except ValueError as error:
        raise _fail(str(error)) from None


# -- API tokens ----------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    role: RoleOption,
    name: Annotated[str | None, typer.Option("--name", "-n", help="What the token is for.")] = None,
    db: DbOption = None,
) -> None:
    """Create an API token and print it once (only its SHA-256 is stored)."""
    _check_role(role)

    async def work(services: Any) -> Any:
        return await services.access.create_token(role, name)

    created = _run(db, work)
    err_console.print(f"token {created.id} [bold]{created.name}[/] ({created.role}); it is shown only now:")
    # The token alone on stdout, so that `TOKEN=$(frostgrid token create ...)` works.
    print(created.token, flush=True)


@token_app.command("list")
def token_list(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
    db: DbOption = None,
) -> None:
    """List API tokens (never their secrets)."""

    async def work(services: Any) -> list[Any]:
        return await services.access.list_tokens(include_revoked=all_)

    tokens = _run(db, work)
    table = Table(title=f"{len(tokens)} API token(s)")
    for column in ("id", "name", "role", "created", "last used", "revoked"):
        table.add_column(column)
    for token in tokens:
        table.add_row(
            str(token.id),
            token.name,
            token.role,
            _when(token.created_at),
            _when(token.last_used_at),
            _when(token.revoked_at),
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token: Annotated[str, typer.Argument(metavar="ID|NAME", help="Token id, or name (all tokens of it).")],
    db: DbOption = None,
) -> None:
    """Revoke API tokens: they stop authenticating at once."""
    from ocpp_backend.users import UnknownToken

    async def work(services: Any) -> int:
        return await services.access.revoke_token(token)

    try:
        count = _run(db, work)
    except UnknownToken:
        raise _fail(f"no active token {token}") from None
    console.print(f"revoked {count} token(s)")


@token_app.command("add", hidden=True, deprecated=True)
def token_add_deprecated(
    id_tag: Annotated[str, typer.Argument(metavar="TAG")],
    status: Annotated[str, typer.Option(help="Accepted, Blocked, Expired or Invalid.")] = "Accepted",
    expiry: Annotated[
        datetime | None,
        typer.Option(help="Expiry date, UTC.", formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    ] = None,
    parent: Annotated[str | None, typer.Option(help="Parent idTag (group).")] = None,
    db: DbOption = None,
) -> None:
    """Deprecated: use `frostgrid idtag add` (registers an RFID id tag)."""
    from ocpp_backend.cli import idtag_add

    err_console.print("note: `frostgrid token add` is deprecated, use `frostgrid idtag add`")
    idtag_add(id_tag, status=status, expiry=expiry, parent=parent, db=db)
