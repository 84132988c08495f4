"""The `frostgrid gateway` and `frostgrid dispatch` commands."""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import pytest
from typer.testing import CliRunner

from gateway.service import Gateway, GatewayConfig
from gateway.tests.broker import MOSQUITTO, PREFIX, USERS, Broker, free_port
from gateway.tests.test_gateway_mqtt import fake_dispatcher
from ocpp_backend.bus import InProcessBus
from ocpp_backend.cli import app

runner = CliRunner()


def test_groups_made_on_the_command_line_are_listed_with_their_stations(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'fg.db'}"
    for station in ("CP-A", "CP-B"):
        assert (
            runner.invoke(
                app, ["station", "add", station, "--password", "secret-pass-1", "--db", db]
            ).exit_code
            == 0
        )
    added = runner.invoke(app, ["dispatch", "group", "add", "feeder-7", "CP-A", "CP-B", "--db", db])
    listed = runner.invoke(app, ["dispatch", "group", "list", "--db", db])
    assert added.exit_code == 0, added.output
    assert "feeder-7: CP-A, CP-B" in listed.output


def test_the_generated_broker_config_refuses_anonymous_clients(tmp_path: Path) -> None:
    port = free_port()
    result = runner.invoke(
        app,
        [
            "gateway",
            "mosquitto-config",
            str(tmp_path / "mq"),
            "--port",
            str(port),
            "--prefix",
            PREFIX,
            "--gateway-password",
            "gw",
            "--party",
            "grid-a:pw-a",
            "--run-as",
            getpass.getuser(),
        ],
    )
    assert result.exit_code == 0, result.output
    broker = subprocess.Popen(
        [MOSQUITTO, "-c", str(tmp_path / "mq" / "mosquitto.conf")], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert broker.poll() is None and time.monotonic() < deadline, broker.stderr.read()
                time.sleep(0.05)

        async def connect(user: str | None, password: str | None) -> None:
            async with aiomqtt.Client("127.0.0.1", port, username=user, password=password):
                pass

        asyncio.run(connect("grid-a", "pw-a"))
        with pytest.raises(aiomqtt.MqttError):
            asyncio.run(connect(None, None))
    finally:
        broker.terminate()
        broker.wait(5)


async def test_dispatch_send_prints_the_acks_until_the_order_is_accepted(broker: Broker) -> None:
    bus = InProcessBus()
    answering = asyncio.create_task(fake_dispatcher(bus, ["accepted"]))
    gateway = Gateway(GatewayConfig(PREFIX, broker.host, broker.port, "gateway", USERS["gateway"]), bus)
    running = asyncio.create_task(gateway.run())
    try:
        await asyncio.wait_for(gateway.ready.wait(), 10)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ocpp_backend.cli",
            "dispatch",
            "send",
            "--group",
            "feeder-7",
            "--targets",
            "100,-50",
            "--order-id",
            "ORD-CLI",
            "--party",
            "grid-a",
            "--host",
            broker.host,
            "--port",
            str(broker.port),
            "--prefix",
            PREFIX,
            "--user",
            "grid-a",
            "--password",
            USERS["grid-a"],
            "--wait-s",
            "20",
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        running.cancel()
        answering.cancel()
    lines = [line for line in out.decode().splitlines() if "dispatch/ack/ORD-CLI" in line]
    assert process.returncode == 0, out.decode()
    stages = [json.loads(line.split(" ", 1)[1])["stage"] for line in lines]
    assert stages == ["received", "accepted"]
