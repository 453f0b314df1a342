// Flow Switch: notices when a flow is paused or resumed (plain ES2020, no build step).
// The section says whether this Bitrix24 sends them (administrators turn them on or off there);
// each flow the user may switch gets "Who is told…" in its row's actions slot, which opens a
// dialog with the choice; reports of the user's own notices that did not reach everyone are
// shown once, at the top. Everything from the server goes in as textContent.
"use strict";

(() => {
  const app = window.FlowSwitch;
  const config = document.getElementById("fs-notices-data");
  if (!app || !config) return;
  const { api, ApiError, fill } = app;
  const { api: endpoint, strings: text } = JSON.parse(config.textContent);

  const section = document.getElementById("fs-notices");
  const status = document.getElementById("fs-notices-status");
  const switchLabel = document.getElementById("fs-notices-switch");
  const enabledBox = document.getElementById("fs-notices-enabled");
  const reports = document.getElementById("fs-notice-reports");
  const buttonTemplate = document.getElementById("fs-notify-button");
  const dialog = document.getElementById("fs-notice-dialog");
  const form = document.getElementById("fs-notice-form");
  const title = document.getElementById("fs-notice-title");
  const hint = document.getElementById("fs-notice-hint");
  const alert = document.getElementById("fs-notice-alert");
  const saveButton = document.getElementById("fs-notice-save");

  let state = { available: false, enabled: false, audiences: {}, limit: 0 };
  /** the flow the dialog is for */
  let editing = null;

  const sending = () => state.available && state.enabled;
  const maySwitch = (flow) => flow.mine || app.data.isAdmin;

  function describe() {
    if (!state.available) status.textContent = text.noScope;
    else status.textContent = state.enabled ? text.on : text.offHere;
    // Administrators turn notices on or off; Bitrix24 checks that they are one when they do.
    switchLabel.hidden = !(state.available && app.data.isAdmin);
    enabledBox.checked = state.enabled;
  }

  function decorateRows() {
    for (const [id, row] of app.rows) {
      const flow = app.flows.get(id);
      if (!flow) continue;
      let button = row.querySelector(".fs-flow__notify");
      if (!button) {
        button = buttonTemplate.content.firstElementChild.cloneNode(true);
        button.addEventListener("click", () => openDialog(id, button));
        row.querySelector(".fs-flow__actions").append(button);
      }
      button.hidden = !(sending() && maySwitch(flow));
      button.setAttribute("aria-label", fill(text.button, { name: flow.name }));
    }
    app.fitWindow();
  }

  function showReports(sentences) {
    reports.replaceChildren(
      ...sentences.map((sentence) => {
        const item = document.createElement("li");
        item.className = "fs-notice-reports__item";
        item.textContent = sentence;
        return item;
      }),
    );
  }

  // The section is aria-busy from the template until its state has come.
  async function load() {
    try {
      state = await api("GET", endpoint);
      showReports(state.reports);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      status.textContent = error.message;
      app.fitWindow();
      return;
    } finally {
      section.removeAttribute("aria-busy");
    }
    describe();
    decorateRows();
  }

  // --- the dialog ----------------------------------------------------------------------------

  function openDialog(flowId, opener) {
    const flow = app.flows.get(flowId);
    editing = flow;
    title.textContent = fill(text.title, { name: flow.name });
    hint.textContent = fill(text.hint, { limit: state.limit });
    const current = state.audiences[String(flowId)] || "team";
    for (const radio of form.elements.namedItem("audience")) radio.checked = radio.value === current;
    alert.textContent = "";
    const initial = form.querySelector('input[name="audience"]:checked');
    app.openDialog(dialog, { opener, initial }).then(() => {
      editing = null;
    });
  }

  document.getElementById("fs-notice-close").addEventListener("click", () => dialog.close());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!editing) return;
    const flow = editing;
    const audience = form.elements.namedItem("audience").value;
    saveButton.disabled = true;
    try {
      await api("PUT", `${endpoint}/flows/${flow.id}`, { audience });
      if (audience === "team") delete state.audiences[String(flow.id)];
      else state.audiences[String(flow.id)] = audience;
      dialog.close();
      status.textContent = fill(text.saved, { name: flow.name });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      alert.textContent = error.message; // the dialog stays open with the choice
    } finally {
      saveButton.disabled = false;
    }
  });

  // --- on or off for the whole portal (administrators) -------------------------------------------

  enabledBox.addEventListener("change", async () => {
    const enabled = enabledBox.checked;
    try {
      await api("PUT", endpoint, { enabled });
      state.enabled = enabled;
      describe();
      status.textContent = enabled ? text.switchedOn : text.switchedOff;
      decorateRows();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      enabledBox.checked = state.enabled; // back to what is true
      status.textContent = error.message;
    }
  });

  document.addEventListener("fs:rendered", decorateRows);
  load();
})();
