"""``frostgrid gateway ...`` (run the grid gateway, write its broker config) and ``frostgrid dispatch
...`` (play grid dispatch from a terminal; manage dispatch groups and EV needs)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from gateway.mosquitto import BrokerPlan
from gateway.orders import json_schemas, sign

T = TypeVar("T")

gateway_app = typer.Typer(help="The grid dispatch gateway (MQTT).", no_args_is_help=True)
dispatch_app = typer.Typer(
    help="Play grid dispatch from a terminal (send, cancel, watch); dispatch groups and EV needs.",
    no_args_is_help=True,
)
group_app = typer.Typer(help="Dispatch groups of stations.", no_args_is_help=True)
dispatch_app.add_typer(group_app, name="group")
console = Console()

Host = Annotated[str, typer.Option("--host", help="Grid broker host.")]
Port = Annotated[int, typer.Option("--port", help="Grid broker port.")]
Prefix = Annotated[str, typer.Option("--prefix", help="Region topic prefix.")]
Party = Annotated[str, typer.Option("--party", help="Grid party id.")]
OrderKey = Annotated[
    str | None, typer.Option("--key", envvar="FROSTGRID_ORDER_KEY", help="HMAC key to sign with.")
]
User = Annotated[str | None, typer.Option("--user", help="Broker user.")]
Password = Annotated[
    str | None, typer.Option("--password", envvar="FROSTGRID_MQTT_PASSWORD", help="Broker password.")
]
Db = Annotated[str | None, typer.Option("--db", help="Database URL (default: $FROSTGRID_DB).")]


def _keys(path: Path | None) -> dict[str, bytes]:
    """``{"party": "key text"}`` from a JSON file."""
    if path is None:
        return {}
    return {party: str(key).encode() for party, key in json.loads(path.read_text()).items()}


@gateway_app.command("run")
def gateway_run(
    host: Host = "127.0.0.1",
    port: Port = 1883,
    prefix: Prefix = "frostgrid/region",
    user: User = "gateway",
    password: Password = None,
    keys: Annotated[Path | None, typer.Option(help="JSON file {party: HMAC key}.")] = None,
    require_signature: Annotated[bool, typer.Option(help="Refuse unsigned orders.")] = False,
    bus: Annotated[
        str,
        typer.Option(
            envvar="FROSTGRID_BUS_URL",
            help="The backend's bus: mqtt://user:pw@host:port/prefix (mqtts:// for TLS).",
        ),
    ] = "mqtt://127.0.0.1:1883/frostgrid/bus",
    telemetry_s: Annotated[
        float,
        typer.Option(
            "--telemetry-s",
            min=0.0,
            help="Telemetry to the grid: at most one message per group every this many seconds.",
        ),
    ] = 60.0,
    bus_tls_ca: Annotated[
        str | None,
        typer.Option(envvar="FROSTGRID_BUS_TLS_CA", help="TLS to the bus broker: its CA file."),
    ] = None,
    bus_tls_cert: Annotated[
        str | None,
        typer.Option(envvar="FROSTGRID_BUS_TLS_CERT", help="Client certificate for the bus broker."),
    ] = None,
    bus_tls_key: Annotated[
        str | None,
        typer.Option(envvar="FROSTGRID_BUS_TLS_KEY", help="Key of that client certificate."),
    ] = None,
) -> None:
    """Serve the grid side (orders in; acks, telemetry, verification out) until interrupted."""
    from gateway.service import Gateway, GatewayConfig
    from ocpp_backend.bus_mqtt import MqttBus, mqtt_bus_options
    from ocpp_backend.settings import Settings

    options = mqtt_bus_options(Settings())  # buffer, back-off, session expiry: FROSTGRID_BUS_*
    tls = {"tls_ca_file": bus_tls_ca, "tls_cert_file": bus_tls_cert, "tls_key_file": bus_tls_key}
    options.update({name: value for name, value in tls.items() if value})

    async def main() -> None:
        link = MqttBus.from_url(bus, f"gateway-{uuid.uuid4().hex[:6]}", **options)
        await link.start()
        config = GatewayConfig(
            prefix, host, port, user, password, _keys(keys), require_signature, telemetry_s=telemetry_s
        )
        console.print(
            f"gateway: grid mqtt://{host}:{port}/{prefix}, bus {link.host}:{link.port}/{link.prefix}"
        )
        try:
            await Gateway(config, link).run()
        finally:
            await link.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


@gateway_app.command("mosquitto-config")
def mosquitto_config(
    directory: Annotated[Path, typer.Argument(help="Where mosquitto.conf, passwords and acl are written.")],
    prefix: Prefix = "frostgrid/region",
    port: Annotated[int, typer.Option(help="Listener port.")] = 1883,
    bind: Annotated[str, typer.Option(help="Listener address.")] = "127.0.0.1",
    gateway_password: Annotated[str, typer.Option(envvar="FROSTGRID_GATEWAY_PASSWORD")] = "",
    party: Annotated[list[str] | None, typer.Option(help="Grid party as user:password (repeat).")] = None,
    bus_user: Annotated[
        list[str] | None, typer.Option(help="Backend node as user:password (repeat).")
    ] = None,
    run_as: Annotated[str | None, typer.Option(help="OS user the broker runs as (root start).")] = None,
) -> None:
    """Write a Mosquitto configuration with users and the per-topic ACL of docs/v2g.md."""

    def pairs(items: list[str] | None) -> dict[str, str]:
        out = {}
        for item in items or []:
            name, sep, secret = item.partition(":")
            if not sep or not name or not secret:
                raise typer.BadParameter(f"expected user:password, got {item!r}")
            out[name] = secret
        return out

    if not gateway_password:
        raise typer.BadParameter("--gateway-password (or $FROSTGRID_GATEWAY_PASSWORD) is required")
    plan = BrokerPlan(
        prefix, port, bind, ("gateway", gateway_password), pairs(party), pairs(bus_user), run_as=run_as
    )
    conf = plan.write(directory)
    console.print(f"wrote {conf} (start with: mosquitto -c {conf})")


@gateway_app.command("schemas")
def schemas() -> None:
    """Print the JSON Schema of every grid message."""
    print(json.dumps(json_schemas(), indent=1))


# -- playing grid dispatch ----------------------------------------------------------------------


def _mqtt(host: str, port: int, user: str | None, password: str | None) -> Any:
    import aiomqtt

    return aiomqtt.Client(host, port, username=user, password=password)


def _print(topic: str, body: dict[str, Any]) -> None:
    console.print(f"[bold]{topic}[/] {json.dumps(body, separators=(',', ':'))}", soft_wrap=True)


async def _publish_and_follow(
    host: str,
    port: int,
    user: str | None,
    password: str | None,
    prefix: str,
    topic: str,
    message: dict[str, Any],
    order_id: str,
    until: set[str],
    wait_s: float,
) -> int:
    async with _mqtt(host, port, user, password) as client:
        await client.subscribe(f"{prefix}/dispatch/ack/{order_id}", qos=1)
        await client.subscribe(f"{prefix}/dispatch/ack/_invalid", qos=1)
        await client.publish(f"{prefix}/{topic}", json.dumps(message), qos=1)
        try:
            async with asyncio.timeout(wait_s):
                async for received in client.messages:
                    body = json.loads(bytes(received.payload))
                    _print(str(received.topic), body)
                    if body.get("stage") == "rejected":
                        return 2
                    if body.get("stage") in until:
                        return 0
        except TimeoutError:
            console.print(f"no final ack within {wait_s:g} s")
            return 1
    return 1


@dispatch_app.command("send")
def send(
    group: Annotated[str, typer.Option(help="Dispatch group.")],
    targets: Annotated[str, typer.Option(help="Comma-separated kW per 15-min interval (+import/-export).")],
    start: Annotated[
        str, typer.Option(help="UTC start (ISO) or 'next' (next quarter hour) or 'now'.")
    ] = "next",
    mode: Annotated[str, typer.Option(help="absolute | relative")] = "absolute",
    tolerance_pct: Annotated[float, typer.Option(help="Tolerance, % of |target|.")] = 10.0,
    min_tolerance_kw: Annotated[float, typer.Option(help="Smallest tolerance in kW.")] = 1.0,
    order_id: Annotated[str | None, typer.Option(help="Order id (default: random).")] = None,
    revision: Annotated[int, typer.Option(help="Revision (higher replaces).")] = 1,
    priority: Annotated[str, typer.Option(help="normal | emergency")] = "normal",
    fallback: Annotated[str, typer.Option(help="normal | hold")] = "normal",
    party: Party = "grid",
    key: OrderKey = None,
    host: Host = "127.0.0.1",
    port: Port = 1883,
    prefix: Prefix = "frostgrid/region",
    user: User = None,
    password: Password = None,
    wait_s: Annotated[float, typer.Option(help="How long to wait for accepted/partial.")] = 30.0,
) -> None:
    """Publish an order and print its acks until it is accepted, partial or rejected."""
    now = datetime.now(UTC)
    quarter = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    first = {"next": quarter + timedelta(minutes=15), "now": quarter}.get(start)
    if first is None:
        first = datetime.fromisoformat(start.replace("Z", "+00:00"))
    kws = [float(x) for x in targets.split(",") if x.strip()]
    order_id = order_id or f"ORD-{uuid.uuid4().hex[:8]}"
    message: dict[str, Any] = {
        "order_id": order_id,
        "revision": revision,
        "party": party,
        "group": group,
        "mode": mode,
        "intervals": [
            {
                "start": (first + timedelta(minutes=15 * n)).isoformat().replace("+00:00", "Z"),
                "target_kw": kw,
                "tolerance_kw": max(min_tolerance_kw, abs(kw) * tolerance_pct / 100),
            }
            for n, kw in enumerate(kws)
        ],
        "response_deadline": (now + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "priority": priority,
        "fallback": fallback,
    }
    if key:
        message = sign(message, key.encode())
    code = asyncio.run(
        _publish_and_follow(
            host,
            port,
            user,
            password,
            prefix,
            "dispatch/order",
            message,
            order_id,
            {"accepted", "partial"},
            wait_s,
        )
    )
    raise typer.Exit(code)


@dispatch_app.command("cancel")
def cancel(
    order_id: Annotated[str, typer.Argument(help="The order to end.")],
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    party: Party = "grid",
    key: OrderKey = None,
    host: Host = "127.0.0.1",
    port: Port = 1883,
    prefix: Prefix = "frostgrid/region",
    user: User = None,
    password: Password = None,
    wait_s: Annotated[float, typer.Option(help="How long to wait for the cancelled ack.")] = 30.0,
) -> None:
    """Cancel an order and print its acks until it is cancelled or the cancel is rejected."""
    message: dict[str, Any] = {"order_id": order_id, "party": party}
    if reason:
        message["reason"] = reason
    if key:
        message = sign(message, key.encode())
    code = asyncio.run(
        _publish_and_follow(
            host, port, user, password, prefix, "dispatch/cancel", message, order_id, {"cancelled"}, wait_s
        )
    )
    raise typer.Exit(code)


@dispatch_app.command("watch")
def watch(
    host: Host = "127.0.0.1",
    port: Port = 1883,
    prefix: Prefix = "frostgrid/region",
    user: User = None,
    password: Password = None,
) -> None:
    """Print acks, telemetry and verifications as they arrive (Ctrl-C ends)."""

    async def main() -> None:
        async with _mqtt(host, port, user, password) as client:
            for topic in ("dispatch/ack/#", "telemetry", "verification/#"):
                await client.subscribe(f"{prefix}/{topic}", qos=1)
            async for received in client.messages:
                _print(str(received.topic), json.loads(bytes(received.payload)))

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


# -- groups and needs (in the store) ------------------------------------------------------------


def _with_dispatcher(db: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
    from ocpp_backend.bus import InProcessBus
    from ocpp_backend.db import Database
    from ocpp_backend.dispatch.service import Dispatcher
    from ocpp_backend.services import Services
    from ocpp_backend.settings import Settings, default_db_url

    async def run() -> T:
        settings = Settings(db_url=db or os.environ.get("FROSTGRID_DB") or default_db_url())
        database = Database(settings.db_url)
        try:
            await database.upgrade()
            services = Services.build(settings, database, InProcessBus())
            return await work(Dispatcher(services, auto=False))
        finally:
            await database.close()

    return asyncio.run(run())


@group_app.command("add")
def group_add(
    group: Annotated[str, typer.Argument(help="Group id.")],
    stations: Annotated[list[str], typer.Argument(help="Station ids to put in it.")],
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    charge_kw: Annotated[float | None, typer.Option(help="Station charge limit.")] = None,
    discharge_kw: Annotated[float | None, typer.Option(help="Discharge limit where the station can.")] = None,
    db: Db = None,
) -> None:
    """Create or extend a dispatch group."""
    defaults = {
        k: v for k, v in {"charge_kw": charge_kw, "discharge_kw": discharge_kw}.items() if v is not None
    }
    _with_dispatcher(db, lambda d: d.add_group(group, stations, description, **defaults))
    console.print(f"group {group}: {', '.join(stations)}")


@group_app.command("list")
def group_list(db: Db = None) -> None:
    """List groups and their stations."""
    groups = _with_dispatcher(db, lambda d: d.groups())
    for group, stations in sorted(groups.items()):
        console.print(f"{group}: {', '.join(sorted(stations)) or '-'}")


@group_app.command("remove")
def group_remove(group: Annotated[str, typer.Argument(help="Group id.")], db: Db = None) -> None:
    """Delete a group (its stations leave it)."""
    _with_dispatcher(db, lambda d: d.remove_group(group))
    console.print(f"group {group} removed")


@dispatch_app.command("needs")
def needs(
    station: Annotated[str, typer.Argument(help="Station id.")],
    capacity_kwh: Annotated[float | None, typer.Option(help="Battery capacity.")] = None,
    departure: Annotated[str | None, typer.Option(help="Departure time (ISO, UTC if no offset).")] = None,
    required_soc_pct: Annotated[float | None, typer.Option(help="SoC needed at departure.")] = None,
    reserve_soc_pct: Annotated[float | None, typer.Option(help="Never discharged below.")] = None,
    soc_pct: Annotated[float | None, typer.Option(help="SoC now, if the station does not report it.")] = None,
    db: Db = None,
) -> None:
    """Tell the dispatcher about the EV at a station (current or next session)."""
    when = None
    if departure:
        when = datetime.fromisoformat(departure.replace("Z", "+00:00"))
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    given = {
        "capacity_kwh": capacity_kwh,
        "departure": when,
        "required_soc_pct": required_soc_pct,
        "reserve_soc_pct": reserve_soc_pct,
        "soc_pct": soc_pct,
    }
    _with_dispatcher(db, lambda d: d.set_needs(station, **{k: v for k, v in given.items() if v is not None}))
    console.print(f"{station}: needs recorded")
