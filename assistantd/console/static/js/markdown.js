// Answers as markdown, built as DOM nodes (never parsed as HTML, so markup in a model's answer stays
// text), with file_search citations drawn as numbered footnotes that link to their source chunk.
import { h } from "./dom.js";

// The file_search tool's marker: 【call:result†file name】 (call and result number within the run).
const MARKER = /【(\d+):(\d+)†([^】]*)】/;

// The text part of a message as markdown, with footnotes for its file citations.
export function markdownMessage(part, runId) {
  // Footnotes are numbered in reading order; each marker becomes a placeholder holding its number.
  const cited = (part.text.annotations || [])
    .filter((a) => a.type === "file_citation" && MARKER.test(a.text || ""))
    .sort((a, b) => a.start_index - b.start_index);
  const notes = cited.map((a) => {
    const [, call, rank, name] = MARKER.exec(a.text);
    return { call, rank, name };
  });
  let text = part.text.value;
  // Replaced from the end, so the earlier ranges still hold.
  for (let n = cited.length; n >= 1; n -= 1) {
    const a = cited[n - 1];
    text = `${text.slice(0, a.start_index)}\uE000${n}\uE001${text.slice(a.end_index)}`;
  }
  const link = (n) => (runId ? `#/runs/${encodeURIComponent(runId)}?result=${notes[n - 1].call}:${notes[n - 1].rank}` : "#");
  const body = h("div", { class: "bubble-text markdown" }, blocks(text, { count: notes.length, link }));
  if (!notes.length) return body;
  const item = (note, n) =>
    h("li", {}, h("a", { href: link(n + 1) }, note.name || "source"), h("span", { class: "dim" }, ` · result ${Number(note.rank) + 1} of search ${Number(note.call) + 1}`));
  return h("div", {}, body, h("div", { class: "footnotes", "aria-label": "Sources" }, h("ol", {}, notes.map(item))));
}

function blocks(text, notes) {
  const out = [];
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = /^```(.*)$/.exec(line);
    if (fence) {
      const body = [];
      for (i += 1; i < lines.length && !/^```\s*$/.test(lines[i]); i += 1) body.push(lines[i]);
      out.push(h("pre", { class: "code" }, h("code", {}, body.join("\n"))));
      i += 1;
      continue;
    }
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    if (heading) {
      out.push(h(`h${heading[1].length}`, {}, inline(heading[2], notes)));
      i += 1;
      continue;
    }
    const list = listKind(line);
    if (list) {
      const items = [];
      while (i < lines.length && listKind(lines[i]) === list) {
        items.push(h("li", {}, inline(lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, ""), notes)));
        i += 1;
      }
      out.push(h(list, {}, items));
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !listKind(lines[i]) && !/^(```|#{1,4}\s)/.test(lines[i])) para.push(lines[i++]);
    out.push(h("p", {}, inline(para.join("\n"), notes)));
  }
  return out;
}

function listKind(line) {
  if (/^\s*[-*+]\s+/.test(line)) return "ul";
  if (/^\s*\d+[.)]\s+/.test(line)) return "ol";
  return null;
}

// `code`, **bold**, *italic* / _italic_, [text](http…) and footnote placeholders; the rest is text.
const INLINE = /`([^`]+)`|\*\*([^*]+)\*\*|(?<![\w*])[*_]([^*_\n]+)[*_](?![\w*])|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)|\uE000(\d+)\uE001/g;

function inline(text, notes) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) out.push(withBreaks(text.slice(last, match.index)));
    const [, code, bold, italic, label, url, note] = match;
    if (code !== undefined) out.push(h("code", {}, code));
    else if (bold !== undefined) out.push(h("strong", {}, inline(bold, notes)));
    else if (italic !== undefined) out.push(h("em", {}, italic));
    else if (label !== undefined) out.push(external(label, url));
    else out.push(footnoteRef(notes, note));
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(withBreaks(text.slice(last)));
  return out;
}

function footnoteRef(notes, number) {
  const n = Number(number);
  if (!(n >= 1 && n <= notes.count)) return "";
  return h("sup", { class: "footnote-ref" }, h("a", { href: notes.link(n), title: `Source ${n}` }, `[${n}]`));
}

function withBreaks(text) {
  const parts = text.split("\n");
  return parts.flatMap((part, n) => (n ? [h("br"), part] : [part]));
}

function external(label, url) {
  // h() keeps hrefs on this origin; a model's link to the web is set here, opened without a referrer.
  const link = h("a", { target: "_blank", rel: "noopener noreferrer" }, label);
  link.setAttribute("href", url);
  return link;
}
