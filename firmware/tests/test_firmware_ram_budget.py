"""The firmware's RAM budget as a board sees it: code loaded on demand stays out of the resident
set, and every module loaded once (their names are interned for good) stays within MicroPython's
first five dynamic qstr pools (620 qstrs; the sixth costs 7 kB of heap).

Measured with `bench.firmware_footprint` on the `mpy-cross -O3` build, as the bench does.
"""

from __future__ import annotations

import ast
import shlex

from bench import firmware_footprint as fp


def _lazy_targets() -> dict[str, set[str]]:
    """Module -> the modules it loads through lazy.call."""
    out: dict[str, set[str]] = {}
    for name, path in fp.module_files().items():
        for node in ast.walk(ast.parse(path.read_text())):
            for target in fp._lazy_names(node):
                out.setdefault(target, set()).add(name)
    return out


def test_modules_loaded_on_demand_are_not_imported_by_resident_code() -> None:
    eager, _, _ = fp.import_graph(fp.module_files())
    spine = set(fp.spine_order(eager))
    targets = _lazy_targets()
    assert targets, "no lazy.call found: the scan is broken"
    resident = {m: sorted(callers) for m, callers in targets.items() if m in spine}
    assert not resident, f"loaded on demand but imported at load time by the spine: {resident}"
    assert "ocpp16_calls" in targets and "ws_handshake" in targets  # the scan sees what it must


def test_every_module_loaded_once_stays_within_five_qstr_pools() -> None:
    res = fp.measure(shlex.split(fp.DEFAULT_FLAGS))
    pools, qstrs, _ = res["pools_lazy"]
    assert set(res["lazy"]) >= {"ws_handshake", "ocpp16_calls", "ocpp16_tx", "journal_fix"}
    # a margin for the runner's own names (the bench's heap reporter, a test's module)
    assert qstrs <= fp.QSTR_POOL_LIMIT - 15 and pools == 5, (pools, qstrs)
    assert res["total"] <= fp.GOAL_CODE_BYTES, res["total"]
