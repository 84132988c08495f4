"""A private Mosquitto for tests: generated config (users, passwords, ACL) on a free loopback port."""

from __future__ import annotations

import getpass
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.mosquitto import BrokerPlan

MOSQUITTO = "/usr/sbin/mosquitto"
PREFIX = "frostgrid/test-region"
USERS = {
    "gateway": "gw-secret",
    "grid-a": "grid-secret",
    "backend-1": "bus-secret",
    "viewer": "viewer-secret",
}


@dataclass
class Broker:
    """A running broker and the users it knows."""

    host: str
    port: int
    plan: BrokerPlan


def free_port() -> int:
    """A free TCP port on loopback (bind to port 0, read it, release it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_broker(directory: Path) -> Iterator[Broker]:
    """Start Mosquitto with the grid interface's generated configuration; stop it after."""
    port = free_port()
    plan = BrokerPlan(
        prefix=PREFIX,
        port=port,
        gateway=("gateway", USERS["gateway"]),
        parties={"grid-a": USERS["grid-a"]},
        bus_users={"backend-1": USERS["backend-1"]},
        others={"viewer": USERS["viewer"]},
        run_as=getpass.getuser(),
    )
    conf = plan.write(directory)
    process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {process.stderr.read()!r}") from None
                time.sleep(0.05)
        yield Broker("127.0.0.1", port, plan)
    finally:
        process.terminate()
        process.wait(5)
