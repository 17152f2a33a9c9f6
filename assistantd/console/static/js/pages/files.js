import { all, del, download, upload } from "../api.js";
import { ago, bytes, empty, filterBox, h, pageHeader, toast } from "../dom.js";

const PURPOSES = ["assistants", "batch", "fine-tune", "vision", "user_data"];
// The purpose last chosen, kept while the page re-renders after an upload.
let chosenPurpose = "assistants";

export async function filesPage(ctx) {
  const files = await all("/v1/files", 1000);
  const purpose = h("select", { "aria-label": "Purpose", onchange: (e) => (chosenPurpose = e.target.value) }, PURPOSES.map((p) => h("option", { value: p, selected: p === chosenPurpose }, p)));
  const input = h("input", { type: "file", multiple: true, "aria-label": "Upload files" });
  input.addEventListener("change", async () => {
    for (const file of input.files) await upload(file, purpose.value);
    toast(`${input.files.length} file(s) uploaded`);
    filesPage(ctx);
  });
  const remove = async (file) => {
    if (!confirm(`Delete ${file.filename}? Stores and assistants that use it lose it.`)) return;
    await del(`/v1/files/${encodeURIComponent(file.id)}`);
    toast("File deleted");
    filesPage(ctx);
  };
  const table = files.length
      ? h(
          "table",
          { class: "table" },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Purpose"), h("th", {}, "Size"), h("th", {}, "Created"), h("th", {}, ""))),
          h(
            "tbody",
            {},
            files.map((f) =>
              h(
                "tr",
                {},
                h("td", {}, h("span", { class: "file-name" }, f.filename), h("div", { class: "mono dim" }, f.id)),
                h("td", {}, h("span", { class: "chip" }, f.purpose)),
                h("td", {}, bytes(f.bytes)),
                h("td", {}, ago(f.created_at)),
                h(
                  "td",
                  { class: "right" },
                  h("button", { type: "button", class: "link", onclick: () => download(f.id, f.filename) }, "Download"),
                  " ",
                  h("button", { type: "button", class: "link danger", onclick: () => remove(f) }, "Delete"),
                ),
              ),
            ),
          ),
        )
      : null;
  ctx.render(
    pageHeader("Files", `${files.length} file(s)`, h("div", { class: "inline-form" }, purpose, h("label", { class: "button primary file-button" }, "Upload", input))),
    table ? [filterBox(table, "Search files"), table] : empty("No files yet."),
  );
}
