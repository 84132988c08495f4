"""`bench.thermal_fixed_v` refuses what it cannot run with a clear message, before any simulation."""

from __future__ import annotations

import pytest

from bench.thermal_fixed_v import main


@pytest.mark.parametrize(("argv", "says"), [
    ([], "usage"),
    (["ac8"], "usage"),
    (["ac7", "500Wh"], "whole Wh"),
    (["dc60", "0"], "1..20000"),
    (["dc60", "500", "30000"], "1..20000"),
])
def test_bad_arguments_exit_2_and_say_why(argv: list[str], says: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert says in capsys.readouterr().err
