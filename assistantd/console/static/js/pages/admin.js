// The shop: projects, their keys and limits, admin keys, usage and cost. Signed in with an admin key
// (or on an open server), through OpenAI's Admin API under /v1/organization.
import { all, del, get, post, request } from "../api.js";
import { ago, badge, empty, filterBox, h, pageHeader, toast } from "../dom.js";

const ORG = "/v1/organization";
const DAY = 86400;

// A secret is shown once, on the page, never in a toast that goes away.
function secretBox(label, value) {
  return h("div", { class: "card secret", role: "status" }, h("strong", {}, label), h("p", { class: "hint" }, "Copy it now: it is not shown again."), h("code", { class: "mono secret-value" }, value));
}

export async function projectsPage(ctx) {
  if (ctx.args[0]) return projectPage(ctx, ctx.args[0]);
  const archived = ctx.query.get("archived") === "1";
  const projects = await all(`${ORG}/projects?include_archived=${archived}`);
  const name = h("input", { placeholder: "New project name", "aria-label": "New project name", required: true });
  const form = h("form", { class: "inline-form" }, name, h("button", { type: "submit", class: "primary" }, "Create project"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const created = await post(`${ORG}/projects`, { name: name.value });
    location.hash = `#/projects/${encodeURIComponent(created.id)}`;
  });
  const show = h("label", { class: "check" }, h("input", { type: "checkbox", checked: archived, onchange: (e) => (location.hash = e.target.checked ? "#/projects?archived=1" : "#/projects") }), " Show archived");
  const table = h(
    "table",
    { class: "table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Project"), h("th", {}, "Status"), h("th", {}, "Created"))),
    h("tbody", {}, projects.map((p) => h("tr", {}, h("td", {}, h("a", { href: `#/projects/${encodeURIComponent(p.id)}` }, p.name), h("div", { class: "mono dim" }, p.id)), h("td", {}, badge(p.status)), h("td", {}, ago(p.created_at))))),
  );
  ctx.render(pageHeader("Projects", "Tenants: every key, limit and object belongs to one", form), h("div", { class: "row" }, show), filterBox(table, "Search projects"), table);
}

async function projectPage(ctx, projectId) {
  const base = `${ORG}/projects/${encodeURIComponent(projectId)}`;
  const [project, keys] = await Promise.all([get(base), all(`${base}/api_keys`)]);
  const newKey = h("div", {});
  const rename = h("input", { value: project.name, "aria-label": "Project name" });
  const renameForm = h("form", { class: "inline-form" }, rename, h("button", { type: "submit" }, "Rename"));
  renameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const saved = await post(base, { name: rename.value });
    header.querySelector("h1").textContent = saved.name;
    toast("Project renamed");
  });
  const archive = async () => {
    if (!confirm(`Archive ${project.name}? Its keys stop working at once.`)) return;
    await post(`${base}/archive`);
    toast("Project archived");
    projectPage(ctx, projectId);
  };
  const keyName = h("input", { placeholder: "Key name (its service account)", "aria-label": "New key name", required: true });
  const keyForm = h("form", { class: "inline-form" }, keyName, h("button", { type: "submit", class: "primary" }, "Create key"));
  keyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const account = await post(`${base}/service_accounts`, { name: keyName.value });
    keyName.value = "";
    keysBox.replaceChildren(keyTable(base, await all(`${base}/api_keys`), refreshKeys));
    newKey.replaceChildren(secretBox(`Key for ${account.name}`, account.api_key.value));
  });
  const keysBox = h("div", {}, keyTable(base, keys, refreshKeys));
  async function refreshKeys() {
    keysBox.replaceChildren(keyTable(base, await all(`${base}/api_keys`), refreshKeys));
  }
  const active = project.status === "active";
  const header = pageHeader(project.name, project.id, h("a", { href: "#/projects" }, "← All projects"), badge(project.status), active ? renameForm : null, active ? h("button", { type: "button", class: "danger", onclick: archive }, "Archive") : null);
  ctx.render(
    header,
    h("section", { class: "card" }, h("h2", {}, "API keys"), active ? keyForm : h("p", { class: "dim" }, "An archived project takes no new keys."), newKey, keysBox),
    h("section", { class: "card" }, h("h2", {}, "Limits"), await limitsBox(base)),
  );
}

function keyTable(base, keys, refresh) {
  if (!keys.length) return h("p", { class: "dim" }, "No keys yet.");
  const revoke = async (key) => {
    if (!confirm(`Revoke ${key.name} (${key.redacted_value})? Clients using it get 401 at once.`)) return;
    await del(`${base}/api_keys/${encodeURIComponent(key.id)}`);
    toast("Key revoked");
    refresh();
  };
  return h(
    "table",
    { class: "table compact" },
    h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Owner"), h("th", {}, "Created"), h("th", {}, ""))),
    h("tbody", {}, keys.map((k) => h("tr", {}, h("td", {}, h("span", { class: "mono" }, k.redacted_value), h("div", { class: "mono dim" }, k.id)), h("td", {}, k.owner?.service_account?.name || "—"), h("td", {}, ago(k.created_at)), h("td", { class: "right" }, h("button", { type: "button", class: "link danger", onclick: () => revoke(k) }, "Revoke"))))),
  );
}

const LIMIT_FIELDS = [
  ["max_requests_per_1_minute", "Requests per minute"],
  ["max_tokens_per_1_minute", "Tokens per minute"],
  ["max_concurrent_runs", "Concurrent runs"],
  ["max_storage_bytes", "Stored bytes"],
];

// The project's rate limits (OpenAI's project.rate_limit objects); each row saved on its own.
async function limitsBox(base) {
  let limits;
  try {
    limits = await all(`${base}/rate_limits`);
  } catch (error) {
    return h("p", { class: "dim" }, `Limits could not be read: ${error.message}`);
  }
  if (!limits.length) return h("p", { class: "dim" }, "No limits are set for this project.");
  const hint = h("p", { class: "hint" }, "0 means no limit. The row for * is the project's; a key's own row holds within it.");
  return [hint, ...limits.map((limit) => {
    const inputs = LIMIT_FIELDS.filter(([key]) => key in limit).map(([key, label]) => [key, h("input", { type: "number", min: "0", step: "1", value: limit[key] ?? "", "aria-label": `${label} (${limit.model})` }), label]);
    const form = h("form", { class: "inline-form limit", "aria-label": `Limits for ${limit.model}` }, h("span", { class: "mono" }, limit.model), inputs.map(([, input, label]) => h("label", {}, h("span", { class: "hint" }, label), input)), h("button", { type: "submit" }, "Save"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = Object.fromEntries(inputs.map(([key, input]) => [key, Number(input.value)]));
      await post(`${base}/rate_limits/${encodeURIComponent(limit.id)}`, body);
      toast(`Limits saved for ${limit.model}`);
    });
    return form;
  })];
}

export async function adminKeysPage(ctx) {
  const keys = await all(`${ORG}/admin_api_keys`);
  const fresh = h("div", {});
  const name = h("input", { placeholder: "Admin key name", "aria-label": "New admin key name", required: true });
  const form = h("form", { class: "inline-form" }, name, h("button", { type: "submit", class: "primary" }, "Create admin key"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const created = await post(`${ORG}/admin_api_keys`, { name: name.value });
    await adminKeysPage(ctx);
    document.getElementById("admin-key-secret")?.replaceChildren(secretBox(`Admin key ${created.name}`, created.value));
  });
  const revoke = async (key) => {
    if (!confirm(`Revoke the admin key ${key.name}?`)) return;
    await del(`${ORG}/admin_api_keys/${encodeURIComponent(key.id)}`);
    toast("Admin key revoked");
    adminKeysPage(ctx);
  };
  fresh.id = "admin-key-secret";
  ctx.render(
    pageHeader("Admin keys", "Keys for the Admin API only: they open no project", form),
    fresh,
    keys.length
      ? h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Name"), h("th", {}, "Created"), h("th", {}, ""))), h("tbody", {}, keys.map((k) => h("tr", {}, h("td", { class: "mono" }, k.redacted_value), h("td", {}, k.name), h("td", {}, ago(k.created_at)), h("td", { class: "right" }, h("button", { type: "button", class: "link danger", onclick: () => revoke(k) }, "Revoke"))))))
      : empty("No stored admin keys (keys from ASSISTANTD_ADMIN_KEYS are not listed)."),
  );
}

// Every bucket of a usage or costs read over the period (following next_page).
async function buckets(path) {
  const found = [];
  let page = null;
  do {
    const answer = await get(`${path}${page ? `&page=${encodeURIComponent(page)}` : ""}`);
    found.push(...answer.data);
    page = answer.has_more ? answer.next_page : null;
  } while (page);
  return found;
}

function totals(rows, key, fields) {
  const groups = new Map();
  for (const row of rows) {
    const entry = groups.get(row[key]) || Object.fromEntries([["key", row[key]], ...fields.map((f) => [f, 0])]);
    for (const f of fields) entry[f] += row[f];
    groups.set(row[key], entry);
  }
  return [...groups.values()].sort((a, b) => b.cost - a.cost || b.input_tokens - a.input_tokens);
}

async function downloadCsv(path, name) {
  const response = await request("GET", `${path}&format=csv`);
  const link = h("a", { download: name });
  link.href = URL.createObjectURL(await response.blob());
  document.body.append(link);
  link.click();
  link.remove();
}

export async function costsPage(ctx) {
  const days = Number(ctx.query.get("days") || 30);
  const start = (Math.floor(Date.now() / 1000 / DAY) - days + 1) * DAY;
  const usagePath = `${ORG}/usage/completions?start_time=${start}&bucket_width=1d&limit=31&group_by=project_id&group_by=api_key_id&group_by=model`;
  const costsPath = `${ORG}/costs?start_time=${start}&bucket_width=1d&limit=31&group_by=project_id&group_by=api_key_id&group_by=line_item`;
  const [usage, costs, projects] = await Promise.all([buckets(usagePath), buckets(costsPath), all(`${ORG}/projects?include_archived=true`)]);
  const names = new Map(projects.map((p) => [p.id, p.name]));
  // One row per (day, project, key, model): tokens from usage, money from costs (its line item is the model).
  const rows = [];
  const money = new Map();
  for (const bucket of costs) for (const r of bucket.results) money.set(`${bucket.start_time}|${r.project_id}|${r.api_key_id}|${r.line_item}`, r.amount.value);
  for (const bucket of usage)
    for (const r of bucket.results) {
      const day = new Date(bucket.start_time * 1000).toISOString().slice(0, 10);
      const cost = money.get(`${bucket.start_time}|${r.project_id}|${r.api_key_id}|${r.model}`) || 0;
      rows.push({ day, project: names.get(r.project_id) || r.project_id, key: r.api_key_id || "—", model: r.model, input_tokens: r.input_tokens, output_tokens: r.output_tokens, requests: r.num_model_requests, cost });
    }
  const fields = ["requests", "input_tokens", "output_tokens", "cost"];
  const table = (title, key) =>
    h(
      "section",
      { class: "card" },
      h("h2", {}, title),
      h("table", { class: "table compact", "aria-label": title }, h("thead", {}, h("tr", {}, h("th", {}, key), h("th", {}, "Requests"), h("th", {}, "Input tokens"), h("th", {}, "Output tokens"), h("th", {}, "Cost (USD)"))), h("tbody", {}, totals(rows, key, fields).map((e) => h("tr", {}, h("td", {}, e.key), h("td", {}, e.requests), h("td", {}, e.input_tokens.toLocaleString()), h("td", {}, e.output_tokens.toLocaleString()), h("td", {}, `$${e.cost.toFixed(4)}`))))),
    );
  const period = h("select", { "aria-label": "Period", onchange: (e) => (location.hash = `#/costs?days=${e.target.value}`) }, [7, 30, 90].map((d) => h("option", { value: d, selected: d === days }, `Last ${d} days`)));
  const total = rows.reduce((sum, r) => sum + r.cost, 0);
  ctx.render(
    pageHeader("Usage and cost", `By project, key, model and day (UTC); prices from the [models] table. Total $${total.toFixed(4)}`, period, h("button", { type: "button", onclick: () => downloadCsv(usagePath, "usage.csv") }, "Usage CSV"), h("button", { type: "button", onclick: () => downloadCsv(costsPath, "costs.csv") }, "Costs CSV")),
    rows.length ? [table("By project", "project"), table("By key", "key"), table("By model", "model"), table("By day", "day")] : empty("No usage in this period."),
  );
}

