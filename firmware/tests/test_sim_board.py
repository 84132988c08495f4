"""The sim board (firmware/board/sim.py, in MicroPython) against a stub plant over TCP (§1.3)."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from pathlib import Path

from firmware.tests.mp_bridge import micropython_binary, mp_env

# Runs in MicroPython: one command per stdin line ("poll", "on", "off"), one JSON state line out.
DRIVER = """
import asyncio, json, sys
from board.sim import SimBoard
b = SimBoard({'id': 'FG-T', 'plant': sys.argv[1]})
b._retry_at = 0
async def main():
    await b.start()
    while True:
        cmd = sys.stdin.readline().strip()
        if not cmd:
            return
        if cmd == 'on':
            b.set_contactor(True)
        elif cmd == 'off':
            b.set_contactor(False)
        elif cmd == 'retry':
            b._retry_at = __import__('time').ticks_ms()
        await b.poll()
        print(json.dumps({'linked': b.linked, 'cp': b.cp_state(), 'meter': list(b.meter()),
                          'tag': b.take_id_tag(), 'now': b.now_s()}))
asyncio.run(main())
"""


class StubPlant:
    """Answers hello/get/set like the plant; records requests; can drop the firmware's link."""

    def __init__(self) -> None:
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.requests: list[dict] = []
        self.conn: socket.socket | None = None
        self.cp = "C"
        self.tag: str | None = "CARD9"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.conn = c
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        f = c.makefile("rwb")
        try:
            for line in f:
                req = json.loads(line)
                self.requests.append(req)
                if req["op"] == "get":
                    rep = {"cp": self.cp, "energy_wh": 1500, "power_w": 7000, "tag": self.tag,
                           "t": 1768888800}
                    self.tag = None
                else:
                    rep = {"ok": 1}
                f.write(json.dumps(rep).encode() + b"\n")
                f.flush()
        except (OSError, ValueError):
            pass

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.shutdown(socket.SHUT_RDWR)
            self.conn.close()

    def sets(self) -> list[dict]:
        return [r for r in self.requests if r["op"] == "set"]


def _driver(plant: StubPlant, tmp: Path) -> subprocess.Popen[str]:
    fw = Path(__file__).resolve().parents[1]
    cmd = [micropython_binary(), "-X", "heapsize=100k", "-c", DRIVER, f"127.0.0.1:{plant.port}"]
    return subprocess.Popen(cmd, cwd=tmp, env=mp_env([fw]), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, bufsize=1)


def _step(proc: subprocess.Popen[str], cmd: str) -> dict:
    assert proc.stdin and proc.stdout
    proc.stdin.write(cmd + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def test_sim_board_reads_pilot_meter_card_and_plant_clock(tmp_path: Path) -> None:
    plant = StubPlant()
    proc = _driver(plant, tmp_path)
    try:
        s = _step(proc, "poll")
        assert s["linked"] and s["cp"] == "C" and s["meter"] == [1500, 7000] and s["tag"] == "CARD9"
        assert abs(s["now"] - 1768888800) <= 2  # follows the plant clock until BootNotification sets it
        assert plant.requests[0] == {"op": "hello", "id": "FG-T"}
        assert _step(proc, "poll")["tag"] is None  # a card is reported once
    finally:
        proc.kill()


def test_plant_link_down_reads_no_pilot_and_contactor_command_is_resent(tmp_path: Path) -> None:
    plant = StubPlant()
    proc = _driver(plant, tmp_path)
    try:
        _step(proc, "on")
        assert {"op": "set", "contactor": 1} in plant.sets()
        _step(proc, "poll")
        before = len(plant.requests)
        assert plant.requests[-1] == {"op": "get"}  # nothing resent while the plant has it
        plant.drop()
        s = _step(proc, "poll")
        assert not s["linked"] and s["cp"] == "E"  # no pilot: the connector opens the contactor
        s = _step(proc, "retry")
        assert s["linked"] and s["cp"] == "C"
        assert {"op": "set", "contactor": 1} in plant.requests[before:]  # told again after reconnect
        assert [r["op"] for r in plant.requests].count("hello") == 2
    finally:
        proc.kill()
