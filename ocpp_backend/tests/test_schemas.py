"""OCPP JSON schemas are loaded when the backend starts, not on the first message."""

from __future__ import annotations

import builtins

import pytest
from ocpp import messages
from ocpp.v16 import call
from ocpp.v16.enums import Action

from ocpp_backend.backend import Backend
from ocpp_backend.tests.chargepoint import open_station
from ocpp_backend.tests.conftest import PASSWORD, register, test_settings


async def test_every_v16_schema_is_cached_at_start_and_none_is_read_later(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "_validators", {})
    backend = Backend(test_settings(sqlite_url))
    await backend.start()
    try:
        assert set(messages._validators) == (
            {f"{action.value}_1.6" for action in Action}
            | {f"{action.value}Response_1.6" for action in Action}
        )
        await register(backend, "CP-1", PASSWORD)
        real_open = builtins.open
        schema_reads: list[str] = []

        def spy_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
            if str(file).endswith(".json") and "schemas" in str(file):
                schema_reads.append(str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", spy_open)
        async with open_station(backend.ocpp_url, "CP-1", PASSWORD) as cp:
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            await cp.call(call.Authorize(id_tag="T"))
        assert schema_reads == []
    finally:
        await backend.stop()
