// Time-series charts (uPlot) of a station's readings: temperatures per zone against ambient, heater
// duty, power, energy.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h } from "./dom.js";
import { AMBIENT, ENERGY, POWER, TEMPERATURE, heaterZone, isHeater } from "./fleet.js";

const COLOURS = ["#0b62a4", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#1098ad", "#c2255c", "#5c940d"];
// The ambient series of the temperature chart: the reference the zones are read against, so drawn
// apart (grey, dashed). Lower case, so that it sorts after the OCPP locations (Body, Cable, Outlet).
export const AMBIENT_SERIES = "ambient";
const AMBIENT_STYLE = { stroke: "#868e96", dash: [6, 4] };

/** Which chart a reading belongs to, and its series name and value in the chart's unit. */
export function classify(r) {
  const value = Number(r.value);
  if (!Number.isFinite(value)) return null;
  const unit = r.unit || "Wh";
  if (r.measurand === TEMPERATURE) {
    const c = unit === "K" ? value - 273.15 : unit === "Fahrenheit" ? ((value - 32) * 5) / 9 : value;
    return { chart: "temp", series: r.location || "Body", value: c };
  }
  if (r.measurand === AMBIENT) return { chart: "temp", series: AMBIENT_SERIES, value };
  if (isHeater(r)) return { chart: "heater", series: heaterZone(r), value };
  if (r.phase) return null;
  if (r.measurand === POWER) return { chart: "power", series: "power", value: unit === "kW" ? value * 1000 : value };
  if ((r.measurand || ENERGY) === ENERGY) return { chart: "energy", series: "register", value: unit === "kWh" ? value * 1000 : value };
  return null;
}

const SPECS = {
  temp: { title: "Zone temperatures against ambient (°C)", unit: "°C" },
  heater: { title: "Heater duty (%, per zone)", unit: "%" },
  power: { title: "Power (W, + import / − export)", unit: "W" },
  energy: { title: "Energy register (Wh)", unit: "Wh" },
};

/** A set of charts fed with readings; `add(readings)` appends live ones. */
export class StationCharts {
  constructor(container) {
    this.container = container;
    this.data = {}; // chart -> series -> [[t_s, value], ...]
    this.plots = {}; // chart -> {plot, names, el}
  }

  reset(readings) {
    this.data = {};
    this.add(readings, false);
    this.redraw(true);
  }

  add(readings, redraw = true) {
    for (const r of readings) {
      const c = classify(r);
      if (!c) continue;
      const t = new Date(r.timestamp).getTime() / 1000;
      const series = ((this.data[c.chart] ||= {})[c.series] ||= []);
      if (series.length && series[series.length - 1][0] > t) {
        series.push([t, c.value]);
        series.sort((a, b) => a[0] - b[0]);
      } else {
        series.push([t, c.value]);
      }
    }
    if (redraw) this.redraw(false);
  }

  redraw(rebuild) {
    for (const chart of Object.keys(SPECS)) {
      const seriesMap = this.data[chart];
      if (!seriesMap) {
        if (this.plots[chart]) {
          this.plots[chart].plot.destroy();
          this.plots[chart].el.remove();
          delete this.plots[chart];
        }
        continue;
      }
      const names = Object.keys(seriesMap).sort();
      const aligned = align(names.map((n) => seriesMap[n]));
      const existing = this.plots[chart];
      if (existing && !rebuild && existing.names.join("|") === names.join("|")) {
        existing.plot.setData(aligned);
        continue;
      }
      if (existing) {
        existing.plot.destroy();
        existing.el.remove();
      }
      const el = h("div", { class: "chart", "data-chart": chart });
      this.container.append(el);
      const width = Math.max(320, Math.min(this.container.clientWidth || 900, 1100) - 10);
      const opts = {
        title: SPECS[chart].title,
        width,
        height: 220,
        // a single sample still gets a visible window (uPlot would otherwise span years)
        scales: { x: { time: true, range: (u, min, max) => (min === max ? [min - 60, max + 60] : [min, max]) } },
        series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLOURS[i % COLOURS.length], width: 2,
          spanGaps: true, points: { size: 5 }, // uPlot draws points only where they fit
          ...(chart === "temp" && n === AMBIENT_SERIES ? AMBIENT_STYLE : {}) }))],
        axes: [{}, { size: 60 }],
        legend: { live: false },
      };
      this.plots[chart] = { plot: new uPlot(opts, aligned, el), names, el };
    }
  }

  destroy() {
    for (const p of Object.values(this.plots)) p.plot.destroy();
    this.plots = {};
  }
}

/** Several [[t, v]] series on one shared, sorted time axis (null where a series has no sample). */
export function align(seriesList) {
  const times = [...new Set(seriesList.flatMap((s) => s.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = seriesList.map((s) => {
    const col = new Array(times.length).fill(null);
    for (const [t, v] of s) col[index.get(t)] = v;
    return col;
  });
  return [times, ...columns];
}
