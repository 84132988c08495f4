"""The cold-region side of a station's plant: heated zones under a climate, thermistors, a meter.

`ColdPlant` couples the reference stations' lumped thermal model (`thermal_plant.ThermalPlant`)
to the sim-board plant (`plant.StationPlant`): the zones cool towards the climate's ambient, warm
with the heater duties the firmware commands and with the charger's internal dissipation while it
delivers power; the firmware reads each zone's thermistor as raw ADC counts (the inverse of its own
`ntc.py`). `MeterBus` puts a `MeterEmulator` on the station's RS-485 bus, its registers built from
the plant's meter register, so the firmware bills from Modbus frames as it would in the field.

Time. The thermal model may run `time_scale` times faster than the wall clock, so that a heat-up
of an hour takes a minute of test. It advances in lock-step with the firmware: at each of its
`get` requests by `time_scale` x the wall time since the previous one, but by at most
`time_scale` x `max_gap_s` (a firmware stalled by a loaded machine stalls the thermal world too,
instead of waking up to a jump its controller never saw). The plant hands that clock to the
firmware (`tms`, `tod` in the `get` reply) and the firmware's thermal controller steps on it:
the controller and the physics see the same time. Energy, power and OCPP run in wall-clock time
(a session's energy is what the EV drew in real seconds).

Ambient thermistor (optional, `ambient_channel`): a thermistor in the air around the station, read
on a spare ADC channel after the zones' (`counts()` is then that long, unused channels between read
0), at the climate's ambient temperature, through the same NTC divider as the zones; the rig
configures it as the firmware's `ambient_sensor` (cold_rig.thermal_station_config).

Fault hooks (all take effect at the next step): `sensor_fault(zone, 'open'|'short'|'stuck'|None)`,
`ambient_fault('open'|'short'|None)`,
`heater_dead[i]`, `heater_stuck_on[i]`, `extra_w[i]` (a hot spot: heat from outside the model);
on the meter: `MeterBus.emulator` fault fields (`crc_error_probability`, `dead`, ...) and
`unplug()` / `plug()`.
"""

from __future__ import annotations

from collections.abc import Sequence

from hil_tests.climate import Climate
from hil_tests.meter_emulator import MeterEmulator, PlantValues
from hil_tests.thermal_plant import SensorEmulator, StationParams, ThermalPlant

_TICK_MASK = 0x3FFFFFFF  # the firmware's tick values wrap at 2**30
_DAY_S = 86400


class ColdPlant:
    """Heated zones of one station, their thermistors and heaters, on an (accelerated) clock."""

    def __init__(self, params: StationParams, temp_c: float | list[float] | None = None,
                 climate: Climate | None = None, ambient_c: float = -20.0, wind_ms: float = 0.0,
                 time_scale: float = 1.0, start_s: float = 0.0, tod_start_s: int = 0,
                 noise_counts: float = 0.0, seed: int = 1, max_gap_s: float = 1.0,
                 ambient_channel: int | None = None) -> None:
        """`climate` (if given) drives ambient and wind from `start_s` seconds into its series;
        otherwise `ambient_c`/`wind_ms` hold. Zones start at `temp_c` (default: the ambient).
        `ambient_channel`: the ADC channel of an ambient thermistor (None: none)."""
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if ambient_channel is not None and ambient_channel < len(params.zones):
            raise ValueError("the ambient thermistor needs a channel after the zones'")
        self.ambient_channel = ambient_channel
        self.ambient_sensor = SensorEmulator()
        self.params = params
        self.climate = climate
        self.ambient_c = ambient_c
        self.wind_ms = wind_ms
        self.time_scale = time_scale
        self.start_s = start_s
        self.tod_start_s = tod_start_s
        self.t_s = 0.0  # thermal seconds since attach
        self.max_gap_s = max_gap_s
        self._polled_at: float | None = None  # plant wall time of the firmware's last poll
        amb, _ = self.weather()
        self.model = ThermalPlant(params, amb if temp_c is None else temp_c, noise_counts, seed)
        n = len(params.zones)
        self.duty_pm = [0] * n  # heater duty per mille as commanded by the firmware, per channel
        self.heater_dead = self.model.heater_dead  # per zone: the heater draws power, gives no heat
        self.heater_stuck_on = [False] * n  # the heater's switch welded: full heat whatever the command
        self.extra_w = [0.0] * n  # heat from outside the model (a hot spot), W
        self.charging_s = 0.0  # thermal seconds with internal charging dissipation
        # (what, thermal s, true zone temperatures) at contactor changes: the interlock's record
        self.marks: list[tuple[str, float, list[float]]] = []

    # --- physics ------------------------------------------------------------------------------
    def weather(self) -> tuple[float, float]:
        """(ambient °C, wind m/s) now."""
        if self.climate is not None:
            return self.climate.at(self.start_s + self.t_s)
        return self.ambient_c, self.wind_ms

    def effective_duties(self) -> list[float]:
        """Heater duty per zone in [0, 1] as the heaters actually run (stuck ones at full)."""
        return [1.0 if self.heater_stuck_on[i] else min(1000, max(0, d)) / 1000.0
                for i, d in enumerate(self.duty_pm)]

    def advance(self, wall_dt_s: float, charging: bool) -> None:
        """Advance by `wall_dt_s` wall seconds (time_scale times as many thermal seconds)."""
        dt = wall_dt_s * self.time_scale
        if dt <= 0:
            return
        amb, wind = self.weather()
        duties = self.effective_duties()
        self.model.step(dt, duties, charging, amb, wind)
        # heat from outside the model: exact for constant inputs like the model's own step
        for i, w in enumerate(self.extra_w):
            if w:
                z = self.params.zones[i]
                ua = z.ua(wind)
                t = self.model.temps_c[i]
                self.model.temps_c[i] = t + (w / ua) * (1.0 - pow(2.718281828459045, -dt * ua / z.c_j_per_k))
        if charging:
            self.charging_s += dt
        self.t_s += dt

    def poll(self, wall_s: float, charging: bool) -> None:
        """A firmware poll at plant wall time `wall_s`: advance by the (capped) time since the last."""
        if self._polled_at is not None:
            self.advance(min(max(0.0, wall_s - self._polled_at), self.max_gap_s), charging)
        self._polled_at = wall_s

    # --- what the firmware sees ----------------------------------------------------------------
    def counts(self) -> list[int]:
        """Raw ADC counts per thermistor channel (channel = zone index; then the ambient one)."""
        out = self.model.counts()
        if self.ambient_channel is not None:
            out += [0] * (self.ambient_channel - len(out))
            out.append(self.ambient_sensor.read(self.weather()[0]))
        return out

    def tms(self) -> int:
        """The thermal clock as a firmware tick (ms, wrapping at 2**30)."""
        return int(self.t_s * 1000.0) & _TICK_MASK

    def tod_s(self) -> int:
        """Local time of day on the thermal clock (s)."""
        if self.climate is not None:
            return self.climate.seconds_of_day(self.start_s + self.t_s)
        return int(self.tod_start_s + self.t_s) % _DAY_S

    def set_heaters(self, duty_pm: Sequence[int]) -> None:
        """The firmware's heater command: duty per mille per heater channel."""
        for i, d in enumerate(duty_pm[: len(self.duty_pm)]):
            self.duty_pm[i] = int(d)

    # --- fault injection and views ---------------------------------------------------------------
    def sensor_fault(self, zone: int | str, fault: str | None) -> None:
        """Break a zone's thermistor: 'open', 'short', 'stuck' (frozen at its next reading) or None."""
        i = zone if isinstance(zone, int) else self.params.zone_index(zone)
        s = self.model.sensors[i]
        s.fault = fault
        s._stuck_at = None

    def ambient_fault(self, fault: str | None) -> None:
        """Break the ambient thermistor: 'open', 'short' or None (repaired)."""
        self.ambient_sensor.fault = fault

    def temp_c(self, zone: int | str) -> float:
        """True temperature of a zone."""
        i = zone if isinstance(zone, int) else self.params.zone_index(zone)
        return self.model.temps_c[i]

    @property
    def temps_c(self) -> list[float]:
        """True temperatures of every zone."""
        return list(self.model.temps_c)

    def heater_energy_wh(self) -> float:
        """Heater energy drawn so far (thermal time), all zones, Wh."""
        return sum(self.model.heater_energy_j) / 3600.0


class MeterBus:
    """The station's RS-485 bus with one emulated meter reading the plant's register."""

    def __init__(self, model: str = "DTSU666", address: int = 1, phases_v: float = 230.0,
                 seed: int = 0) -> None:
        self.values = PlantValues(voltage_v=phases_v)
        self.emulator = MeterEmulator(model, address, self._values, seed=seed)
        self.unplugged = False  # the bus cable is pulled: nothing answers
        self._energy_wh = 0
        self._power_w = 0.0

    def update(self, energy_wh: int, power_w: float) -> None:
        """The plant's meter register (whole Wh) and power now."""
        self._energy_wh = energy_wh
        self._power_w = power_w

    def _values(self) -> PlantValues:
        v = self.values
        v.energy_import_wh = float(self._energy_wh)
        v.power_w = self._power_w
        phases = self.emulator.map.phases
        v.current_a = abs(self._power_w) / (phases * float(v.phase("voltage_v", 0)))
        return v

    def feed(self, data: bytes) -> bytes | None:
        """Bytes the firmware put on the bus; the reply bytes, or None (silence)."""
        if self.unplugged:
            return None
        return self.emulator.feed(data)

    def unplug(self) -> None:
        """Pull the meter's bus cable (the meter itself keeps counting)."""
        self.unplugged = True

    def plug(self) -> None:
        """Put the cable back."""
        self.unplugged = False
