"""`frostgrid device ...`: the installer's commands (registered in ocpp_backend/cli.py).

Order on site: build → flash → deploy → provision → selftest (docs/installing.md). Every command
takes `--json` (one JSON object on stdout, for scripts) and exits non-zero on failure, with a
message on stderr that names the field or the step. Secrets (station password, Wi-Fi passphrase)
come from a file, the environment or a no-echo prompt, and are never printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hil_tests.dut import REPO_DIR

device_app = typer.Typer(
    help="Build, flash, deploy, provision and self-test a station controller.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True, soft_wrap=True)

PortOpt = Annotated[str, typer.Option("--port", "-p", help="Serial port of the board, e.g. /dev/ttyUSB0.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def _default_bundle(target: str) -> Path:
    return REPO_DIR / "build" / f"bundle-{target}"


def _fail(message: str, as_json: bool, code: int = 1, **extra: Any) -> typer.Exit:
    if as_json:
        print(json.dumps({"ok": False, "error": message, **extra}))
    else:
        err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(code)


# --- build ------------------------------------------------------------------------------------------
@device_app.command()
def build(
    target: Annotated[str, typer.Option(help="xtensawin (ESP32) or host (the unix port).")] = "xtensawin",
    out: Annotated[Path | None, typer.Option(help="Bundle folder (default build/bundle-<target>).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compile the firmware with mpy-cross into a bundle with a manifest (version, files, SHA-256)."""
    from installer.build import BuildError, build_bundle

    dst = out or _default_bundle(target)
    try:
        with (
            console.status(f"compiling the firmware for {target}…", spinner="dots")
            if not as_json
            else contextlib.nullcontext()
        ):
            manifest = build_bundle(target, dst)
    except BuildError as error:
        raise _fail(str(error), as_json) from None
    size = sum(e["size"] for e in manifest["files"])
    if as_json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "bundle": str(dst),
                    "version": manifest["version"],
                    "target": target,
                    "files": len(manifest["files"]),
                    "bytes": size,
                }
            )
        )
        return
    console.print(
        f"bundle [bold]{dst}[/]: {len(manifest['files'])} files, {size} bytes, "
        f"version {manifest['version']}, {manifest['mpy_cross']}"
    )


# --- flash ------------------------------------------------------------------------------------------
@device_app.command()
def flash(
    port: PortOpt,
    image: Annotated[
        Path, typer.Option(help="MicroPython image (.bin) from micropython.org/download/ESP32_GENERIC/.")
    ],
    erase: Annotated[
        bool, typer.Option(help="Erase the whole flash first (a new board, or a broken filesystem).")
    ] = False,
    chip: Annotated[str, typer.Option(help="esp32, esp32s2, esp32s3, esp32c3 or esp32c6.")] = "esp32",
    baud: Annotated[int, typer.Option(help="Serial speed while writing.")] = 460800,
    connect_attempts: Annotated[
        int | None, typer.Option(help="esptool's tries to reach the bootloader.")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Check and print the esptool commands only.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write MicroPython to the board with esptool (image and port checked first)."""
    from installer import flash as fl
    from installer.link import PortError

    try:
        p = fl.plan(port, image, chip, erase, baud, connect_attempts)
        if dry_run:
            fl.check_port(port)
        else:
            with (
                console.status("flashing (do not unplug the board)…")
                if not as_json
                else contextlib.nullcontext()
            ):
                fl.run(p, port, echo=False)
    except (fl.FlashError, PortError) as error:
        raise _fail(str(error), as_json) from None
    result = {
        "ok": True,
        "port": port,
        "chip": chip,
        "address": hex(p.address),
        "image": str(image),
        "commands": [" ".join(c[2:]) for c in p.commands],
        "written": not dry_run,
    }
    if as_json:
        print(json.dumps(result))
        return
    for c in result["commands"]:
        console.print(("would run: " if dry_run else "ran: ") + c, highlight=False)
    if not dry_run:
        console.print("[green]MicroPython written.[/] Next: frostgrid device deploy --port " + port)


# --- deploy -----------------------------------------------------------------------------------------
@device_app.command()
def deploy(
    port: PortOpt,
    bundle: Annotated[
        Path | None, typer.Option(help="Bundle folder (default build/bundle-xtensawin).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy the bundle to the board (changed files only), verify on the board, then switch."""
    from installer.build import BuildError
    from installer.deploy import deploy as do_deploy
    from installer.link import BoardError

    src = bundle or _default_bundle("xtensawin")
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=as_json,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def on_progress(what: str, advance: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = progress.add_task("sending" if what == "bytes" else "staging files", total=total)
        progress.update(tasks[what], advance=advance)

    def on_step(name: str) -> None:
        if not as_json and name not in ("done", "switched-out"):
            progress.console.print(f"· {name}", highlight=False)

    try:
        with progress:
            report = do_deploy(port, src, progress=on_progress, on_step=on_step)
    except (BoardError, BuildError) as error:
        raise _fail(str(error), as_json) from None
    if as_json:
        print(json.dumps({"ok": True, **report.as_dict()}))
        return
    console.print(
        f"[green]deployed[/] {report.version} ({report.target}) over "
        f"{report.previous_version or 'nothing'}: {len(report.sent)} files sent "
        f"({report.bytes_sent} bytes), {len(report.kept)} unchanged, {report.verified} verified on the board"
    )


# --- provision --------------------------------------------------------------------------------------
def _parse_zone(text: str) -> dict[str, Any]:
    parts = text.split(":")
    if not 3 <= len(parts) <= 5:
        raise typer.BadParameter("zone: NAME:MIN_C:CUTOFF_C[:HEATER_W[:GUARDS]]")
    z: dict[str, Any] = {"name": parts[0], "min_c": parts[1], "cutoff_c": parts[2]}
    if len(parts) > 3:
        z["heater_w"] = parts[3]
    if len(parts) > 4:
        z["guards"] = parts[4]
    return z


def _secret(file: Path | None, env: str, prompt: str, required: bool) -> str | None:
    if file is not None:
        try:
            return file.read_text().strip()
        except OSError as error:
            raise typer.BadParameter(f"cannot read {file}: {error.strerror}") from None
    if os.environ.get(env):
        return os.environ[env]
    if required and sys.stdin.isatty():
        return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))
    return None


@device_app.command()
def provision(
    port: PortOpt,
    config: Annotated[
        Path | None, typer.Option(help="station.toml with the settings (flags override it).")
    ] = None,
    station_id: Annotated[str | None, typer.Option("--id", help="Station id, e.g. FG-0001.")] = None,
    url: Annotated[
        str | None, typer.Option(help="Backend OCPP URL, e.g. wss://csms.example.net/ocpp.")
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            help="File with the station password (else $FROSTGRID_STATION_PASSWORD, else a prompt)."
        ),
    ] = None,
    tls_ca: Annotated[
        Path | None, typer.Option(help="PEM file of the CA that signed the backend (wss://).")
    ] = None,
    wifi_ssid: Annotated[str | None, typer.Option(help="Wi-Fi network name.")] = None,
    wifi_psk_file: Annotated[
        Path | None,
        typer.Option(help="File with the Wi-Fi passphrase (else $FROSTGRID_WIFI_PSK, else a prompt)."),
    ] = None,
    ethernet: Annotated[bool, typer.Option(help="The board uses Ethernet, not Wi-Fi.")] = False,
    meter_model: Annotated[str | None, typer.Option(help="Energy meter model, e.g. DTSU666.")] = None,
    meter_address: Annotated[int | None, typer.Option(help="Modbus address of the meter (1..247).")] = None,
    zone: Annotated[
        list[str] | None,
        typer.Option(help="Heater zone NAME:MIN_C:CUTOFF_C[:HEATER_W[:GUARDS]] (repeat per zone)."),
    ] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude (degrees).")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude (degrees).")] = None,
    board: Annotated[str | None, typer.Option(help="esp32 (default) or sim.")] = None,
    plant: Annotated[str | None, typer.Option(help="Plant address host:port (sim board only).")] = None,
    register: Annotated[bool, typer.Option(help="Also register the station with the backend's API.")] = False,
    api_url: Annotated[
        str | None, typer.Option(help="Backend REST API, e.g. https://csms.example.net/api/v1/.")
    ] = None,
    api_token: Annotated[
        str | None,
        typer.Option(envvar="FROSTGRID_API_TOKEN", show_envvar=True, help="Admin API token for --register."),
    ] = None,
    qr: Annotated[bool, typer.Option(help="Print a QR label with the station id.")] = True,
    qr_png: Annotated[Path | None, typer.Option(help="Also save the QR label as a PNG.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the station's configuration to the board (validated, atomically); optionally register it."""
    from installer import provision as pv
    from installer.link import BoardError, BoardLink

    over: dict[str, Any] = {"id": station_id, "url": url, "board": board, "plant": plant}
    if tls_ca is not None:
        over["tls_ca_file"] = str(tls_ca.resolve())
    if ethernet:
        over["network"] = {"kind": "ethernet"}
    elif wifi_ssid:
        over["network"] = {"kind": "wifi", "ssid": wifi_ssid}
    if meter_model or meter_address:
        over["meter"] = {
            k: v for k, v in (("model", meter_model), ("address", meter_address)) if v is not None
        }
    if zone:
        over["zones"] = [_parse_zone(z) for z in zone]
    if lat is not None or lon is not None:
        over["location"] = {"lat": lat, "lon": lon}
    try:
        data = pv.load_settings(config, over)
        if "password" not in data:
            secret = _secret(password_file, "FROSTGRID_STATION_PASSWORD", "Station password", True)
            if secret is not None:
                data["password"] = secret
        net = data.get("network") or {}
        if net.get("kind", "wifi") == "wifi" and net.get("ssid") and "psk" not in net:
            psk = _secret(wifi_psk_file, "FROSTGRID_WIFI_PSK", "Wi-Fi passphrase", True)
            if psk is not None:
                net["psk"] = psk
        settings = pv.validate(data)
        with BoardLink(port) as link:  # the port first: a wrong port must not register anything
            if register:
                pv.register(api_url or "", api_token, settings)
            pv.write_to_board(link, settings)
    except pv.ProvisionError as error:
        raise _fail(str(error), as_json, field=error.field) from None
    except BoardError as error:
        raise _fail(f"{error} (the board's previous configuration is unchanged)", as_json) from None
    if qr_png is not None:
        pv.qr_png(settings.id, qr_png)
    if as_json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "station": settings.public(),
                    "registered": register,
                    "qr_png": str(qr_png) if qr_png else None,
                }
            )
        )
        return
    console.print(
        f"[green]provisioned[/] {settings.id} → {settings.url}"
        + (" and registered with the backend" if register else "")
    )
    if qr:
        console.print(pv.qr_text(settings.id), highlight=False)
        console.print(f"label: {settings.id}" + (f" (PNG: {qr_png})" if qr_png else ""))


# --- selftest ---------------------------------------------------------------------------------------
@device_app.command()
def selftest(
    port: PortOpt,
    rise_k: Annotated[float, typer.Option(help="Warming each heater must give its zone (K).")] = 1.0,
    heat_s: Annotated[
        int, typer.Option(help="Longest heat-up per zone on the board's thermal clock (s).")
    ] = 600,
    wall_s: Annotated[int, typer.Option(help="Longest heat-up per zone in real time (s).")] = 120,
    base_s: Annotated[
        int, typer.Option(help="Time each zone is watched with its heater off first (thermal clock, s).")
    ] = 120,
    skip: Annotated[
        list[str] | None, typer.Option(help="Skip a check: sensors, heaters, meter, backend.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the on-board checks (sensors, heaters, meter, backend) and print the checklist."""
    from installer.link import BoardError
    from installer.selftest import Check, run_selftest

    def live(c: Check) -> None:
        if not as_json:
            mark = "[green]PASS[/]" if c.ok else "[bold red]FAIL[/]"
            err.print(f"{mark} {escape(c.check)}: {escape(c.detail)}", highlight=False)

    t0 = time.monotonic()
    try:
        checks = run_selftest(port, rise_k, heat_s, wall_s, tuple(skip or ()), on_check=live, base_s=base_s)
    except BoardError as error:
        raise _fail(str(error), as_json) from None
    failed = [c for c in checks if not c.ok]
    if as_json:
        print(
            json.dumps(
                {
                    "ok": not failed,
                    "checks": [c.__dict__ for c in checks],
                    "failed": [c.check for c in failed],
                    "seconds": round(time.monotonic() - t0, 1),
                }
            )
        )
    else:
        table = Table(title="Station self-test")
        for col in ("check", "result", "value", "detail"):
            table.add_column(col)
        for c in checks:
            table.add_row(
                escape(c.check),
                "[green]PASS[/]" if c.ok else "[bold red]FAIL[/]",
                "" if c.value is None else str(c.value),
                escape(c.detail),
            )
        console.print(table)
        console.print(
            f"[bold red]{len(failed)} check(s) failed:[/] {', '.join(c.check for c in failed)}"
            if failed
            else "[green]all checks passed[/]"
        )
    if failed or not checks:
        raise typer.Exit(1)


# --- sim --------------------------------------------------------------------------------------------
@device_app.command()
def sim(
    flash_dir: Annotated[Path, typer.Option(help="Folder playing the board's flash.")] = Path(
        "./frostgrid-board"
    ),
    link: Annotated[
        Path | None, typer.Option(help="Also make this symlink to the board's serial port.")
    ] = None,
    station_id: Annotated[str, typer.Option("--id", help="Station id the plant serves.")] = "FG-SIM-1",
    time_scale: Annotated[float, typer.Option(help="Thermal clock speed-up of the plant.")] = 60.0,
    dead_sensor: Annotated[str | None, typer.Option(help="Zone whose thermistor is broken.")] = None,
    dead_heater: Annotated[str | None, typer.Option(help="Zone whose heater gives no heat.")] = None,
    silent_meter: Annotated[bool, typer.Option(help="The meter does not answer.")] = False,
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
) -> None:
    """A training board: MicroPython on a pseudo-terminal with a simulated station plant.

    Use the printed port with every other `frostgrid device` command, and the printed plant
    address with `provision --board sim --plant ...`. For a fleet against a backend without the
    installer steps, use `frostgrid sim`."""
    from installer.ptyboard import PtyBoard
    from installer.simrig import SimStation

    station = SimStation(station_id, time_scale=time_scale)
    if dead_sensor:
        station.dead_sensor(dead_sensor)
    if dead_heater:
        station.dead_heater(dead_heater)
    if silent_meter:
        station.silent_meter()
    board = PtyBoard(flash_dir, link=link).power_on()
    try:
        zones = " ".join(
            f"--zone {z.name}:{z.min_c:g}:{z.cutoff_c:g}:{z.heater_w:g}:{z.guards}"
            for z in station.params.zones
        )
        console.print(
            f"board on [bold]{board.port}[/] (flash: {board.flash_dir})\n"
            f"plant on [bold]{station.address}[/] for station {station_id}\n"
            f"provision with: --board sim --plant {station.address} --id {station_id} "
            f"--meter-model {station.meter.emulator.map.name} --meter-address "
            f"{station.meter.emulator.address} {zones}\nCtrl-C stops.",
            highlight=False,
            soft_wrap=True,  # whole lines: they are copied and read by scripts
        )
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        board.close()
        station.close()


# --- memreport --------------------------------------------------------------------------------------
@device_app.command()
def memreport(
    heap: Annotated[
        str, typer.Option(help="Heap cap for the boot run (an ESP32 without PSRAM: ~96k).")
    ] = "96k",
    seconds: Annotated[float, typer.Option(help="How long the capped firmware must run.")] = 5.0,
    as_json: JsonOpt = False,
) -> None:
    """The firmware's memory budget: code and qstrs per module, then a boot under a capped heap."""
    import shlex
    import tempfile

    if str(REPO_DIR) not in sys.path:  # bench/ belongs to the checkout, not to the installed package
        sys.path.append(str(REPO_DIR))
    from bench import firmware_footprint as fp
    from installer.build import FW_DIR, build_bundle
    from installer.memrun import capped_boot

    with (
        console.status("measuring the firmware's code footprint…")
        if not as_json
        else contextlib.nullcontext()
    ):
        res = fp.measure(shlex.split(fp.DEFAULT_FLAGS))
        with tempfile.TemporaryDirectory(prefix="fg-mem-") as tmp:
            build_bundle("host", Path(tmp) / "bundle")
            boot = capped_boot(Path(tmp) / "bundle" / FW_DIR, Path(tmp) / "data", heap, seconds)
    pools, qstrs, _ = res["pools_lazy"]
    summary = {
        "code_after_import_bytes": res["total"],
        "code_goal_bytes": fp.GOAL_CODE_BYTES,
        "code_after_on_demand_loaded_once_bytes": res["after_lazy"],
        "qstrs_after_on_demand_loaded_once": qstrs,
        "qstr_limit": fp.QSTR_POOL_LIMIT,
        "mpy_tree_bytes": res["mpy_bytes"],
        "resident_bytes": res["modules"],
        "on_demand_bytes": res["lazy"],
        "boot": boot,
    }
    ok = res["total"] <= fp.GOAL_CODE_BYTES and qstrs <= fp.QSTR_POOL_LIMIT and boot["ok"]
    if as_json:
        print(json.dumps({"ok": ok, **summary}))
    else:
        t = Table(title="Firmware memory budget")
        t.add_column("figure")
        t.add_column("value", justify="right")
        t.add_column("budget", justify="right")
        t.add_row("code resident after import", f"{res['total']} B", f"{fp.GOAL_CODE_BYTES} B")
        t.add_row("code after every on-demand module once", f"{res['after_lazy']} B", "")
        t.add_row("dynamic qstrs", str(qstrs), str(fp.QSTR_POOL_LIMIT))
        t.add_row(".mpy files", f"{res['mpy_bytes']} B", "")
        for m, v in sorted(res["modules"].items(), key=lambda kv: -kv[1])[:8]:
            t.add_row(f"  resident {m}", f"{v} B", "")
        t.add_row(f"boot with -X heapsize={heap}", "ok" if boot["ok"] else "FAILED", boot["detail"])
        console.print(t)
    if not ok:
        raise typer.Exit(1)
