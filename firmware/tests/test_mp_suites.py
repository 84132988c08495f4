"""Collect every `test_*` function of the MicroPython suites in `mp/` and run it in MicroPython."""

from __future__ import annotations

import re
from functools import lru_cache

import pytest

from firmware.tests.mp_bridge import MP_TESTS_DIR, run_suite

_DEF = re.compile(r"^def (test_\w+)\(", re.M)


def _cases() -> list[tuple[str, str]]:
    cases = []
    for path in sorted(MP_TESTS_DIR.glob("test_*.py")):
        for name in _DEF.findall(path.read_text()):
            cases.append((path.stem, name))
    return cases


@lru_cache(maxsize=None)
def _suite(module: str, tmp: str) -> dict[str, str]:
    from pathlib import Path
    return run_suite(module, cwd=Path(tmp))


@pytest.mark.parametrize(("module", "name"), _cases(), ids=[f"{m}::{n}" for m, n in _cases()])
def test_micropython(module: str, name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each MicroPython test runs in the real interpreter with the ESP32 heap cap."""
    tmp = tmp_path_factory.getbasetemp() / f"mp_{module}"
    tmp.mkdir(exist_ok=True)
    results = _suite(module, str(tmp))
    assert name in results, f"{module}.{name} did not run"
    assert results[name] == "PASS", results[name]
