// Login page: POST /auth/login sets the session cookie (HttpOnly) and the CSRF cookie.
import { ApiError, post } from "../api.js";
import { h } from "../dom.js";
import { startSession } from "../main.js";

export function loginPage(root) {
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password",
    required: true });
  const error = h("p", { id: "login-error", class: "error", role: "alert" });
  const form = h("form", { id: "login-form", class: "card login" },
    h("h1", {}, "Frostgrid operations"),
    h("label", { for: "username" }, "User"), user,
    h("label", { for: "password" }, "Password"), pass,
    h("button", { type: "submit", id: "login-submit" }, "Log in"),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const me = await post("/auth/login", { username: user.value, password: pass.value });
      await startSession({ username: me.username, role: me.role });
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401 ? "Wrong user or password." : e.message;
    }
  });
  root.append(form);
  user.focus();
  return {};
}
