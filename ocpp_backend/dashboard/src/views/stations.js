// Station list: live state of every station, filter and search, sorted by what needs attention.
import { ago, clear, fmtEnergy, fmtPower, fmtTemp, h } from "../dom.js";
import { activeSession, attention, interlocked, mainConnector, stateWord, visibleStations } from "../fleet.js";

const STATES = ["all", "alarm", "offline", "faulted", "interlock", "charging", "available", "unavailable", "busy"];

export function stationsPage(root, app) {
  const filter = { text: sessionStorage.getItem("fg.filter.text") || "",
    state: sessionStorage.getItem("fg.filter.state") || "all" };
  const search = h("input", { id: "station-search", type: "search", placeholder: "search id, vendor, model",
    value: filter.text });
  const state = h("select", { id: "station-state" }, STATES.map((s) => h("option", { value: s }, s)));
  state.value = filter.state;
  const count = h("span", { class: "muted", id: "station-count" });
  const body = h("tbody", { id: "station-rows" });
  const table = h("table", { class: "stations" },
    h("thead", {}, h("tr", {}, ["Station", "State", "Connector", "Interlock", "Heater", "Temperatures",
      "Power", "Session energy", "Alarms", "Last seen"].map((t) => h("th", {}, t)))),
    body);
  root.append(h("section", { class: "toolbar" }, h("h1", {}, "Stations"), search, state, count), table);

  const render = () => {
    const list = visibleStations([...app.fleet.values()], filter);
    count.textContent = `${list.length} of ${app.fleet.size} · ${[...app.fleet.values()]
      .filter((st) => st.connected).length} online`;
    clear(body);
    for (const st of list) body.append(row(st));
    if (!list.length) body.append(h("tr", {}, h("td", { colspan: 10, class: "muted" }, "No station matches.")));
  };
  search.addEventListener("input", () => {
    filter.text = search.value;
    sessionStorage.setItem("fg.filter.text", filter.text);
    render();
  });
  state.addEventListener("change", () => {
    filter.state = state.value;
    sessionStorage.setItem("fg.filter.state", filter.state);
    render();
  });
  let pending = false;
  app.listeners.add(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      render();
    });
  });
  const ticker = setInterval(render, 10000); // keep "last seen" ages current
  render();
  return { close: () => clearInterval(ticker) };
}

function row(st) {
  const c = mainConnector(st);
  const word = stateWord(st);
  const tx = activeSession(st);
  const temps = Object.entries(st.temps).sort(([a], [b]) => a.localeCompare(b))
    .map(([loc, t]) => h("span", { class: "temp", title: loc }, `${loc} ${fmtTemp(t.value)}`));
  return h("tr", { class: `st ${word}`, dataset: { station: st.id, state: word, attention: attention(st) },
    onclick: () => { location.hash = `#/station/${encodeURIComponent(st.id)}`; } },
  h("td", {}, h("a", { href: `#/station/${encodeURIComponent(st.id)}`, class: "sid" }, st.id),
    h("div", { class: "muted small" }, [st.vendor, st.model].filter(Boolean).join(" "))),
  h("td", {}, h("span", { class: `badge ${word}`, "data-field": "connection" }, st.connected ? word : "offline")),
  h("td", { "data-field": "status" }, c ? c.status : "–", c && c.info ? h("div", { class: "muted small" }, c.info) : null),
  h("td", { "data-field": "interlock" }, interlocked(st) ? h("span", { class: "badge interlock" }, "cold") : "–"),
  h("td", { "data-field": "heater" }, st.heater ? (st.heater.on ? `on ${Math.round(st.heater.duty_pct)} %` : "off") : "–"),
  h("td", { "data-field": "temps" }, temps.length ? temps : "–"),
  h("td", { "data-field": "power", class: "num" }, fmtPower(tx || st.powerW ? st.powerW : null)),
  h("td", { "data-field": "energy", class: "num" }, tx ? fmtEnergy(tx.energy_wh) : "–"),
  h("td", { "data-field": "alarms" }, st.alarms.length
    ? h("span", { class: "badge alarm" }, `${st.alarms.length} open`) : "–"),
  h("td", { class: "muted small" }, ago(st.lastSeen)));
}
