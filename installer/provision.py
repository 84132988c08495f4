"""`frostgrid device provision`: the station's identity and settings, validated, written atomically.

Input: a TOML file and/or command-line values (the command line wins), validated by the pydantic
model `StationSettings`; errors name the field and never echo the value (it may be a secret).
Output: `station.json` in the format of docs/interfaces.md §1.1 (with the optional `thermal` and
`meter` sections, plus `net`, `location` and `ca` that the installer adds), written on the board
as `station.json.tmp`, checked by its SHA-256 on the board, then renamed over `station.json`:
a failure at any point leaves the previous configuration in place.

TOML layout (every key optional except where the model says otherwise):

    id = "FG-0001"
    url = "wss://csms.example.net/ocpp"
    tls_ca = "ca.pem"                   # a PEM file; required for wss://
    board = "esp32"                     # or "sim" with plant = "127.0.0.1:7001"
    [network]  kind = "wifi"  ssid = "depot"  psk_file = "psk.txt"   # or kind = "ethernet"
    [meter]    model = "DTSU666"  address = 1  baud = 9600
    [[zones]]  name = "electronics"  min_c = -20  cutoff_c = 60  heater_w = 60  guards = "contactor"
    [location] lat = 47.35  lon = 130.3
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from hil_tests.dut import FIRMWARE_DIR
from installer.link import BoardError, BoardLink

# the backend's own rules for a station id and password, so that registration cannot refuse them
from ocpp_backend.services.registry import MAX_PASSWORD_CHARS, STATION_ID_PATTERN

STATION_JSON = "station.json"
CA_FILE = "ca.pem"
_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


class ProvisionError(RuntimeError):
    """Provisioning stopped; the message names the field or the step. The board is unchanged."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def meter_model_names(path: Path = FIRMWARE_DIR / "meter_models.py") -> list[str]:
    """The meter models the firmware knows, read from `meter_models.MODELS` (index order).

    Read from the source (the module imports `micropython`, so CPython cannot import it): each name
    in MODELS is a tuple assigned earlier whose first element is the model's name.
    """
    tree = ast.parse(path.read_text())
    names: dict[str, str] = {}
    models: list[str] = []
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            continue
        target, value = node.targets[0].id, node.value
        if isinstance(value, ast.Tuple) and value.elts and isinstance(value.elts[0], ast.Constant):
            names[target] = str(value.elts[0].value)
        if target == "MODELS" and isinstance(value, ast.Tuple):
            models = [names[e.id] for e in value.elts if isinstance(e, ast.Name) and e.id in names]
    if not models:
        raise RuntimeError(f"no MODELS table in {path}")
    return models


class Network(BaseModel):
    """How the board reaches the backend."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["wifi", "ethernet", "none"] = "wifi"
    ssid: str | None = Field(default=None, min_length=1, max_length=32)
    psk: SecretStr | None = None

    @model_validator(mode="after")
    def _wifi_needs_ssid(self) -> Network:
        if self.kind == "wifi" and not self.ssid:
            raise ValueError("Wi-Fi needs an ssid (or set kind = 'ethernet')")
        if self.psk is not None and not 8 <= len(self.psk.get_secret_value()) <= 63:
            raise ValueError("a WPA2 passphrase (psk) has 8 to 63 characters")
        return self


class Meter(BaseModel):
    """The RS-485 Modbus energy meter."""

    model_config = ConfigDict(extra="forbid")
    model: str
    address: int = Field(default=1, ge=1, le=247)
    baud: int = 9600
    invert: bool = False
    max_power_w: int = Field(default=30000, gt=0)

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        known = meter_model_names()
        if v not in known:
            raise ValueError(f"unknown meter model; the firmware knows {', '.join(known)}")
        return v

    @field_validator("baud")
    @classmethod
    def _standard_baud(cls, v: int) -> int:
        if v not in _BAUDS:
            raise ValueError(f"baud must be one of {', '.join(map(str, _BAUDS))}")
        return v


class Zone(BaseModel):
    """One heater zone with its limits (docs/thermal.md: min, hysteresis, cut-off)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    min_c: float = Field(ge=-60, le=40)
    cutoff_c: float = Field(gt=0, le=120)
    hyst_k: float = Field(default=2, gt=0, le=20)
    heater_w: float = Field(default=60, gt=0, le=5000)
    guards: Literal["contactor", "display", "power"] = "contactor"
    output: Literal["pwm", "relay"] = "pwm"
    location: Literal["Body", "Outlet", "Cable"] = "Body"

    @model_validator(mode="after")
    def _limits_in_order(self) -> Zone:
        if self.min_c + self.hyst_k >= self.cutoff_c:
            raise ValueError("cutoff_c must lie above min_c + hyst_k")
        return self


class Location(BaseModel):
    """Where the station stands (WGS 84 degrees)."""

    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class StationSettings(BaseModel):
    """Everything `provision` writes; field names are the TOML keys and the flag names."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=STATION_ID_PATTERN)
    url: str
    password: SecretStr
    tls_ca: str | None = None  # PEM text (read from the file given)
    board: Literal["esp32", "sim"] = "esp32"
    plant: str | None = None
    network: Network = Network(kind="none")
    meter: Meter | None = None
    zones: list[Zone] = Field(default_factory=list, max_length=8)
    location: Location | None = None
    vendor: str = Field(default="Frostgrid", max_length=20)
    model: str = Field(default="AC7", max_length=20)
    serial: str | None = Field(default=None, max_length=25)

    @field_validator("url")
    @classmethod
    def _websocket_url(cls, v: str) -> str:
        if not re.fullmatch(r"wss?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?(/[A-Za-z0-9._~\-/]*)?", v):
            raise ValueError(
                "must be a ws:// or wss:// URL such as wss://csms.example.net/ocpp "
                "(the station id is appended by the firmware)"
            )
        return v.rstrip("/")

    @field_validator("password")
    @classmethod
    def _password_length(cls, v: SecretStr) -> SecretStr:
        if not 1 <= len(v.get_secret_value()) <= MAX_PASSWORD_CHARS:
            raise ValueError(f"must have 1 to {MAX_PASSWORD_CHARS} characters")
        return v

    @field_validator("tls_ca")
    @classmethod
    def _pem(cls, v: str | None) -> str | None:
        if v is not None and "-----BEGIN CERTIFICATE-----" not in v:
            raise ValueError("is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
        return v

    @field_validator("zones")
    @classmethod
    def _unique_zone_names(cls, v: list[Zone]) -> list[Zone]:
        names = [z.name for z in v]
        if len(set(names)) != len(names):
            raise ValueError("zone names must be unique")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> StationSettings:
        if self.url.startswith("wss://") and not self.tls_ca:
            raise ValueError("tls_ca: a wss:// backend needs the CA certificate that signed it")
        if self.board == "sim" and not self.plant:
            raise ValueError("plant: a sim board needs the plant address host:port")
        return self

    def station_json(self) -> dict[str, Any]:
        """The station.json record (docs/interfaces.md §1.1), secrets included: for the board only."""
        rec: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "password": self.password.get_secret_value(),
            "board": self.board,
            "vendor": self.vendor,
            "model": self.model,
            "serial": self.serial or self.id,
            "connectors": 1,
            "journal_bytes": 16384,
            "max_frame": 8192,
            "test_crash": None,
        }
        if self.plant:
            rec["plant"] = self.plant
        if self.tls_ca:
            rec["ca"] = CA_FILE
        net: dict[str, Any] = {"kind": self.network.kind}
        if self.network.ssid:
            net["ssid"] = self.network.ssid
        if self.network.psk is not None:
            net["psk"] = self.network.psk.get_secret_value()
        rec["net"] = net
        if self.meter is not None:
            rec["meter"] = self.meter.model_dump()
        if self.zones:
            # one default NTC (10 kΩ, B 3950, 10 kΩ pull-up, 12-bit ADC) per zone, channel = index
            rec["thermal"] = {
                "sensors": [
                    {
                        "beta": 3950,
                        "r0": 10000,
                        "t0_c": 25,
                        "r_fixed": 10000,
                        "topology": "pullup",
                        "adc_bits": 12,
                        "vref_mv": 3300,
                        "vsupply_mv": 3300,
                        "channel": i,
                    }
                    for i in range(len(self.zones))
                ],
                "zones": [dict(z.model_dump(), sensor=i, heater=i) for i, z in enumerate(self.zones)],
                "report_s": 60,
            }
        if self.location is not None:
            rec["location"] = self.location.model_dump()
        return rec

    def public(self) -> dict[str, Any]:
        """The record without secrets (for `--json` and the terminal)."""
        rec = self.station_json()
        rec["password"] = "***"
        if "psk" in rec["net"]:
            rec["net"]["psk"] = "***"
        return rec


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "settings"


def validate(data: dict[str, Any]) -> StationSettings:
    """Validate raw settings; ProvisionError names the first bad field (values are never shown)."""
    try:
        return StationSettings.model_validate(data)
    except ValidationError as error:
        problems = []
        first = None
        for e in error.errors(include_input=False, include_url=False):
            msg = str(e["msg"]).removeprefix("Value error, ")
            name = _field_name(tuple(e["loc"]))
            if name == "settings" and ":" in msg:  # a cross-field rule names its field first
                name, msg = msg.split(":", 1)
                msg = msg.strip()
            first = first or name
            problems.append(f"{name}: {msg}")
        raise ProvisionError("invalid station settings: " + "; ".join(problems), field=first) from None


def load_settings(toml_path: Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Merge a TOML file and command-line values (which win); files named by *_file keys are read."""
    data: dict[str, Any] = {}
    if toml_path is not None:
        try:
            data = tomllib.loads(toml_path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ProvisionError(f"config: cannot read {toml_path}: {error}", field="config") from None
    base = toml_path.parent if toml_path else Path.cwd()
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict):
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    for section, key in ((data, "password"), (data, "tls_ca"), (data.get("network") or {}, "psk")):
        ref = section.pop(key + "_file", None)
        if ref is not None and key not in section:
            try:
                text = (base / ref).read_text()
            except OSError as error:
                raise ProvisionError(f"{key}_file: cannot read {ref}: {error.strerror}", field=key) from None
            section[key] = text if key == "tls_ca" else text.strip()
    return data


def register(api_url: str, token: str | None, settings: StationSettings, timeout_s: float = 15) -> None:
    """Register the station with the backend (`POST /stations`); ProvisionError on refusal."""
    if not token:
        raise ProvisionError(
            "api_token: --register needs an API token with the admin role "
            "(--api-token or FROSTGRID_API_TOKEN)",
            field="api_token",
        )
    url = api_url.rstrip("/") + "/stations"
    try:
        r = httpx.post(
            url,
            json={"id": settings.id, "password": settings.password.get_secret_value()},
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )
    except httpx.HTTPError as error:
        raise ProvisionError(
            f"api_url: cannot reach the backend at {api_url}: {error}", field="api_url"
        ) from None
    if r.status_code in (200, 201):
        return
    if r.status_code == 409:
        raise ProvisionError(
            f"id: station {settings.id} is already registered at the backend; choose another "
            "id or remove the old registration",
            field="id",
        )
    if r.status_code in (401, 403):
        raise ProvisionError(
            f"api_token: the backend refused the token ({r.status_code}); registering a "
            "station needs the admin role",
            field="api_token",
        )
    if r.status_code == 422:
        raise ProvisionError("id: the backend refused the station id or password (422)", field="id")
    raise ProvisionError(f"api_url: the backend answered {r.status_code}", field="api_url")


def _write_atomic(link: BoardLink, path: str, data: bytes) -> None:
    # temp file, hash checked on the board, then one rename: the old file stays until then
    tmp = path + ".tmp"
    link.write_file(tmp, data)
    if link.sha256(tmp) != hashlib.sha256(data).hexdigest():
        link.exec(f"import os\ntry:\n os.remove({tmp!r})\nexcept OSError:\n pass")
        raise BoardError(f"{path}: the copy on the board does not match; the previous file is unchanged")
    link.exec(
        f"import os\ntry:\n os.rename({tmp!r}, {path!r})\nexcept OSError:\n"
        f" os.remove({path!r})\n os.rename({tmp!r}, {path!r})"
    )


def write_to_board(link: BoardLink, settings: StationSettings) -> None:
    """Write the CA (if any) and station.json on the board, each atomically."""
    if settings.tls_ca:
        _write_atomic(link, CA_FILE, settings.tls_ca.encode())
    data = json.dumps(settings.station_json(), sort_keys=True, separators=(",", ":")).encode()
    _write_atomic(link, STATION_JSON, data)


def read_from_board(link: BoardLink) -> dict[str, Any] | None:
    """The board's station.json, or None when it has none."""
    raw = link.read_file(STATION_JSON)
    return None if raw is None else json.loads(raw)


def qr_text(station_id: str) -> str:
    """The QR label as terminal text (segno, compact)."""
    import io

    import segno

    buf = io.StringIO()
    segno.make(station_id, error="m").terminal(out=buf, compact=True)
    return buf.getvalue()


def qr_png(station_id: str, path: Path) -> None:
    """Save the QR label as a PNG (8 px modules, printable)."""
    import segno

    segno.make(station_id, error="m").save(str(path), scale=8, border=4)
