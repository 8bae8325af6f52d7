// The sign-in page: password, pattern unlock on a registered device, and password recovery by code.
import { PatternPad, api, safeNext, show, storeDevice, storedDevice } from "/static/common.js";

const $ = (id) => document.getElementById(id);
const next = safeNext(new URLSearchParams(window.location.search).get("next"));
const VIEWS = ["unlock-view", "password-view", "recover-view"];
let recoverUsername = "";

function view(name) {
  for (const id of VIEWS) $(id).hidden = id !== name;
  $("use-pattern").hidden = !storedDevice();
  const first = $(name).querySelector("input:not([hidden])");
  if (first) first.focus();
}

async function submitting(form, action) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await action();
  } finally {
    button.disabled = false;
  }
}

async function signIn(event) {
  event.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username || !password) {
    show($("login-message"), "请输入用户名和密码", "error");
    return;
  }
  show($("login-message"), "");
  await submitting(event.target, async () => {
    try {
      await api("POST", "/api/v1/auth/login", { username, password, web: true });
      window.location.assign(next);
    } catch (error) {
      show($("login-message"), error.message, "error");
      $("password").value = "";
      $("password").focus();
    }
  });
}

async function unlock(pad, pattern) {
  const device = storedDevice();
  if (!device) {
    view("password-view");
    return;
  }
  pad.setDisabled(true);
  show($("unlock-error"), "");
  try {
    await api("POST", "/api/v1/auth/unlock", {
      device_id: device.device_id, device_secret: device.device_secret, pattern, web: true,
    });
    window.location.assign(next);
  } catch (error) {
    pad.setDisabled(false);
    if (error.code === "bad_device") {
      // Revoked here or elsewhere: the stored secret is useless from now on.
      storeDevice(null);
      view("password-view");
      show($("login-message"), error.message, "error");
      return;
    }
    show($("unlock-error"), error.message, "error");
  }
}

async function requestCode(event) {
  event.preventDefault();
  const username = $("recover-username").value.trim();
  if (!username) {
    show($("recover-message"), "请输入用户名", "error");
    return;
  }
  await submitting(event.target, async () => {
    try {
      const answer = await api("POST", "/api/v1/auth/recover", { username });
      recoverUsername = username;
      show($("recover-message"), answer.message, "ok");
      $("recover-request").hidden = true;
      $("recover-confirm").hidden = false;
      $("recover-code").focus();
    } catch (error) {
      show($("recover-message"), error.message, "error");
    }
  });
}

async function confirmCode(event) {
  event.preventDefault();
  const code = $("recover-code").value.trim();
  const password = $("recover-password").value;
  if (!code || !password) {
    show($("recover-message"), "请输入验证码和新密码", "error");
    return;
  }
  if (password !== $("recover-password2").value) {
    show($("recover-message"), "两次输入的新密码不一致", "error");
    return;
  }
  await submitting(event.target, async () => {
    try {
      await api("POST", "/api/v1/auth/recover/confirm", { username: recoverUsername, code, new_password: password });
      $("recover-confirm").reset();
      view("password-view");
      $("username").value = recoverUsername;
      $("password").focus();
      show($("login-message"), "密码已重设，所有设备上的登录均已退出，请用新密码登录", "ok");
    } catch (error) {
      show($("recover-message"), error.message, "error");
    }
  });
}

function showRecovery() {
  $("recover-request").hidden = false;
  $("recover-confirm").hidden = true;
  $("recover-username").value = $("username").value.trim();
  show($("recover-message"), "");
  view("recover-view");
}

function start() {
  const pad = new PatternPad($("unlock-pad"), (pattern) => unlock(pad, pattern));
  $("login-form").addEventListener("submit", signIn);
  $("recover-request").addEventListener("submit", requestCode);
  $("recover-confirm").addEventListener("submit", confirmCode);
  $("show-recover").addEventListener("click", showRecovery);
  $("back-to-login").addEventListener("click", () => view("password-view"));
  $("use-password").addEventListener("click", () => view("password-view"));
  $("use-pattern").addEventListener("click", () => view("unlock-view"));
  const device = storedDevice();
  if (device) {
    $("unlock-user").textContent = device.username || "";
    view("unlock-view");
  } else {
    view("password-view");
  }
}

start();
