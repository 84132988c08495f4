"""One current connection per station: a second one replaces the first."""

from __future__ import annotations

import asyncio

from ocpp.v16 import call

from ocpp_backend.backend import Backend
from ocpp_backend.csms.server import REMOVED_CLOSE_CODE, REPLACED_CLOSE_CODE
from ocpp_backend.tests.chargepoint import open_station
from ocpp_backend.tests.conftest import PASSWORD


async def _wait_closed(cp) -> None:  # type: ignore[no-untyped-def]
    await asyncio.wait_for(cp._connection.wait_closed(), 5)


async def test_second_connection_replaces_the_first(backend: Backend) -> None:
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as old:
        await old.call(call.Heartbeat())
        async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as new:
            await _wait_closed(old)
            assert old._connection.close_code == REPLACED_CLOSE_CODE
            # The new link is the current one: commands reach it, and the station stays connected.
            answer = await backend.services.commands.reset("CP-1", "Soft")
            assert answer == {"status": "Accepted"}
            assert new.received == [("Reset", {"type": "Soft"})]
            assert old.received == []
            assert (await backend.services.registry.get("CP-1")).connected
            assert backend.ocpp.connected_ids == ["CP-1"]
    await asyncio.sleep(0.1)
    assert not (await backend.services.registry.get("CP-1")).connected


async def test_removing_a_station_closes_its_connection(backend: Backend) -> None:
    async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
        await backend.services.registry.remove("CP-1")
        await _wait_closed(cp)
        assert cp._connection.close_code == REMOVED_CLOSE_CODE


async def test_shutdown_closes_station_links_and_marks_them_disconnected(
    sqlite_url: str, make_backend
) -> None:
    async with make_backend(sqlite_url, stations={"CP-1": PASSWORD}) as backend:
        async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
            await cp.call(call.Heartbeat())
            await backend.ocpp.stop()
            await _wait_closed(cp)
            assert cp._connection.close_code == 1001
        assert not (await backend.services.registry.get("CP-1")).connected
