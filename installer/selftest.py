"""`frostgrid device selftest`: run firmware/selftest.py on the board and collect its checklist.

The board is soft-reset (the firmware stops, the heap is fresh), the firmware folder the boot
selector would run (fw/, else fw.prev/) goes on sys.path, and `selftest.main(...)` runs there. It
prints `SELFTEST {json}` per check and `SELFTEST_END <failures>`; each check arrives here as it
is printed (for a live checklist) and ends up in a `Check`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from installer.link import BoardError, BoardLink

_MARK = "SELFTEST "
_END = "SELFTEST_END "


@dataclass(frozen=True)
class Check:
    """One line of the checklist."""

    check: str  # e.g. "sensor electronics", "heater display", "meter", "backend"
    ok: bool
    value: Any
    detail: str


def parse_line(line: str) -> Check | None:
    """A `SELFTEST {...}` line → Check; anything else → None."""
    line = line.strip()
    if not line.startswith(_MARK):
        return None
    d = json.loads(line[len(_MARK) :])
    return Check(str(d["check"]), bool(d["ok"]), d.get("value"), str(d.get("detail") or ""))


def run_selftest(
    port: str,
    rise_k: float = 1.0,
    heat_s: int = 600,
    wall_s: int = 120,
    skip: tuple[str, ...] = (),
    on_check: Callable[[Check], None] | None = None,
    base_s: int = 120,
) -> list[Check]:
    """Run the on-board self-test; the checks in order. BoardError if it could not run to its end."""
    checks: list[Check] = []
    buf = bytearray()
    ended: list[int] = []

    def feed(data: bytes) -> None:
        buf.extend(data)
        while b"\n" in buf:
            i = buf.index(b"\n")
            line = buf[:i].decode(errors="replace")
            del buf[: i + 1]
            c = parse_line(line)
            if c is not None:
                checks.append(c)
                if on_check is not None:
                    on_check(c)
            elif line.strip().startswith(_END.strip()):
                ended.append(int(line.split()[1]))

    code = (
        "import sys, os\n"
        "try:\n os.stat('fw/main.py'); _d = 'fw'\nexcept OSError:\n _d = 'fw.prev'\n"
        "sys.path.insert(0, _d)\n"
        "import selftest\n"
        f"selftest.main(rise_k={rise_k!r}, heat_s={int(heat_s)}, wall_s={int(wall_s)}, "
        f"skip={tuple(skip)!r}, base_s={int(base_s)})\n"
    )
    with BoardLink(port) as link:
        try:
            link.exec(code, timeout_s=wall_s + 60, on_output=feed)
        except BoardError as error:
            if "selftest" in str(error) and "ImportError" in str(error):
                raise BoardError(
                    "the firmware on the board has no selftest module: deploy a bundle "
                    "built by this version (frostgrid device build + deploy)"
                ) from None
            raise
    if not ended:
        raise BoardError("the self-test did not finish on the board")
    return checks
