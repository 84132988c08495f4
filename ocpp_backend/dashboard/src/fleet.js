// The live picture of the fleet: one record per station, built from REST and kept current by the
// event stream. Pure functions of plain data (no DOM), so that the rules read in one place.

export const TEMPERATURE = "Temperature";
export const POWER = "Power.Active.Import";
export const ENERGY = "Energy.Active.Import.Register";
// Heater reports stored by the backend, one series per zone: "<measurand>:<zone>" (docs/interfaces.md §1.6).
export const HEATER_DUTY = "Frostgrid.Heater.Duty"; // Percent
export const HEATER_ENERGY = "Frostgrid.Heater.Energy"; // Wh
// The air around the station, from the heater reports' amb_c (Celsius, connector 0).
export const AMBIENT = "Frostgrid.Ambient";

/** A fresh station record from a GET /stations item. */
export function stationFromApi(s) {
  const connectors = {};
  for (const c of s.connectors || []) connectors[c.connector_id] = { ...c };
  return {
    id: s.id,
    connected: !!s.connected,
    lastSeen: s.last_seen || null,
    vendor: s.vendor || "",
    model: s.model || "",
    lat: typeof s.lat === "number" ? s.lat : null,
    lon: typeof s.lon === "number" ? s.lon : null,
    connectors, // connector_id -> {status, error_code, info}
    temps: {}, // location -> {value, unit, at}
    ambient: null, // {value (°C), at} of the air around the station, when it reports it
    heater: null, // {on, duty_pct} when the station reports it
    powerW: null,
    registerWh: null,
    sessions: {}, // transaction id -> {id, connector_id, meter_start_wh, energy_wh}
    alarms: [], // open alarms
  };
}

/** Fold the latest readings of a station (detail `last_readings` or an event's readings) in. */
export function applyReadings(st, readings, transactionId) {
  for (const r of readings) {
    const value = Number(r.value);
    if (!Number.isFinite(value)) continue;
    const measurand = r.measurand || ENERGY;
    const unit = r.unit || "Wh";
    const location = r.location || "Outlet";
    if (measurand === TEMPERATURE) {
      const celsius = unit === "K" ? value - 273.15 : unit === "Fahrenheit" ? ((value - 32) * 5) / 9 : value;
      st.temps[location] = { value: celsius, at: r.timestamp };
    } else if (measurand === AMBIENT) {
      st.ambient = { value, at: r.timestamp };
    } else if (isHeater(r)) {
      // one reading per zone: the station's duty is its busiest zone's
      const duties = { ...(st.heater?.duties || {}), [heaterZone(r)]: value };
      const duty = Math.max(...Object.values(duties));
      st.heater = { ...(st.heater || {}), duties, duty_pct: duty, on: duty > 0 };
    } else if (measurand === POWER && !r.phase) {
      st.powerW = unit === "kW" ? value * 1000 : value;
    } else if (measurand === ENERGY && !r.phase) {
      st.registerWh = unit === "kWh" ? value * 1000 : value;
      const tx = transactionId != null ? st.sessions[transactionId] : null;
      if (tx) tx.energy_wh = st.registerWh - tx.meter_start_wh;
    }
  }
}

/** The zones of a heater report (DataTransfer Frostgrid/Heater, docs/interfaces.md §1.6), or null. */
export function heaterZones(notification) {
  const d = notification || {};
  if (d.action !== "DataTransfer" || d.vendor_id !== "Frostgrid" || d.message_id !== "Heater") return null;
  try {
    const report = typeof d.data === "string" ? JSON.parse(d.data) : d.data;
    return Array.isArray(report?.zones) ? report.zones : null;
  } catch {
    return null;
  }
}

/** A reading of a heater's duty: the backend's stored heater reports, or a station's own measurand
 * about a heater (not its energy counter). */
export function isHeater(r) {
  const m = r.measurand || "";
  if (m === HEATER_DUTY || m.startsWith(`${HEATER_DUTY}:`)) return true;
  if (m === HEATER_ENERGY || m.startsWith(`${HEATER_ENERGY}:`) || /energy/i.test(m)) return false;
  return /heat/i.test(`${m} ${r.location || ""} ${r.context || ""}`);
}

/** The zone of a heater reading ("Frostgrid.Heater.Duty:electronics" -> "electronics"). */
export function heaterZone(r) {
  const m = r.measurand || "";
  const colon = m.indexOf(":");
  return colon >= 0 ? m.slice(colon + 1) : r.location || "heater";
}

/** The connector that tells the most (the first real one, else the station as a whole). */
export function mainConnector(st) {
  const ids = Object.keys(st.connectors).map(Number).sort((a, b) => a - b);
  const real = ids.filter((i) => i > 0);
  const id = real.length ? real[0] : ids[0];
  return id === undefined ? null : st.connectors[id];
}

/** True when the station holds back charging because it is too cold (heating first). */
export function interlocked(st) {
  return Object.values(st.connectors).some((c) =>
    /interlock|cold|heating|too ?cold/i.test(`${c.info || ""} ${c.vendor_error_code || ""}`),
  );
}

export function activeSession(st) {
  const list = Object.values(st.sessions);
  return list.length ? list[list.length - 1] : null;
}

const SEVERITY_RANK = { critical: 3, major: 2, high: 2, warning: 1, minor: 1, info: 0 };

/** How urgently the station needs an operator (higher first); the station list sorts by this. */
export function attention(st) {
  let score = 0;
  for (const a of st.alarms) score = Math.max(score, 60 + 10 * (SEVERITY_RANK[a.severity] ?? 1));
  if (!st.connected) score = Math.max(score, 50);
  const statuses = Object.values(st.connectors).map((c) => c.status);
  if (statuses.includes("Faulted")) score = Math.max(score, 45);
  if (interlocked(st)) score = Math.max(score, 40);
  if (statuses.includes("Unavailable")) score = Math.max(score, 35);
  if (statuses.some((s) => s === "SuspendedEVSE")) score = Math.max(score, 30);
  if (activeSession(st)) score = Math.max(score, 10);
  return score;
}

/** One word for the station's state, used for colours and the filter. */
export function stateWord(st) {
  if (!st.connected) return "offline";
  const c = mainConnector(st);
  const status = c ? c.status : "Unknown";
  if (status === "Faulted") return "faulted";
  if (interlocked(st)) return "interlock";
  if (status === "Charging") return "charging";
  if (status === "Available") return "available";
  if (status === "Unavailable") return "unavailable";
  return "busy";
}

/** Stations sorted by attention, then id; `filter` is {text, state}. */
export function visibleStations(stations, filter) {
  const text = (filter.text || "").trim().toLowerCase();
  return stations
    .filter((st) => !filter.state || filter.state === "all" || stateWord(st) === filter.state
      || (filter.state === "alarm" && st.alarms.length > 0))
    .filter((st) => !text || `${st.id} ${st.vendor} ${st.model}`.toLowerCase().includes(text))
    .sort((a, b) => attention(b) - attention(a) || a.id.localeCompare(b.id));
}

/** Apply one event of the stream to the fleet (a Map id -> record); returns the station touched. */
export function applyEvent(fleet, ev) {
  const st = fleet.get(ev.station_id);
  if (!st) return null;
  const d = ev.data || {};
  switch (ev.kind) {
    case "station.connected":
      st.connected = true;
      st.lastSeen = ev.time;
      break;
    case "station.disconnected":
      st.connected = false;
      st.lastSeen = ev.time;
      st.powerW = null;
      break;
    case "station.boot":
      st.vendor = d.vendor || st.vendor;
      st.model = d.model || st.model;
      break;
    case "connector.status":
      st.connectors[d.connector_id] = { ...(st.connectors[d.connector_id] || {}), ...d };
      break;
    case "meter.readings":
      applyReadings(st, d.readings || [], d.transaction_id);
      st.lastSeen = ev.time;
      break;
    case "session.started":
      st.sessions[d.transaction_id] = {
        id: d.transaction_id, connector_id: d.connector_id, meter_start_wh: d.meter_start_wh, energy_wh: 0,
      };
      break;
    case "station.notification": {
      const zones = heaterZones(d);
      if (zones) {
        const duty = Math.max(0, ...zones.map((z) => Number(z.duty_pm) || 0)) / 10;
        st.heater = { on: duty > 0, duty_pct: duty, zones };
      }
      break;
    }
    case "session.stopped":
      delete st.sessions[d.transaction_id];
      st.powerW = 0;
      break;
    default:
      return st;
  }
  return st;
}
