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
