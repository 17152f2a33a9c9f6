// How a thread's messages look, in the playground and the thread view alike.
import { fileName } from "./api.js";
import { h } from "./dom.js";
import { markdownMessage } from "./markdown.js";

export const ACTIVE = new Set(["queued", "in_progress", "requires_action", "cancelling"]);

export function messageNode(message) {
  const parts = (message.content || []).map((part) => {
    if (part.type === "text") return message.role === "assistant" ? markdownMessage(part, message.run_id) : h("div", { class: "bubble-text" }, part.text.value);
    if (part.type === "image_file") return h("div", { class: "dim" }, `[image ${part.image_file.file_id}]`);
    return h("div", { class: "dim" }, `[${part.type}]`);
  });
  return h("div", { class: `bubble ${message.role}`, "data-message": message.id }, h("div", { class: "bubble-role" }, message.role), parts, attachments(message.attachments));
}

// A message's attached files, by name, with the tool each was given to.
export function attachments(list) {
  if (!list?.length) return null;
  const box = h("div", { class: "attachments", "aria-label": "Attachments" });
  for (const item of list) {
    const chip = h("span", { class: "chip" }, item.file_id);
    const tools = (item.tools || []).map((t) => t.type).join(", ");
    fileName(item.file_id).then((name) => (chip.textContent = tools ? `${name} → ${tools}` : name));
    box.append(chip);
  }
  return box;
}
