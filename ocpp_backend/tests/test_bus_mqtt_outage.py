"""The MQTT bus through a broker outage (events buffered in order, bounded, flushed after the
restart; commands fail within their timeout) and over TLS with a client certificate.

Each test runs its own Mosquitto (the generated configuration of ``gateway.mosquitto``) on a free
loopback port, and stops and restarts it on that port. A node's way back to the broker can be held
shut by a ``Gate`` (a loopback TCP relay the test opens and closes): after a restart, the receiving
node is reconnected before the publishing one flushes. (Mosquitto 2.0.11 does not restore the
sessions of clients that were connected when it stopped, so without the gate the order in which
the nodes come back would decide what the receiver gets.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import ipaddress
import logging
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.mosquitto import BrokerPlan
from gateway.tests.broker import MOSQUITTO, free_port
from ocpp_backend.bus import Command, CommandTimeout, Event
from ocpp_backend.bus_mqtt import MqttBus, bus_from_env
from ocpp_backend.settings import Settings

BUS_USER, BUS_PASSWORD = "backend-1", "bus-secret"
FAST = {"reconnect_min_s": 0.05, "reconnect_max_s": 0.2}  # back-off of the nodes under test


class Mosquitto:
    """A private broker that can be stopped and started again on the same port."""

    def __init__(self, directory: Path, tls_lines: str = "") -> None:
        self.port = free_port()
        self.directory = directory
        plan = BrokerPlan(
            prefix="frostgrid/test-region",
            port=self.port,
            gateway=("gateway", "gw-secret"),
            bus_users={BUS_USER: BUS_PASSWORD},
            run_as=getpass.getuser(),
        )
        self.conf = plan.write(directory)
        text = self.conf.read_text()
        listener = f"listener {self.port} 127.0.0.1\n"
        self.conf.write_text(text.replace(listener, listener + tls_lines))
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, scheme: str = "mqtt", port: int | None = None) -> str:
        return f"{scheme}://{BUS_USER}:{BUS_PASSWORD}@127.0.0.1:{port or self.port}/frostgrid/bus"

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    err = self.process.stderr.read() if self.process.stderr else b""
                    raise RuntimeError(f"mosquitto did not start: {err!r}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the broker (SIGTERM); every client connection drops."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


class Gate:
    """A loopback TCP relay to the broker that the test shuts and opens: shut, it drops the
    connections through it and stops listening (the broker is unreachable for that node only)."""

    def __init__(self, broker_port: int) -> None:
        self.broker_port = broker_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def shut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.broker_port)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.transport.abort()
                self._links.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    started = Mosquitto(tmp_path / "mosquitto")
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def nodes(broker: Mosquitto) -> AsyncIterator[tuple[MqttBus, MqttBus, Gate]]:
    """Node a (the publisher, reaching the broker through a gate) and node b (directly)."""
    gate = Gate(broker.port)
    await gate.open()
    a = MqttBus.from_url(broker.url(port=gate.port), "node-a", **FAST)
    b = MqttBus.from_url(broker.url(), "node-b", **FAST)
    await a.start()
    await b.start()
    yield a, b, gate
    await a.close()
    await b.close()
    await gate.shut()


async def _until(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def _outage(broker: Mosquitto, gate: Gate, *buses: MqttBus) -> None:
    """The broker stops; the gated node will not get back before the test opens its gate."""
    await gate.shut()
    broker.stop()
    await _until(lambda: not any(bus.connected for bus in buses))


async def _back(broker: Mosquitto, gate: Gate, direct: MqttBus) -> None:
    """The broker restarts; once the directly connected node is back, the gate opens."""
    broker.start()
    await _until(lambda: direct.connected)
    await gate.open()


async def _receive(subscription: Any, n: int) -> list[Event]:
    return [await subscription.get(10) for _ in range(n)]


async def test_events_published_while_the_broker_is_down_arrive_in_order_after_it_restarts(
    broker: Mosquitto, nodes: tuple[MqttBus, MqttBus, Gate]
) -> None:
    a, b, gate = nodes
    on_a, on_b = a.subscribe(["session.started"]), b.subscribe(["session.started"])
    await a.publish(Event("session.started", "CP-1", {"n": -1}))  # before the outage
    assert (await on_b.get(5)).data == {"n": -1}
    await on_a.get(5)

    await _outage(broker, gate, a, b)
    t0 = time.monotonic()
    for n in range(40):
        await a.publish(Event("session.started", "CP-1", {"n": n}))
    assert time.monotonic() - t0 < 1.0  # publishing never waits for the broker
    assert a.buffered == 40 and a.dropped == 0
    assert [e.data["n"] for e in await _receive(on_a, 40)] == list(range(40))  # local: at once
    assert on_b.queue.empty()

    await _back(broker, gate, b)
    got = await _receive(on_b, 40)
    assert [e.data["n"] for e in got] == list(range(40))
    assert {e.station_id for e in got} == {"CP-1"}
    await _until(lambda: a.buffered == 0)
    # and the bus carries on as before, newer events after the buffered ones
    await a.publish(Event("session.started", "CP-2", {"n": 40}))
    assert (await on_b.get(5)).data == {"n": 40}


async def test_a_full_buffer_drops_the_oldest_droppable_events_first_and_counts_them(
    broker: Mosquitto, nodes: tuple[MqttBus, MqttBus, Gate], caplog: pytest.LogCaptureFixture
) -> None:
    a, b, gate = nodes
    a.max_buffered = 5
    kinds = ["meter.readings", "session.started", "session.stopped"]
    on_b = b.subscribe(kinds)
    await _outage(broker, gate, a, b)
    sent = [
        ("meter.readings", "m0"), ("session.started", "s0"), ("meter.readings", "m1"),
        ("session.stopped", "s1"), ("session.started", "s2"),
        ("session.started", "s3"),  # full: m0 goes
        ("session.stopped", "s4"),  # full: m1 goes
        ("session.started", "s5"),  # full, nothing droppable left: the oldest (s0) goes
    ]
    with caplog.at_level(logging.WARNING, logger="ocpp_backend.bus_mqtt"):
        for kind, tag in sent:
            await a.publish(Event(kind, "CP-1", {"tag": tag}))
    assert a.dropped == 3 and a.buffered == 5
    warnings = [r.getMessage() for r in caplog.records if "dropped the oldest" in r.getMessage()]
    assert warnings and "meter.readings" in warnings[0] and "session.started" in warnings[-1]

    await _back(broker, gate, b)
    got = await _receive(on_b, 5)
    assert [(e.kind, e.data["tag"]) for e in got] == sent[3:]
    await asyncio.sleep(0.3)
    assert on_b.queue.empty()


async def test_a_node_cut_off_for_a_moment_gets_the_events_published_meanwhile(
    broker: Mosquitto, nodes: tuple[MqttBus, MqttBus, Gate]
) -> None:
    # the broker stays up; only node a's link drops: its session keeps what was published meanwhile
    a, b, gate = nodes
    on_a = a.subscribe(["connector.status"])
    await gate.shut()
    await _until(lambda: not a.connected)
    for n in range(10):
        await b.publish(Event("connector.status", "CP-3", {"n": n}))
    await gate.open()
    assert [e.data["n"] for e in await _receive(on_a, 10)] == list(range(10))


async def test_a_command_while_the_broker_is_down_fails_within_its_timeout_naming_the_broker(
    broker: Mosquitto, nodes: tuple[MqttBus, MqttBus, Gate]
) -> None:
    a, b, gate = nodes

    async def station(command: Command) -> dict[str, Any]:
        return {"status": "Accepted"}

    a.attach("CP-1", station)
    await _outage(broker, gate, a, b)
    t0 = time.monotonic()
    with pytest.raises(CommandTimeout, match="broker 127.0.0.1:.* unreachable: Reset for station CP-1"):
        await b.send_command(Command("CP-1", "Reset", {"type": "Soft"}), 0.5)
    assert 0.4 < time.monotonic() - t0 < 3.0
    assert b.buffered == 0  # a command is never kept for later


async def test_a_command_waits_for_the_broker_within_its_timeout(
    broker: Mosquitto, nodes: tuple[MqttBus, MqttBus, Gate]
) -> None:
    asker, holder, gate = nodes  # the asker comes back through the gate, after the holder

    async def station(command: Command) -> dict[str, Any]:
        return {"status": "Accepted", "action": command.action}

    holder.attach("CP-7", station)
    await _outage(broker, gate, asker, holder)
    pending = asyncio.create_task(asker.send_command(Command("CP-7", "UnlockConnector", {}), 15))
    await asyncio.sleep(0.5)
    assert not pending.done()
    await _back(broker, gate, holder)
    assert await asyncio.wait_for(pending, 15) == {"status": "Accepted", "action": "UnlockConnector"}


# -- TLS ---------------------------------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = False,
    ip: str | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    crt, pem = path.with_suffix(".crt"), path.with_suffix(".key")
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return str(crt), str(pem)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, dict[str, str]]]:
    """A broker with a TLS listener that requires a client certificate from the test CA."""
    pki = tmp_path / "pki"
    pki.mkdir()
    ca_key = _key()
    ca = _cert("Frostgrid test CA", ca_key, ca=True)
    ca_file, _ = _write(pki / "ca", ca, ca_key)
    server_key, client_key = _key(), _key()
    server_cert = _cert("broker", server_key, (ca.subject, ca_key), ip="127.0.0.1")
    server = _write(pki / "server", server_cert, server_key)
    client = _write(pki / "node", _cert("backend-1", client_key, (ca.subject, ca_key)), client_key)
    tls = (
        f"cafile {ca_file}\ncertfile {server[0]}\nkeyfile {server[1]}\n"
        "require_certificate true\nuse_identity_as_username false\n"
    )
    started = Mosquitto(tmp_path / "mosquitto", tls)
    started.start()
    try:
        yield started, {"tls_ca_file": ca_file, "tls_cert_file": client[0], "tls_key_file": client[1]}
    finally:
        started.stop()


async def test_the_bus_runs_over_tls_with_a_client_certificate(
    tls_broker: tuple[Mosquitto, dict[str, str]],
) -> None:
    broker, files = tls_broker
    a = MqttBus.from_url(broker.url("mqtts"), "tls-a", **files)
    b = MqttBus.from_url(broker.url("mqtts"), "tls-b", **files)
    await a.start()
    await b.start()
    try:
        on_b = b.subscribe(["station.connected"])
        await a.publish(Event("station.connected", "CP-9", {"over": "tls"}))
        assert (await on_b.get(5)).data == {"over": "tls"}
    finally:
        await a.close()
        await b.close()


async def test_the_tls_broker_refuses_plain_clients_and_clients_without_a_certificate(
    tls_broker: tuple[Mosquitto, dict[str, str]],
) -> None:
    broker, files = tls_broker
    plain = MqttBus.from_url(broker.url(), "plain", timeout_s=2.0)
    with pytest.raises(aiomqtt.MqttError):
        await plain.start()
    anonymous = MqttBus.from_url(
        broker.url("mqtts"), "no-cert", tls_ca_file=files["tls_ca_file"], timeout_s=2.0
    )
    with pytest.raises(aiomqtt.MqttError):
        await anonymous.start()


def test_the_backend_bus_takes_its_tls_files_and_buffer_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, tls_broker: tuple[Mosquitto, dict[str, str]]
) -> None:
    broker, files = tls_broker
    monkeypatch.setenv("FROSTGRID_BUS_URL", broker.url())
    monkeypatch.setenv("FROSTGRID_BUS_TLS_CA", files["tls_ca_file"])
    monkeypatch.setenv("FROSTGRID_BUS_BUFFER_EVENTS", "77")
    settings = Settings(bus_tls_cert_file=files["tls_cert_file"], bus_tls_key_file=files["tls_key_file"])
    bus = bus_from_env(settings)
    assert isinstance(bus, MqttBus) and bus.max_buffered == 77

    async def connects() -> None:
        await bus.start()  # mutual TLS on the plain mqtt:// URL: the settings turned it on
        await bus.close()

    asyncio.run(connects())
    with pytest.raises(ValueError, match="certificate file"):
        MqttBus.from_url(broker.url(), tls_key_file=files["tls_key_file"])
