import { get, imageUrl, post } from "../api.js";
import { badge, code, duration, field, h, idLink, pageHeader, pretty, toast, when } from "../dom.js";
import { markdownMessage } from "../markdown.js";
import { ACTIVE } from "../messages.js";

const LIVE_MS = 1000;

export async function inspectorPage(ctx) {
  const { args, query } = ctx;
  const path = `/v1/console/runs/${encodeURIComponent(args[0])}`;
  let record = await get(path);
  draw(ctx, record);
  focusResult(record, query.get("result"));
  // Live while the run is: re-read and redraw until it ends or the page is left.
  while (ACTIVE.has(record.run.status) && ctx.isCurrent()) {
    await new Promise((resolve) => setTimeout(resolve, LIVE_MS));
    if (!ctx.isCurrent()) return;
    const fresh = await get(path);
    // Drawn again only when something changed, so a half-typed tool output is not wiped.
    if (JSON.stringify(fresh) !== JSON.stringify(record)) draw(ctx, fresh);
    record = fresh;
  }
}

function draw(ctx, record) {
  const { run, steps, messages, citations, upstream_log: upstream } = record;
  const live = ACTIVE.has(run.status);
  ctx.render(
    pageHeader(`Run ${run.id}`, live ? "Live: this page follows the run" : null, h("a", { href: `#/threads/${encodeURIComponent(run.thread_id)}` }, "← Thread"), live ? h("button", { type: "button", class: "danger", onclick: () => cancel(ctx, run) }, "Cancel run") : null),
    summary(run),
    problems(run),
    run.status === "requires_action" ? toolOutputs(ctx, run) : null,
    timeline(run, steps),
    h("h2", {}, `Steps (${steps.length})`),
    steps.length ? steps.map((step) => stepCard(step, messages, citations)) : h("p", { class: "dim" }, live ? "No steps yet." : `No steps: the run ended (${run.status.replace(/_/g, " ")}) before any step.`),
    upstreamLog(upstream),
  );
}

async function cancel(ctx, run) {
  try {
    await post(`/v1/threads/${encodeURIComponent(run.thread_id)}/runs/${encodeURIComponent(run.id)}/cancel`);
    toast("Cancelling the run");
  } catch (error) {
    toast(error.message, "error");
  }
}

// The outputs a waiting run needs, submitted from here; the live loop then follows the run on.
function toolOutputs(ctx, run) {
  const rows = run.required_action.submit_tool_outputs.tool_calls.map((call) => ({ call, output: h("textarea", { class: "mono", rows: 2, "aria-label": `Output of ${call.function.name}` }) }));
  const form = h("form", { class: "card tool-form", "aria-label": "Submit tool outputs" }, h("h3", {}, "The run waits for these function outputs"), rows.map((r) => field(`${r.call.function.name} ${r.call.id}`, r.output)), h("button", { type: "submit", class: "primary" }, "Submit tool outputs"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const tool_outputs = rows.map((r) => ({ tool_call_id: r.call.id, output: r.output.value }));
    try {
      await post(`/v1/threads/${encodeURIComponent(run.thread_id)}/runs/${encodeURIComponent(run.id)}/submit_tool_outputs`, { tool_outputs });
      form.replaceChildren(h("p", { class: "dim" }, "Outputs sent; the run goes on."));
    } catch (error) {
      toast(error.message, "error");
    }
  });
  return form;
}

// `?result=call:rank` (a footnote's link): the cited chunk, scrolled to and marked.
function focusResult(record, wanted) {
  const match = /^(\d+):(\d+)$/.exec(wanted || "");
  if (!match) return;
  const calls = record.steps.flatMap((s) => s.step_details?.tool_calls || []).filter((c) => c.type === "file_search");
  const call = calls[Number(match[1])];
  const target = call && document.getElementById(`${call.id}-${match[2]}`);
  if (!target) return;
  target.classList.add("focused");
  target.scrollIntoView({ block: "center" });
}

function summary(run) {
  const usage = run.usage || {};
  const item = (label, value) => h("div", { class: "fact" }, h("div", { class: "label" }, label), h("div", {}, value));
  return h(
    "section",
    { class: "facts card" },
    item("Status", badge(run.status)),
    item("Assistant", idLink(`#/assistants/${encodeURIComponent(run.assistant_id)}`, run.assistant_id)),
    item("Thread", idLink(`#/threads/${encodeURIComponent(run.thread_id)}`, run.thread_id)),
    item("Model", run.model),
    item("Tokens", run.usage ? `${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion = ${usage.total_tokens}` : "—"),
    item("Tool choice", typeof run.tool_choice === "string" ? run.tool_choice : pretty(run.tool_choice)),
    item("Created", when(run.created_at)),
    item("Duration", duration(run.created_at, run.completed_at || run.failed_at || run.cancelled_at)),
  );
}

function problems(run) {
  const boxes = [];
  if (run.last_error) boxes.push(h("div", { class: "error-box", role: "alert" }, h("strong", {}, `last_error · ${run.last_error.code}: `), run.last_error.message));
  if (run.incomplete_details) boxes.push(h("div", { class: "error-box" }, h("strong", {}, "incomplete_details: "), run.incomplete_details.reason));
  return boxes;
}

// Run events and each step as a bar over the run's life (seconds: what the API records).
function timeline(run, steps) {
  const start = run.created_at;
  const end = Math.max(run.completed_at || run.failed_at || run.cancelled_at || run.expired_at || 0, ...steps.map((s) => s.completed_at || s.created_at), start + 1);
  const span = end - start;
  const pos = (t) => `${(((t || end) - start) / span) * 100}%`;
  const events = [
    ["created", run.created_at],
    ["started", run.started_at],
    [run.status, run.completed_at || run.failed_at || run.cancelled_at || run.expired_at],
  ].filter(([, t]) => t);
  return h(
    "section",
    { class: "card timeline", "aria-label": "Timeline" },
    h("h2", {}, "Timeline"),
    h("ol", { class: "events" }, events.map(([name, t]) => h("li", {}, h("strong", {}, name), ` ${when(t)}`))),
    steps.map((step) =>
      h(
        "div",
        { class: "lane" },
        h("span", { class: "lane-label" }, stepTitle(step)),
        h("span", { class: "lane-track" }, h("span", { class: `lane-bar status-${step.status}`, style: { left: pos(step.created_at), width: `max(4px, calc(${pos(step.completed_at || step.failed_at || end)} - ${pos(step.created_at)}))` } })),
        h("span", { class: "lane-time" }, duration(step.created_at, step.completed_at || step.failed_at || step.cancelled_at)),
      ),
    ),
  );
}

function stepTitle(step) {
  if (step.type === "message_creation") return "Message";
  const names = (step.step_details.tool_calls || []).map((c) => (c.type === "function" ? c.function.name : c.type));
  return `Tools: ${names.join(", ")}`;
}

function stepCard(step, messages, citations) {
  const usage = step.usage ? `${step.usage.prompt_tokens} + ${step.usage.completion_tokens} = ${step.usage.total_tokens} tokens` : "no usage";
  const body =
    step.type === "message_creation"
      ? messageStep(step, messages, citations)
      : (step.step_details.tool_calls || []).map((call) => toolCall(call, step, citations));
  return h(
    "article",
    { class: "card step", id: step.id },
    h("header", { class: "step-head" }, h("strong", {}, stepTitle(step)), badge(step.status), h("span", { class: "dim" }, `${duration(step.created_at, step.completed_at || step.failed_at)} · ${usage}`), h("span", { class: "mono dim" }, step.id)),
    step.last_error ? h("div", { class: "error-box" }, `${step.last_error.code}: ${step.last_error.message}`) : null,
    body,
  );
}

function messageStep(step, messages, citations) {
  const message = messages.find((m) => m.id === step.step_details.message_creation.message_id);
  if (!message) return h("p", { class: "dim" }, "The message is not available.");
  const mine = citations.filter((c) => c.message_id === message.id);
  return [
    (message.content || []).map((part) => (part.type === "text" ? markdownMessage(part, step.run_id) : h("div", { class: "dim" }, `[${part.type}]`))),
    mine.length
      ? h(
          "div",
          { class: "citations" },
          h("h4", {}, "Citations"),
          mine.map((c) =>
            h(
              "div",
              { class: "citation" },
              h("span", { class: "mono" }, c.text),
              " ← ",
              h("a", { href: `#/runs/${encodeURIComponent(step.run_id)}`, onclick: (e) => jump(e, `${c.tool_call_id}-${c.rank}`) }, `result #${c.rank + 1} of ${c.tool_call_id}`),
              c.score !== null && c.score !== undefined ? ` · score ${c.score.toFixed(3)}` : "",
              c.content ? code(c.content.map((p) => p.text).join("\n"), "chunk") : h("div", { class: "dim" }, "Chunk text was not kept for this run."),
            ),
          ),
        )
      : null,
  ];
}

function jump(event, anchor) {
  event.preventDefault();
  document.getElementById(anchor)?.scrollIntoView({ behavior: "smooth", block: "center" });
}

function toolCall(call, step, citations) {
  const head = h("div", { class: "tool-head" }, h("strong", {}, call.type === "function" ? call.function.name : call.type), h("span", { class: "mono dim" }, ` ${call.id}`));
  if (call.type === "function")
    return h("div", { class: "tool-call" }, head, h("div", { class: "label" }, "Arguments"), code(pretty(call.function.arguments)), h("div", { class: "label" }, "Output"), call.function.output === null ? h("p", { class: "dim" }, "Waiting for the output.") : code(pretty(call.function.output)));
  if (call.type === "code_interpreter") return h("div", { class: "tool-call" }, head, h("div", { class: "label" }, "Input"), code(call.code_interpreter.input), (call.code_interpreter.outputs || []).map(codeOutput));
  if (call.type === "file_search") return fileSearch(call, head, citations);
  return h("div", { class: "tool-call" }, head, code(pretty(call)));
}

function codeOutput(output) {
  if (output.type === "logs") return [h("div", { class: "label" }, "Logs"), code(output.logs)];
  const img = h("img", { alt: `Image ${output.image.file_id}`, class: "ci-image" });
  imageUrl(output.image.file_id).then((url) => (img.src = url)).catch(() => (img.alt = "The image file is gone."));
  return [h("div", { class: "label" }, "Image"), img];
}

function fileSearch(call, head, citations) {
  const results = call.file_search.results || [];
  const cited = new Set(citations.filter((c) => c.tool_call_id === call.id).map((c) => c.rank));
  return h(
    "div",
    { class: "tool-call" },
    head,
    h("div", { class: "dim" }, `Ranking: ${pretty(call.file_search.ranking_options || {})}`),
    results.length
      ? h(
          "ol",
          { class: "results" },
          results.map((r, rank) =>
            h(
              "li",
              { id: `${call.id}-${rank}`, class: cited.has(rank) ? "cited" : "" },
              h("div", { class: "row" }, h("strong", {}, r.file_name), h("span", { class: "mono dim" }, r.file_id), h("span", { class: "score" }, `score ${Number(r.score).toFixed(3)}`), cited.has(rank) ? h("span", { class: "chip" }, "cited") : null),
              r.content ? code(r.content.map((p) => p.text).join("\n"), "chunk") : h("div", { class: "dim" }, "Chunk text was not kept (the run was created without include[])."),
            ),
          ),
        )
      : h("p", { class: "dim" }, "No results."),
  );
}

function upstreamLog(log) {
  if (!log.enabled)
    return h("section", { class: "card muted" }, h("h2", {}, "Upstream requests"), h("p", {}, "The upstream log is off. Set ASSISTANTD_UPSTREAM_LOG=true to keep the exact request each run sends to the model, with its timing."));
  return h(
    "section",
    { class: "card" },
    h("h2", {}, `Upstream requests (${log.requests.length})`),
    log.requests.map((r, n) =>
      h(
        "details",
        { class: "upstream" },
        h("summary", {}, `#${n + 1} · ${r.request.model} · TTFT ${r.ttft_ms ?? "—"} ms · ${r.duration_ms} ms`, r.usage ? ` · ${r.usage.prompt_tokens}+${r.usage.completion_tokens} tokens` : "", r.error ? ` · error ${r.error.code}` : "", r.finish_reason ? ` · ${r.finish_reason}` : ""),
        code(pretty(r.request)),
      ),
    ),
  );
}
