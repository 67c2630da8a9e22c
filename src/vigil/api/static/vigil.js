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

function targetOf(action) {
  const c = action.container;
  if (c && typeof c === "object") return c.id || c.name || "";
  return action.container_id || action.target || (action.workload && action.workload.name) || "";
}

function belongsHere(section, action) {
  const alerts = section.dataset.alerts.split(" ").filter(Boolean);
  const containers = section.dataset.containers.split(" ").filter(Boolean);
  const incident = section.dataset.incident;
  if (!incident) return true; // the home page lists every pending action
  return action.incident_id === incident || alerts.includes(action.alert_id) ||
    containers.includes(targetOf(action));
}

function decide(button, action, verdict, status) {
  button.parentElement.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  status.textContent = verdict === "approve" ? "approving…" : "denying…";
  fetch(`/api/v1/actions/${encodeURIComponent(action.id)}/${verdict}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: "{}",
  })
    .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
    .then(({ ok, body }) => {
      const word = verdict === "approve" ? "approved" : "denied";
      const shown = [body.state, body.outcome, body.detail].filter(Boolean).join(" — ");
      status.textContent = ok ? `${word}: ${shown || "ok"}` : `refused: ${body.detail || "error"}`;
      status.className = ok ? "decided" : "error";
    })
    .catch((e) => { status.textContent = `failed: ${e}`; status.className = "error"; });
}

function loadPending(section) {
  const note = section.querySelector(".pending-status");
  const table = section.querySelector(".pending-table");
  fetch("/api/v1/actions?state=pending", { credentials: "same-origin" })
    .then((r) => {
      if (r.status === 404) throw new Error("this agent takes no approvals");
      if (!r.ok) throw new Error(`the agent answered ${r.status}`);
      return r.json();
    })
    .then((actions) => {
      const mine = actions.filter((a) => belongsHere(section, a));
      note.textContent = mine.length ? "" : "Nothing waits for approval.";
      table.hidden = mine.length === 0;
      const body = table.tBodies[0];
      body.replaceChildren();
      for (const action of mine) {
        const row = body.insertRow();
        row.dataset.id = action.id;
        cell(row, action.action || action.name);
        cell(row, targetOf(action));
        cell(row, action.reason || action.rule || action.alert_id);
        cell(row, action.requested || action.created || action.time);
        const td = row.insertCell();
        const status = document.createElement("span");
        for (const verdict of ["approve", "deny"]) {
          const button = document.createElement("button");
          button.textContent = verdict === "approve" ? "Approve" : "Deny";
          button.className = verdict;
          button.addEventListener("click", () => decide(button, action, verdict, status));
          td.append(button);
        }
        td.append(status);
      }
    })
    .catch((e) => { note.textContent = String(e.message || e); table.hidden = true; });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const live of document.querySelectorAll("[data-live]")) {
    setInterval(() => refreshLive(live), REFRESH_MS);
  }
  const pending = document.getElementById("pending");
  if (pending) loadPending(pending);
});
