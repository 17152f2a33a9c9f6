import { ApiError, post } from "../api.js";
import { field, h } from "../dom.js";
import { refreshSession, session } from "../app.js";

export async function signInPage(ctx) {
  // The router has just read the session (once per load): reading it again here doubled the request.
  if (session.open) {
    ctx.render(
      h(
        "div",
        { class: "signin" },
        h("h1", {}, "No sign-in needed"),
        h("p", {}, "This server is open: it has no API key, so the console works without one."),
        h("a", { href: "#/assistants", class: "button primary" }, "Go to assistants"),
      ),
    );
    return;
  }
  const key = h("input", { type: "password", name: "api_key", autocomplete: "off", required: true, placeholder: "sk-..." });
  const error = h("p", { class: "form-error", role: "alert" });
  key.addEventListener("input", () => (error.textContent = ""));
  const form = h(
    "form",
    { class: "signin card", "aria-label": "Sign in" },
    h("h1", {}, "Sign in"),
    h("p", { class: "subtitle" }, "Use an API key of this server. Everything you see belongs to that key's project; an admin key opens the projects, keys, limits and costs."),
    field("API key", key),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    h(
      "p",
      { class: "hint" },
      "The key is kept in an HttpOnly cookie for this site only; page scripts cannot read it. Sign out to remove it.",
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await post("/v1/console/session", { api_key: key.value.trim() });
      key.value = "";
      await refreshSession();
      location.hash = session.project ? "#/assistants" : "#/projects";
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.message : String(failure);
    }
  });
  ctx.render(form);
  key.focus();
}
