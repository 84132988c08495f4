// The live event stream (GET /api/v1/events, Server-Sent Events). EventSource reconnects by itself
// and sends Last-Event-ID, so the backend replays what was missed or tells us to resync.

const KINDS = [
  "hello", "resync", "station.connected", "station.disconnected", "station.removed", "station.boot",
  "connector.status", "meter.readings", "session.started", "session.stopped", "station.notification",
  "alarm.raised", "alarm.cleared", "alarm.acked", "dispatch.order", "dispatch.cancel", "dispatch.ack",
  "dispatch.verification", "dispatch.telemetry",
];

export class LiveStream {
  /** `onEvent({kind, station_id, time, data})` for each event; `onState("live"|"connecting"|...)`. */
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.source = null;
    this.count = 0; // events received, shown in the badge's title (tests read it too)
  }

  open() {
    this.close();
    this.onState("connecting");
    const source = new EventSource("/api/v1/events");
    this.source = source;
    source.onopen = () => this.onState("live");
    source.onerror = () => this.onState(source.readyState === EventSource.CLOSED ? "offline" : "connecting");
    const handle = (message) => {
      this.count += 1;
      if (message.type === "hello") {
        this.onState("live");
        return;
      }
      if (message.type === "resync") {
        this.onEvent({ kind: "resync", station_id: "", data: {} });
        return;
      }
      let ev;
      try {
        ev = JSON.parse(message.data);
      } catch {
        return;
      }
      this.onEvent(ev);
    };
    for (const kind of KINDS) source.addEventListener(kind, handle);
    source.onmessage = handle; // events of kinds not listed above
  }

  close() {
    if (this.source) this.source.close();
    this.source = null;
  }
}
