import { THREADS_URL, all, get } from "../api.js";
import { ago, badge, empty, h, idLink, pageHeader } from "../dom.js";

function messageParts(message) {
  return (message.content || []).map((part) => {
    if (part.type === "text") return h("div", { class: "bubble-text" }, part.text.value);
    if (part.type === "image_file") return h("div", { class: "dim" }, `[image ${part.image_file.file_id}]`);
    return h("div", { class: "dim" }, `[${part.type}]`);
  });
}

export async function threadsPage(ctx) {
  const { args, query } = ctx;
  if (args[0]) return thread(ctx, args[0]);
  const after = query.get("after");
  const page = await get(`${THREADS_URL}?limit=50${after ? `&after=${encodeURIComponent(after)}` : ""}`);
  if (!page.data.length) {
    ctx.render(pageHeader("Threads"), empty("No threads yet. Start one in the playground.", h("a", { href: "#/playground", class: "button primary" }, "Playground")));
    return;
  }
  ctx.render(
    pageHeader("Threads", "Newest first"),
    h(
      "table",
      { class: "table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Thread"), h("th", {}, "Metadata"), h("th", {}, "Created"))),
      h(
        "tbody",
        {},
        page.data.map((t) =>
          h(
            "tr",
            {},
            h("td", {}, idLink(`#/threads/${encodeURIComponent(t.id)}`, t.id)),
            h("td", { class: "dim" }, Object.entries(t.metadata || {}).map(([k, v]) => h("span", { class: "chip" }, `${k}: ${v}`))),
            h("td", {}, ago(t.created_at)),
          ),
        ),
      ),
    ),
    page.has_more ? h("a", { class: "button secondary", href: `#/threads?after=${encodeURIComponent(page.last_id)}` }, "Older threads") : null,
  );
}

async function thread(ctx, threadId) {
  const id = encodeURIComponent(threadId);
  const [info, messages, runs] = await Promise.all([get(`/v1/threads/${id}`), all(`/v1/threads/${id}/messages?order=asc`), all(`/v1/threads/${id}/runs?order=asc`)]);
  const runsById = new Map(runs.map((r) => [r.id, r]));
  ctx.render(
    pageHeader("Thread", info.id, h("a", { href: "#/threads" }, "← All threads"), h("a", { class: "button secondary", href: `#/playground?thread=${id}&assistant=${encodeURIComponent(runs.at(-1)?.assistant_id || "")}` }, "Continue in playground")),
    h(
      "div",
      { class: "split" },
      h(
        "section",
        { class: "chat-log static", "aria-label": "Messages" },
        messages.length
          ? messages.map((m) =>
              h(
                "div",
                { class: `bubble ${m.role}` },
                h("div", { class: "bubble-role" }, m.role, m.run_id ? h("a", { href: `#/runs/${encodeURIComponent(m.run_id)}`, class: "run-link" }, runsById.get(m.run_id)?.status ? ` · run ${runsById.get(m.run_id).status}` : " · run") : null),
                messageParts(m),
              ),
            )
          : empty("No messages."),
      ),
      h(
        "aside",
        { class: "card" },
        h("h3", {}, "Runs"),
        runs.length
          ? h(
              "ul",
              { class: "run-list" },
              runs.map((r) => h("li", {}, h("a", { href: `#/runs/${encodeURIComponent(r.id)}` }, badge(r.status), " ", h("span", { class: "mono" }, r.id)), h("div", { class: "dim" }, `${r.model} · ${ago(r.created_at)} · ${r.usage ? `${r.usage.total_tokens} tokens` : "no usage"}`))),
            )
          : h("p", { class: "dim" }, "No runs."),
      ),
    ),
  );
}
