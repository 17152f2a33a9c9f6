import { all, get, post, rememberFileName, stream, upload } from "../api.js";
import { badge, code, empty, field, h, pageHeader, pretty, toast } from "../dom.js";
import { ACTIVE, messageNode } from "../messages.js";

const INCLUDE = "include[]=step_details.tool_calls[*].file_search.results[*].content";

function bubble(role, text) {
  const body = h("div", { class: "bubble-text" }, text);
  const node = h("div", { class: `bubble ${role}` }, h("div", { class: "bubble-role" }, role), body);
  return { node, body };
}

export async function playgroundPage(ctx) {
  const { query } = ctx;
  const assistants = await all("/v1/assistants");
  if (!assistants.length) {
    ctx.render(pageHeader("Playground"), empty("Create an assistant first.", h("a", { href: "#/assistants/new", class: "button primary" }, "New assistant")));
    return;
  }
  const state = { threadId: query.get("thread"), run: null, attachments: [] };
  const chosen = query.get("assistant") || assistants[0].id;
  const picker = h("select", { "aria-label": "Assistant" }, assistants.map((a) => h("option", { value: a.id, selected: a.id === chosen }, `${a.name || "(unnamed)"} · ${a.model}`)));
  const model = h("input", { placeholder: "assistant's model" });
  const instructions = h("textarea", { rows: 3, placeholder: "assistant's instructions" });
  const toolChoice = h("select", {}, ["", "auto", "none", "required"].map((v) => h("option", { value: v }, v || "default")));
  const log = h("div", { class: "chat-log", "aria-live": "polite" });
  const status = h("div", { class: "run-status" });
  const input = h("textarea", { rows: 3, placeholder: "Message (Ctrl+Enter to send)", "aria-label": "Message" });
  const fileInput = h("input", { type: "file", multiple: true, "aria-label": "Attach files" });
  const attachList = h("div", { class: "attachments" });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const stop = h("button", { type: "button", class: "danger", hidden: true, onclick: () => stopRun() }, "Stop");
  const cancel = h("button", { type: "button", class: "danger", hidden: true, onclick: () => cancelRun() }, "Cancel run");
  const busyNote = h("span", { class: "hint" });
  const threadLabel = h("span", { class: "mono dim" });
  const actions = h("div", { class: "tool-actions" });

  const showThread = () => {
    threadLabel.replaceChildren(state.threadId ? h("a", { href: `#/threads/${encodeURIComponent(state.threadId)}` }, state.threadId) : "new thread");
  };
  // While a stream is read: Stop shows. While a run is active but not streaming here: Cancel shows.
  const setBusy = (busy) => {
    const active = ACTIVE.has(state.run?.status);
    send.disabled = busy || active;
    input.disabled = busy || active;
    stop.hidden = !busy;
    cancel.hidden = busy || !active;
    busyNote.textContent = !busy && active ? "A run is active on this thread: answer it or cancel it before sending." : "";
  };
  const scroll = () => (log.scrollTop = log.scrollHeight);

  async function loadThread() {
    log.replaceChildren();
    showThread();
    if (!state.threadId) return;
    const thread = encodeURIComponent(state.threadId);
    const [messages, runs] = await Promise.all([all(`/v1/threads/${thread}/messages?order=asc`), get(`/v1/threads/${thread}/runs?limit=1`)]);
    for (const message of messages) log.append(messageNode(message));
    // The thread's latest run, so one that waits for tool outputs can be answered or cancelled.
    state.run = runs.data[0] || null;
    if (state.run) showRun(state.run);
    setBusy(false);
    scroll();
  }

  async function cancelRun() {
    const run = state.run;
    if (!run || !ACTIVE.has(run.status)) return;
    const path = `/v1/threads/${encodeURIComponent(run.thread_id)}/runs/${encodeURIComponent(run.id)}`;
    try {
      state.run = await post(`${path}/cancel`);
      showRun(state.run);
      // "cancelling" ends on the server's side; follow it to the end so the composer opens again.
      for (let n = 0; n < 60 && state.run.status === "cancelling" && ctx.isCurrent(); n += 1) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        state.run = await get(path);
        showRun(state.run);
      }
    } catch (error) {
      toast(error.message, "error");
    }
    setBusy(false);
  }

  // Stop: leave the stream and cancel its run, as OpenAI's playground does.
  async function stopRun() {
    state.reading?.abort();
    await cancelRun();
  }

  // Reads one streamed segment; Stop aborts the read.
  async function follow(path, body) {
    state.reading = new AbortController();
    setBusy(true);
    try {
      await stream(path, body, handler(), state.reading.signal);
    } catch (error) {
      if (error.name !== "AbortError") throw error;
    } finally {
      state.reading = null;
    }
  }

  // Renders one streamed segment (a run, or its continuation after tool outputs).
  function handler() {
    let current = null;
    const calls = new Map();
    return (name, data) => {
      if (name === "thread.message.created") {
        current = bubble("assistant", "");
        current.body.classList.add("streaming");
        log.append(current.node);
      } else if (name === "thread.message.delta") {
        for (const part of data.delta.content || []) if (part.type === "text" && current) current.body.append(part.text.value || "");
        scroll();
      } else if (name === "thread.message.completed" && current) {
        // The whole message, with its citations: shown as markdown with footnotes from here on.
        current.node.replaceWith((current.node = messageNode(data)));
      } else if (name === "thread.run.step.delta") {
        for (const call of data.delta.step_details?.tool_calls || []) toolCallDelta(calls, call);
      } else if (name === "thread.run.step.completed" && data.type === "tool_calls") {
        for (const call of data.step_details.tool_calls) toolCallDone(calls, call);
      } else if (name.startsWith("thread.run.") && !name.startsWith("thread.run.step")) {
        state.run = data;
        showRun(data);
      } else if (name === "error") {
        toast(data?.message || "The stream failed", "error");
      }
    };
  }

  function toolCallDelta(calls, call) {
    let entry = calls.get(call.index);
    if (!entry) {
      const title = h("span", { class: "tool-name" }, call.type);
      const args = h("code", {});
      const output = h("div", { class: "tool-output" });
      // file_search has no arguments to show: its card holds only its results.
      const argsBox = call.type === "file_search" ? null : h("pre", { class: "code" }, args);
      const node = h("div", { class: "tool-call" }, h("div", { class: "tool-head" }, "Tool call · ", title), argsBox, output);
      entry = { title, args, output, node, id: call.id };
      calls.set(call.index, entry);
      log.append(node);
    }
    if (call.function?.name) entry.title.textContent = call.function.name;
    if (call.function?.arguments) entry.args.append(call.function.arguments);
    if (call.code_interpreter?.input) entry.args.append(call.code_interpreter.input);
    if (call.type === "file_search") entry.title.textContent = "file_search";
    scroll();
  }

  function toolCallDone(calls, call) {
    const entry = [...calls.values()].find((e) => e.id === call.id) || [...calls.values()].find((e) => !e.done);
    if (!entry) return;
    entry.done = true;
    if (call.type === "function" && call.function.output !== null) entry.output.append(h("div", { class: "label" }, "Output"), code(pretty(call.function.output)));
    if (call.type === "file_search") {
      const found = call.file_search.results?.length ?? 0;
      entry.output.append(found === 1 ? "1 result" : `${found} results`);
    }
    if (call.type === "code_interpreter")
      for (const out of call.code_interpreter.outputs || []) entry.output.append(out.type === "logs" ? code(out.logs) : `[image ${out.image?.file_id}]`);
  }

  function showRun(run) {
    status.replaceChildren(badge(run.status), " ", h("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, "Inspect run"));
    if (run.last_error) status.append(h("div", { class: "error-box" }, `${run.last_error.code}: ${run.last_error.message}`));
    if (run.incomplete_details) status.append(h("div", { class: "error-box" }, `Incomplete: ${run.incomplete_details.reason}`));
    actions.replaceChildren();
    if (run.status === "requires_action") actions.append(toolOutputsForm(run));
    setBusy(Boolean(state.reading));
  }

  function toolOutputsForm(run) {
    const rows = run.required_action.submit_tool_outputs.tool_calls.map((call) => {
      const output = h("textarea", { class: "mono", rows: 3, placeholder: "Any text, e.g. JSON", "aria-label": `Output of ${call.function.name}` });
      return {
        call,
        output,
        node: h(
          "div",
          { class: "required-call" },
          h("div", { class: "tool-head" }, "Waiting for ", h("strong", {}, call.function.name), h("span", { class: "mono dim" }, ` ${call.id}`)),
          code(pretty(call.function.arguments)),
          field("Output", output),
        ),
      };
    });
    const error = h("p", { class: "form-error", role: "alert" });
    for (const row of rows) row.output.addEventListener("input", () => (error.textContent = ""));
    const form = h("form", { class: "card tool-form", "aria-label": "Submit tool outputs" }, h("h3", {}, "The run needs your function outputs"), rows.map((r) => r.node), error, h("button", { type: "submit", class: "primary" }, "Submit tool outputs"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      // The API takes any string as an output; only an empty one is more likely a slip than meant.
      const blank = rows.find((row) => !row.output.value.trim());
      if (blank) {
        error.textContent = `The output for ${blank.call.function.name} is empty.`;
        blank.output.focus();
        return;
      }
      actions.replaceChildren();
      for (const row of rows)
        log.append(h("div", { class: "tool-call answered" }, h("div", { class: "tool-head" }, "You answered ", h("strong", {}, row.call.function.name)), code(pretty(row.output.value))));
      try {
        const outputs = rows.map((r) => ({ tool_call_id: r.call.id, output: r.output.value }));
        const path = `/v1/threads/${encodeURIComponent(run.thread_id)}/runs/${encodeURIComponent(run.id)}/submit_tool_outputs`;
        await follow(path, { tool_outputs: outputs });
      } catch (failure) {
        toast(failure.message, "error");
      } finally {
        setBusy(false);
      }
    });
    setTimeout(() => rows[0]?.output.focus());
    return form;
  }

  async function sendMessage(event) {
    event?.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    setBusy(true);
    try {
      if (!state.threadId) {
        state.threadId = (await post("/v1/threads", {})).id;
        history.replaceState(null, "", `#/playground?assistant=${encodeURIComponent(picker.value)}&thread=${encodeURIComponent(state.threadId)}`);
        showThread();
      }
      const files = state.attachments.map((f) => ({ file_id: f.id, tools: [{ type: f.tool }] }));
      const message = await post(`/v1/threads/${encodeURIComponent(state.threadId)}/messages`, { role: "user", content: text, attachments: files });
      log.append(messageNode(message));
      input.value = "";
      state.attachments = [];
      attachList.replaceChildren();
      scroll();
      const body = { assistant_id: picker.value };
      if (model.value.trim()) body.model = model.value.trim();
      if (instructions.value.trim()) body.instructions = instructions.value;
      if (toolChoice.value) body.tool_choice = toolChoice.value;
      await follow(`/v1/threads/${encodeURIComponent(state.threadId)}/runs?${INCLUDE}`, body);
    } catch (error) {
      toast(error.message, "error");
    } finally {
      setBusy(false);
      input.focus();
    }
  }

  fileInput.addEventListener("change", async () => {
    for (const file of fileInput.files) {
      const uploaded = await upload(file, "assistants");
      rememberFileName(uploaded);
      const tool = /\.(csv|xlsx|json|png|jpg)$/i.test(file.name) ? "code_interpreter" : "file_search";
      state.attachments.push({ id: uploaded.id, tool });
      attachList.append(h("span", { class: "chip" }, `${file.name} → ${tool}`));
    }
    fileInput.value = "";
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) sendMessage(event);
  });
  picker.addEventListener("change", () => {
    state.threadId = null;
    loadThread();
  });
  const composer = h("form", { class: "composer" }, input, h("div", { class: "row" }, h("label", { class: "button secondary file-button" }, "Attach files", fileInput), attachList, h("span", { class: "spacer" }), busyNote, stop, cancel, send));
  composer.addEventListener("submit", sendMessage);
  const newThread = h("button", { type: "button", class: "secondary", onclick: () => {
    state.threadId = null;
    state.run = null;
    state.reading?.abort();
    setBusy(false);
    history.replaceState(null, "", `#/playground?assistant=${encodeURIComponent(picker.value)}`);
    status.replaceChildren();
    actions.replaceChildren();
    loadThread();
  } }, "New thread");
  ctx.render(
    pageHeader("Playground", null, newThread),
    h(
      "div",
      { class: "playground" },
      h("section", { class: "chat" }, h("div", { class: "row thread-line" }, "Thread: ", threadLabel, h("span", { class: "spacer" }), status), log, actions, composer),
      h(
        "aside",
        { class: "options card" },
        field("Assistant", picker),
        h("h3", {}, "Run overrides"),
        field("Model", model),
        field("Instructions", instructions),
        field("Tool choice", toolChoice),
        h("p", { class: "hint" }, "Empty fields use the assistant's settings. File-search and code-interpreter results are included in the run's steps."),
      ),
    ),
  );
  await loadThread();
  input.focus();
}
