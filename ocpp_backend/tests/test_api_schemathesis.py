"""Property-based tests of the REST API from its own OpenAPI description (schemathesis): whatever an
admin sends to any route, valid or not, the backend never answers with a server error.

The backend runs for real (store, services, uvicorn) on a free loopback port in a thread of its
own; schemathesis generates requests from ``/openapi.json`` and sends them with an admin API token.
Bounded by ``MAX_EXAMPLES`` per operation so that the module runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from ocpp_backend.backend import Backend
from ocpp_backend.tests.conftest import PASSWORD, register, test_settings

MAX_EXAMPLES = 5
ADMIN_TOKEN = "fgt_" + secrets.token_urlsafe(32)
# Not generated: the event stream never ends (tests/test_events.py covers it), and revoking API
# tokens could revoke the token these requests are made with.
EXCLUDED = [("GET", r"^/api/v1/events$"), ("DELETE", r"^/api/v1/tokens/")]


class BackendThread:
    """A started ``Backend`` on an event loop in a thread of its own (uvicorn serves from it)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="api-under-test", daemon=True)

    def run(self, coro: object, timeout_s: float = 60) -> object:
        """Run a coroutine on the backend's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)  # type: ignore[arg-type]

    def __enter__(self) -> Backend:
        self._thread.start()
        self.run(self.backend.start())
        self.run(register(self.backend, "CP-1", PASSWORD))
        return self.backend

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.backend.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


@pytest.fixture(scope="module")
def api_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a backend on SQLite with station CP-1 and the admin token."""
    db = Path(tmp_path_factory.mktemp("schemathesis")) / "frostgrid.db"
    backend = Backend(
        test_settings(
            f"sqlite+aiosqlite:///{db}", http_port=0, admin_token=ADMIN_TOKEN, command_timeout_s=1.0
        )
    )
    with BackendThread(backend) as started:
        yield f"http://127.0.0.1:{started.http_port}"


def openapi_description() -> dict[str, Any]:
    """The OpenAPI description the backend serves (built from the app, no server needed)."""
    return Backend(test_settings("sqlite+aiosqlite:///:memory:", http_port=0)).app.openapi()


def api_schema() -> schemathesis.BaseSchema:
    """The description as schemathesis reads it, minus the excluded operations."""
    loaded = schemathesis.openapi.from_dict(openapi_description())
    for method, path_regex in EXCLUDED:
        loaded = loaded.exclude(method=method, path_regex=path_regex)
    return loaded


# (schemathesis.pytest.from_fixture would load it from the live server, but fails on pytest 9.)
schema = api_schema()


# Operations by label, parametrized by pytest itself: schemathesis's own parametrization yields no
# items under pytest-xdist workers, and `make test` runs the suite with xdist.
OPERATIONS = {result.ok().label: result.ok() for result in schema.get_all_operations()}


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_route_answers_an_admin_with_a_server_error(label: str, api_root: str) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=OPERATIONS[label].as_strategy())
    def check(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            base_url=api_root,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            checks=[not_a_server_error],
            timeout=10,
        )
        # the admin may call every route: a refusal would mean the requests never got past the door
        assert response.status_code != 403, response.text
        assert response.status_code != 401 or case.path == "/api/v1/auth/login", response.text

    check()


def test_the_generated_operations_cover_the_api() -> None:
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert {
        "GET /api/v1/stations",
        "POST /api/v1/stations/{station_id}/remote-stop",
        "GET /api/v1/stations/{station_id}/readings",
        "GET /api/v1/transactions",
    } <= labels
    assert "GET /api/v1/events" not in labels
