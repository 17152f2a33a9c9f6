// DOM helpers. Every value from the server reaches the page as a text node or an attribute set with
// setAttribute: nothing is ever parsed as HTML, so a message, file name or tool output holding markup
// or script shows as text and does nothing.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    // Styles through the CSSOM: the console's CSP forbids style attributes.
    else if (key === "style") Object.assign(node.style, value);
    else if (key === "value") node.value = value;
    else if (key === "checked" || key === "disabled" || key === "selected") node[key] = Boolean(value);
    else if (key === "href") node.setAttribute("href", safeHref(value));
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function safeHref(value) {
  const text = String(value);
  // Only in-app routes, this server's paths, and object URLs made by the page itself.
  return text.startsWith("#") || text.startsWith("/") || text.startsWith("blob:") ? text : "#";
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export function render(...children) {
  const main = clear(document.getElementById("main"));
  append(main, children);
  return main;
}

export function toast(message, kind = "info") {
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  document.getElementById("toasts").append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 3500);
}

export function when(seconds) {
  if (!seconds) return "—";
  const date = new Date(seconds * 1000);
  return date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function ago(seconds) {
  if (!seconds) return "—";
  const delta = Date.now() / 1000 - seconds;
  if (delta < 60) return "just now";
  if (delta < 3600) return `${Math.floor(delta / 60)} min ago`;
  if (delta < 86400) return `${Math.floor(delta / 3600)} h ago`;
  return when(seconds).slice(0, 10);
}

export function duration(from, to) {
  if (!from || !to) return "—";
  const s = to - from;
  if (s < 1) return "< 1 s"; // the API records whole seconds
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

export function badge(status) {
  return h("span", { class: `badge status-${String(status).replace(/[^a-z_]/g, "")}` }, String(status).replace(/_/g, " "));
}

export function pretty(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

export function code(text, cls = "") {
  return h("pre", { class: `code ${cls}` }, h("code", {}, text));
}

export function empty(text, ...actions) {
  return h("div", { class: "empty" }, h("p", {}, text), ...actions);
}

export function pageHeader(title, subtitle, ...actions) {
  return h(
    "header",
    { class: "page-header" },
    h("div", {}, h("h1", {}, title), subtitle ? h("p", { class: /^[a-z]+[_-][A-Za-z0-9]+$/.test(subtitle) ? "subtitle id" : "subtitle" }, subtitle) : null),
    h("div", { class: "actions" }, ...actions),
  );
}

export function field(label, control, hint) {
  // The hint sits outside the <label>, so the control's accessible name is the label alone.
  return h("div", { class: "field" }, h("label", {}, h("span", { class: "label" }, label), control), hint ? h("span", { class: "hint" }, hint) : null);
}

export function idLink(href, id) {
  return h("a", { href, class: "mono" }, id);
}

// A search box over a table's rows: hides the rows whose text does not contain what is typed.
export function filterBox(table, label) {
  const input = h("input", { type: "search", class: "list-filter", placeholder: `${label}…`, "aria-label": label });
  const none = h("p", { class: "dim", hidden: true }, "Nothing matches.");
  input.addEventListener("input", () => {
    const wanted = input.value.trim().toLowerCase();
    let shown = 0;
    for (const row of table.querySelectorAll("tbody tr")) {
      row.hidden = Boolean(wanted) && !row.textContent.toLowerCase().includes(wanted);
      shown += row.hidden ? 0 : 1;
    }
    none.hidden = shown > 0;
  });
  return h("div", {}, input, none);
}
