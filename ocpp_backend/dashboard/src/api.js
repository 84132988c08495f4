// The REST API client: JSON in and out, the session cookie, the CSRF header on state changes.
// Nothing else in the dashboard talks to the backend (besides the event stream in live.js).

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status; // HTTP status, 0 when the request did not reach the backend
    this.detail = detail;
  }
}

let onUnauthorized = () => {};

/** Called with no argument whenever the API answers 401 (the session is gone). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)fg_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

/** Call `method path` (relative to /api/v1) with an optional JSON body; resolves to the JSON answer. */
export async function call(method, path, body, { quiet401 = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (error) {
    throw new ApiError(0, `backend unreachable: ${error.message}`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    if (response.status === 401 && !quiet401) onUnauthorized();
    const detail = data && typeof data === "object" && "detail" in data ? data.detail : data;
    throw new ApiError(response.status, detail || response.statusText);
  }
  return data;
}

export const get = (path, opts) => call("GET", path, undefined, opts);
export const post = (path, body) => call("POST", path, body ?? {});
export const put = (path, body) => call("PUT", path, body ?? {});

/** Query string from an object, leaving out empty values; arrays repeat the key. */
export function qs(params) {
  const out = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) out.append(key, String(v));
  }
  const s = out.toString();
  return s ? `?${s}` : "";
}

/** A list endpoint's items, whether it answers a bare list or a page `{items, total, ...}`. */
export function items(answer) {
  if (Array.isArray(answer)) return answer;
  if (answer && Array.isArray(answer.items)) return answer.items;
  return [];
}
