import { all, del, get, post } from "../api.js";
import { ago, empty, field, filterBox, h, pageHeader, pretty, toast } from "../dom.js";

export async function assistantsPage(ctx) {
  const { args } = ctx;
  if (args[0]) return editor(ctx, args[0] === "new" ? null : await get(`/v1/assistants/${encodeURIComponent(args[0])}`));
  const assistants = await all("/v1/assistants");
  const create = h("a", { href: "#/assistants/new", class: "button primary" }, "New assistant");
  if (!assistants.length) {
    ctx.render(pageHeader("Assistants", "Instructions, a model and tools, reused across threads."), empty("No assistants yet.", create));
    return;
  }
  const table = h(
      "table",
      { class: "table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Model"), h("th", {}, "Tools"), h("th", {}, "Created"), h("th", {}, ""))),
      h(
        "tbody",
        {},
        assistants.map((a) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/assistants/${encodeURIComponent(a.id)}` }, a.name || "(unnamed)"), h("div", { class: "mono dim" }, a.id)),
            h("td", {}, a.model),
            h("td", {}, (a.tools || []).map((t) => h("span", { class: "chip" }, t.type === "function" ? t.function.name : t.type))),
            h("td", { title: a.created_at }, ago(a.created_at)),
            h("td", { class: "right" }, h("a", { href: `#/playground?assistant=${encodeURIComponent(a.id)}` }, "Playground")),
          ),
        ),
      ),
    );
  ctx.render(pageHeader("Assistants", `${assistants.length} in this project`, create), filterBox(table, "Search assistants"), table);
}

function jsonArea(value, rows = 6) {
  return h("textarea", { class: "mono", rows, spellcheck: "false" }, value);
}

// A JSON textarea that says at once whether its text parses and passes `check`.
function validated(area, check) {
  const status = h("span", { class: "hint" });
  const run = () => {
    const text = area.value.trim();
    if (!text) {
      status.textContent = "";
      area.classList.remove("invalid");
      return true;
    }
    try {
      const problem = check(JSON.parse(text));
      status.textContent = problem || "Valid";
      status.className = problem ? "hint bad" : "hint good";
      area.classList.toggle("invalid", Boolean(problem));
      return !problem;
    } catch (error) {
      status.textContent = `Not JSON: ${error.message}`;
      status.className = "hint bad";
      area.classList.add("invalid");
      return false;
    }
  };
  area.addEventListener("input", run);
  run();
  return { status, ok: run };
}

function functionProblem(value) {
  const fn = value?.function ?? value;
  if (typeof fn !== "object" || Array.isArray(fn)) return "Expected an object with a name and parameters.";
  if (!fn.name || !/^[a-zA-Z0-9_-]{1,64}$/.test(fn.name)) return "A name of letters, digits, _ or - (64 at most) is required.";
  if (fn.parameters !== undefined && (typeof fn.parameters !== "object" || fn.parameters.type !== "object"))
    return "parameters must be a JSON Schema object ({\"type\": \"object\", ...}).";
  return null;
}

const EXAMPLE_FUNCTION = {
  name: "get_weather",
  description: "Current weather in a city.",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

async function editor(ctx, assistant) {
  const a = assistant || { tools: [], metadata: {}, tool_resources: {} };
  const stores = await all("/v1/vector_stores").catch(() => []);
  let models = [];
  try {
    models = (await get("/v1/models")).data.map((m) => m.id);
  } catch {
    models = []; // GET /v1/models may not exist on this server yet
  }
  const tools = a.tools || [];
  const name = h("input", { value: a.name || "", placeholder: "Support bot" });
  const model = h("input", { value: a.model || "", required: true, list: "models", placeholder: "llama3.1" });
  const instructions = h("textarea", { rows: 6 }, a.instructions || "");
  const fileSearch = h("input", { type: "checkbox", checked: tools.some((t) => t.type === "file_search") });
  const codeInterpreter = h("input", { type: "checkbox", checked: tools.some((t) => t.type === "code_interpreter") });
  const functionsBox = h("div", { class: "functions" });
  const functionEditors = [];
  const addFunction = (definition) => {
    const area = jsonArea(pretty(definition), 12);
    const check = validated(area, functionProblem);
    const row = h(
      "div",
      { class: "function-editor" },
      area,
      h("div", { class: "row" }, check.status, h("button", { type: "button", class: "link danger", onclick: () => {
        row.remove();
        functionEditors.splice(functionEditors.indexOf(entry), 1);
      } }, "Remove")),
    );
    const entry = { area, check };
    functionEditors.push(entry);
    functionsBox.append(row);
  };
  tools.filter((t) => t.type === "function").forEach((t) => addFunction(t.function));
  const storeIds = a.tool_resources?.file_search?.vector_store_ids || [];
  const storeSelect = h(
    "select",
    { multiple: true, size: Math.min(5, Math.max(2, stores.length)) },
    stores.map((s) => h("option", { value: s.id, selected: storeIds.includes(s.id) }, `${s.name || "(unnamed)"} — ${s.id}`)),
  );
  const codeFiles = h("input", { value: (a.tool_resources?.code_interpreter?.file_ids || []).join(", "), placeholder: "file-abc, file-def" });
  const format = typeof a.response_format === "object" && a.response_format ? a.response_format.type : a.response_format || "auto";
  const responseFormat = h("select", {}, ["auto", "text", "json_object", "json_schema"].map((v) => h("option", { value: v, selected: v === format }, v)));
  const schema = format === "json_schema" ? a.response_format.json_schema : { name: "answer", schema: { type: "object", properties: {} } };
  const schemaArea = jsonArea(pretty(schema), 6);
  const schemaCheck = validated(schemaArea, (v) => (!v?.name || typeof v.schema !== "object" ? "Needs a name and a JSON Schema in schema." : null));
  const schemaField = field("JSON schema (name, schema, strict)", schemaArea, schemaCheck.status);
  const showSchema = () => (schemaField.hidden = responseFormat.value !== "json_schema");
  responseFormat.addEventListener("change", showSchema);
  showSchema();
  const temperature = h("input", { type: "number", step: "0.1", min: "0", max: "2", value: a.temperature ?? "" , placeholder: "1" });
  const topP = h("input", { type: "number", step: "0.05", min: "0", max: "1", value: a.top_p ?? "", placeholder: "1" });
  const metadata = jsonArea(pretty(a.metadata || {}), 3);
  const metadataCheck = validated(metadata, (v) =>
    typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string")
      ? "Metadata is an object of string values."
      : null,
  );
  const error = h("p", { class: "form-error", role: "alert" });

  const saveError = () => error.textContent = "";
  const save = async (event) => {
    event.preventDefault();
    error.textContent = "";
    const wantsSchema = responseFormat.value === "json_schema";
    if (!functionEditors.every((f) => f.check.ok()) || !metadataCheck.ok() || (wantsSchema && !schemaCheck.ok())) {
      error.textContent = "Fix the fields marked in red first.";
      return;
    }
    const body = {
      name: name.value || null,
      model: model.value.trim(),
      instructions: instructions.value || null,
      tools: [
        ...(fileSearch.checked ? [{ type: "file_search" }] : []),
        ...(codeInterpreter.checked ? [{ type: "code_interpreter" }] : []),
        ...functionEditors.map((f) => {
          const value = JSON.parse(f.area.value);
          return { type: "function", function: value.function ?? value };
        }),
      ],
      tool_resources: {
        file_search: { vector_store_ids: [...storeSelect.selectedOptions].map((o) => o.value) },
        code_interpreter: { file_ids: codeFiles.value.split(",").map((s) => s.trim()).filter(Boolean) },
      },
      response_format:
        responseFormat.value === "auto"
          ? "auto"
          : wantsSchema
            ? { type: "json_schema", json_schema: JSON.parse(schemaArea.value) }
            : { type: responseFormat.value },
      metadata: metadata.value.trim() ? JSON.parse(metadata.value) : {},
    };
    // A cleared field means OpenAI's default (1), sent as such: left out, or sent as null (which the
    // API reads as "not given"), the old value would stay.
    body.temperature = temperature.value === "" ? 1 : Number(temperature.value);
    body.top_p = topP.value === "" ? 1 : Number(topP.value);
    try {
      const saved = await post(assistant ? `/v1/assistants/${encodeURIComponent(assistant.id)}` : "/v1/assistants", body);
      toast(assistant ? "Assistant saved" : "Assistant created");
      // Saving an existing assistant keeps the same route, which does not re-render: draw it anew.
      if (assistant) editor(ctx, saved);
      else location.hash = `#/assistants/${encodeURIComponent(saved.id)}`;
    } catch (failure) {
      error.textContent = failure.message;
    }
  };
  const remove = async () => {
    if (!confirm(`Delete assistant ${assistant.name || assistant.id}? Threads and runs stay.`)) return;
    await del(`/v1/assistants/${encodeURIComponent(assistant.id)}`);
    toast("Assistant deleted");
    location.hash = "#/assistants";
  };
  const form = h(
    "form",
    { class: "form card", "aria-label": "Assistant" },
    h("div", { class: "grid2" }, field("Name", name), field("Model", model, models.length ? null : "The upstream model name.")),
    h("datalist", { id: "models" }, models.map((m) => h("option", { value: m }))),
    field("Instructions", instructions),
    h(
      "fieldset",
      {},
      h("legend", {}, "Tools"),
      h("label", { class: "check" }, fileSearch, " File search"),
      h("label", { class: "check" }, codeInterpreter, " Code interpreter"),
      h("div", { class: "label" }, "Functions (JSON: name, description, parameters)"),
      functionsBox,
      h("button", { type: "button", class: "secondary", onclick: () => addFunction(EXAMPLE_FUNCTION) }, "Add function"),
    ),
    h(
      "div",
      { class: "grid2" },
      field(
        "Vector stores (file search)",
        stores.length ? storeSelect : h("a", { href: "#/vector-stores" }, "No vector stores yet: create one"),
        stores.length ? "Ctrl-click to pick several." : null,
      ),
      field("Code interpreter files", codeFiles, "File ids, comma-separated."),
    ),
    h("div", { class: "grid3" }, field("Response format", responseFormat), field("Temperature", temperature), field("Top p", topP)),
    schemaField,
    field("Metadata", metadata, metadataCheck.status),
    error,
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit", class: "primary" }, assistant ? "Save" : "Create assistant"),
      assistant ? h("a", { href: `#/playground?assistant=${encodeURIComponent(assistant.id)}`, class: "button secondary" }, "Open in playground") : null,
      h("span", { class: "spacer" }),
      assistant ? h("button", { type: "button", class: "danger", onclick: remove }, "Delete") : null,
    ),
  );
  form.addEventListener("submit", save);
  // "Fix the fields…" speaks of the last attempt: any change makes it stale.
  form.addEventListener("input", saveError);
  form.addEventListener("change", saveError);
  ctx.render(
    pageHeader(assistant ? assistant.name || "(unnamed)" : "New assistant", assistant ? assistant.id : "", h("a", { href: "#/assistants" }, "← All assistants")),
    form,
  );
  name.focus();
}
