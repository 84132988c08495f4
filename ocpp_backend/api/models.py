"""Request and response shapes of the REST API (the OpenAPI description is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ocpp_backend.services.registry import MAX_PASSWORD_CHARS, STATION_ID_PATTERN


class _FromRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ConnectorOut(_FromRow):
    """The latest status a connector reported (connector 0 is the station as a whole)."""

    connector_id: int
    status: str
    error_code: str
    info: str | None = None
    vendor_error_code: str | None = None
    updated_at: datetime | None = None


class StationOut(_FromRow):
    """A station in the list."""

    id: str
    connected: bool
    last_seen: datetime | None = None
    vendor: str | None = None
    model: str | None = None
    connectors: list[ConnectorOut] = []


class StationCreate(BaseModel):
    """Register a station with its OCPP security profile 1 password."""

    id: str = Field(pattern=STATION_ID_PATTERN, examples=["FG-0001"])
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)
    lat: float | None = Field(default=None, ge=-90, le=90, description="WGS 84 latitude (map), with lon")
    lon: float | None = Field(default=None, ge=-180, le=180, description="WGS 84 longitude (map), with lat")


class ConnectionOut(BaseModel):
    """The station's link to the backend."""

    connected: bool
    last_seen: datetime | None = None
    connected_since: datetime | None = None  # set when this node holds the socket
    remote_address: str | None = None


class ReadingOut(_FromRow):
    """One stored sampled value."""

    connector_id: int
    transaction_id: int | None = None
    timestamp: datetime
    measurand: str
    phase: str | None = None
    location: str
    context: str
    unit: str
    value: float


class TransactionOut(BaseModel):
    """A charging session; ``energy_wh`` is final once stopped, the running total while active."""

    id: int
    station_id: str
    connector_id: int
    id_tag: str
    meter_start_wh: int
    meter_stop_wh: int | None = None
    energy_wh: float | None = None
    start_time: datetime
    stop_time: datetime | None = None
    stop_reason: str | None = None
    active: bool


class MeterValueOut(_FromRow):
    """A sampled value of a transaction."""

    timestamp: datetime
    measurand: str
    value: float
    unit: str
    context: str
    phase: str | None = None
    location: str


class TransactionDetail(TransactionOut):
    """A transaction with its meter values."""

    meter_values: list[MeterValueOut]


class StationDetail(StationOut):
    """A station with its connection, connector statuses, latest readings and open sessions."""

    serial_number: str | None = None
    firmware_version: str | None = None
    boot_status: str | None = None
    last_boot_at: datetime | None = None
    lat: float | None = None  # where the station stands (WGS 84 degrees), if registered
    lon: float | None = None
    connection: ConnectionOut
    last_readings: list[ReadingOut]
    active_transactions: list[TransactionOut]


class RemoteStartIn(BaseModel):
    """RemoteStartTransaction request."""

    id_tag: str = Field(min_length=1, max_length=20)
    connector_id: int | None = Field(default=None, ge=1)


class RemoteStopIn(BaseModel):
    """RemoteStopTransaction request."""

    transaction_id: int


class ResetIn(BaseModel):
    """Reset request."""

    type: Literal["Soft", "Hard"]


class UnlockIn(BaseModel):
    """UnlockConnector request."""

    connector_id: int = Field(ge=1)


class ConfigurationChangeIn(BaseModel):
    """ChangeConfiguration request."""

    key: str = Field(min_length=1, max_length=50)
    value: str = Field(max_length=500)


class StatusAnswer(BaseModel):
    """The station's answer to a command that answers with a status."""

    model_config = ConfigDict(extra="allow")

    status: str


class ConfigurationKey(BaseModel):
    """One configuration key as the station reported it."""

    key: str
    readonly: bool
    value: str | None = None


class ConfigurationAnswer(BaseModel):
    """The station's answer to GetConfiguration."""

    configuration_key: list[ConfigurationKey] = []
    unknown_key: list[str] = []


class IdTokenIn(BaseModel):
    """Register (or update) an id token."""

    id_tag: str = Field(min_length=1, max_length=20)
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expiry_date: datetime | None = None
    parent_id_tag: str | None = Field(default=None, min_length=1, max_length=20)


class IdTokenOut(_FromRow):
    """A registered id token."""

    id_tag: str
    status: str
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


class Health(BaseModel):
    """Liveness and a little load information."""

    status: Literal["ok"]
    stations_connected: int


class ErrorOut(BaseModel):
    """An error (FastAPI's shape)."""

    detail: Any


# -- more station commands -----------------------------------------------------------------------


class AvailabilityIn(BaseModel):
    """ChangeAvailability request; connector 0 is the whole station."""

    connector_id: int = Field(default=0, ge=0)
    type: Literal["Operative", "Inoperative"]


class TriggerIn(BaseModel):
    """TriggerMessage request."""

    requested_message: Literal[
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    ]
    connector_id: int | None = Field(default=None, ge=1)


class IdTagInfoIn(BaseModel):
    """The authorization status given to a local list entry."""

    status: Literal["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"]
    expiry_date: datetime | None = None
    parent_id_tag: str | None = Field(default=None, min_length=1, max_length=20)


class LocalListEntryIn(BaseModel):
    """One entry of a local authorization list; without ``id_tag_info`` a differential update
    removes the tag."""

    id_tag: str = Field(min_length=1, max_length=20)
    id_tag_info: IdTagInfoIn | None = None


class LocalListIn(BaseModel):
    """SendLocalList request."""

    list_version: int = Field(ge=0)
    update_type: Literal["Full", "Differential"]
    entries: list[LocalListEntryIn] = Field(default=[], max_length=1000)


class LocalListVersionAnswer(BaseModel):
    """The station's answer to GetLocalListVersion (-1: no list support, 0: no list)."""

    list_version: int


class DataTransferIn(BaseModel):
    """DataTransfer to a station."""

    vendor_id: str = Field(min_length=1, max_length=255)
    message_id: str | None = Field(default=None, min_length=1, max_length=50)
    data: str | None = Field(default=None, max_length=8000)


class DataTransferAnswer(BaseModel):
    """The station's answer to DataTransfer."""

    status: str
    data: str | None = None


# -- alarms --------------------------------------------------------------------------------------


class AlarmOut(_FromRow):
    """An alarm: open while ``cleared_at`` is null; ``connector_id`` -1 is the station as a whole."""

    id: int
    station_id: str
    kind: str
    severity: str
    connector_id: int
    message: str
    raised_at: datetime
    cleared_at: datetime | None = None
    clear_reason: str | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    comment: str | None = None
    open: bool


class AlarmAckIn(BaseModel):
    """Acknowledge an alarm, with what was done about it."""

    comment: str = Field(default="", max_length=2000)


# -- users and API tokens ------------------------------------------------------------------------


class UserOut(_FromRow):
    """A user (never the password)."""

    username: str
    role: str
    created_at: datetime
    last_login_at: datetime | None = None


class UserCreate(BaseModel):
    """Create a user."""

    username: str = Field(pattern=r"^[A-Za-z0-9._@-]{1,64}$")
    password: str = Field(min_length=8, max_length=256)
    role: Literal["viewer", "operator", "admin", "dispatcher"]


class UserRoleIn(BaseModel):
    """Change a user's role."""

    role: Literal["viewer", "operator", "admin", "dispatcher"]


class TokenOut(_FromRow):
    """An API token (never the secret)."""

    id: int
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenCreate(BaseModel):
    """Create an API token."""

    role: Literal["viewer", "operator", "admin", "dispatcher"]
    name: str | None = Field(default=None, min_length=1, max_length=64)


class TokenCreated(TokenOut):
    """A token just created: ``token`` is shown this once."""

    token: str


class StatusReportOut(_FromRow):
    """One StatusNotification as received (the history of a station's connectors)."""

    connector_id: int
    status: str
    error_code: str
    info: str | None = None
    vendor_error_code: str | None = None
    timestamp: datetime
    received_at: datetime
