"""Operator access: every route states its role, sessions with CSRF, bearer tokens, the CLI."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ocpp_backend.api.auth import CSRF_COOKIE, CSRF_HEADER, PUBLIC_ROUTES, SESSION_COOKIE
from ocpp_backend.backend import Backend
from ocpp_backend.cli import app as cli_app
from ocpp_backend.db import Database
from ocpp_backend.operator_models import ROLES, ApiToken, OperatorUser
from ocpp_backend.tests.conftest import BackendFactory
from ocpp_backend.timeutil import utc_now
from ocpp_backend.users import AccessService

runner = CliRunner()
OPERATOR_PASSWORD = "op-password-1"


@pytest.fixture
async def role_tokens(api_backend: Backend) -> dict[str, str]:
    """A bearer token per role."""
    return {role: (await api_backend.services.access.create_token(role, role)).token for role in ROLES}


@pytest.fixture
async def anonymous(api_backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials, at the server root."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_backend.http_port}", timeout=15) as client:
        yield client


def _sample_path(path: str, operation: dict[str, Any]) -> str:
    """Fill the path's parameters with values that name nothing (so that no call changes data)."""
    kinds = {
        p["name"]: p.get("schema", {}).get("type")
        for p in operation.get("parameters", [])
        if p.get("in") == "path"
    }
    return re.sub(
        r"\{(\w+)\}", lambda m: "999999" if kinds.get(m.group(1)) == "integer" else "no-such-thing", path
    )


async def _status(client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str]) -> int:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    # Streamed, and closed after the headers: the event stream never ends on its own.
    async with client.stream(method, url, json=body, headers=headers) as response:
        return response.status_code


async def test_every_route_refuses_the_unauthenticated_and_each_role_it_does_not_admit(
    anonymous: httpx.AsyncClient, role_tokens: dict[str, str]
) -> None:
    schema = (await anonymous.get("/openapi.json")).json()
    checked = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            method = method.upper()
            url = _sample_path(path, operation)
            roles = operation.get("x-roles")
            if (method, path) in PUBLIC_ROUTES:
                assert roles == [], f"{method} {path} is public but requires {roles}"
                continue
            assert roles, f"{method} {path} states no role: add require_role(...) to it"
            assert await _status(anonymous, method, url, {}) == 401, f"{method} {path} without credentials"
            bad_token = {"Authorization": "Bearer fgt_not-a-token"}
            assert await _status(anonymous, method, url, bad_token) == 401, f"{method} {path} bad token"
            for role, token in role_tokens.items():
                got = await _status(anonymous, method, url, {"Authorization": f"Bearer {token}"})
                if role in roles:
                    assert got not in (401, 403), f"{method} {path} refused {role} ({got})"
                else:
                    assert got == 403, f"{method} {path} let {role} through ({got})"
            checked += 1
    # The station commands, reads and admin routes are all there (a route table that lost its
    # routers would pass the loop above trivially).
    assert checked >= 30


async def test_a_viewer_reads_but_cannot_command_or_administer(
    anonymous: httpx.AsyncClient, role_tokens: dict[str, str]
) -> None:
    viewer = {"Authorization": f"Bearer {role_tokens['viewer']}"}
    assert (await anonymous.get("/api/v1/stations", headers=viewer)).status_code == 200
    refused = await anonymous.post("/api/v1/stations/CP-1/reset", json={"type": "Soft"}, headers=viewer)
    assert refused.status_code == 403
    assert "viewer" in refused.json()["detail"]
    assert (
        await anonymous.post("/api/v1/stations", json={"id": "X-1", "password": "pw"}, headers=viewer)
    ).status_code == 403
    dispatcher = {"Authorization": f"Bearer {role_tokens['dispatcher']}"}
    assert (await anonymous.get("/api/v1/stations", headers=dispatcher)).status_code == 403


async def test_login_sets_httponly_strict_cookies_and_state_changes_need_the_csrf_header(
    anonymous: httpx.AsyncClient, api_backend: Backend
) -> None:
    await api_backend.services.access.add_user("olga", OPERATOR_PASSWORD, "operator")
    login = await anonymous.post(
        "/api/v1/auth/login", json={"username": "olga", "password": OPERATOR_PASSWORD}
    )
    assert login.status_code == 200
    body = login.json()
    assert (body["username"], body["role"]) == ("olga", "operator")
    cookies = {c.split("=", 1)[0]: c.lower() for c in login.headers.get_list("set-cookie")}
    assert "httponly" in cookies[SESSION_COOKIE] and "samesite=strict" in cookies[SESSION_COOKIE]
    assert "path=/" in cookies[SESSION_COOKIE]
    assert "httponly" not in cookies[CSRF_COOKIE] and "samesite=strict" in cookies[CSRF_COOKIE]
    assert anonymous.cookies[CSRF_COOKIE] == body["csrf_token"]

    me = (await anonymous.get("/api/v1/auth/me")).json()
    assert me == {"username": "olga", "role": "operator", "kind": "user", "csrf_token": body["csrf_token"]}
    # A state change by cookie without, or with a wrong, CSRF header is refused...
    tag = {"id_tag": "CARD-CSRF"}
    assert (await anonymous.post("/api/v1/id-tokens", json=tag)).status_code == 403
    for forged in ("forged", "é".encode()):  # the latter: non-ASCII bytes must not crash the check
        assert (
            await anonymous.post("/api/v1/id-tokens", json=tag, headers={CSRF_HEADER: forged})
        ).status_code == 403
    assert "CARD-CSRF" not in {t["id_tag"] for t in (await anonymous.get("/api/v1/id-tokens")).json()}
    # ...and accepted with it.
    ok = await anonymous.post("/api/v1/id-tokens", json=tag, headers={CSRF_HEADER: body["csrf_token"]})
    assert ok.status_code == 201
    # The operator is still refused admin routes.
    assert (
        await anonymous.post(
            "/api/v1/stations",
            json={"id": "X-1", "password": "pw"},
            headers={CSRF_HEADER: body["csrf_token"]},
        )
    ).status_code == 403

    logout = await anonymous.post("/api/v1/auth/logout", headers={CSRF_HEADER: body["csrf_token"]})
    assert logout.status_code == 204
    assert SESSION_COOKIE not in anonymous.cookies
    assert (await anonymous.get("/api/v1/auth/me")).status_code == 401


async def test_a_stolen_session_cookie_stops_working_after_logout(
    anonymous: httpx.AsyncClient, api_backend: Backend
) -> None:
    await api_backend.services.access.add_user("olga", OPERATOR_PASSWORD, "operator")
    login = await anonymous.post(
        "/api/v1/auth/login", json={"username": "olga", "password": OPERATOR_PASSWORD}
    )
    secret = anonymous.cookies[SESSION_COOKIE]
    await anonymous.post("/api/v1/auth/logout", headers={CSRF_HEADER: login.json()["csrf_token"]})
    anonymous.cookies.set(SESSION_COOKIE, secret)
    replay = await anonymous.get("/api/v1/stations")
    assert replay.status_code == 401


async def test_wrong_password_and_unknown_user_get_the_same_401(
    anonymous: httpx.AsyncClient, api_backend: Backend
) -> None:
    await api_backend.services.access.add_user("olga", OPERATOR_PASSWORD, "operator")
    wrong = await anonymous.post("/api/v1/auth/login", json={"username": "olga", "password": "nope-nope"})
    unknown = await anonymous.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert SESSION_COOKIE not in anonymous.cookies


async def test_repeated_wrong_passwords_lock_the_name_for_a_while(
    anonymous: httpx.AsyncClient, api_backend: Backend
) -> None:
    await api_backend.services.access.add_user("olga", OPERATOR_PASSWORD, "operator")
    wrong = {"username": "olga", "password": "guess-guess"}
    assert [(await anonymous.post("/api/v1/auth/login", json=wrong)).status_code for _ in range(5)] == [
        401
    ] * 5
    locked = await anonymous.post(
        "/api/v1/auth/login", json={"username": "olga", "password": OPERATOR_PASSWORD}
    )
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 300
    # Another user is not affected.
    await api_backend.services.access.add_user("ivan", OPERATOR_PASSWORD, "viewer")
    ok = await anonymous.post("/api/v1/auth/login", json={"username": "ivan", "password": OPERATOR_PASSWORD})
    assert ok.status_code == 200


async def test_bearer_tokens_need_no_csrf_and_stop_working_once_revoked(
    anonymous: httpx.AsyncClient, api_backend: Backend, role_tokens: dict[str, str]
) -> None:
    admin = {"Authorization": f"Bearer {role_tokens['admin']}"}
    created = await anonymous.post(
        "/api/v1/tokens", json={"role": "operator", "name": "scada"}, headers=admin
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("fgt_")
    machine = {"Authorization": f"Bearer {token}"}
    me = (await anonymous.get("/api/v1/auth/me", headers=machine)).json()
    assert me == {"username": "scada", "role": "operator", "kind": "token", "csrf_token": None}
    assert (
        await anonymous.post("/api/v1/id-tokens", json={"id_tag": "C-1"}, headers=machine)
    ).status_code == 201
    listed = (await anonymous.get("/api/v1/tokens", headers=admin)).json()
    assert "token" not in listed[0] and "scada" in {t["name"] for t in listed}
    assert (
        await anonymous.delete(f"/api/v1/tokens/{created.json()['id']}", headers=machine)
    ).status_code == 403
    own_id = next(t["id"] for t in listed if t["name"] == "admin")
    assert (await anonymous.delete(f"/api/v1/tokens/{own_id}", headers=admin)).status_code == 409
    revoke = await anonymous.delete(f"/api/v1/tokens/{created.json()['id']}", headers=admin)
    assert revoke.status_code == 204
    assert (await anonymous.get("/api/v1/auth/me", headers=machine)).status_code == 401


async def test_admins_manage_users_over_the_api(
    anonymous: httpx.AsyncClient, role_tokens: dict[str, str]
) -> None:
    admin = {"Authorization": f"Bearer {role_tokens['admin']}"}
    made = await anonymous.post(
        "/api/v1/users", json={"username": "vera", "password": "viewer-pass", "role": "viewer"}, headers=admin
    )
    assert made.status_code == 201 and made.json()["role"] == "viewer"
    again = await anonymous.post(
        "/api/v1/users", json={"username": "vera", "password": "viewer-pass", "role": "viewer"}, headers=admin
    )
    assert again.status_code == 409
    login = await anonymous.post("/api/v1/auth/login", json={"username": "vera", "password": "viewer-pass"})
    assert login.json()["role"] == "viewer"
    assert (await anonymous.delete("/api/v1/users/vera", headers=admin)).status_code == 204
    # Deleting the user ends her session.
    assert (await anonymous.get("/api/v1/auth/me")).status_code == 401
    assert (await anonymous.delete("/api/v1/users/vera", headers=admin)).status_code == 404


async def test_passwords_are_argon2id_and_tokens_are_stored_as_hashes(db_url: str) -> None:
    db = Database(db_url)
    await db.upgrade()
    try:
        access = AccessService(db)
        await access.add_user("olga", OPERATOR_PASSWORD, "operator")
        created = await access.create_token("dispatcher", "grid")
        async with db.session() as session:
            user = await session.get(OperatorUser, "olga")
            stored = await session.scalar(select(ApiToken.token_hash).where(ApiToken.id == created.id))
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert OPERATOR_PASSWORD not in user.password_hash
        assert stored is not None and created.token not in stored and len(stored) == 64
        principal = await access.token_principal(created.token)
        assert principal is not None and (principal.name, principal.role) == ("grid", "dispatcher")
        assert await access.login("olga", "wrong-password") is None
        assert await access.login("olga", OPERATOR_PASSWORD) is not None
        with pytest.raises(ValueError, match="unknown role"):
            await access.add_user("x", OPERATOR_PASSWORD, "superuser")
        with pytest.raises(ValueError, match="password must be"):
            await access.add_user("x", "short", "viewer")
    finally:
        await db.close()


async def test_sessions_expire_when_idle_and_at_their_maximum_age(db_url: str) -> None:
    db = Database(db_url)
    await db.upgrade()
    try:
        access = AccessService(db, session_idle_s=600, session_max_s=3600)
        await access.add_user("olga", OPERATOR_PASSWORD, "operator")
        opened = await access.login("olga", OPERATOR_PASSWORD)
        assert opened is not None
        now = utc_now()
        # Used every 9 minutes, it lives on until its maximum age...
        for minutes in range(9, 60, 9):
            assert await access.session_principal(opened.secret, now + timedelta(minutes=minutes)) is not None
        assert await access.session_principal(opened.secret, now + timedelta(minutes=61)) is None
        # ...and an idle one ends after 10 minutes.
        idle = await access.login("olga", OPERATOR_PASSWORD)
        assert idle is not None
        assert await access.session_principal(idle.secret, now + timedelta(minutes=11)) is None
    finally:
        await db.close()


async def test_the_backend_bootstraps_an_admin_user_and_token_from_settings(
    sqlite_url: str, make_backend: BackendFactory
) -> None:
    async with make_backend(
        sqlite_url, http_port=0, admin_user="root", admin_password="bootstrap-pw", admin_token="fgt_boot"
    ) as backend:
        async with httpx.AsyncClient(base_url=backend.api_url, timeout=15) as client:
            me = (await client.get("/auth/me", headers={"Authorization": "Bearer fgt_boot"})).json()
            assert (me["username"], me["role"]) == ("bootstrap-admin", "admin")
            login = await client.post("/auth/login", json={"username": "root", "password": "bootstrap-pw"})
            assert login.json()["role"] == "admin"
            session = client.cookies[SESSION_COOKIE]
    # A restart with the same password keeps the sessions; another token replaces the old one.
    async with make_backend(
        sqlite_url, http_port=0, admin_user="root", admin_password="bootstrap-pw", admin_token="fgt_new"
    ) as backend:
        async with httpx.AsyncClient(base_url=backend.api_url, timeout=15) as client:
            client.cookies.set(SESSION_COOKIE, session)
            assert (await client.get("/auth/me")).json()["username"] == "root"
            client.cookies.clear()
            assert (
                await client.get("/auth/me", headers={"Authorization": "Bearer fgt_boot"})
            ).status_code == 401
            assert (
                await client.get("/auth/me", headers={"Authorization": "Bearer fgt_new"})
            ).status_code == 200
    # A new bootstrap password replaces the old one and ends the sessions opened with it.
    async with make_backend(
        sqlite_url, http_port=0, admin_user="root", admin_password="changed-pw"
    ) as backend:
        async with httpx.AsyncClient(base_url=backend.api_url, timeout=15) as client:
            client.cookies.set(SESSION_COOKIE, session)
            assert (await client.get("/auth/me")).status_code == 401
            client.cookies.clear()
            old = await client.post("/auth/login", json={"username": "root", "password": "bootstrap-pw"})
            new = await client.post("/auth/login", json={"username": "root", "password": "changed-pw"})
            assert (old.status_code, new.status_code) == (401, 200)


def test_cli_manages_users_and_api_tokens(tmp_path: Path) -> None:
    db = ["--db", f"sqlite+aiosqlite:///{tmp_path / 'fg.db'}"]
    added = runner.invoke(
        cli_app,
        ["user", "add", "olga", "--role", "operator", "--password-stdin", *db],
        input=f"{OPERATOR_PASSWORD}\n",
    )
    assert added.exit_code == 0, added.output
    prompted = runner.invoke(
        cli_app, ["user", "add", "ivan", "--role", "viewer", *db], input="viewer-pass\nviewer-pass\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert "viewer-pass" not in prompted.output  # no echo
    bad_role = runner.invoke(
        cli_app, ["user", "add", "x", "--role", "root", "--password-stdin", *db], input="whatever-pass\n"
    )
    assert bad_role.exit_code == 1 and "unknown role" in bad_role.output
    listed = runner.invoke(cli_app, ["user", "list", *db])
    assert "olga" in listed.output and "operator" in listed.output and "ivan" in listed.output
    changed = runner.invoke(
        cli_app, ["user", "passwd", "olga", "--password-stdin", *db], input="a-new-password\n"
    )
    assert changed.exit_code == 0, changed.output
    missing = runner.invoke(
        cli_app, ["user", "passwd", "nobody", "--password-stdin", *db], input="whatever-pass\n"
    )
    assert missing.exit_code == 1 and "no user nobody" in missing.output

    async def can_log_in(password: str) -> bool:
        database = Database(db[1])
        try:
            return await AccessService(database).login("olga", password) is not None
        finally:
            await database.close()

    assert asyncio.run(can_log_in("a-new-password")) and not asyncio.run(can_log_in(OPERATOR_PASSWORD))
    assert runner.invoke(cli_app, ["user", "remove", "ivan", *db]).exit_code == 0
    assert "ivan" not in runner.invoke(cli_app, ["user", "list", *db]).output

    created = runner.invoke(cli_app, ["token", "create", "--role", "dispatcher", "--name", "grid", *db])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("fgt_")
    tokens = runner.invoke(cli_app, ["token", "list", *db])
    assert "grid" in tokens.output and "dispatcher" in tokens.output and token not in tokens.output
    assert runner.invoke(cli_app, ["token", "revoke", "grid", *db]).exit_code == 0
    assert "grid" not in runner.invoke(cli_app, ["token", "list", *db]).output
    assert runner.invoke(cli_app, ["token", "revoke", "grid", *db]).exit_code == 1
    # The old spelling for RFID cards still works.
    legacy = runner.invoke(cli_app, ["token", "add", "CARD-9", *db])
    assert legacy.exit_code == 0 and "deprecated" in legacy.output
    assert "CARD-9" in runner.invoke(cli_app, ["idtag", "list", *db]).output
