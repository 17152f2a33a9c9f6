// The console's shell: session, navigation, hash routes, keyboard shortcuts.
import { ApiError, del, get } from "./api.js";
import { h, render, toast } from "./dom.js";
import { adminKeysPage, costsPage, projectsPage } from "./pages/admin.js";
import { assistantsPage } from "./pages/assistants.js";
import { filesPage } from "./pages/files.js";
import { inspectorPage } from "./pages/inspector.js";
import { playgroundPage } from "./pages/playground.js";
import { signInPage } from "./pages/signin.js";
import { threadsPage } from "./pages/threads.js";
import { usagePage } from "./pages/usage.js";
import { vectorStoresPage } from "./pages/vectorstores.js";

const ROUTES = {
  "sign-in": signInPage,
  assistants: assistantsPage,
  playground: playgroundPage,
  threads: threadsPage,
  runs: inspectorPage,
  "vector-stores": vectorStoresPage,
  files: filesPage,
  usage: usagePage,
  projects: projectsPage,
  "admin-keys": adminKeysPage,
  costs: costsPage,
};
const ADMIN_PAGES = new Set(["projects", "admin-keys", "costs"]);

export const session = { project: null, open: false, admin: false, known: false };

export async function refreshSession() {
  try {
    const answer = await get("/v1/console/session");
    Object.assign(session, { project: answer.project, open: answer.open, admin: answer.admin, known: true });
  } catch (error) {
    Object.assign(session, { project: null, open: false, admin: false, known: error instanceof ApiError && error.status === 401 });
  }
  showSession();
  return session;
}

function showSession() {
  const banner = document.getElementById("banner");
  banner.hidden = !session.open;
  banner.textContent = session.open
    ? "This server is open: no API key is configured, so anyone who can reach it can read and change everything."
    : "";
  document.body.classList.toggle("signed-out", !session.project && !session.admin);
  // Project pages need a project key; the shop's pages need an admin key (both on an open server).
  for (const link of document.querySelectorAll("#nav a")) link.parentElement.hidden = ADMIN_PAGES.has(link.dataset.page) ? !session.admin : !session.project;
  const who = document.getElementById("who");
  who.replaceChildren();
  if ((session.project || session.admin) && !session.open) {
    who.append(
      session.project
        ? h("span", { class: "project", title: "Everything shown belongs to this project" }, `Project: ${session.project}`)
        : h("span", { class: "project", title: "The Admin API: projects, keys, limits, usage and cost" }, "Administrator"),
      h("button", { class: "link", type: "button", onclick: signOut }, "Sign out"),
    );
  } else if (session.open) {
    who.append(h("span", { class: "project" }, "Open server"));
  }
}

async function signOut() {
  await del("/v1/console/session");
  await refreshSession();
  location.hash = "#/sign-in";
}

function parseHash() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "assistants", args: parts.slice(1), query: new URLSearchParams(query) };
}

let generation = 0;

async function route() {
  const current = ++generation;
  const parsed = parseHash();
  const { args, query } = parsed;
  if (!session.known) await refreshSession();
  if (!session.project && !session.admin && parsed.page !== "sign-in") {
    location.hash = "#/sign-in";
    return;
  }
  // An admin key has no project: its home is the projects page.
  const page = !session.project && !ADMIN_PAGES.has(parsed.page) && parsed.page !== "sign-in" && !location.hash.replace(/^#\/?/, "") ? "projects" : parsed.page;
  for (const link of document.querySelectorAll("#nav a")) {
    const active = link.dataset.page === page || (page === "runs" && link.dataset.page === "threads");
    link.classList.toggle("active", active);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const handler = ROUTES[page];
  if (!handler) {
    render(h("h1", {}, "Not found"), h("p", {}, "No console page here."));
    return;
  }
  document.title = `${page.replace("-", " ")} · assistantd`;
  try {
    const isCurrent = () => current === generation;
    // A page still loading when the user moved on must not paint over the newer one.
    await handler({ args, query, isCurrent, render: (...children) => (isCurrent() ? render(...children) : null) });
  } catch (error) {
    if (current !== generation) return;
    if (error instanceof ApiError && error.status === 401) return;
    render(h("div", { class: "error-box", role: "alert" }, h("strong", {}, "Could not load this page. "), error.message));
  }
  document.getElementById("main").focus({ preventScroll: true });
}

// "g" then a letter jumps to a page, as in many consoles; ignored while typing.
const JUMPS = { a: "assistants", p: "playground", t: "threads", v: "vector-stores", f: "files", u: "usage", o: "projects", c: "costs" };
let pendingG = false;
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (pendingG && JUMPS[event.key]) {
    location.hash = `#/${JUMPS[event.key]}`;
    pendingG = false;
    return;
  }
  pendingG = event.key === "g";
});

window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason instanceof ApiError && event.reason.status === 401) return;
  toast(event.reason?.message || String(event.reason), "error");
});
route();
