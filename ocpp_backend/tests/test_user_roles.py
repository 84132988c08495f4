"""An admin changes a user's role: ``PATCH /api/v1/users/{name}`` and ``frostgrid user role``.

The route's role refusals (401 without credentials, 403 for viewer, operator and dispatcher) are
checked with every other route by ``test_access.test_every_route_refuses_the_unauthenticated_...``,
which walks the OpenAPI description; the first test here makes sure the route is in it, admin only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ocpp_backend.api.auth import CSRF_HEADER
from ocpp_backend.backend import Backend
from ocpp_backend.cli import app as cli_app
from ocpp_backend.db import Database
from ocpp_backend.users import AccessService, LastAdmin

runner = CliRunner()
PASSWORD = "a-long-password"


@pytest.fixture
async def root(api_backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    """A client at the server root, without credentials."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_backend.http_port}", timeout=15) as client:
        yield client


@pytest.fixture
async def admin(api_backend: Backend) -> dict[str, str]:
    """Headers of an admin API token."""
    token = (await api_backend.services.access.create_token("admin", "admin-tests")).token
    return {"Authorization": f"Bearer {token}"}


async def test_the_role_change_route_is_documented_for_admins_only(root: httpx.AsyncClient) -> None:
    schema = (await root.get("/openapi.json")).json()

    operation = schema["paths"]["/api/v1/users/{username}"]["patch"]

    assert operation["x-roles"] == ["admin"]


async def test_a_demoted_operator_loses_commands_in_the_session_already_open(
    api_backend: Backend, root: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await api_backend.services.access.add_user("olga", PASSWORD, "operator")
    login = await root.post("/api/v1/auth/login", json={"username": "olga", "password": PASSWORD})
    csrf = {CSRF_HEADER: login.json()["csrf_token"]}
    assert (await root.post("/api/v1/id-tokens", json={"id_tag": "CARD-1"}, headers=csrf)).status_code == 201

    changed = await root.patch("/api/v1/users/olga", json={"role": "viewer"}, headers=admin)

    assert changed.status_code == 200
    assert (changed.json()["username"], changed.json()["role"]) == ("olga", "viewer")
    assert (await root.get("/api/v1/auth/me")).json()["role"] == "viewer"
    assert (await root.post("/api/v1/id-tokens", json={"id_tag": "CARD-2"}, headers=csrf)).status_code == 403
    listed = {u["username"]: u["role"] for u in (await root.get("/api/v1/users", headers=admin)).json()}
    assert listed["olga"] == "viewer"


async def test_an_unknown_user_is_404_and_an_unknown_role_is_422(
    api_backend: Backend, root: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await api_backend.services.access.add_user("ivan", PASSWORD, "viewer")

    unknown_user = await root.patch("/api/v1/users/nobody", json={"role": "operator"}, headers=admin)
    bad_role = await root.patch("/api/v1/users/ivan", json={"role": "root"}, headers=admin)
    no_role = await root.patch("/api/v1/users/ivan", json={}, headers=admin)

    assert unknown_user.status_code == 404
    assert (bad_role.status_code, no_role.status_code) == (422, 422)
    assert [u.role for u in await api_backend.services.access.list_users()] == ["viewer"]


async def test_the_last_admin_cannot_be_demoted_until_there_is_another(
    api_backend: Backend, root: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    access = api_backend.services.access
    await access.add_user("ada", PASSWORD, "admin")  # the only admin user (tokens are not users)

    refused = await root.patch("/api/v1/users/ada", json={"role": "operator"}, headers=admin)
    assert refused.status_code == 409
    assert "last admin" in refused.json()["detail"]
    # staying admin is no demotion
    assert (await root.patch("/api/v1/users/ada", json={"role": "admin"}, headers=admin)).status_code == 200

    await access.add_user("bob", PASSWORD, "operator")
    assert (await root.patch("/api/v1/users/bob", json={"role": "admin"}, headers=admin)).status_code == 200
    assert (await root.patch("/api/v1/users/ada", json={"role": "viewer"}, headers=admin)).status_code == 200
    assert (await root.patch("/api/v1/users/bob", json={"role": "viewer"}, headers=admin)).status_code == 409
    assert {u.username: u.role for u in await access.list_users()} == {"ada": "viewer", "bob": "admin"}


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(db_url: str) -> None:
    db = Database(db_url)
    await db.upgrade()
    try:
        access = AccessService(db)
        for name in ("ada", "bob"):
            await access.add_user(name, PASSWORD, "admin")

        results = await asyncio.gather(
            access.set_role("ada", "operator"), access.set_role("bob", "operator"), return_exceptions=True
        )

        assert sorted(type(r).__name__ for r in results) == ["LastAdmin", "OperatorUser"], results
        assert [u.role for u in await access.list_users()].count("admin") == 1
        with pytest.raises(LastAdmin):
            remaining = next(u.username for u in await access.list_users() if u.role == "admin")
            await access.set_role(remaining, "viewer")
    finally:
        await db.close()


def test_cli_changes_a_users_role(tmp_path: Path) -> None:
    db = ["--db", f"sqlite+aiosqlite:///{tmp_path / 'fg.db'}"]
    for name, role in (("olga", "operator"), ("ada", "admin")):
        added = runner.invoke(
            cli_app, ["user", "add", name, "--role", role, "--password-stdin", *db], input=f"{PASSWORD}\n"
        )
        assert added.exit_code == 0, added.output

    changed = runner.invoke(cli_app, ["user", "role", "olga", "viewer", *db])
    last_admin = runner.invoke(cli_app, ["user", "role", "ada", "operator", *db])
    unknown_user = runner.invoke(cli_app, ["user", "role", "nobody", "viewer", *db])
    unknown_role = runner.invoke(cli_app, ["user", "role", "olga", "root", *db])

    assert changed.exit_code == 0 and "olga is now viewer" in changed.output
    assert last_admin.exit_code == 1 and "last admin" in last_admin.output
    assert unknown_user.exit_code == 1 and "no user nobody" in unknown_user.output
    assert unknown_role.exit_code == 1 and "unknown role" in unknown_role.output

    async def roles() -> dict[str, str]:
        database = Database(db[1])
        try:
            return {u.username: u.role for u in await AccessService(database).list_users()}
        finally:
            await database.close()

    assert asyncio.run(roles()) == {"ada": "admin", "olga": "viewer"}


async def test_the_last_admin_cannot_be_removed_until_there_is_another(
    api_backend: Backend, root: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    access = api_backend.services.access
    await access.add_user("ada", PASSWORD, "admin")
    await access.add_user("olga", PASSWORD, "operator")

    refused = await root.delete("/api/v1/users/ada", headers=admin)
    assert refused.status_code == 409 and "last admin" in refused.json()["detail"]
    assert (await root.delete("/api/v1/users/olga", headers=admin)).status_code == 204
    assert (await root.delete("/api/v1/users/nobody", headers=admin)).status_code == 404

    await access.add_user("bob", PASSWORD, "admin")
    assert (await root.delete("/api/v1/users/ada", headers=admin)).status_code == 204
    assert [(u.username, u.role) for u in await access.list_users()] == [("bob", "admin")]


def test_cli_refuses_to_remove_the_last_admin(tmp_path: Path) -> None:
    db = ["--db", f"sqlite+aiosqlite:///{tmp_path / 'fg.db'}"]
    added = runner.invoke(
        cli_app, ["user", "add", "ada", "--role", "admin", "--password-stdin", *db], input=f"{PASSWORD}\n"
    )
    assert added.exit_code == 0, added.output

    refused = runner.invoke(cli_app, ["user", "remove", "ada", *db])

    assert refused.exit_code == 1 and "last admin" in refused.output
    listed = runner.invoke(cli_app, ["user", "list", *db])
    assert "ada" in listed.output
