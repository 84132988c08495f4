"""The fleet's firmware heap: one value for `make demo` and `frostgrid sim`, the one tests run with."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from hil_tests import dut, fleet
from ocpp_backend import cli


def test_fleet_runs_the_firmware_with_the_heap_the_hil_tests_use() -> None:
    assert dut.parse_heap(fleet.FLEET_HEAP) == dut.parse_heap(dut.DEFAULT_HEAP)


def _stub_fleet(calls: list[dict[str, Any]]) -> SimpleNamespace:
    def run_sim(**kwargs: Any) -> int:
        calls.append(kwargs)
        return 0

    return SimpleNamespace(run_sim=run_sim, FLEET_HEAP="77k", DEMO_PASSWORD="pw")


@pytest.mark.parametrize(("args", "heap"), [([], "77k"), (["--heap", "300k"], "300k")])
def test_sim_takes_the_fleets_heap_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                          heap: str) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "_fleet", lambda: _stub_fleet(calls))
    result = CliRunner().invoke(cli.app, ["sim", *args])
    assert result.exit_code == 0, result.output
    assert [c["heap"] for c in calls] == [heap]
