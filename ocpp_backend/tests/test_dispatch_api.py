"""Dispatch over the REST API: groups by operators, orders by dispatcher tokens only."""

from __future__ import annotations

import httpx

from gateway.tests.factory import order_message
from ocpp_backend.backend import Backend
from ocpp_backend.dispatch.models import EvNeed
from ocpp_backend.timeutil import utc_now


async def client_as(backend: Backend, role: str) -> httpx.AsyncClient:
    token = (await backend.services.access.create_token(role, f"{role}-tests")).token
    return httpx.AsyncClient(
        base_url=backend.api_url, timeout=15, headers={"Authorization": f"Bearer {token}"}
    )


async def test_a_group_put_by_an_operator_is_listed_for_a_dispatcher(api_backend: Backend) -> None:
    async with (
        await client_as(api_backend, "operator") as operator,
        await client_as(api_backend, "dispatcher") as dispatcher,
    ):
        put = await operator.put("/dispatch/groups/feeder-7", json={"stations": ["CP-1", "CP-2"]})
        unknown = await operator.put("/dispatch/groups/feeder-8", json={"stations": ["CP-404"]})
        listed = await dispatcher.get("/dispatch/groups")
    assert put.status_code == 200 and put.json() == {"id": "feeder-7", "stations": ["CP-1", "CP-2"]}
    assert unknown.status_code == 404
    assert listed.json() == [{"id": "feeder-7", "stations": ["CP-1", "CP-2"]}]


async def test_only_dispatcher_tokens_may_submit_orders(api_backend: Backend) -> None:
    await api_backend.dispatcher.add_group("feeder-7", ["CP-1"])
    body = order_message(utc_now(), [0.0], group="feeder-7")
    async with (
        await client_as(api_backend, "operator") as operator,
        await client_as(api_backend, "dispatcher") as dispatcher,
    ):
        refused = await operator.post("/dispatch/orders", json=body)
        accepted = await dispatcher.post("/dispatch/orders", json=body)
        again = await dispatcher.post("/dispatch/orders", json=body)
        orders = await dispatcher.get("/dispatch/orders")
        cancelled = await dispatcher.post("/dispatch/orders/ORD-1/cancel")
    assert refused.status_code == 403
    assert accepted.json()["stage"] == "accepted"
    assert (again.json()["stage"], again.json()["field"]) == ("rejected", "revision")
    assert [(o["order_id"], o["state"]) for o in orders.json()] == [("ORD-1", "accepted")]
    assert cancelled.status_code == 204


async def test_a_bad_order_over_the_api_is_rejected_naming_the_field(api_backend: Backend) -> None:
    body = order_message(utc_now(), [0.0], group="feeder-7", priority="urgent")
    async with await client_as(api_backend, "dispatcher") as dispatcher:
        answer = await dispatcher.post("/dispatch/orders", json=body)
    assert (answer.json()["stage"], answer.json()["field"]) == ("rejected", "priority")


async def test_needs_for_an_ev_are_taken_from_an_operator(api_backend: Backend) -> None:
    async with await client_as(api_backend, "operator") as operator:
        answer = await operator.put(
            "/dispatch/needs/CP-1",
            json={"capacity_kwh": 64, "departure": "2026-12-22T06:30:00Z", "soc_pct": 35},
        )
        missing = await operator.put("/dispatch/needs/CP-404", json={"soc_pct": 35})
    assert answer.status_code == 204 and missing.status_code == 404
    async with api_backend.db.session() as session:
        row = await session.get(EvNeed, "CP-1")
    assert (row.capacity_kwh, row.soc_pct, row.departure.hour) == (64, 35, 6)
