// vigil's UI: the few interactive parts, with no library. Everything it shows from the API is
// set as text (never as HTML); the HTML it swaps in comes from the agent's own templates.
"use strict";

const REFRESH_MS = 2000;

function refreshLive(element) {
  fetch(element.dataset.live, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(String(r.status)))))
    .then((html) => { element.innerHTML = html; })
    .catch(() => {});
}

function cell(row, text) {
  const td = row.insertCell();
  td.textContent = text == null ? "" : String(text).slice(0, 300);
  return td;
}

// What each action does (GET /api/v1/action-types, the agent's registry): name → its type.
const actionTypes = new Map();

function loadActionTypes() {
  return fetch("/api/v1/action-types", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : []))
    .then((types) => { for (const t of types) actionTypes.set(t.name, t); })
    .catch(() => {});
}

// "delete-pod (destructive, cluster-wide)": what a person approves, said before they approve it.
function stepText(name) {
  const type = actionTypes.get(name);
  if (!type) return name;
  const marks = [type.destructive && "destructive", type.scope === "cluster" && "cluster-wide"];
  const shown = marks.filter(Boolean);
  return shown.length ? `${name} (${shown.join(", ")})` : name;
}

function isDestructive(action) {
  return (action.steps || []).some((s) => (actionTypes.get(s.action) || {}).destructive);
}

// A pending action carries the alert that asked for it (GET /api/v1/actions).
function alertOf(action) {
  return action.alert || {};
}

function targetOf(action) {
  const c = action.container || alertOf(action).container;
  if (c && typeof c === "object") return c.id || c.name || "";
  return action.container_id || action.target || (action.workload && action.workload.name) || "";
}

function belongsHere(section, action) {
  const alerts = section.dataset.alerts.split(" ").filter(Boolean);
  const containers = section.dataset.containers.split(" ").filter(Boolean);
  const incident = section.dataset.incident;
  if (!incident) return true; // the home page lists every pending action
  return action.incident_id === incident || alerts.includes(alertOf(action).id) ||
    containers.includes(targetOf(action));
}

// Decisions made on this page, kept across refreshes: action id → [action, shown text, class].
const decided = new Map();

function decide(section, action, verdict) {
  decided.set(action.id, [action, verdict === "approve" ? "approving…" : "denying…", ""]);
  renderPending(section, []);
  fetch(`/api/v1/actions/${encodeURIComponent(action.id)}/${verdict}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ actor: "ui" }),
  })
    .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
    .then(({ ok, body }) => {
      const word = verdict === "approve" ? "approved" : "denied";
      const last = (body.results || []).slice(-1)[0] || {};
      const shown = [...new Set([body.state, last.outcome, last.detail])].filter(Boolean).join(" — ");
      decided.set(action.id, [action, ok ? `${word}: ${shown || "ok"}` : `refused: ${body.detail || "error"}`, ok ? "decided" : "error"]);
    })
    .catch((e) => decided.set(action.id, [action, `failed: ${e}`, "error"]))
    .finally(() => loadPending(section));
}

function renderPending(section, waiting) {
  const note = section.querySelector(".pending-status");
  const table = section.querySelector(".pending-table");
  const rows = waiting.filter((a) => !decided.has(a.id)).map((a) => [a, null, ""]);
  rows.push(...decided.values());
  note.textContent = waiting.length ? "" : "Nothing waits for approval.";
  table.hidden = rows.length === 0;
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const [action, status, cls] of rows) {
    const row = body.insertRow();
    row.dataset.id = action.id;
    const steps = cell(row, (action.steps || []).map((s) => stepText(s.action)).join(" → "));
    if (isDestructive(action)) steps.className = "destructive";
    cell(row, targetOf(action));
    cell(row, alertOf(action).rule);
    cell(row, action.created);
    const td = row.insertCell();
    if (status !== null) {
      const span = document.createElement("span");
      span.textContent = status;
      span.className = cls;
      td.append(span);
      continue;
    }
    for (const verdict of ["approve", "deny"]) {
      const button = document.createElement("button");
      button.textContent = verdict === "approve" ? "Approve" : "Deny";
      button.className = verdict;
      button.addEventListener("click", () => decide(section, action, verdict));
      td.append(button);
    }
  }
}

function loadPending(section) {
  fetch("/api/v1/actions?state=pending", { credentials: "same-origin" })
    .then((r) => {
      if (r.status === 404) throw new Error("This agent takes no approvals.");
      if (!r.ok) throw new Error(`The agent answered ${r.status}.`);
      return r.json();
    })
    .then((actions) => renderPending(section, actions.filter((a) => belongsHere(section, a))))
    .catch((e) => {
      section.querySelector(".pending-status").textContent = String(e.message || e);
    });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const live of document.querySelectorAll("[data-live]")) {
    setInterval(() => refreshLive(live), REFRESH_MS);
  }
  const pending = document.getElementById("pending");
  if (pending) {
    loadActionTypes().then(() => loadPending(pending));
    setInterval(() => loadPending(pending), REFRESH_MS);
  }
});
