import { all, get } from "../api.js";
import { h, pageHeader } from "../dom.js";

function sum(rows, key) {
  return rows.reduce((total, row) => total + row[key], 0);
}

function group(rows, key) {
  const groups = new Map();
  for (const row of rows) {
    const entry = groups.get(row[key]) || { key: row[key], runs: 0, total_tokens: 0, prompt_tokens: 0, completion_tokens: 0 };
    for (const k of ["runs", "total_tokens", "prompt_tokens", "completion_tokens"]) entry[k] += row[k];
    groups.set(row[key], entry);
  }
  return [...groups.values()].sort((a, b) => b.total_tokens - a.total_tokens || b.runs - a.runs);
}

function bars(title, column, entries, label) {
  const max = Math.max(1, ...entries.map((e) => e.total_tokens));
  return h(
    "section",
    { class: "card" },
    h("h2", {}, title),
    entries.length
      ? h(
          "table",
          { class: "table compact" },
          h("thead", {}, h("tr", {}, h("th", {}, column), h("th", {}, "Runs"), h("th", {}, "Prompt"), h("th", {}, "Completion"), h("th", { class: "wide" }, "Total tokens"))),
          h(
            "tbody",
            {},
            entries.map((e) =>
              h(
                "tr",
                {},
                h("td", {}, label(e.key)),
                h("td", {}, e.runs),
                h("td", {}, e.prompt_tokens.toLocaleString()),
                h("td", {}, e.completion_tokens.toLocaleString()),
                h("td", { class: "wide" }, h("div", { class: "bar" }, h("span", { style: { width: `${(e.total_tokens / max) * 100}%` } })), h("span", { class: "bar-value" }, e.total_tokens.toLocaleString())),
              ),
            ),
          ),
        )
      : h("p", { class: "dim" }, "Nothing in this period."),
  );
}

export async function usagePage(ctx) {
  const { query } = ctx;
  const asked = query.get("days") || "30";
  const days = /^\d+$/.test(asked) ? Number(asked) : NaN;
  if (!(days >= 1 && days <= 366)) {
    ctx.render(pageHeader("Usage"), h("div", { class: "error-box", role: "alert" }, `The period must be a whole number of days from 1 to 366, not "${asked}".`), h("a", { href: "#/usage", class: "button" }, "Last 30 days"));
    return;
  }
  const choices = [...new Set([1, 7, 30, 90, 365, days])].sort((a, b) => a - b);
  const [usage, assistants] = await Promise.all([get(`/v1/console/usage?days=${days}`), all("/v1/assistants").catch(() => [])]);
  const names = new Map(assistants.map((a) => [a.id, a.name || a.id]));
  const rows = usage.data;
  const period = h("select", { "aria-label": "Period", onchange: (e) => (location.hash = `#/usage?days=${e.target.value}`) }, choices.map((d) => h("option", { value: d, selected: d === days }, `Last ${d} day${d > 1 ? "s" : ""}`)));
  const stat = (label, value) => h("div", { class: "stat card" }, h("div", { class: "label" }, label), h("div", { class: "stat-value" }, value));
  ctx.render(
    pageHeader("Usage", "Runs and tokens by day (UTC), assistant and model", period),
    h("div", { class: "stats" }, stat("Runs", sum(rows, "runs").toLocaleString()), stat("Total tokens", sum(rows, "total_tokens").toLocaleString()), stat("Prompt tokens", sum(rows, "prompt_tokens").toLocaleString()), stat("Completion tokens", sum(rows, "completion_tokens").toLocaleString())),
    bars("By day", "Day (UTC)", group(rows, "day").sort((a, b) => (a.key < b.key ? 1 : -1)), (day) => day),
    h("div", { class: "grid2" }, bars("By assistant", "Assistant", group(rows, "assistant_id"), (id) => h("a", { href: `#/assistants/${encodeURIComponent(id)}` }, names.get(id) || id)), bars("By model", "Model", group(rows, "model"), (m) => m)),
  );
}
