import { all, del, fileName, get, post, rememberFileName, upload } from "../api.js";
import { ago, badge, bytes, code, empty, filterBox, h, idLink, pageHeader, toast } from "../dom.js";

export async function vectorStoresPage(ctx) {
  const { args } = ctx;
  if (args[0]) return store(ctx, args[0]);
  const stores = await all("/v1/vector_stores");
  const name = h("input", { placeholder: "New store name", "aria-label": "New store name", required: true });
  const form = h("form", { class: "inline-form" }, name, h("button", { type: "submit", class: "primary" }, "Create vector store"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const created = await post("/v1/vector_stores", { name: name.value });
    location.hash = `#/vector-stores/${encodeURIComponent(created.id)}`;
  });
  const table = stores.length
      ? h(
          "table",
          { class: "table" },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Files"), h("th", {}, "Status"), h("th", {}, "Size"), h("th", {}, "Created"))),
          h(
            "tbody",
            {},
            stores.map((s) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/vector-stores/${encodeURIComponent(s.id)}` }, s.name || "(unnamed)"), h("div", { class: "mono dim" }, s.id)),
                h("td", {}, `${s.file_counts.completed}/${s.file_counts.total} ready`, s.file_counts.failed ? h("span", { class: "bad" }, ` · ${s.file_counts.failed} failed`) : ""),
                h("td", {}, badge(s.status)),
                h("td", {}, bytes(s.usage_bytes)),
                h("td", {}, ago(s.created_at)),
              ),
            ),
          ),
        )
      : null;
  ctx.render(
    pageHeader("Vector stores", "Files chunked and indexed for file_search", form),
    table ? [filterBox(table, "Search stores"), table] : empty("No vector stores yet. Create one, then upload files to it."),
  );
  name.focus();
}

async function store(ctx, storeId) {
  const { isCurrent } = ctx;
  const id = encodeURIComponent(storeId);
  const info = await get(`/v1/vector_stores/${id}`);
  const filesBox = h("div", {});
  const progress = h("div", { class: "progress", role: "progressbar", "aria-label": "Ingestion progress" }, h("span", {}));
  const counts = h("div", { class: "dim" });
  const fileInput = h("input", { type: "file", multiple: true, "aria-label": "Upload files to this store" });
  const query = h("input", { type: "search", placeholder: "Search this store (press / to focus)", "aria-label": "Search query" });
  const results = h("div", { class: "search-results" });
  const problems = h("div", { role: "alert" });

  async function refresh() {
    const [current, files] = await Promise.all([get(`/v1/vector_stores/${id}`), all(`/v1/vector_stores/${id}/files`)]);
    const c = current.file_counts;
    const done = c.completed + c.failed + c.cancelled;
    progress.firstChild.style.width = `${c.total ? (done / c.total) * 100 : 0}%`;
    progress.setAttribute("aria-valuenow", String(done));
    progress.setAttribute("aria-valuemax", String(c.total));
    counts.textContent = `${c.completed} completed · ${c.in_progress} in progress · ${c.failed} failed · ${c.total} total · ${bytes(current.usage_bytes)}`;
    // Names are asked all at once (and once per page load), not one request after another.
    const names = new Map(await Promise.all(files.map(async (f) => [f.id, await fileName(f.id)])));
    filesBox.replaceChildren(
      files.length
        ? h(
            "table",
            { class: "table" },
            h("thead", {}, h("tr", {}, h("th", {}, "File"), h("th", {}, "Status"), h("th", {}, "Size"), h("th", {}, "Added"), h("th", {}, ""))),
            h(
              "tbody",
              {},
              files.map((f) =>
                h(
                  "tr",
                  {},
                  h("td", {}, h("span", { class: "file-name" }, names.get(f.id)), h("div", { class: "mono dim" }, f.id)),
                  h("td", {}, badge(f.status), f.last_error ? h("div", { class: "bad" }, `${f.last_error.code}: ${f.last_error.message}`) : null),
                  h("td", {}, bytes(f.usage_bytes)),
                  h("td", {}, ago(f.created_at)),
                  h("td", { class: "right" }, h("button", { type: "button", class: "link danger", onclick: async () => {
                    if (!confirm(`Remove ${names.get(f.id)} from this store? The file itself stays.`)) return;
                    await del(`/v1/vector_stores/${id}/files/${encodeURIComponent(f.id)}`);
                    toast("File removed from the store");
                    refresh();
                  } }, "Remove")),
                ),
              ),
            ),
          )
        : empty("No files yet. Upload some to index them."),
    );
    return c.in_progress > 0;
  }

  async function poll() {
    // Ingestion progress moves on its own: re-read while files are in progress and the page is shown.
    while (isCurrent() && (await refresh())) await new Promise((resolve) => setTimeout(resolve, 700));
  }

  // Each file on its own: one refused file neither stops the others nor stays behind in Files.
  async function addFile(file) {
    const uploaded = await upload(file, "assistants");
    rememberFileName(uploaded);
    try {
      await post(`/v1/vector_stores/${id}/files`, { file_id: uploaded.id });
    } catch (error) {
      await del(`/v1/files/${encodeURIComponent(uploaded.id)}`).catch(() => null);
      throw error;
    }
  }

  fileInput.addEventListener("change", async () => {
    const chosen = [...fileInput.files];
    fileInput.value = "";
    const failed = [];
    for (const file of chosen) await addFile(file).catch((error) => failed.push(`${file.name}: ${error.message}`));
    const added = chosen.length - failed.length;
    if (added) toast(`Added ${added} file(s) to the store`);
    problems.replaceChildren(
      failed.length ? h("div", { class: "error-box" }, h("strong", {}, `${failed.length} file(s) not added:`), h("ul", {}, failed.map((f) => h("li", {}, f)))) : "",
    );
    poll();
  });
  const rename = h("input", { value: info.name || "", "aria-label": "Store name" });
  const renameForm = h("form", { class: "inline-form" }, rename, h("button", { type: "submit" }, "Rename"));
  renameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const saved = await post(`/v1/vector_stores/${id}`, { name: rename.value });
    title.textContent = saved.name || "(unnamed)";
    toast("Store renamed");
  });
  const removeStore = async () => {
    if (!confirm(`Delete the store ${info.name || info.id}? Its files stay in Files.`)) return;
    await del(`/v1/vector_stores/${id}`);
    toast("Vector store deleted");
    location.hash = "#/vector-stores";
  };
  const searchForm = h("form", { class: "inline-form search" }, query, h("button", { type: "submit", class: "primary" }, "Search"));
  searchForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!query.value.trim()) return;
    const page = await post(`/v1/vector_stores/${id}/search`, { query: query.value, max_num_results: 10 });
    results.replaceChildren(
      page.data.length
        ? h(
            "ol",
            { class: "results" },
            page.data.map((r) =>
              h("li", {}, h("div", { class: "row" }, h("strong", {}, r.filename), h("span", { class: "mono dim" }, r.file_id), h("span", { class: "score" }, `score ${r.score.toFixed(3)}`)), code(r.content.map((p) => p.text).join("\n"), "chunk")),
            ),
          )
        : h("p", { class: "dim" }, "No chunk matched."),
    );
  });
  const onSlash = (event) => {
    if (!isCurrent()) return document.removeEventListener("keydown", onSlash);
    if (event.key === "/" && !event.target.closest("input, textarea, select")) {
      event.preventDefault();
      query.focus();
    }
  };
  document.addEventListener("keydown", onSlash);
  const header = pageHeader(info.name || "(unnamed)", info.id, h("a", { href: "#/vector-stores" }, "← All stores"), renameForm, h("label", { class: "button primary file-button" }, "Upload files", fileInput), h("button", { type: "button", class: "danger", onclick: removeStore }, "Delete store"));
  const title = header.querySelector("h1");
  ctx.render(
    header,
    problems,
    h("section", { class: "card" }, h("h2", {}, "Ingestion"), progress, counts),
    h("section", { class: "card" }, h("h2", {}, "Search"), searchForm, results),
    h("section", {}, h("h2", {}, "Files"), filesBox),
    h("p", { class: "dim" }, "Store ", idLink(`#/vector-stores/${id}`, info.id), ` · created ${ago(info.created_at)}`),
  );
  await poll();
}
