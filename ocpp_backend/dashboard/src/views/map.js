// Map: stations drawn at their coordinates on an SVG in Web Mercator. Works offline (a graticule,
// no tiles); a tile URL template (e.g. https://tiles.example/{z}/{x}/{y}.png) set on this page is
// drawn underneath when given.
import { clear, fmtPower, h, s } from "../dom.js";
import { stateWord } from "../fleet.js";

const W = 960;
const H = 560;
const TILE = 256;

/** Web Mercator: lon/lat -> world pixels at zoom z. */
export function project(lon, lat, z) {
  const scale = TILE * 2 ** z;
  const x = ((lon + 180) / 360) * scale;
  const sin = Math.sin((Math.max(-85, Math.min(85, lat)) * Math.PI) / 180);
  const y = (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * scale;
  return [x, y];
}

/** The largest zoom (0..18) at which every point fits the view with a margin. */
export function fitZoom(points) {
  for (let z = 18; z > 0; z -= 1) {
    const px = points.map(([lon, lat]) => project(lon, lat, z));
    const xs = px.map((p) => p[0]);
    const ys = px.map((p) => p[1]);
    if (Math.max(...xs) - Math.min(...xs) < W * 0.8 && Math.max(...ys) - Math.min(...ys) < H * 0.8) return z;
  }
  return 0;
}

export function mapPage(root, app) {
  const tiles = h("input", { id: "tile-url", type: "url", placeholder: "tile URL {z}/{x}/{y} (optional)",
    value: localStorage.getItem("fg.tiles") || "", size: 48 });
  const holder = h("div", { class: "map", id: "map" });
  const unplaced = h("p", { class: "muted", id: "unplaced" });
  root.append(h("section", { class: "toolbar" }, h("h1", {}, "Map"), tiles), holder, unplaced);
  tiles.addEventListener("change", () => {
    localStorage.setItem("fg.tiles", tiles.value.trim());
    render();
  });

  function render() {
    const all = [...app.fleet.values()];
    const placed = all.filter((st) => st.lat !== null && st.lon !== null);
    const missing = all.filter((st) => st.lat === null || st.lon === null);
    unplaced.textContent = missing.length
      ? `Without coordinates: ${missing.map((st) => st.id).join(", ")}` : "";
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": "station map" });
    svg.append(s("rect", { x: 0, y: 0, width: W, height: H, class: "sea" }));
    const points = placed.length ? placed.map((st) => [st.lon, st.lat]) : [[126.63, 45.75]];
    const z = placed.length > 1 ? fitZoom(points) : 11;
    const px = points.map(([lon, lat]) => project(lon, lat, z));
    const cx = (Math.min(...px.map((p) => p[0])) + Math.max(...px.map((p) => p[0]))) / 2;
    const cy = (Math.min(...px.map((p) => p[1])) + Math.max(...px.map((p) => p[1]))) / 2;
    const ox = cx - W / 2;
    const oy = cy - H / 2;
    const template = tiles.value.trim();
    if (template) {
      const n = 2 ** z;
      for (let tx = Math.floor(ox / TILE); tx <= Math.floor((ox + W) / TILE); tx += 1) {
        for (let ty = Math.floor(oy / TILE); ty <= Math.floor((oy + H) / TILE); ty += 1) {
          if (ty < 0 || ty >= n) continue;
          const href = template.replace("{z}", z).replace("{x}", ((tx % n) + n) % n).replace("{y}", ty);
          svg.append(s("image", { href, x: tx * TILE - ox, y: ty * TILE - oy, width: TILE, height: TILE }));
        }
      }
    } else {
      graticule(svg, z, ox, oy);
    }
    for (const st of placed) {
      const [x, y] = project(st.lon, st.lat, z);
      const word = stateWord(st);
      const g = s("g", { class: `pin ${word}`, transform: `translate(${(x - ox).toFixed(1)},${(y - oy).toFixed(1)})`,
        "data-station": st.id, tabindex: 0 });
      g.append(s("circle", { r: st.alarms.length ? 11 : 8 }),
        s("text", { x: 13, y: 4 }, `${st.id}${st.powerW ? ` · ${fmtPower(st.powerW)}` : ""}`),
        s("title", {}, `${st.id}: ${word}`));
      g.addEventListener("click", () => { location.hash = `#/station/${encodeURIComponent(st.id)}`; });
      svg.append(g);
    }
    clear(holder).append(svg, legend());
  }
  let pending = false;
  app.listeners.add(() => {
    if (pending) return;
    pending = true;
    setTimeout(() => { pending = false; render(); }, 500);
  });
  render();
  return {};
}

function graticule(svg, z, ox, oy) {
  // lines every 10^k degrees so that a few cross the view
  const span = (360 * W) / (TILE * 2 ** z);
  const step = 10 ** Math.floor(Math.log10(span / 2));
  const [lonW] = unproject(ox, oy + H, z);
  const [lonE, latN] = unproject(ox + W, oy, z);
  const [, latS] = unproject(ox, oy + H, z);
  for (let lon = Math.ceil(lonW / step) * step; lon <= lonE; lon += step) {
    const x = project(lon, 0, z)[0] - ox;
    svg.append(s("line", { x1: x, y1: 0, x2: x, y2: H, class: "grid" }),
      s("text", { x: x + 3, y: H - 6, class: "grid-label" }, `${lon.toFixed(2)}°E`));
  }
  for (let lat = Math.ceil(latS / step) * step; lat <= latN; lat += step) {
    const y = project(0, lat, z)[1] - oy;
    svg.append(s("line", { x1: 0, y1: y, x2: W, y2: y, class: "grid" }),
      s("text", { x: 4, y: y - 3, class: "grid-label" }, `${lat.toFixed(2)}°N`));
  }
}

function unproject(x, y, z) {
  const scale = TILE * 2 ** z;
  const lon = (x / scale) * 360 - 180;
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / scale))) * 180) / Math.PI;
  return [lon, lat];
}

function legend() {
  return h("div", { class: "legend" }, ["available", "charging", "busy", "interlock", "faulted", "offline"]
    .map((w) => h("span", { class: `badge ${w}` }, w)));
}
