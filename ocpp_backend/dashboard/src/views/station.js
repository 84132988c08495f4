// Station detail: live state, commands (operators) with the station's answer, charts over a chosen
// range, sessions and configuration.
import { ApiError, get, items, post, put, qs } from "../api.js";
import { StationCharts } from "../charts.js";
import { ago, clear, fmtEnergy, fmtPower, fmtTemp, fmtTime, h } from "../dom.js";
import { activeSession, interlocked, stateWord } from "../fleet.js";

const HOUR_MS = 3600 * 1000;

function localInput(date) {
  const d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export function stationPage(root, app, [id]) {
  const st = app.fleet.get(id);
  if (!st) {
    root.append(h("p", { class: "error" }, `Unknown station ${id}.`), h("a", { href: "#/stations" }, "Back"));
    return {};
  }
  const live = h("section", { class: "cards", id: "station-live" });
  const result = h("pre", { id: "command-result", class: "answer", "aria-live": "polite" });
  const chartsBox = h("div", { class: "charts", id: "charts" });
  const charts = new StationCharts(chartsBox);
  const sessionsBody = h("tbody", { id: "station-sessions" });
  const configBox = h("div", { id: "config-box", class: "muted" },
    app.can("operator") ? "Read it from the station with the button above." : "Operators can read it from the station.");

  // -- range -------------------------------------------------------------------------------
  const now = new Date();
  const from = h("input", { id: "range-from", type: "datetime-local", value: localInput(new Date(now - 24 * HOUR_MS)) });
  const to = h("input", { id: "range-to", type: "datetime-local", value: localInput(now) });
  let followLive = true; // the range ends now: append live readings
  const rangeNote = h("span", { class: "muted small", id: "range-note" });
  async function loadRange(since, until) {
    rangeNote.textContent = "loading…";
    try {
      const rows = await get(`/stations/${encodeURIComponent(id)}/readings${qs({
        since: since.toISOString(), until: until.toISOString(), limit: 50000 })}`);
      charts.reset(rows || []);
      rangeNote.textContent = (rows || []).length
        ? `${rows.length} readings, ${since.toLocaleString()} – ${until.toLocaleString()}`
        : `no readings between ${since.toLocaleString()} and ${until.toLocaleString()}`;
    } catch (e) {
      rangeNote.textContent = `could not load readings: ${e.message}`;
    }
  }
  const last24 = () => {
    followLive = true;
    const end = new Date();
    from.value = localInput(new Date(end - 24 * HOUR_MS));
    to.value = localInput(end);
    loadRange(new Date(end - 24 * HOUR_MS), new Date(end.getTime() + 60000));
  };
  const applyRange = () => {
    followLive = false;
    loadRange(new Date(from.value), new Date(to.value));
  };

  // -- commands ------------------------------------------------------------------------------
  async function command(label, fn) {
    result.textContent = `${label}: waiting for the station…`;
    result.className = "answer pending";
    try {
      const answer = await fn();
      const text = JSON.stringify(answer);
      result.textContent = `${label}: ${answer && answer.status ? answer.status : "done"}\n${text.length > 400 ? `${text.slice(0, 400)}…` : text}`;
      result.className = `answer ${answer && /Rejected|Failed|NotSupported/.test(answer.status || "") ? "bad" : "ok"}`;
      return answer;
    } catch (e) {
      const why = e instanceof ApiError ? `${e.status} ${typeof e.detail === "string" ? e.detail : JSON.stringify(e.detail)}` : e.message;
      result.textContent = `${label} failed: ${why}`;
      result.className = "answer bad";
      return null;
    }
  }
  const path = (p) => `/stations/${encodeURIComponent(id)}/${p}`;
  const tag = h("input", { id: "start-tag", placeholder: "id tag", size: 12 });
  const connector = h("input", { id: "start-connector", type: "number", min: 1, value: 1, size: 3 });
  const cfgKey = h("input", { id: "config-key", placeholder: "key", size: 24 });
  const cfgValue = h("input", { id: "config-value", placeholder: "value", size: 16 });

  function commandsBox() {
    if (!app.can("operator")) return null;
    const tx = activeSession(st);
    return h("section", { class: "card commands", id: "commands" },
      h("h2", {}, "Commands"),
      h("div", { class: "row" }, tag, connector,
        h("button", { id: "cmd-remote-start", onclick: () => command("Remote start", () =>
          post(path("remote-start"), { id_tag: tag.value, connector_id: Number(connector.value) || null })) },
        "Remote start")),
      h("div", { class: "row" },
        h("button", { id: "cmd-remote-stop", disabled: !tx, onclick: () => {
          const current = activeSession(st);
          if (current) command(`Remote stop of session ${current.id}`, () => post(path("remote-stop"), { transaction_id: current.id }));
        } }, tx ? `Remote stop (session ${tx.id})` : "Remote stop"),
        h("button", { id: "cmd-unlock", onclick: () => command("Unlock", () =>
          post(path("unlock"), { connector_id: Number(connector.value) || 1 })) }, "Unlock connector"),
        h("button", { id: "cmd-reset-soft", onclick: () => command("Soft reset", () =>
          post(path("reset"), { type: "Soft" })) }, "Soft reset"),
        h("button", { id: "cmd-reset-hard", class: "danger", onclick: () => {
          if (confirm(`Hard reset ${id}?`)) command("Hard reset", () => post(path("reset"), { type: "Hard" }));
        } }, "Hard reset")),
      h("div", { class: "row" },
        h("button", { id: "cmd-inoperative", onclick: () => command("Change availability to Inoperative", () =>
          post(path("availability"), { connector_id: 0, type: "Inoperative" })) }, "Take out of service"),
        h("button", { id: "cmd-operative", onclick: () => command("Change availability to Operative", () =>
          post(path("availability"), { connector_id: 0, type: "Operative" })) }, "Return to service")),
      h("div", { class: "row" },
        h("button", { id: "cmd-get-config", onclick: loadConfig }, "Read configuration"),
        app.can("admin") ? [cfgKey, cfgValue, h("button", { id: "cmd-change-config", onclick: () =>
          command(`Change ${cfgKey.value}`, () => put(path("configuration"), { key: cfgKey.value, value: cfgValue.value })) },
        "Change configuration")] : null),
      result);
  }

  async function loadConfig() {
    const answer = await command("Get configuration", () => get(path("configuration")));
    if (!answer) return;
    result.textContent = `Get configuration: ${(answer.configuration_key || []).length} keys`
      + `${(answer.unknown_key || []).length ? `, unknown: ${answer.unknown_key.join(", ")}` : ""} (table below)`;
    clear(configBox).append(h("table", { class: "config" },
      h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Value"), h("th", {}, ""))),
      h("tbody", {}, (answer.configuration_key || []).map((k) => h("tr", {},
        h("td", {}, k.key), h("td", {}, k.value ?? ""), h("td", { class: "muted small" }, k.readonly ? "read-only" : ""))))));
  }

  // -- live cards --------------------------------------------------------------------------
  function renderLive() {
    const tx = activeSession(st);
    const word = stateWord(st);
    clear(live).append(
      card("Connection", h("span", { class: `badge ${word}`, id: "detail-state" }, st.connected ? word : "offline"),
        h("div", { class: "muted small" }, `last seen ${ago(st.lastSeen)}`)),
      card("Connectors", Object.entries(st.connectors).map(([cid, c]) =>
        h("div", { "data-connector": cid }, `#${cid} ${c.status}${c.error_code && c.error_code !== "NoError" ? ` (${c.error_code})` : ""}${c.info ? ` · ${c.info}` : ""}`))),
      card("Interlock", interlocked(st) ? h("span", { class: "badge interlock" }, "cold: heating first") : "released"),
      card("Heater", st.heater ? [`${st.heater.on ? "on" : "off"} · duty ${Math.round(st.heater.duty_pct)} %`,
        (st.heater.zones || []).map((z) => h("div", { class: "muted small" },
          `${z.name}: ${Math.round((Number(z.duty_pm) || 0) / 10)} %${z.t_c != null ? ` at ${fmtTemp(z.t_c)}` : ""}`))] : "–"),
      card("Temperatures", Object.keys(st.temps).length || st.ambient ? [Object.entries(st.temps).map(([loc, t]) =>
        h("div", {}, `${loc}: ${fmtTemp(t.value)}`)),
        st.ambient ? h("div", { class: "muted", id: "detail-ambient" }, `ambient: ${fmtTemp(st.ambient.value)}`) : null] : "–"),
      card("Power", h("span", { id: "detail-power", class: "big" }, fmtPower(tx || st.powerW ? st.powerW : null))),
      card("Session", tx ? [h("div", { id: "detail-session" }, `#${tx.id} on connector ${tx.connector_id}`),
        h("div", { id: "detail-energy", class: "big" }, fmtEnergy(tx.energy_wh))] : h("span", { id: "detail-session" }, "none")),
      card("Alarms", st.alarms.length ? st.alarms.map((a) => h("div", { class: `sev ${a.severity || ""}` },
        `${a.type || a.kind || "alarm"}: ${a.message || ""}`)) : "none"),
    );
  }

  async function loadSessions() {
    try {
      const list = items(await get(`/transactions${qs({ station_id: id, limit: 20 })}`));
      clear(sessionsBody);
      for (const t of list) {
        sessionsBody.append(h("tr", { dataset: { tx: t.id } }, h("td", {}, t.id), h("td", {}, t.id_tag),
          h("td", {}, fmtTime(t.start_time)), h("td", {}, fmtTime(t.stop_time)),
          h("td", { class: "num" }, fmtEnergy(t.energy_wh)), h("td", {}, t.active ? "active" : t.stop_reason || "")));
      }
      if (!list.length) sessionsBody.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No sessions yet.")));
    } catch (e) {
      clear(sessionsBody).append(h("tr", {}, h("td", { colspan: 6, class: "error" }, e.message)));
    }
  }

  const commandsHolder = h("div", {});
  const renderCommands = () => {
    const keep = result.textContent;
    clear(commandsHolder).append(commandsBox() || "");
    result.textContent = keep;
  };
  root.append(
    h("section", { class: "toolbar" }, h("a", { href: "#/stations" }, "← Stations"), h("h1", { id: "station-title" }, st.id),
      h("span", { class: "muted" }, [st.vendor, st.model].filter(Boolean).join(" "))),
    live, commandsHolder,
    h("section", { class: "card" }, h("h2", {}, "Charts"),
      h("div", { class: "row" }, h("button", { id: "range-24h", onclick: last24 }, "Last 24 h"), "from", from, "to", to,
        h("button", { id: "range-apply", onclick: applyRange }, "Show range"), rangeNote),
      chartsBox),
    h("section", { class: "card" }, h("h2", {}, "Sessions"), h("table", { class: "sessions" },
      h("thead", {}, h("tr", {}, ["Session", "Id tag", "Started", "Stopped", "Energy", "State"].map((x) => h("th", {}, x)))),
      sessionsBody)),
    h("section", { class: "card" }, h("h2", {}, "Configuration"), configBox),
  );
  renderLive();
  renderCommands();
  last24();
  loadSessions();
  app.listeners.add((ev) => {
    if (ev.kind === "refresh") {
      renderLive();
      return;
    }
    if (ev.station_id !== id) return;
    renderLive();
    if (ev.kind === "meter.readings" && followLive) charts.add(ev.data.readings || []);
    if (ev.kind.startsWith("session.")) {
      renderCommands();
      loadSessions();
    }
  });
  return { close: () => charts.destroy() };
}

function card(title, ...body) {
  return h("div", { class: "card small-card" }, h("h3", {}, title), h("div", {}, ...body));
}
