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

// Sign-in: a link like /#key=ltk_... (the demo prints one) logs in once; the key goes to
// POST /api/login, which keeps it in an HttpOnly cookie, and leaves the address bar.
async function loginWith(key) {
  const response = await fetch(root + "/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ key }),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.detail || "that API key was not accepted");
  }
  return response.json();
}

const ready = (async () => {
  const match = /(?:^#|&)key=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  try {
    await loginWith(decodeURIComponent(match[1]));
  } catch {
    // the sign-in box below asks again on the first refused call
  }
})();

let pendingLogin = null;

function askForKey(message) {
  if (pendingLogin) return pendingLogin;
  pendingLogin = new Promise((resolve) => {
    const dialog = document.createElement("dialog");
    dialog.className = "login";
    dialog.innerHTML =
      '<form method="dialog"><h2>Sign in</h2><p class="login-msg"></p>' +
      '<label>API key <input name="key" type="password" autocomplete="off" size="48" required></label>' +
      '<p class="muted small">`laketown demo` prints a console link with a key; `laketown gov key create` makes one.</p>' +
      '<div class="editor-bar"><button class="primary" type="submit">Sign in</button></div></form>';
    dialog.querySelector(".login-msg").textContent = message;
    document.body.appendChild(dialog);
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await loginWith(dialog.querySelector("input").value.trim());
        dialog.close();
        dialog.remove();
        pendingLogin = null;
        resolve();
      } catch (err) {
        dialog.querySelector(".login-msg").textContent = err.message;
      }
    });
    dialog.showModal();
  });
  return pendingLogin;
}

export async function apiCall(path, options = {}) {
  await ready;
  const result = await callOnce(path, options);
  if (result.status === 401) {
    await askForKey(result.message);
    const retry = await callOnce(path, options);
    return unwrap(retry);
  }
  return unwrap(result);
}

function unwrap(result) {
  if (result.error) throw result.error;
  return result.body;
}

async function callOnce(path, options) {
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
    return { status: response.status, message, error };
  }
  return { status: response.status, body };
}
