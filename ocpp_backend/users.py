"""Operator access: users (argon2id passwords), API tokens and login sessions with CSRF tokens.

The rules live here; ``api/auth.py`` maps them onto HTTP (cookies, headers, status codes) and the
CLI onto commands. Roles are described in docs/interfaces.md ("Operator API access").
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ocpp_backend.db import Database
from ocpp_backend.operator_models import ROLES, ApiToken, OperatorSession, OperatorUser
from ocpp_backend.timeutil import utc_now

USERNAME_PATTERN = r"^[A-Za-z0-9._@-]{1,64}$"
_USERNAME_RE = re.compile(USERNAME_PATTERN)
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
TOKEN_PREFIX = "fgt_"
BOOTSTRAP_TOKEN_NAME = "bootstrap-admin"
_CONCURRENT_HASHES = 2  # argon2 checks running at once (each holds 64 MiB)
_MAX_FAILURES = 5  # failed logins per user name within the window before logins are refused
_FAILURE_WINDOW_S = 300.0
_MAX_TRACKED_NAMES = 10_000
# Writing last_used_at on every request would turn each read into a write.
_TOUCH_EVERY = timedelta(seconds=60)

# argon2id with the RFC 9106 "second recommended" profile (64 MiB, 3 passes): memory-hard, and
# about 50-100 ms per hash on one core, paid at login only (sessions and tokens are cheap to check).
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
_DUMMY_HASH: str | None = None


class UserExists(Exception):
    """A user with this name already exists."""


class UnknownUser(Exception):
    """No user with this name."""


class UnknownToken(Exception):
    """No API token with this id or name."""


class LastAdmin(Exception):
    """The change would leave no user with the admin role (nobody could manage users any more)."""


class TooManyAttempts(Exception):
    """Too many failed logins for a user name lately; ``retry_after_s`` says when to try again."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a user (by session) or a machine (by API token)."""

    name: str
    role: str
    kind: str  # "user" | "token"
    csrf_token: str | None = None  # set for session logins: the value X-CSRF-Token must carry
    token_id: int | None = None  # set for API tokens


@dataclass(frozen=True)
class NewSession:
    """A session just opened: ``secret`` goes into the cookie, ``csrf_token`` to the client."""

    secret: str
    csrf_token: str
    username: str
    role: str


@dataclass(frozen=True)
class NewToken:
    """An API token just created; ``token`` is shown once and never stored."""

    id: int
    name: str
    role: str
    token: str


def validate_role(role: str) -> str:
    """Return ``role`` if it is one of ROLES, else raise ValueError."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def validate_username(username: str) -> str:
    """Return ``username`` if usable, else raise ValueError."""
    if not _USERNAME_RE.match(username):
        raise ValueError(f"invalid user name {username!r}: use 1-64 characters from A-Z a-z 0-9 . _ @ -")
    return username


def validate_new_password(password: str) -> str:
    """Return ``password`` if long enough, else raise ValueError."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValueError(f"password must be {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters")
    return password


def hash_user_password(password: str) -> str:
    """argon2id hash of ``password`` (slow on purpose: call it in a thread)."""
    return _HASHER.hash(password)


def verify_user_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored argon2 hash."""
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    """Verified against for unknown users, so that a refusal takes as long as a wrong password."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_user_password(secrets.token_hex(16))
    return _DUMMY_HASH


def secret_digest(secret: str) -> str:
    """SHA-256 hex of a random secret (token or session id): what the store keeps."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class AccessService:
    """Users, API tokens and sessions, in the database (so that any backend node can check them)."""

    def __init__(self, db: Database, session_idle_s: float = 12 * 3600, session_max_s: float = 7 * 86400):
        self._db = db
        self.session_idle = timedelta(seconds=session_idle_s)
        self.session_max = timedelta(seconds=session_max_s)
        # Each argon2 check takes 64 MiB: a burst of logins must queue, not exhaust memory.
        self._hashing = asyncio.Semaphore(_CONCURRENT_HASHES)
        self._failures: dict[str, deque[float]] = {}  # user name -> monotonic times of recent failures

    # -- users ----------------------------------------------------------------------------------

    async def add_user(self, username: str, password: str, role: str) -> OperatorUser:
        """Create a user; raises UserExists or ValueError."""
        validate_username(username)
        validate_role(role)
        validate_new_password(password)
        password_hash = await asyncio.to_thread(hash_user_password, password)
        user = OperatorUser(username=username, password_hash=password_hash, role=role)
        try:
            async with self._db.session() as session:
                if await session.get(OperatorUser, username) is not None:
                    raise UserExists(username)
                session.add(user)
        except IntegrityError:
            raise UserExists(username) from None
        return user

    async def set_password(self, username: str, password: str) -> None:
        """Change a user's password and end their sessions; raises UnknownUser or ValueError."""
        validate_new_password(password)
        password_hash = await asyncio.to_thread(hash_user_password, password)
        async with self._db.session() as session:
            result = await session.execute(
                update(OperatorUser)
                .where(OperatorUser.username == username)
                .values(password_hash=password_hash)
            )
            if result.rowcount == 0:
                raise UnknownUser(username)
            await session.execute(delete(OperatorSession).where(OperatorSession.username == username))

    async def ensure_user(self, username: str, password: str, role: str) -> None:
        """Create the user, or reset its password and role if they differ (start-up bootstrap of
        the admin; an unchanged password keeps the user's sessions across restarts)."""
        async with self._db.session() as session:
            user = await session.get(OperatorUser, username)
        if user is None:
            try:
                await self.add_user(username, password, role)
                return
            except UserExists:  # created meanwhile by another node
                pass
        elif await asyncio.to_thread(verify_user_password, password, user.password_hash):
            if user.role != role:
                async with self._db.session() as session:
                    await session.execute(
                        update(OperatorUser).where(OperatorUser.username == username).values(role=role)
                    )
            return
        await self.set_password(username, password)
        async with self._db.session() as session:
            await session.execute(
                update(OperatorUser).where(OperatorUser.username == username).values(role=role)
            )

    async def list_users(self) -> list[OperatorUser]:
        """Every user, by name."""
        async with self._db.session() as session:
            return list(await session.scalars(select(OperatorUser).order_by(OperatorUser.username)))

    async def set_role(self, username: str, role: str) -> OperatorUser:
        """Give a user another role; raises UnknownUser, ValueError (no such role) or LastAdmin
        (the user is the only admin and would lose the role).

        The new role holds at the user's next request: sessions look the role up every time.
        """
        validate_role(role)
        async with self._db.session() as session:
            # Two admins demoting each other at once must not both succeed. PostgreSQL: lock the
            # admins' rows, so the second demotion waits and then counts the first one's result.
            # SQLite: the check is inside the one UPDATE statement, which holds the write lock.
            await _lock_admins(session)
            change = update(OperatorUser).where(OperatorUser.username == username).values(role=role)
            if role != "admin":
                change = change.where(_not_the_last_admin(username))
            result = await session.execute(change)
            user = await session.get(OperatorUser, username, populate_existing=True)
            if user is None:
                raise UnknownUser(username)
            if result.rowcount == 0:
                raise LastAdmin(username)
        return user

    async def remove_user(self, username: str) -> None:
        """Delete a user and their sessions; raises UnknownUser, or LastAdmin for the only user
        with the admin role (nobody could manage users afterwards)."""
        async with self._db.session() as session:
            # as in set_role: lock the admins' rows (PostgreSQL); SQLite checks inside the DELETE
            await _lock_admins(session)
            result = await session.execute(
                delete(OperatorUser).where(OperatorUser.username == username, _not_the_last_admin(username))
            )
            if result.rowcount == 0:
                if await session.get(OperatorUser, username) is None:
                    raise UnknownUser(username)
                raise LastAdmin(username)
            await session.execute(delete(OperatorSession).where(OperatorSession.username == username))

    # -- sessions -------------------------------------------------------------------------------

    def _recent_failures(self, username: str, now: float) -> deque[float]:
        if len(self._failures) > _MAX_TRACKED_NAMES:  # names sprayed by a guesser: forget stale ones
            self._failures = {
                name: times
                for name, times in self._failures.items()
                if times and now - times[-1] <= _FAILURE_WINDOW_S
            }
        failures = self._failures.setdefault(username, deque())
        while failures and now - failures[0] > _FAILURE_WINDOW_S:
            failures.popleft()
        return failures

    async def login(self, username: str, password: str) -> NewSession | None:
        """Check the password and open a session; None for an unknown user or a wrong password.
        Raises TooManyAttempts after repeated failures for the same name (per node)."""
        started = time.monotonic()
        failures = self._recent_failures(username, started)
        if len(failures) >= _MAX_FAILURES:
            raise TooManyAttempts(int(_FAILURE_WINDOW_S - (started - failures[0])) + 1)
        async with self._db.session() as session:
            user = await session.get(OperatorUser, username)
        stored = user.password_hash if user is not None else _dummy_hash()
        async with self._hashing:
            ok = await asyncio.to_thread(verify_user_password, password, stored)
        if not ok or user is None:
            failures.append(time.monotonic())
            return None
        self._failures.pop(username, None)
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utc_now()
        async with self._db.session() as session:
            session.add(
                OperatorSession(
                    id_hash=secret_digest(secret),
                    username=username,
                    csrf_token=csrf,
                    created_at=now,
                    last_used_at=now,
                )
            )
            await session.execute(
                update(OperatorUser).where(OperatorUser.username == username).values(last_login_at=now)
            )
        return NewSession(secret=secret, csrf_token=csrf, username=username, role=user.role)

    async def session_principal(self, secret: str, now: datetime | None = None) -> Principal | None:
        """The user behind a session cookie, or None if unknown, expired or the user is gone."""
        now = now or utc_now()
        digest = secret_digest(secret)
        async with self._db.session() as session:
            row = await session.execute(
                select(OperatorSession, OperatorUser.role)
                .join(OperatorUser, OperatorUser.username == OperatorSession.username)
                .where(OperatorSession.id_hash == digest)
            )
            found = row.first()
            if found is None:
                return None
            stored, role = found
            if now - stored.last_used_at > self.session_idle or now - stored.created_at > self.session_max:
                await session.delete(stored)
                return None
            if now - stored.last_used_at > _TOUCH_EVERY:
                stored.last_used_at = now
        return Principal(name=stored.username, role=role, kind="user", csrf_token=stored.csrf_token)

    async def logout(self, secret: str) -> None:
        """End the session whose cookie holds ``secret`` (no error if there is none)."""
        async with self._db.session() as session:
            digest = secret_digest(secret)
            await session.execute(delete(OperatorSession).where(OperatorSession.id_hash == digest))

    # -- API tokens -----------------------------------------------------------------------------

    async def create_token(self, role: str, name: str | None = None, token: str | None = None) -> NewToken:
        """Create an API token (random unless ``token`` is given, for the bootstrap token)."""
        validate_role(role)
        token = token or TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(name=(name or f"{role}-token")[:64], token_hash=secret_digest(token), role=role)
        async with self._db.session() as session:
            session.add(row)
        return NewToken(id=row.id, name=row.name, role=row.role, token=token)

    async def ensure_token(self, token: str, role: str, name: str) -> None:
        """Register ``token`` under ``name`` (replacing the token that name had): the bootstrap."""
        digest = secret_digest(token)
        async with self._db.session() as session:
            existing = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
            if existing is not None:
                existing.role, existing.name, existing.revoked_at = role, name, None
                return
            await session.execute(
                update(ApiToken)
                .where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
        await self.create_token(role, name, token)

    async def list_tokens(self, include_revoked: bool = False) -> list[ApiToken]:
        """API tokens (without secrets), oldest first."""
        query = select(ApiToken).order_by(ApiToken.id)
        if not include_revoked:
            query = query.where(ApiToken.revoked_at.is_(None))
        async with self._db.session() as session:
            return list(await session.scalars(query))

    async def revoke_token(self, id_or_name: str | int) -> int:
        """Revoke tokens by id (an int) or by name or id (a str, from the CLI); returns how many;
        raises UnknownToken if none matched."""
        if isinstance(id_or_name, int):
            condition = ApiToken.id == id_or_name
        elif id_or_name.isdigit():  # a name may be all digits too: match either
            condition = or_(ApiToken.id == int(id_or_name), ApiToken.name == id_or_name)
        else:
            condition = ApiToken.name == id_or_name
        async with self._db.session() as session:
            result = await session.execute(
                update(ApiToken).where(condition, ApiToken.revoked_at.is_(None)).values(revoked_at=utc_now())
            )
        if result.rowcount == 0:
            raise UnknownToken(str(id_or_name))
        return result.rowcount

    async def token_principal(self, token: str, now: datetime | None = None) -> Principal | None:
        """The machine behind a bearer token, or None if unknown or revoked."""
        now = now or utc_now()
        digest = secret_digest(token)
        async with self._db.session() as session:
            row = await session.scalar(
                select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
            )
            if row is None:
                return None
            if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
                row.last_used_at = now
        return Principal(name=row.name, role=row.role, kind="token", token_id=row.id)


async def _lock_admins(session: AsyncSession) -> None:
    """Lock the admins' rows (PostgreSQL), so that two changes that each leave one admin run one
    after the other and the second counts the first one's result."""
    await session.execute(select(OperatorUser.username).where(OperatorUser.role == "admin").with_for_update())


def _not_the_last_admin(username: str) -> ColumnElement[bool]:
    """A condition on ``OperatorUser``: the row is not an admin, or another admin exists (checked
    inside the statement, which SQLite runs under its write lock)."""
    others = aliased(OperatorUser)
    other_admins = (
        select(func.count())
        .select_from(others)
        .where(others.role == "admin", others.username != username)
        .scalar_subquery()
    )
    return or_(OperatorUser.role != "admin", other_admins > 0)
