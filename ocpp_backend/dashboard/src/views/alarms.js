// Alarms: open and past alarms; operators acknowledge an alarm with a comment.
import { get, items, post, qs } from "../api.js";
import { clear, fmtTime, h } from "../dom.js";

export function alarmsPage(root, app) {
  const which = h("select", { id: "alarms-which" }, h("option", { value: "open" }, "open"),
    h("option", { value: "all" }, "all (history)"));
  const body = h("tbody", { id: "alarm-rows" });
  const note = h("p", { class: "muted", id: "alarms-note" });
  root.append(h("section", { class: "toolbar" }, h("h1", {}, "Alarms"), which), note,
    h("table", { class: "alarms" }, h("thead", {}, h("tr", {}, ["Severity", "Station", "Kind", "Message", "Raised",
      "Cleared", "Acknowledged", ""].map((t) => h("th", {}, t)))), body));
  which.addEventListener("change", load);

  async function load() {
    let list;
    try {
      list = items(await get(`/alarms${qs(which.value === "open" ? { open: true, limit: 500 } : { limit: 500 })}`));
    } catch (e) {
      clear(body);
      note.textContent = e.status === 404 ? "This backend has no alarms API." : e.message;
      return;
    }
    if (which.value === "open") list = list.filter((a) => a.open !== false && !a.cleared_at);
    note.textContent = `${list.length} alarm(s)`;
    clear(body);
    for (const a of list) body.append(row(a));
    if (!list.length) body.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No alarms.")));
  }

  function row(a) {
    const open = a.open !== false && !a.cleared_at;
    let ack = null;
    if (a.acked_at) {
      ack = h("span", {}, `${a.acked_by || ""} ${fmtTime(a.acked_at)}`, a.comment ? h("div", { class: "muted small" }, a.comment) : null);
    } else if (app.can("operator")) {
      const comment = h("input", { class: "ack-comment", placeholder: "comment", size: 18 });
      const button = h("button", { class: "ack", onclick: async () => {
        button.disabled = true;
        try {
          await post(`/alarms/${a.id}/ack`, { comment: comment.value });
          await load();
        } catch (e) {
          button.disabled = false;
          note.textContent = `acknowledge failed: ${e.message}`;
        }
      } }, "Acknowledge");
      ack = h("span", {}, comment, button);
    } else {
      ack = "–";
    }
    return h("tr", { class: open ? "open" : "cleared", dataset: { alarm: a.id, station: a.station_id, kind: a.kind } },
      h("td", {}, h("span", { class: `badge sev-${a.severity}` }, a.severity)),
      h("td", {}, h("a", { href: `#/station/${encodeURIComponent(a.station_id)}` }, a.station_id)),
      h("td", {}, a.kind), h("td", {}, a.message), h("td", {}, fmtTime(a.raised_at)),
      h("td", {}, open ? h("span", { class: "badge alarm" }, "open") : `${fmtTime(a.cleared_at)} ${a.clear_reason || ""}`),
      h("td", { colspan: 2 }, ack));
  }

  let timer = null;
  app.listeners.add((ev) => {
    if (!ev.kind.startsWith("alarm") && ev.kind !== "refresh") return;
    clearTimeout(timer);
    timer = setTimeout(load, 300);
  });
  load();
  return { close: () => clearTimeout(timer) };
}
