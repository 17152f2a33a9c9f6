import { THREADS_URL, all, del, get } from "../api.js";
import { ago, badge, empty, filterBox, h, idLink, pageHeader, toast } from "../dom.js";
import { messageNode } from "../messages.js";

export async function threadsPage(ctx) {
  const { args, query } = ctx;
  if (args[0]) return thread(ctx, args[0]);
  const after = query.get("after");
  const page = await get(`${THREADS_URL}?limit=50${after ? `&after=${encodeURIComponent(after)}` : ""}`);
  if (!page.data.length) {
    ctx.render(pageHeader("Threads"), empty("No threads yet. Start one in the playground.", h("a", { href: "#/playground", class: "button primary" }, "Playground")));
    return;
  }
  const table = h(
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
    );
  ctx.render(
    pageHeader("Threads", "Newest first"),
    filterBox(table, "Search threads on this page"),
    table,
    page.has_more ? h("a", { class: "button secondary", href: `#/threads?after=${encodeURIComponent(page.last_id)}` }, "Older threads") : null,
  );
}

async function thread(ctx, threadId) {
  const id = encodeURIComponent(threadId);
  const [info, messages, runs] = await Promise.all([get(`/v1/threads/${id}`), all(`/v1/threads/${id}/messages?order=asc`), all(`/v1/threads/${id}/runs?order=asc`)]);
  const runsById = new Map(runs.map((r) => [r.id, r]));
  const removeThread = async () => {
    if (!confirm(`Delete thread ${info.id} with its ${messages.length} message(s) and runs?`)) return;
    await del(`/v1/threads/${id}`);
    toast("Thread deleted");
    location.hash = "#/threads";
  };
  const removeMessage = async (message) => {
    if (!confirm("Delete this message?")) return;
    await del(`/v1/threads/${id}/messages/${encodeURIComponent(message.id)}`);
    toast("Message deleted");
    thread(ctx, threadId);
  };
  const bubbleOf = (m) => {
    const node = messageNode(m);
    const role = node.querySelector(".bubble-role");
    if (m.run_id) role.append(h("a", { href: `#/runs/${encodeURIComponent(m.run_id)}`, class: "run-link" }, runsById.get(m.run_id)?.status ? ` · run ${runsById.get(m.run_id).status}` : " · run"));
    role.append(" ", h("button", { type: "button", class: "link danger", "aria-label": `Delete message ${m.id}`, onclick: () => removeMessage(m) }, "Delete"));
    return node;
  };
  ctx.render(
    pageHeader("Thread", info.id, h("a", { href: "#/threads" }, "← All threads"), h("button", { type: "button", class: "danger", onclick: removeThread }, "Delete thread"), h("a", { class: "button secondary", href: `#/playground?thread=${id}&assistant=${encodeURIComponent(runs.at(-1)?.assistant_id || "")}` }, "Continue in playground")),
    h(
      "div",
      { class: "split" },
      h(
        "section",
        { class: "chat-log static", "aria-label": "Messages" },
        messages.length ? messages.map(bubbleOf) : empty("No messages."),
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
