"""Winter climate profiles (ambient temperature and wind) for the thermal plant.

The CSV files live in the shared data folder beside the repository
(`<repo>/../shared/data/climate/`, or `$FROSTGRID_SHARED/data/climate/`). Each row is the top of a
local hour: `timestamp_local,temp_c,wind_ms`. Temperature is an instantaneous value and is
interpolated linearly between rows; wind is the mean over the hour that starts at the row and is
held constant over that hour.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOUR_S = 3600
DAY_S = 86400


def climate_dir() -> Path:
    """Folder holding the climate CSV files (env FROSTGRID_SHARED overrides `<repo>/../shared`)."""
    shared = os.environ.get("FROSTGRID_SHARED")
    base = Path(shared) if shared else REPO / ".." / "shared"
    return (base / "data" / "climate").resolve()


@dataclass(frozen=True)
class Climate:
    """An hourly series of ambient temperature and wind, addressed in seconds from its start."""

    name: str
    start: datetime
    temp_c: tuple[float, ...]
    wind_ms: tuple[float, ...]

    @property
    def duration_s(self) -> int:
        """Seconds from the first row to one hour after the last row."""
        return len(self.temp_c) * HOUR_S

    def at(self, t_s: float) -> tuple[float, float]:
        """(temp_c, wind_ms) at `t_s` seconds after the start (clamped to the series)."""
        n = len(self.temp_c)
        x = min(max(t_s / HOUR_S, 0.0), n - 1.0)
        i = min(int(x), n - 1)
        j = min(i + 1, n - 1)
        f = x - i
        temp = self.temp_c[i] + (self.temp_c[j] - self.temp_c[i]) * f
        return temp, self.wind_ms[i]

    def seconds_of_day(self, t_s: float) -> int:
        """Local time of day (0..86399 s) at `t_s` seconds after the start."""
        start = self.start.hour * HOUR_S + self.start.minute * 60 + self.start.second
        return int(start + t_s) % DAY_S

    def when(self, t_s: float) -> datetime:
        """Local wall-clock time at `t_s` seconds after the start."""
        return self.start + timedelta(seconds=t_s)

    def slice_days(self, first_hour: int, hours: int, name: str | None = None) -> Climate:
        """A sub-series of `hours` rows starting at row `first_hour`."""
        return Climate(
            name=name or f"{self.name}[{first_hour}:{first_hour + hours}]",
            start=self.start + timedelta(hours=first_hour),
            temp_c=self.temp_c[first_hour:first_hour + hours],
            wind_ms=self.wind_ms[first_hour:first_hour + hours],
        )

    def coldest_window(self, hours: int) -> int:
        """First row of the `hours`-long window with the lowest mean temperature."""
        if hours > len(self.temp_c):
            raise ValueError("window longer than the series")
        run = sum(self.temp_c[:hours])
        best, best_i = run, 0
        for i in range(1, len(self.temp_c) - hours + 1):
            run += self.temp_c[i + hours - 1] - self.temp_c[i - 1]
            if run < best:
                best, best_i = run, i
        return best_i


def load(name: str, folder: Path | None = None) -> Climate:
    """Load `<name>.csv` (e.g. 'heihe_winter', 'mohe_design_48h') from the climate folder."""
    path = (folder or climate_dir()) / f"{name}.csv"
    temps: list[float] = []
    winds: list[float] = []
    start: datetime | None = None
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            ts = datetime.fromisoformat(row["timestamp_local"])
            if start is None:
                start = ts
            temps.append(float(row["temp_c"]))
            winds.append(float(row["wind_ms"]))
    if start is None:
        raise ValueError(f"{path} holds no rows")
    return Climate(name=name, start=start, temp_c=tuple(temps), wind_ms=tuple(winds))


def coldest_week(name: str = "mohe_winter", folder: Path | None = None) -> tuple[Climate, int]:
    """(the coldest 7-day window of a winter series, its first row in the full series)."""
    full = load(name, folder)
    first = full.coldest_window(7 * 24)
    return full.slice_days(first, 7 * 24, name=f"{name}_coldest_week"), first
