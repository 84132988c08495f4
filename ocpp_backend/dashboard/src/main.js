// The dashboard shell: who is logged in, the fleet's live state, the pages (hash routes).
import "./style.css";
import { ApiError, get, items, post, qs, setUnauthorizedHandler } from "./api.js";
import { clear, h } from "./dom.js";
import { applyEvent, applyReadings, stationFromApi } from "./fleet.js";
import { LiveStream } from "./live.js";
import { alarmsPage } from "./views/alarms.js";
import { dispatchPage } from "./views/dispatch.js";
import { loginPage } from "./views/login.js";
import { mapPage } from "./views/map.js";
import { sessionsPage } from "./views/sessions.js";
import { stationPage } from "./views/station.js";
import { stationsPage } from "./views/stations.js";

const ROLE_RANK = { viewer: 1, operator: 2, admin: 3 };

/** Everything the pages share. */
export const app = {
  me: null, // {username, role}
  fleet: new Map(), // station id -> record (fleet.js)
  alarmsAvailable: true, // false when the backend has no alarms API
  live: null,
  view: null, // the current page: {update(ev)?, close()?}
  listeners: new Set(), // callbacks (ev) of the current page

  /** True if the logged-in role may do what `role` may (viewer < operator < admin). */
  can(role) {
    return !!this.me && (ROLE_RANK[this.me.role] || 0) >= (ROLE_RANK[role] || 99);
  },
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

async function loadFleet() {
  const stations = [];
  for (let offset = 0; ; offset += 1000) {
    const page = items(await get(`/stations${qs({ limit: 1000, offset })}`));
    stations.push(...page);
    if (page.length < 1000) break;
  }
  const fleet = new Map();
  for (const s of stations) fleet.set(s.id, stationFromApi(s));
  const active = items(await get(`/transactions${qs({ active: true, limit: 1000 })}`));
  for (const t of active) {
    const st = fleet.get(t.station_id);
    if (st) st.sessions[t.id] = { id: t.id, connector_id: t.connector_id, meter_start_wh: t.meter_start_wh,
      energy_wh: t.energy_wh ?? 0 };
  }
  app.fleet = fleet;
  await loadAlarms();
  // latest readings (temperatures, power) of each station, a few requests at a time
  const ids = [...fleet.keys()];
  const worker = async () => {
    while (ids.length) {
      const id = ids.shift();
      try {
        const detail = await get(`/stations/${encodeURIComponent(id)}`);
        const st = app.fleet.get(id);
        if (st && detail) {
          applyReadings(st, detail.last_readings || [], null);
          if (typeof detail.lat === "number") st.lat = detail.lat;
          if (typeof detail.lon === "number") st.lon = detail.lon;
        }
      } catch {
        /* a station removed meanwhile */
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

/** Open alarms onto each station (the alarms API may be missing on an older backend). */
export async function loadAlarms() {
  let open = [];
  try {
    open = items(await get(`/alarms${qs({ open: true, limit: 1000 })}`));
    app.alarmsAvailable = true;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) app.alarmsAvailable = false;
    else throw error;
  }
  for (const st of app.fleet.values()) st.alarms = [];
  for (const a of open) {
    if (a.cleared_at || a.open === false) continue;
    const st = app.fleet.get(a.station_id);
    if (st) st.alarms.push(a);
  }
}

let refreshTimer = null;
function scheduleRefresh(what) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      if (what === "alarms") await loadAlarms();
      else await loadFleet();
      notify({ kind: "refresh" });
    } catch (error) {
      console.warn("refresh failed", error);
    }
  }, what === "alarms" ? 150 : 300);
}

function notify(ev) {
  for (const fn of app.listeners) fn(ev);
}

function onEvent(ev) {
  if (ev.kind === "resync") return scheduleRefresh("all");
  if (ev.kind.startsWith("alarm")) scheduleRefresh("alarms");
  const aboutStation = /^(station|connector|meter|session)\./.test(ev.kind);
  if (ev.kind === "station.removed" || (aboutStation && ev.station_id && !app.fleet.has(ev.station_id))) {
    scheduleRefresh("all");
  }
  applyEvent(app.fleet, ev);
  notify(ev);
}

function renderNav() {
  const nav = clear(document.getElementById("nav"));
  if (!app.me) return;
  const here = location.hash.split("/")[1] || "stations";
  const link = (name, label) => h("a", { href: `#/${name}`, class: here === name ? "here" : "" }, label);
  nav.append(link("stations", "Stations"), link("map", "Map"), link("sessions", "Sessions"),
    link("alarms", "Alarms"), link("dispatch", "Dispatch"));
  const who = clear(document.getElementById("who"));
  who.append(
    h("span", { id: "whoami" }, `${app.me.username} (${app.me.role})`),
    h("button", { id: "logout", class: "link", onclick: logout }, "Log out"),
  );
}

async function logout() {
  try {
    await post("/auth/logout");
  } catch {
    /* already gone */
  }
  app.me = null;
  app.live?.close();
  app.live = null;
  app.go("#/login");
}

function setLiveBadge(state) {
  const el = document.getElementById("live");
  el.textContent = state;
  el.className = `live ${state}`;
}

/** After login (or with a session cookie): load the fleet, open the stream, show the page. */
export async function startSession(me) {
  app.me = me;
  await loadFleet();
  app.live?.close();
  app.live = new LiveStream(onEvent, setLiveBadge);
  app.live.open();
  if (!location.hash || location.hash.startsWith("#/login")) location.hash = "#/stations";
  else route();
}

const PAGES = {
  stations: stationsPage,
  map: mapPage,
  station: stationPage,
  sessions: sessionsPage,
  alarms: alarmsPage,
  dispatch: dispatchPage,
};

function route() {
  const root = document.getElementById("view");
  app.view?.close?.();
  app.view = null;
  app.listeners.clear();
  clear(root);
  const [, name = "stations", ...rest] = location.hash.split("/");
  renderNav();
  if (!app.me || name === "login") {
    app.view = loginPage(root, app);
    return;
  }
  const page = PAGES[name] || stationsPage;
  app.view = page(root, app, rest.map(decodeURIComponent));
  document.title = `Frostgrid · ${name}`;
}

setUnauthorizedHandler(() => {
  if (!app.me) return;
  app.me = null;
  app.live?.close();
  app.live = null;
  location.hash = "#/login";
});

window.addEventListener("hashchange", route);

(async () => {
  try {
    const me = await get("/auth/me", { quiet401: true });
    await startSession({ username: me.username, role: me.role });
  } catch {
    route();
  }
})();
