// The dashboard page's own script: a pop-up for each new alert or data arrival, from the server's event
// stream (the session cookie signs the request; the server filters events to the caller's regions).
const STATES = { firing: "新预警", resolved: "预警解除" };
const SHOWN_MS = 15000;

function toast(kind, title, text, href) {
  const box = document.createElement("div");
  box.className = `toast ${kind}`;
  box.setAttribute("role", "status");
  const heading = document.createElement("strong");
  heading.textContent = title;
  box.append(heading);
  const body = document.createElement(href ? "a" : "span");
  body.textContent = text;
  if (href) body.href = href;
  box.append(body);
  document.getElementById("toasts").prepend(box);
  setTimeout(() => box.remove(), SHOWN_MS);
}

function listen() {
  const events = new EventSource("/api/v1/events?kind=transition,data");
  events.addEventListener("transition", (message) => {
    const event = JSON.parse(message.data);
    if (event.listed) return;  // an enterprise entering a watch list (企业监测) is not a warning to pop up
    const href = `/dash/alert?alert=${encodeURIComponent(event.alert)}&entity=${encodeURIComponent(event.entity)}`
      + `&period=${encodeURIComponent(event.period)}`;
    toast(event.new, `${STATES[event.new] || event.new} · ${event.period}`, event.message || event.rule, href);
  });
  events.addEventListener("data", (message) => {
    const event = JSON.parse(message.data);
    toast("data", "数据到达", `${event.observations} 条，期别 ${(event.periods || []).join("、")}`, "");
  });
}

if (!document.querySelector(".refused")) listen();
