// Shared by the sign-in and account pages: API calls, the CSRF token, safe redirects, messages and the
// 3×3 pattern pad. Everything from the server is shown with textContent, never parsed as HTML.

const DEVICE_KEY = "taishan.device";

export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return "";
}

// A cookie session needs its CSRF token echoed on every call that changes something.
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = cookie("taishan_csrf");
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiFailure(0, "network", "无法连接服务器，请检查网络后重试");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    throw new ApiFailure(response.status, error.code || "", error.message || `请求失败（HTTP ${response.status}）`);
  }
  return data;
}

// Only a path on this site: an absolute or protocol-relative address would make the sign-in page an open
// redirect. The URL parser has the last word, since it drops tabs and newlines ("/\t/evil.example").
export function safeNext(raw) {
  const fallback = "/account";
  if (!raw || !raw.startsWith("/") || raw.startsWith("//") || raw.includes("\\")) return fallback;
  const url = new URL(raw, window.location.origin);
  if (url.origin !== window.location.origin || url.pathname === "/login") return fallback;
  return url.pathname + url.search + url.hash;
}

export function show(element, text, kind = "") {
  element.textContent = text;
  element.className = `message ${kind}`.trim();
  element.hidden = !text;
}

export function storedDevice() {
  try {
    const device = JSON.parse(window.localStorage.getItem(DEVICE_KEY) || "null");
    return device && typeof device.device_id === "string" && typeof device.device_secret === "string" ? device : null;
  } catch {
    return null;
  }
}

export function storeDevice(device) {
  if (device) window.localStorage.setItem(DEVICE_KEY, JSON.stringify(device));
  else window.localStorage.removeItem(DEVICE_KEY);
}

const SVG = "http://www.w3.org/2000/svg";
const MIN_DOTS = 4;

// A 3×3 grid to draw on with a finger or mouse (the pattern ends when the pointer lifts after crossing
// several dots), or to tap dot by dot and confirm with 确定 (which keyboards and tests use too).
export class PatternPad {
  constructor(container, onDone) {
    this.onDone = onDone;
    this.sequence = [];
    this.drawing = false;
    this.grid = document.createElement("div");
    this.grid.className = "pad-grid";
    this.lines = document.createElementNS(SVG, "svg");
    this.lines.setAttribute("class", "pad-lines");
    this.lines.setAttribute("aria-hidden", "true");
    this.trace = document.createElementNS(SVG, "polyline");
    this.lines.append(this.trace);
    this.grid.append(this.lines);
    this.dots = [];
    for (let i = 0; i < 9; i += 1) {
      const dot = document.createElement("button");
      dot.type = "button";
      dot.className = "dot";
      dot.dataset.dot = String(i);
      dot.setAttribute("aria-label", `第 ${i + 1} 个点`);
      dot.addEventListener("click", (event) => {
        if (event.detail === 0) this.add(i); // keyboard; pointer taps are taken on pointerdown
      });
      this.dots.push(dot);
      this.grid.append(dot);
    }
    this.status = document.createElement("p");
    this.status.className = "pad-status";
    this.status.setAttribute("aria-live", "polite");
    const actions = document.createElement("div");
    actions.className = "pad-actions";
    this.clearButton = this.button("重画", "secondary clear", () => this.reset());
    this.doneButton = this.button("确定", "primary done", () => this.finish());
    actions.append(this.clearButton, this.doneButton);
    container.replaceChildren(this.grid, this.status, actions);
    this.grid.addEventListener("pointerdown", (event) => this.down(event));
    this.grid.addEventListener("pointermove", (event) => this.move(event));
    this.grid.addEventListener("pointerup", () => this.up());
    this.grid.addEventListener("pointercancel", () => this.up());
    this.reset();
  }

  button(text, className, handler) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = className;
    button.textContent = text;
    button.addEventListener("click", handler);
    return button;
  }

  dotAt(event) {
    const found = document.elementFromPoint(event.clientX, event.clientY);
    return found && found.classList.contains("dot") && this.grid.contains(found) ? Number(found.dataset.dot) : null;
  }

  down(event) {
    const dot = this.dotAt(event);
    if (dot === null || this.disabled) return;
    event.preventDefault();
    this.grid.setPointerCapture(event.pointerId);
    this.drawing = true;
    this.startLength = this.sequence.length;
    this.add(dot);
  }

  move(event) {
    if (!this.drawing) return;
    const dot = this.dotAt(event);
    if (dot !== null) this.add(dot);
  }

  up() {
    if (!this.drawing) return;
    this.drawing = false;
    // A stroke across several dots is a drawn pattern; a single dot is a tap, and more may follow.
    if (this.sequence.length - this.startLength > 1) this.finish();
  }

  add(dot) {
    if (this.disabled || this.sequence.includes(dot)) return;
    this.sequence.push(dot);
    this.dots[dot].classList.add("on");
    this.redraw();
    this.status.textContent = `已连接 ${this.sequence.length} 个点`;
  }

  redraw() {
    const box = this.grid.getBoundingClientRect();
    const points = this.sequence.map((i) => {
      const r = this.dots[i].getBoundingClientRect();
      return `${r.left - box.left + r.width / 2},${r.top - box.top + r.height / 2}`;
    });
    this.lines.setAttribute("viewBox", `0 0 ${box.width} ${box.height}`);
    this.trace.setAttribute("points", points.join(" "));
  }

  finish() {
    if (this.sequence.length < MIN_DOTS) {
      this.reset();
      this.status.textContent = `至少连接 ${MIN_DOTS} 个点，请重画`;
      return;
    }
    const pattern = this.sequence.slice();
    this.reset();
    this.onDone(pattern);
  }

  reset() {
    this.sequence = [];
    this.drawing = false;
    for (const dot of this.dots) dot.classList.remove("on");
    this.trace.setAttribute("points", "");
    this.status.textContent = "";
  }

  setDisabled(disabled) {
    this.disabled = disabled;
    for (const button of [...this.dots, this.clearButton, this.doneButton]) button.disabled = disabled;
  }
}
