// Flow Switch: scheduled pause and resume on the flows page (plain ES2020, no build step).
// The server checks and formats everything (times in the user's zone and language); this
// script sends what the user typed and shows what the server says, always as textContent.
"use strict";

(() => {
  const app = window.FlowSwitch;
  const config = document.getElementById("fs-schedule-data");
  if (!app || !config) return;
  const { api, ApiError, fill } = app;
  const { api: endpoint, strings: text } = JSON.parse(config.textContent);
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";

  const section = document.getElementById("fs-scheduled");
  const list = document.getElementById("fs-scheduled-list");
  const itemTemplate = document.getElementById("fs-scheduled-item");
  const status = document.getElementById("fs-scheduled-status");
  const zoneLine = document.getElementById("fs-scheduled-zone");
  const dialog = document.getElementById("fs-schedule-dialog");
  const form = document.getElementById("fs-schedule-form");
  const title = document.getElementById("fs-schedule-title");
  const hint = document.getElementById("fs-schedule-hint");
  const pauseInput = document.getElementById("fs-pause-at");
  const resumeInput = document.getElementById("fs-resume-at");
  const alert = document.getElementById("fs-schedule-alert");
  const saveButton = document.getElementById("fs-schedule-save");

  let schedules = [];
  let zone = "";
  /** what the dialog is editing: the flow, the plan saved again (or null), the button to return to */
  let editing = null;

  // --- the list and the notes under each flow ----------------------------------------------

  // The section is aria-busy while its list loads (from the template on, for the first load).
  async function load() {
    section.setAttribute("aria-busy", "true");
    try {
      const result = await api("GET", `${endpoint}?tz=${encodeURIComponent(browserZone)}`);
      schedules = result.schedules;
      zone = result.time_zone;
      render();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      status.textContent = error.message;
      app.fitWindow();
    } finally {
      section.removeAttribute("aria-busy");
    }
  }

  function canSchedule(flow) {
    return flow.mine || app.data.isAdmin;
  }

  function decorateRows() {
    for (const [id, row] of app.rows) {
      const flow = app.flows.get(id);
      const button = row.querySelector(".fs-flow__schedule");
      if (!flow || !button) continue;
      button.hidden = !canSchedule(flow);
      button.setAttribute("aria-label", fill(text.schedule, { name: flow.name }));
      if (!button.dataset.bound) {
        button.dataset.bound = "1";
        button.addEventListener("click", () => openDialog(id, mine(id), button));
      }
      const pending = schedules.filter((s) => s.flow.id === id && s.status === "pending");
      row.querySelector(".fs-flow__planned").textContent = pending.map((s) => s.summary).join(" · ");
    }
  }

  function mine(flowId) {
    return schedules.find((s) => s.flow.id === flowId && s.can_edit) || null;
  }

  function renderItem(schedule) {
    const item = itemTemplate.content.firstElementChild.cloneNode(true);
    item.dataset.id = schedule.id;
    item.dataset.status = schedule.status;
    item.querySelector(".fs-scheduled__flow").textContent = schedule.flow.name;
    item.querySelector(".fs-scheduled__summary").textContent = schedule.summary;
    const note = item.querySelector(".fs-scheduled__note");
    note.textContent = schedule.note;
    note.hidden = !schedule.note;
    const names = { name: schedule.flow.name };
    const edit = item.querySelector(".fs-scheduled__edit");
    edit.hidden = !schedule.can_edit;
    edit.setAttribute("aria-label", fill(text.change, names));
    edit.addEventListener("click", () => openDialog(schedule.flow.id, schedule, edit));
    const cancel = item.querySelector(".fs-scheduled__cancel");
    const pending = schedule.status === "pending";
    cancel.hidden = !schedule.can_cancel;
    cancel.textContent = pending ? text.cancelText : text.dismissText;
    cancel.setAttribute("aria-label", fill(pending ? text.cancel : text.dismiss, names));
    cancel.addEventListener("click", () => cancelPlan(schedule));
    return item;
  }

  function render() {
    list.replaceChildren(...schedules.map(renderItem));
    zoneLine.textContent = zone ? fill(text.zone, { zone }) : "";
    status.textContent = schedules.length ? "" : text.nothing;
    decorateRows();
    app.fitWindow();
  }

  async function cancelPlan(schedule) {
    try {
      await api("DELETE", `${endpoint}/${schedule.id}`);
      await load();
      status.textContent = fill(text.cancelled, { name: schedule.flow.name });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      status.textContent = error.message;
    }
  }

  // --- the dialog ----------------------------------------------------------------------------

  function openDialog(flowId, schedule, opener) {
    const flow = app.flows.get(flowId);
    editing = { flowId, schedule, opener };
    title.textContent = fill(text.title, { name: flow ? flow.name : schedule.flow.name });
    hint.textContent = fill(text.hint, { zone: zone || browserZone || "UTC" });
    pauseInput.value = schedule?.pause?.local || "";
    resumeInput.value = schedule?.resume?.local || "";
    // A pause that already happened stays as it was; only the resume can change.
    pauseInput.disabled = Boolean(schedule?.pause && schedule.pause.state !== "pending");
    alert.textContent = "";
    // Modal: focus stays inside, Escape closes it, focus goes back to the opener (dialog.js).
    const initial = pauseInput.disabled ? resumeInput : pauseInput;
    app.openDialog(dialog, { opener, initial }).then(() => {
      editing = null;
    });
  }

  function closeDialog() {
    dialog.close();
  }

  document.getElementById("fs-schedule-close").addEventListener("click", closeDialog);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!editing) return;
    const body = {
      pause_at: pauseInput.disabled ? null : pauseInput.value || null,
      resume_at: resumeInput.value || null,
      time_zone: browserZone,
    };
    if (!body.pause_at && !body.resume_at && !pauseInput.disabled) {
      alert.textContent = text.empty;
      return;
    }
    saveButton.disabled = true;
    try {
      const { schedule } = editing.schedule
        ? await api("PUT", `${endpoint}/${editing.schedule.id}`, body)
        : await api("POST", endpoint, { ...body, flow_id: editing.flowId });
      closeDialog();
      await load();
      status.textContent = fill(text.saved, { summary: schedule.summary });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      alert.textContent = error.message; // the dialog stays open with what the user typed
    } finally {
      saveButton.disabled = false;
    }
  });

  document.addEventListener("fs:rendered", decorateRows);
  decorateRows();
  load();
})();
