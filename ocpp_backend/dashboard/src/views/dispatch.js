// Dispatch (V2G): groups, orders with their state, and the live feed of dispatch events
// (acknowledgements, per-interval verification, group telemetry) since the page opened.
import { get, items } from "../api.js";
import { clear, fmtTime, h } from "../dom.js";

const FEED_MAX = 200;

export function dispatchPage(root, app) {
  const note = h("p", { class: "muted", id: "dispatch-note" });
  const groups = h("tbody", { id: "dispatch-groups" });
  const orders = h("tbody", { id: "dispatch-orders" });
  const feed = h("tbody", { id: "dispatch-feed" });
  root.append(h("section", { class: "toolbar" }, h("h1", {}, "Dispatch")), note,
    h("section", { class: "card" }, h("h2", {}, "Groups"), h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Group"), h("th", {}, "Stations"))), groups)),
    h("section", { class: "card" }, h("h2", {}, "Orders"), h("table", {},
      h("thead", {}, h("tr", {}, ["Order", "Revision", "Group", "State", "Committed kW"].map((t) => h("th", {}, t)))),
      orders)),
    h("section", { class: "card" }, h("h2", {}, "Live events"), h("table", {},
      h("thead", {}, h("tr", {}, ["Time", "Kind", "Group", "Details"].map((t) => h("th", {}, t)))), feed)));

  async function load() {
    try {
      const [g, o] = await Promise.all([get("/dispatch/groups"), get("/dispatch/orders")]);
      clear(groups);
      for (const x of items(g)) {
        groups.append(h("tr", {}, h("td", {}, x.id), h("td", {}, x.stations.map((sid) =>
          h("a", { href: `#/station/${encodeURIComponent(sid)}`, class: "temp" }, sid)))));
      }
      if (!items(g).length) groups.append(h("tr", {}, h("td", { colspan: 2, class: "muted" }, "No groups.")));
      clear(orders);
      for (const x of items(o)) {
        orders.append(h("tr", { dataset: { order: x.order_id } }, h("td", {}, x.order_id), h("td", {}, x.revision),
          h("td", {}, x.group), h("td", {}, x.state),
          h("td", { class: "small" }, (x.committed_kw || []).map((v) => v.toFixed(1)).join(" · ") || "–")));
      }
      if (!items(o).length) orders.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No orders.")));
      note.textContent = "";
    } catch (e) {
      note.textContent = e.status === 404 || e.status === 503 ? "No dispatcher runs on this backend." : e.message;
    }
  }

  let timer = null;
  app.listeners.add((ev) => {
    if (!ev.kind.startsWith("dispatch.")) return;
    const d = ev.data || {};
    const details = d.stage ? `${d.order_id} ${d.stage}${d.reason ? `: ${d.reason}` : ""}`
      : d.delivered_kwh !== undefined ? `${d.order_id}: delivered ${Number(d.delivered_kwh).toFixed(2)} of `
        + `${Number(d.target_kwh).toFixed(2)} kWh${d.within_tolerance ? "" : " (out of tolerance)"}`
        : d.import_kw !== undefined ? `import ${Number(d.import_kw).toFixed(1)} kW, export `
          + `${Number(d.export_kw).toFixed(1)} kW, ${d.evs_connected} EVs` : JSON.stringify(d).slice(0, 160);
    feed.prepend(h("tr", {}, h("td", {}, fmtTime(ev.time)), h("td", {}, ev.kind), h("td", {}, ev.station_id),
      h("td", { class: "small" }, details)));
    while (feed.children.length > FEED_MAX) feed.lastChild.remove();
    clearTimeout(timer);
    timer = setTimeout(load, 500);
  });
  load();
  return { close: () => clearTimeout(timer) };
}
