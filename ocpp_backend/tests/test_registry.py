"""Station registry and password hashing (OCPP security profile 1)."""

from __future__ import annotations

import pytest

from ocpp_backend.bus import InProcessBus
from ocpp_backend.db import Database
from ocpp_backend.models import Station
from ocpp_backend.passwords import hash_password, verify_password
from ocpp_backend.services.registry import StationExists, StationRegistry, UnknownStation


def test_password_hash_is_salted_scrypt_and_verifies_only_the_right_password() -> None:
    first, second = hash_password("hunter2"), hash_password("hunter2")
    assert first.startswith("scrypt$") and "hunter2" not in first
    assert first != second  # a fresh salt each time
    assert verify_password("hunter2", first) and verify_password("hunter2", second)
    assert not verify_password("hunter3", first)
    assert not verify_password("", first)


def test_malformed_stored_hash_never_verifies() -> None:
    for stored in ("", "plain", "md5$x$y", "scrypt$14$8$1$!!!$???", "scrypt$99$8$1$AAAA$AAAA"):
        assert not verify_password("anything", stored)


@pytest.fixture
async def registry(sqlite_url: str):  # type: ignore[no-untyped-def]
    db = Database(sqlite_url)
    await db.upgrade()
    yield StationRegistry(db, InProcessBus()), db
    await db.close()


async def test_registry_stores_only_a_hash_and_checks_passwords(registry) -> None:  # type: ignore[no-untyped-def]
    reg, db = registry
    await reg.add("FG-0001", "s3cret")
    async with db.session() as session:
        stored = (await session.get(Station, "FG-0001")).password_hash
    assert "s3cret" not in stored
    assert await reg.check_password("FG-0001", "s3cret")
    assert await reg.check_password("FG-0001", "s3cret")  # second time from the verified cache
    assert not await reg.check_password("FG-0001", "S3CRET")
    assert not await reg.check_password("FG-0002", "s3cret")


async def test_registry_refuses_duplicates_and_bad_ids(registry) -> None:  # type: ignore[no-untyped-def]
    reg, _ = registry
    await reg.add("FG-0001", "a")
    with pytest.raises(StationExists):
        await reg.add("FG-0001", "b")
    for bad in ("", "has space", "a/b", "user:name", "x" * 49):
        with pytest.raises(ValueError):
            await reg.add(bad, "pw")
    with pytest.raises(ValueError):
        await reg.add("FG-0002", "")
    assert [s.id for s in await reg.list()] == ["FG-0001"]


async def test_removed_station_can_no_longer_authenticate(registry) -> None:  # type: ignore[no-untyped-def]
    reg, _ = registry
    await reg.add("FG-0001", "pw")
    assert await reg.check_password("FG-0001", "pw")
    await reg.remove("FG-0001")
    assert not await reg.check_password("FG-0001", "pw")
    with pytest.raises(UnknownStation):
        await reg.remove("FG-0001")
    with pytest.raises(UnknownStation):
        await reg.get("FG-0001")


async def test_password_change_invalidates_the_old_password(registry) -> None:  # type: ignore[no-untyped-def]
    reg, _ = registry
    await reg.add("FG-0001", "old")
    assert await reg.check_password("FG-0001", "old")
    await reg.set_password("FG-0001", "new")
    assert not await reg.check_password("FG-0001", "old")
    assert await reg.check_password("FG-0001", "new")
    with pytest.raises(UnknownStation):
        await reg.set_password("NOPE", "x")
