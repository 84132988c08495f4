"""A simulated station for training and tests: a plant with heated zones and a Modbus meter.

`SimStation` starts the sim-board plant (hil_tests.plant.ThreadedPlant) with one station whose
plant has the zones of a reference station (hil_tests.thermal_plant, AC-7 by default) on an
accelerated thermal clock and a meter emulator on its RS-485 bus, and knows the provisioning
settings that match it (`settings()`): a `PtyBoard` provisioned with them runs the real firmware
and the real self-test against this plant. Faults are injected by name: `dead_sensor(zone)`
(thermistor open), `dead_heater(zone)` (draws power, gives no heat), `silent_meter()` (bus cable
pulled).
"""

from __future__ import annotations

from typing import Any

from hil_tests.plant import StationPlant, ThreadedPlant
from hil_tests.plant_cold import ColdPlant, MeterBus
from hil_tests.thermal_plant import AC7, StationParams


class SimStation:
    """One simulated station's plant (zones, heaters, thermistors, meter) on loopback."""

    def __init__(
        self,
        station_id: str = "FG-SIM-1",
        params: StationParams = AC7,
        ambient_c: float = -20.0,
        time_scale: float = 60.0,
        meter_model: str = "DTSU666",
        meter_address: int = 1,
    ) -> None:
        self.id = station_id
        self.params = params
        self.plant = ThreadedPlant()
        self.cold = ColdPlant(params, ambient_c=ambient_c, time_scale=time_scale)
        self.meter = MeterBus(meter_model, meter_address)
        self.station: StationPlant = self.plant.station(station_id)
        self.station.attach_cold(self.cold)
        self.station.attach_meter(self.meter)

    @property
    def address(self) -> str:
        """The plant's `host:port` (station.json `plant`)."""
        return self.plant.address

    def settings(self, url: str, password: str) -> dict[str, Any]:
        """Provisioning settings (installer.provision) that match this plant."""
        return {
            "id": self.id,
            "url": url,
            "password": password,
            "board": "sim",
            "plant": self.address,
            "network": {"kind": "none"},
            "meter": {"model": self.meter.emulator.map.name, "address": self.meter.emulator.address},
            "zones": [
                {
                    "name": z.name,
                    "min_c": z.min_c,
                    "cutoff_c": z.cutoff_c,
                    "heater_w": z.heater_w,
                    "guards": z.guards,
                }
                for z in self.params.zones
            ],
            "location": {"lat": 45.75, "lon": 126.65},
        }

    def dead_sensor(self, zone: str) -> None:
        """Break the zone's thermistor wire (reads open circuit)."""
        self.cold.sensor_fault(zone, "open")

    def dead_heater(self, zone: str) -> None:
        """The zone's heater draws power and gives no heat."""
        self.cold.heater_dead[self.params.zone_index(zone)] = True

    def silent_meter(self) -> None:
        """Nothing answers on the meter's bus."""
        self.meter.unplug()

    def close(self) -> None:
        """Stop the plant."""
        self.plant.close()

    def __enter__(self) -> SimStation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
