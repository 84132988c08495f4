"""The ``frostgrid`` command."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import sqlalchemy.exc
import typer
from rich.console import Console
from rich.table import Table

from ocpp_backend.settings import Settings, default_db_url

T = TypeVar("T")

# Failures to reach or open a store: a bad URL, a missing driver, a refused connection, a bad file.
DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    sqlalchemy.exc.ArgumentError,
    sqlalchemy.exc.NoSuchModuleError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
)

app = typer.Typer(
    name="frostgrid",
    help="Frostgrid: EV charging for extreme cold — OCPP backend, station registry, simulation.",
    no_args_is_help=True,
    add_completion=False,
)
station_app = typer.Typer(help="Register, list and remove charging stations.", no_args_is_help=True)
idtag_app = typer.Typer(help="Register and list id tags (RFID cards).", no_args_is_help=True)
app.add_typer(station_app, name="station")
app.add_typer(idtag_app, name="idtag")

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # error lines stay whole (greppable)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $FROSTGRID_DB or sqlite+aiosqlite:///./frostgrid.db)."),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _with_services(db_url: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(services)`` against the store (upgraded to the latest schema first)."""
    from ocpp_backend.bus import InProcessBus
    from ocpp_backend.db import Database
    from ocpp_backend.services import Services

    async def run() -> T:
        settings = Settings(db_url=db_url or default_db_url())
        db = Database(settings.db_url)
        try:
            await db.upgrade()
            return await work(Services.build(settings, db, InProcessBus()))
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except DB_ERRORS as error:
        raise _fail(f"cannot open the database {_safe_url(db_url)}: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _safe_url(db_url: str | None) -> str:
    """The URL as shown in messages, without a password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(db_url or default_db_url()).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given
        return repr(db_url)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


# -- backend -------------------------------------------------------------------------------------


@app.command()
def backend(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="OCPP WebSocket port (0 = any free port).", min=0, max=65535)
    ] = 9000,
    http_port: Annotated[
        int, typer.Option(help="REST API port (0 = any free port).", min=0, max=65535)
    ] = 8080,
    db: DbOption = None,
    heartbeat: Annotated[int, typer.Option(help="Heartbeat interval given to stations (s).", min=1)] = 300,
    command_timeout: Annotated[float, typer.Option(help="How long commands wait for a station (s).")] = 30.0,
    accept_unknown_tags: Annotated[
        bool, typer.Option(help="Authorize id tags that are not registered.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="Log level (DEBUG, INFO, WARNING, ERROR).")] = "WARNING",
    offline_alarm_heartbeats: Annotated[
        float,
        typer.Option(
            help="Offline alarm after this many heartbeat intervals unconnected.",
            min=0,
            envvar="FROSTGRID_ALARM_OFFLINE_HEARTBEATS",
        ),
    ] = 3.0,
    log_json: Annotated[
        bool | None,
        typer.Option(
            "--log-json/--log-text",
            help="One JSON object per log line, with station_id (default: $FROSTGRID_LOG_JSON, else text).",
        ),
    ] = None,
) -> None:
    """Run the central system: OCPP 1.6J over WebSocket and the REST API, until SIGINT/SIGTERM."""
    from ocpp_backend.backend import Backend

    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise _fail(f"unknown log level {log_level!r}")
    from ocpp_backend.logging_setup import configure_logging, json_logs_from_env

    configure_logging(level, json_logs_from_env() if log_json is None else log_json)
    settings = Settings(
        db_url=db or default_db_url(),
        host=host,
        ocpp_port=port,
        http_port=http_port,
        heartbeat_s=heartbeat,
        command_timeout_s=command_timeout,
        accept_unknown_tags=accept_unknown_tags,
        alarm_offline_heartbeats=offline_alarm_heartbeats,
    )

    async def run() -> None:
        try:
            server = Backend(settings)
        except DB_ERRORS as error:
            raise _fail(f"bad database URL {_safe_url(settings.db_url)}: {_first_line(error)}") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await server.start()
        except (*DB_ERRORS, ValueError) as error:  # ValueError: a bad bootstrap admin password
            await server.stop()
            raise _fail(f"cannot start: {_first_line(error)}") from None
        print(f"OCPP: ws://{host}:{server.ocpp_port}/ocpp/{{station_id}}", flush=True)
        print(
            f"API: http://{host}:{server.http_port}/api/v1/ (docs at http://{host}:{server.http_port}/docs)",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            await server.stop()
        print("stopped", flush=True)

    asyncio.run(run())


# -- stations ------------------------------------------------------------------------------------


@station_app.command("add")
def station_add(
    station_id: Annotated[str, typer.Argument(metavar="ID", help="Charge point identity, e.g. FG-0001.")],
    password: Annotated[str, typer.Option("--password", "-p", help="Basic-auth password of the station.")],
    db: DbOption = None,
    lat: Annotated[float | None, typer.Option("--lat", help="Latitude (WGS 84 degrees), map.")] = None,
    lon: Annotated[float | None, typer.Option("--lon", help="Longitude (WGS 84 degrees), map.")] = None,
) -> None:
    """Register a station with its password (stored hashed) and, optionally, where it stands."""
    from ocpp_backend.services.registry import StationExists

    async def work(services: Any) -> None:
        await services.registry.add(station_id, password, lat, lon)

    try:
        _with_services(db, work)
    except StationExists:
        raise _fail(f"station {station_id} already exists") from None
    except ValueError as error:
        raise _fail(str(error)) from None
    console.print(f"added station [bold]{station_id}[/]")


@station_app.command("list")
def station_list(db: DbOption = None) -> None:
    """List registered stations, their connection and connector statuses."""

    async def work(services: Any) -> list[Any]:
        return await services.registry.list()

    stations = _with_services(db, work)
    table = Table(title=f"{len(stations)} station(s)")
    for column in ("id", "connected", "last seen", "vendor / model", "firmware", "connectors"):
        table.add_column(column)
    for station in stations:
        connectors = ", ".join(f"{c.connector_id}:{c.status}" for c in station.connectors) or "—"
        table.add_row(
            station.id,
            "[green]yes[/]" if station.connected else "[dim]no[/]",
            _when(station.last_seen),
            " / ".join(v for v in (station.vendor, station.model) if v) or "—",
            station.firmware_version or "—",
            connectors,
        )
    console.print(table)


@station_app.command("remove")
def station_remove(
    station_id: Annotated[str, typer.Argument(metavar="ID")],
    db: DbOption = None,
) -> None:
    """Unregister a station (its transactions are kept)."""
    from ocpp_backend.services.registry import UnknownStation

    async def work(services: Any) -> None:
        await services.registry.remove(station_id)

    try:
        _with_services(db, work)
    except UnknownStation:
        raise _fail(f"station {station_id} is not registered") from None
    console.print(f"removed station [bold]{station_id}[/]")


# -- id tokens -----------------------------------------------------------------------------------


@idtag_app.command("add")
def idtag_add(
    id_tag: Annotated[str, typer.Argument(metavar="TAG", help="The idTag (1-20 characters).")],
    status: Annotated[str, typer.Option(help="Accepted, Blocked, Expired or Invalid.")] = "Accepted",
    expiry: Annotated[
        datetime | None,
        typer.Option(
            help="Expiry date, UTC (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS).",
            formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        ),
    ] = None,
    parent: Annotated[str | None, typer.Option(help="Parent idTag (group).")] = None,
    db: DbOption = None,
) -> None:
    """Register an id token, or change its status."""
    from datetime import UTC

    expiry_utc = expiry.replace(tzinfo=UTC) if expiry is not None else None

    async def work(services: Any) -> None:
        await services.id_tokens.put(id_tag, status, expiry_utc, parent)

    try:
        _with_services(db, work)
    except ValueError as error:
        raise _fail(str(error)) from None
    console.print(f"id token [bold]{id_tag}[/]: {status}")


@idtag_app.command("list")
def idtag_list(db: DbOption = None) -> None:
    """List registered id tokens."""

    async def work(services: Any) -> list[Any]:
        return await services.id_tokens.list()

    tokens = _with_services(db, work)
    table = Table(title=f"{len(tokens)} id token(s)")
    for column in ("id tag", "status", "expiry", "parent"):
        table.add_column(column)
    for token in tokens:
        table.add_row(token.id_tag, token.status, _when(token.expiry_date), token.parent_id_tag or "—")
    console.print(table)


# -- simulation ----------------------------------------------------------------------------------


def _fleet() -> Any:
    try:
        fleet = importlib.import_module("hil_tests.fleet")
    except ModuleNotFoundError as error:
        if error.name in ("hil_tests", "hil_tests.fleet"):
            raise _fail("the simulation fleet (hil_tests/fleet.py) is not in this checkout") from None
        raise _fail(f"the simulation fleet cannot be loaded: {error}") from None
    return fleet


def _exit_code(result: Any) -> None:
    if isinstance(result, int) and result != 0:
        raise typer.Exit(result)


@app.command()
def sim(
    stations: Annotated[int, typer.Option(help="How many simulated stations.", min=1)] = 1,
    backend_url: Annotated[str, typer.Option("--backend", help="OCPP URL without the station id.")] = (
        "ws://127.0.0.1:9000/ocpp"
    ),
    password: Annotated[
        str | None, typer.Option(help="Password of every simulated station (default: the fleet's demo one).")
    ] = None,
    data_dir: Annotated[str, typer.Option(help="Where each station's data directory is made.")] = (
        "./frostgrid-sim"
    ),
    heap: Annotated[
        str | None,
        typer.Option(help="MicroPython heap size of each firmware process (default: as in make demo)."),
    ] = None,
) -> None:
    """Run N firmware processes (MicroPython) with their plant models against a backend."""
    fleet = _fleet()
    if heap is None:
        heap = fleet.FLEET_HEAP  # one value for `frostgrid sim` and `make demo` (hil_tests/fleet.py)
    if password is None:
        password = getattr(fleet, "DEMO_PASSWORD", "frostgrid")
    _exit_code(
        fleet.run_sim(
            backend_url=backend_url, stations=stations, password=password, data_dir=data_dir, heap=heap
        )
    )


@app.command()
def demo(
    stations: Annotated[int, typer.Option(help="How many simulated stations.", min=1)] = 10,
    data_dir: Annotated[str, typer.Option(help="Where the demo keeps its database and stations.")] = (
        "./frostgrid-demo"
    ),
) -> None:
    """The README demo: a backend, N stations in MicroPython, sessions on a schedule, a live table."""
    fleet = _fleet()
    _exit_code(fleet.run_demo(stations=stations, data_dir=data_dir))


from ocpp_backend.access_cli import token_app, user_app  # noqa: E402 - commands of their own module

app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(importlib.import_module("installer.cli").device_app, name="device")  # installer tooling
app.add_typer(importlib.import_module("gateway.cli").gateway_app, name="gateway")  # grid dispatch gateway
app.add_typer(importlib.import_module("gateway.cli").dispatch_app, name="dispatch")  # V2G dispatch


def main() -> None:
    """Entry point of the ``frostgrid`` console script."""
    app()


if __name__ == "__main__":
    sys.exit(main())
