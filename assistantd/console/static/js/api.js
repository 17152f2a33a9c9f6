// The console is a client of the server's public API, on the same origin. The API key is not in
// this script's reach: sign-in stores it in an HttpOnly, SameSite=Strict cookie, and the server
// accepts that cookie only with the CONSOLE header below (which another origin cannot send).

const HEADERS = { "x-assistantd-console": "1", "OpenAI-Beta": "assistants=v2" };

// The thread list. Once GET /v1/conversations exists (Responses), point this at "/v1/conversations":
// the page reads only id, created_at and metadata from each item, which both lists have.
export const THREADS_URL = "/v1/conversations"; // a thread is a conversation

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message = body?.error?.message || `${response.status} ${response.statusText}`;
  if (response.status === 401 && !location.hash.startsWith("#/sign-in")) {
    location.hash = "#/sign-in";
  }
  return new ApiError(response.status, message, body);
}

export async function request(method, path, body, extra = {}) {
  const init = { method, headers: { ...HEADERS }, credentials: "same-origin", ...extra };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response;
}

export async function api(method, path, body) {
  const response = await request(method, path, body);
  return response.status === 204 ? null : response.json();
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});
export const del = (path) => api("DELETE", path);

// A file's name, asked once per page load and shared by every page that shows it.
const fileNames = new Map();
export function fileName(fileId) {
  if (!fileNames.has(fileId))
    fileNames.set(fileId, get(`/v1/files/${encodeURIComponent(fileId)}`).then((f) => f.filename, () => "(deleted file)"));
  return fileNames.get(fileId);
}
export function rememberFileName(file) {
  fileNames.set(file.id, Promise.resolve(file.filename));
}

// Every item of a cursor-paged list (up to `max`).
export async function all(path, max = 500) {
  const items = [];
  let after = null;
  for (;;) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(`${path}${sep}limit=100${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    items.push(...page.data);
    if (!page.has_more || items.length >= max) return items;
    after = page.last_id;
  }
}

// POST a streaming request and call onEvent(name, data) for each server-sent event. Aborting
// `signal` ends the read (the run itself goes on unless it is cancelled too).
export async function stream(path, body, onEvent, signal) {
  const response = await request("POST", path, { ...body, stream: true }, signal ? { signal } : {});
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      const text = data.join("\n");
      if (name === "done" || text === "[DONE]") return;
      let parsed = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* keep the raw text */
      }
      onEvent(name, parsed);
    }
  }
}

// Download a file's content through fetch (so the cookie header rule holds) and save it.
export async function download(fileId, filename) {
  const response = await request("GET", `/v1/files/${encodeURIComponent(fileId)}/content`);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename || fileId;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// An image file (code interpreter output) as an object URL for an <img>.
export async function imageUrl(fileId) {
  const response = await request("GET", `/v1/files/${encodeURIComponent(fileId)}/content`);
  return URL.createObjectURL(await response.blob());
}

export async function upload(file, purpose = "assistants") {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", file);
  return api("POST", "/v1/files", form);
}
