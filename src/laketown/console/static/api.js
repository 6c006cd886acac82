// Calls to the Laketown HTTP API; a failed call throws an Error carrying the server's message.
const root = document.body.dataset.root || "";

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI validation errors: [{loc: [...], msg: "..."}]
    return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("\n");
  }
  return JSON.stringify(detail);
}

export async function apiCall(path, options = {}) {
  const init = { headers: { Accept: "application/json" }, ...options };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.json);
    delete init.json;
  }
  let response;
  try {
    response = await fetch(root + path, init);
  } catch (err) {
    throw new Error(`cannot reach the Laketown server (${err.message}); is it still running?`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.detail !== undefined ? detailText(body.detail) : text || response.statusText;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}
