// 我的账号: who I am, password change, pattern unlock on this browser, my devices, sign-out.
import { PatternPad, api, show, storeDevice, storedDevice } from "/static/common.js";

const $ = (id) => document.getElementById(id);
const FIRST_STEP = "设置图形：请绘制新图形（至少连接 4 个点）";
let me = null;
let firstPattern = null;

// The session ended (signed out elsewhere, password changed elsewhere, expired): back to the sign-in page.
function signedOut(error) {
  if (error.status !== 401) return false;
  window.location.replace("/login?next=/account");
  return true;
}

function failed(element, error) {
  if (!signedOut(error)) show(element, error.message, "error");
}

function guessDeviceName() {
  const agent = navigator.userAgent;
  if (/iPhone|iPad/.test(agent)) return "iPhone/iPad";
  if (/Android/.test(agent)) return "Android 手机";
  return "电脑浏览器";
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

async function load() {
  try {
    me = await api("GET", "/api/v1/auth/me");
  } catch (error) {
    failed($("page-message"), error);
    return;
  }
  $("display-name").textContent = me.display_name || me.username;
  $("username").textContent = me.username;
  $("password-username").value = me.username;
  $("role").textContent = me.role_name;
  $("scope").textContent = me.scope.length ? me.scope.join("、") : "全部单位";
  renderDevices(me.devices);
  await showScopeNames(me.scope);
}

async function showScopeNames(scope) {
  if (!scope.length) return;
  try {
    const found = await api("GET", "/api/v1/entities");
    const names = new Map(found.items.map((entity) => [entity.id, entity.name]));
    $("scope").textContent = scope.map((id) => names.get(id) || id).join("、");
  } catch {
    // The ids stay: they are what the scope is, only less readable.
  }
}

async function refreshDevices() {
  try {
    me = await api("GET", "/api/v1/auth/me");
    renderDevices(me.devices);
  } catch (error) {
    failed($("pattern-message"), error);
  }
}

function renderDevices(devices) {
  const local = storedDevice();
  const items = devices.map((device) => {
    const item = document.createElement("li");
    const label = element("div", "device-label", "");
    label.append(element("span", "device-name", device.name || "未命名设备"));
    if (local && local.device_id === device.id) label.append(element("span", "tag", "本机"));
    const when = new Date(device.created_at).toLocaleString("zh-CN", { hour12: false });
    label.append(element("span", "device-time", `登记于 ${when}`));
    const remove = element("button", "secondary danger", "移除");
    remove.type = "button";
    remove.dataset.device = device.id;
    remove.addEventListener("click", () => removeDevice(device, remove));
    item.append(label, remove);
    return item;
  });
  $("devices").replaceChildren(...items);
  $("no-devices").hidden = devices.length > 0;
  const here = local && devices.some((device) => device.id === local.device_id);
  $("device-state").textContent = here
    ? "此浏览器已开启图形解锁。再设置一次即可更换图形。"
    : "在此浏览器上设置图形后，下次登录时绘制图形即可。";
}

async function removeDevice(device, button) {
  // Two taps, so that a slip of the finger does not remove a device.
  if (button.dataset.armed !== "1") {
    button.dataset.armed = "1";
    button.textContent = "确认移除";
    return;
  }
  button.disabled = true;
  try {
    await api("DELETE", `/api/v1/auth/devices/${encodeURIComponent(device.id)}`);
    const local = storedDevice();
    if (local && local.device_id === device.id) storeDevice(null);
    show($("pattern-message"), `已移除设备「${device.name || "未命名设备"}」`, "ok");
    await refreshDevices();
  } catch (error) {
    button.disabled = false;
    failed($("pattern-message"), error);
  }
}

function patternDrawn(pad, pattern) {
  show($("pattern-message"), "");
  if (firstPattern === null) {
    firstPattern = pattern;
    $("pattern-step").textContent = "确认图形：请再绘制一次";
    return;
  }
  const same = firstPattern.join("-") === pattern.join("-");
  firstPattern = null;
  $("pattern-step").textContent = FIRST_STEP;
  if (same) {
    registerDevice(pad, pattern);
  } else {
    show($("pattern-message"), "两次绘制的图形不一致，请重新设置", "error");
  }
}

async function registerDevice(pad, pattern) {
  const name = $("device-name").value.trim() || guessDeviceName();
  pad.setDisabled(true);
  try {
    const answer = await api("POST", "/api/v1/auth/devices", { name, pattern });
    const previous = storedDevice();
    storeDevice({ device_id: answer.device_id, device_secret: answer.device_secret, username: me.username, name });
    if (previous && previous.username === me.username) {
      // The pattern was replaced: the old registration of this browser is of no use any more.
      await api("DELETE", `/api/v1/auth/devices/${encodeURIComponent(previous.device_id)}`).catch(() => null);
    }
    show($("pattern-message"), "图形解锁已开启：下次在此浏览器登录时绘制图形即可", "ok");
    await refreshDevices();
  } catch (error) {
    failed($("pattern-message"), error);
  } finally {
    pad.setDisabled(false);
  }
}

async function changePassword(event) {
  event.preventDefault();
  const form = event.target;
  const oldPassword = $("old-password").value;
  const newPassword = $("new-password").value;
  if (!oldPassword || !newPassword) {
    show($("password-message"), "请输入原密码和新密码", "error");
    return;
  }
  if (newPassword !== $("new-password2").value) {
    show($("password-message"), "两次输入的新密码不一致", "error");
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const answer = await api("POST", "/api/v1/auth/password", { old_password: oldPassword, new_password: newPassword });
    form.reset();
    $("password-username").value = me ? me.username : "";
    show($("password-message"),
      `密码已修改。其他设备上的登录已全部退出（${answer.sessions_revoked} 个会话）。`, "ok");
  } catch (error) {
    failed($("password-message"), error);
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  $("logout").disabled = true;
  try {
    await api("POST", "/api/v1/auth/logout");
    window.location.assign("/login");
  } catch (error) {
    $("logout").disabled = false;
    failed($("page-message"), error);
  }
}

function start() {
  const pad = new PatternPad($("register-pad"), (pattern) => patternDrawn(pad, pattern));
  $("pattern-step").textContent = FIRST_STEP;
  $("device-name").value = guessDeviceName();
  $("password-form").addEventListener("submit", changePassword);
  $("logout").addEventListener("click", signOut);
  load();
}

start();
