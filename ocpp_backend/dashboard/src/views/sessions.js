// Sessions: every charging session, filtered by station and state, a page at a time.
import { get, items, qs } from "../api.js";
import { clear, fmtEnergy, fmtTime, h } from "../dom.js";

const PAGE = 50;

export function sessionsPage(root, app) {
  const station = h("input", { id: "sessions-station", placeholder: "station id", size: 14 });
  const state = h("select", { id: "sessions-state" }, h("option", { value: "" }, "all"),
    h("option", { value: "true" }, "active"), h("option", { value: "false" }, "finished"));
  const body = h("tbody", { id: "session-rows" });
  const pager = h("span", { class: "muted", id: "sessions-page" });
  let offset = 0;
  const prev = h("button", { onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, "‹ newer");
  const next = h("button", { onclick: () => { offset += PAGE; load(); } }, "older ›");
  root.append(h("section", { class: "toolbar" }, h("h1", {}, "Sessions"), station, state,
    h("button", { onclick: () => { offset = 0; load(); } }, "Filter"), prev, next, pager),
  h("table", { class: "sessions" }, h("thead", {}, h("tr", {}, ["Session", "Station", "Connector", "Id tag",
    "Started", "Stopped", "Energy", "State"].map((t) => h("th", {}, t)))), body));

  async function load() {
    try {
      const list = items(await get(`/transactions${qs({ station_id: station.value.trim(), active: state.value,
        limit: PAGE, offset })}`));
      clear(body);
      for (const t of list) {
        body.append(h("tr", { dataset: { tx: t.id, station: t.station_id } }, h("td", {}, t.id),
          h("td", {}, h("a", { href: `#/station/${encodeURIComponent(t.station_id)}` }, t.station_id)),
          h("td", {}, t.connector_id), h("td", {}, t.id_tag), h("td", {}, fmtTime(t.start_time)),
          h("td", {}, fmtTime(t.stop_time)), h("td", { class: "num", "data-field": "energy" }, fmtEnergy(t.energy_wh)),
          h("td", {}, t.active ? h("span", { class: "badge charging" }, "active") : t.stop_reason || "finished")));
      }
      if (!list.length) body.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No sessions.")));
      pager.textContent = `${offset + 1}–${offset + list.length}`;
      next.disabled = list.length < PAGE;
      prev.disabled = offset === 0;
    } catch (e) {
      clear(body).append(h("tr", {}, h("td", { colspan: 8, class: "error" }, e.message)));
    }
  }
  let timer = null;
  app.listeners.add((ev) => {
    if (!ev.kind.startsWith("session.") && ev.kind !== "refresh") return;
    clearTimeout(timer);
    timer = setTimeout(load, 400);
  });
  load();
  return { close: () => clearTimeout(timer) };
}
