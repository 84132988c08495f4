"""The operator dashboard in a real browser (Debian's Chromium driven by Playwright), against a backend
and a small fleet running the real firmware.

One backend (heartbeat 2 s, so that the offline alarm comes within seconds) and three stations
serve the whole module; the tests run in order like an operator's shift: log in, watch the fleet
come online, follow a session live and stop it, lose a station and get it back, and check what a
viewer may do. Screenshots of the main pages go to ``build/artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from hil_tests.backend_proc import BackendProc, sqlite_url, wait_until
from hil_tests.cold_rig import COLD_HEAP, thermal_station_config
from hil_tests.conftest import watched
from hil_tests.dut import REPO_DIR, Dut, station_json
from hil_tests.fleet import FLEET_HEAP, Fleet
from hil_tests.plant import Ev
from hil_tests.plant_cold import ColdPlant
from hil_tests.scenario import E_REG, POWER
from hil_tests.thermal_plant import AC7
from ocpp_backend.dashboard import DIST_DIR

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SCREENSHOTS = REPO_DIR / "build" / "artifacts" / "screenshots"
CARD = "DASH-CARD"
HEARTBEAT_S = 2
STATIONS = ["DB-0001", "DB-0002", "DB-0003"]
COLD = "DB-COLD"  # a station with heated zones, booted at -35 °C: interlocked while it heats
POSITIONS = {"DB-0001": (45.7560, 126.6420), "DB-0002": (45.7732, 126.6170), "DB-0003": (45.7420, 126.6905),
             COLD: (45.7650, 126.6600)}
ALL = [*STATIONS, COLD]
# sample power and energy every 2 s so that the page has something to update
FLEET_CONFIG = {"MeterValueSampleInterval": 2, "HeartbeatInterval": HEARTBEAT_S,
                "TransactionMessageRetryInterval": 1, "MeterValuesSampledData": f"{E_REG},{POWER}"}
UI_TIMEOUT_MS = 30_000


@dataclass
class Rig:
    """What the module's tests share."""

    backend: BackendProc
    fleet: Fleet
    cold: Dut
    browser: Browser
    users: dict[str, str]  # role -> password (the user name is the role)

    @property
    def ui_url(self) -> str:
        """The dashboard's address."""
        return f"http://127.0.0.1:{self.backend.http_port}/"

    def station_plant(self, station_id: str) -> Any:
        """The plant side of a station (EV, contactor, meter)."""
        assert self.fleet.plant is not None
        return self.fleet.plant.station(station_id)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, firmware_dir: Path) -> Iterator[Rig]:
    """Backend + four firmware stations (one with heated zones) + Chromium, for the whole module."""
    assert (DIST_DIR / "index.html").is_file(), "dashboard not built: run `make dashboard`"
    tmp = tmp_path_factory.mktemp("dashboard")
    backend = BackendProc(sqlite_url(tmp / "frostgrid.db"), cwd=tmp, args=["--heartbeat", str(HEARTBEAT_S)])
    backend.start()
    fleet: Fleet | None = None
    cold: Dut | None = None
    logs: list[Any] = []  # watched while the module runs: their log tails go into a failing report
    try:
        passwords = {sid: secrets.token_hex(8) for sid in ALL}
        for sid, password in passwords.items():
            lat, lon = POSITIONS[sid]
            r = backend.http.post("stations", json={"id": sid, "password": password, "lat": lat, "lon": lon})
            assert r.status_code == 201, r.text
        backend.add_token(CARD)
        users = {role: secrets.token_urlsafe(12) for role in ("operator", "viewer")}
        for role, password in users.items():
            r = backend.http.post("users", json={"username": role, "password": password, "role": role})
            assert r.status_code in (200, 201), r.text
        fleet = Fleet(backend.ocpp_url, STATIONS, {sid: passwords[sid] for sid in STATIONS}, tmp / "fleet",
                      heap=FLEET_HEAP, fw_dir=firmware_dir, tag=CARD, config=dict(FLEET_CONFIG))
        fleet.start()  # no `tick()`: the tests drive the plant themselves
        assert fleet.plant is not None
        # with an ambient thermistor: its heater reports carry amb_c, charted with the zones
        cold_plant = ColdPlant(AC7, temp_c=-35.0, ambient_c=-35.0, time_scale=4.0,
                               ambient_channel=len(AC7.zones))
        fleet.plant.station(COLD).attach_cold(cold_plant)
        thermal = thermal_station_config(AC7, report_s=2, ambient_channel=cold_plant.ambient_channel)
        provisioning = station_json(COLD, backend.ocpp_url, passwords[COLD], fleet.plant.address,
                                    thermal=thermal)
        cold = Dut(tmp / "cold", provisioning, config=dict(FLEET_CONFIG), fw_dir=firmware_dir, heap=COLD_HEAP)
        cold.start()
        logs = [backend, *fleet.duts.values(), cold]
        watched.extend(logs)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                yield Rig(backend, fleet, cold, browser, users)
            finally:
                browser.close()
    finally:
        for item in logs:
            watched.remove(item)
        if cold is not None:
            cold.stop()
        if fleet is not None:
            fleet.stop()
        backend.stop()


@pytest.fixture(scope="module")
def operator_page(rig: Rig) -> Iterator[Page]:
    """A browser tab logged in as the operator (shared by the module's tests, in order)."""
    context = rig.browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    log_in(page, rig, "operator")
    yield page
    context.close()


def log_in(page: Page, rig: Rig, role: str) -> None:
    """Open the dashboard and log in as the user of ``role``."""
    page.goto(rig.ui_url)
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#username", role)
    page.fill("#password", rig.users[role])
    page.click("#login-submit")
    expect(page.locator("#whoami")).to_have_text(f"{role} ({role})")


def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot as a test artifact."""
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def row(page: Page, station_id: str) -> Any:
    """The station list's row of ``station_id``."""
    return page.locator(f'tr.st[data-station="{station_id}"]')


def kw(text: str) -> float:
    """Watts shown in a cell such as "7.4 kW" or "350 W"."""
    m = re.search(r"(-?[\d.]+)\s*(k?)W", text)
    assert m, text
    return float(m.group(1)) * (1000 if m.group(2) else 1)


def wait_shown_power(cell: Any, watts: float, plant: Any, timeout_s: float = 30) -> None:
    """Wait until ``cell`` shows ``watts`` (within 2 %); the failure says what it showed instead."""
    try:
        wait_until(lambda: kw(cell.inner_text()) == pytest.approx(watts, rel=0.02), timeout_s)
    except AssertionError:
        raise AssertionError(f"page shows {cell.inner_text()!r}, wanted {watts} W "
                             f"(plant power {plant.power_w} W)") from None


def test_login_page_refuses_a_wrong_password(rig: Rig) -> None:
    context = rig.browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.goto(rig.ui_url)
        page.fill("#username", "operator")
        page.fill("#password", "not-the-password")
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_have_text("Wrong user or password.")
        shot(page, "01-login")
        assert "fg_session" not in {c["name"] for c in context.cookies()}
    finally:
        context.close()


def test_operator_sees_the_stations_of_the_fleet_go_online(rig: Rig, operator_page: Page) -> None:
    page = operator_page
    page.goto(rig.ui_url + "ui/#/stations")
    for sid in STATIONS:
        expect(row(page, sid)).to_be_visible()
        # each comes online and reports its connector, pushed over the event stream
        expect(row(page, sid).locator('[data-field="connection"]')).to_have_text("available", timeout=60_000)
    expect(page.locator("#station-count")).to_contain_text(f"{len(ALL)} online", timeout=60_000)
    expect(page.locator("#live")).to_have_text("live")
    shot(page, "02-stations")


def test_a_cold_station_shows_its_zone_temperatures_heating_and_interlock_live(
    rig: Rig, operator_page: Page
) -> None:
    page = operator_page
    page.goto(rig.ui_url + "ui/#/stations")
    cold = row(page, COLD)
    # booted at -35 °C: the interlock holds, the heaters run, the zones report their temperatures
    expect(cold.locator('[data-field="interlock"]')).to_have_text("cold", timeout=60_000)
    expect(cold.locator('[data-field="heater"]')).to_contain_text("on", timeout=30_000)
    expect(cold.locator('[data-field="temps"]')).to_contain_text("Body", timeout=30_000)
    expect(cold.locator('[data-field="temps"]')).to_contain_text("Cable")
    body = re.search(r"Body (-?[\d.]+) °C", cold.locator('[data-field="temps"]').inner_text())
    assert body is not None and -40.0 < float(body.group(1)) < 0.0, body
    shot(page, "05a-stations-cold")
    # what needs attention comes first; filter by state and search by id
    expect(page.locator("tr.st").first).to_have_attribute("data-station", COLD)
    page.select_option("#station-state", "interlock")
    expect(page.locator("tr.st")).to_have_count(1)
    page.select_option("#station-state", "all")
    page.fill("#station-search", "0002")
    expect(page.locator("tr.st")).to_have_count(1)
    expect(page.locator("tr.st").first).to_have_attribute("data-station", "DB-0002")
    page.fill("#station-search", "")
    expect(page.locator("tr.st")).to_have_count(len(ALL))
    cold.locator("a.sid").click()
    expect(page.locator("#station-title")).to_have_text(COLD)
    expect(page.locator('[data-chart="temp"]')).to_be_visible(timeout=30_000)
    expect(page.locator('[data-chart="heater"]')).to_be_visible(timeout=30_000)
    # the zones are charted against the ambient air the station reports (Frostgrid.Ambient)
    expect(page.locator('[data-chart="temp"] .u-legend')).to_contain_text("ambient", timeout=30_000)
    expect(page.locator('[data-chart="temp"] .u-legend')).to_contain_text("Body")
    expect(page.locator("#detail-ambient")).to_be_visible()
    ambient = re.search(r"ambient: (-?[\d.]+) °C", page.locator("#detail-ambient").inner_text())
    assert ambient is not None and float(ambient.group(1)) == pytest.approx(-35.0, abs=2.0), ambient
    shot(page, "05b-station-detail-cold")


def test_operator_watches_a_session_power_update_live_and_stops_it_remotely(
    rig: Rig, operator_page: Page
) -> None:
    page, sid = operator_page, STATIONS[0]
    plant = rig.station_plant(sid)
    page.goto(rig.ui_url + "ui/#/stations")
    expect(row(page, sid).locator('[data-field="connection"]')).to_have_text("available", timeout=60_000)

    plant.plug_in(Ev(soc_pct=20.0, max_power_w=11_000.0))
    plant.present_tag(CARD)
    power = row(page, sid).locator('[data-field="power"]')
    expect(row(page, sid).locator('[data-field="status"]')).to_contain_text("Charging", timeout=30_000)
    wait_shown_power(power, 11_000, plant)
    energy = row(page, sid).locator('[data-field="energy"]')
    first_energy = energy.inner_text()
    wait_until(lambda: energy.inner_text() != first_energy, 20, what="session energy rising on the page")

    # the site limits the charger: the page follows without a reload
    plant.evse_max_power_w = 3_700.0
    wait_shown_power(power, 3_700, plant)

    tx = wait_until(lambda: rig.backend.transactions(sid, active=True), 10, what="active session")[0]
    page.click(f'tr.st[data-station="{sid}"] a.sid')
    expect(page.locator("#station-title")).to_have_text(sid)
    expect(page.locator("#detail-session")).to_contain_text(f"#{tx['id']}")
    expect(page.locator('[data-chart="power"]')).to_be_visible()
    shot(page, "03-station-detail-charging")
    page.click("#cmd-remote-stop")
    expect(page.locator("#command-result")).to_contain_text("Accepted")
    expect(page.locator("#detail-session")).to_have_text("none", timeout=30_000)
    def stopped_tx() -> dict[str, Any] | None:
        t = rig.backend.transaction(tx["id"])
        return t if t["stop_time"] else None

    stopped = wait_until(stopped_tx, 20, what="session stopped in the backend")
    assert stopped["stop_reason"] == "Remote"
    assert stopped["energy_wh"] > 0
    wait_until(lambda: not plant.contactor, 10, what="contactor open")
    # the station's configuration, read from the station itself
    page.click("#cmd-get-config")
    expect(page.locator("#config-box")).to_contain_text("MeterValueSampleInterval")
    expect(page.locator("#command-result")).to_contain_text("Get configuration")
    shot(page, "04-station-detail-stopped")
    plant.unplug()
    plant.evse_max_power_w = 22_000.0


def test_killed_station_raises_the_offline_alarm_and_it_clears_when_the_station_returns(
    rig: Rig, operator_page: Page
) -> None:
    page, sid = operator_page, STATIONS[1]
    dut = rig.fleet.duts[sid]
    page.goto(rig.ui_url + "ui/#/stations")
    expect(row(page, sid).locator('[data-field="connection"]')).to_have_text("available", timeout=60_000)

    dut.kill9()  # a power cut at the station
    expect(row(page, sid).locator('[data-field="connection"]')).to_have_text("offline", timeout=20_000)
    # after a few missed heartbeats the backend raises the alarm; the list puts the station first
    expect(row(page, sid).locator('[data-field="alarms"]')).to_contain_text("1 open", timeout=40_000)
    expect(page.locator("tr.st").first).to_have_attribute("data-station", sid)
    shot(page, "05-stations-offline-alarm")
    page.goto(rig.ui_url + "ui/#/alarms")
    alarm = page.locator(f'#alarm-rows tr.open[data-station="{sid}"]')
    expect(alarm).to_have_count(1)
    expect(alarm).to_contain_text("offline")
    alarm.locator(".ack-comment").fill("crew sent to check the breaker")
    alarm.locator("button.ack").click()
    expect(alarm).to_contain_text("crew sent to check the breaker")
    shot(page, "06-alarms")

    dut.start()  # power back
    expect(page.locator(f'#alarm-rows tr.open[data-station="{sid}"]')).to_have_count(0, timeout=60_000)
    page.select_option("#alarms-which", "all")
    cleared = page.locator(f'#alarm-rows tr.cleared[data-station="{sid}"]')
    expect(cleared).to_have_count(1)
    expect(cleared).to_contain_text("operator")
    page.goto(rig.ui_url + "ui/#/stations")
    expect(row(page, sid).locator('[data-field="connection"]')).to_have_text("available", timeout=30_000)
    expect(row(page, sid).locator('[data-field="alarms"]')).to_have_text("–")


def test_sessions_map_and_dispatch_pages_show_the_fleet(rig: Rig, operator_page: Page) -> None:
    page = operator_page
    page.goto(rig.ui_url + "ui/#/sessions")
    finished = page.locator(f'#session-rows tr[data-station="{STATIONS[0]}"]')
    expect(finished.first).to_contain_text("Remote")
    shot(page, "07-sessions")
    page.goto(rig.ui_url + "ui/#/map")
    expect(page.locator("#map svg")).to_be_visible()
    pins = page.locator("#map g.pin")
    expect(pins).to_have_count(len(ALL))
    expect(page.locator("#unplaced")).to_have_text("")
    # drawn where they stand: the northernmost is highest, the easternmost furthest right
    where = {}
    for i in range(len(ALL)):
        box = pins.nth(i).locator("circle").bounding_box()
        assert box is not None
        where[pins.nth(i).get_attribute("data-station")] = {"x": box["x"] + box["width"] / 2,
                                                            "y": box["y"] + box["height"] / 2}
    assert max(where, key=lambda sid: -where[sid]["y"]) == max(POSITIONS, key=lambda sid: POSITIONS[sid][0])
    assert max(where, key=lambda sid: where[sid]["x"]) == max(POSITIONS, key=lambda sid: POSITIONS[sid][1])
    shot(page, "08-map")

    group = rig.backend.http.put("dispatch/groups/HRB-WEST", json={"stations": [STATIONS[0], STATIONS[2]]})
    assert group.status_code == 200, group.text
    page.goto(rig.ui_url + "ui/#/dispatch")
    expect(page.locator("#dispatch-groups")).to_contain_text("HRB-WEST")
    expect(page.locator("#dispatch-groups")).to_contain_text(f"{STATIONS[0]}{STATIONS[2]}")
    expect(page.locator("#dispatch-orders")).to_contain_text("No orders.")
    shot(page, "08b-dispatch")


def test_viewer_gets_no_command_buttons_and_the_api_refuses_a_viewer_command(rig: Rig) -> None:
    sid = STATIONS[2]
    context: BrowserContext = rig.browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        log_in(page, rig, "viewer")
        page.goto(rig.ui_url + f"ui/#/station/{sid}")
        expect(page.locator("#station-title")).to_have_text(sid)
        expect(page.locator("#station-live")).to_contain_text("Connectors")
        expect(page.locator("#commands")).to_have_count(0)
        expect(page.locator("button[id^=cmd-]")).to_have_count(0)
        shot(page, "09-station-detail-viewer")
        page.goto(rig.ui_url + "ui/#/alarms")
        expect(page.locator("button.ack")).to_have_count(0)
        # the same request the operator's button sends, with the viewer's session and CSRF token
        answer = page.evaluate(
            """async (sid) => {
                const csrf = decodeURIComponent(document.cookie.match(/fg_csrf=([^;]+)/)[1]);
                const r = await fetch(`/api/v1/stations/${sid}/reset`, {method: "POST",
                    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                    body: JSON.stringify({type: "Soft"})});
                return {status: r.status, body: await r.json()};
            }""",
            sid,
        )
        assert answer["status"] == 403, answer
        assert rig.fleet.duts[sid].running and rig.fleet.duts[sid].boots == 1  # no reset happened
    finally:
        context.close()
