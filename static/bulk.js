// Flow Switch: many flows at once. "Select <name>" boxes on the rows the user may switch,
// "Select all shown" (follows the search and filters), then "Pause selected" / "Resume selected"
// after a confirmation dialog; one request, the server's one-sentence summary, and each flow's
// state or Bitrix24's refusal under it. Builds on window.FlowSwitch (flows.js).
"use strict";

(() => {
  const fs = window.FlowSwitch;
  const { text } = fs;
  const list = document.getElementById("fs-list");
  const selectAll = document.getElementById("fs-select-all");
  const count = document.getElementById("fs-selected-count");
  const summary = document.getElementById("fs-bulk-summary");
  const buttons = [...document.querySelectorAll("#fs-pause-selected, #fs-resume-selected")];
  const dialog = document.getElementById("fs-bulk-dialog");
  const bar = document.getElementById("fs-bulk");
  let running = false;

  /** The boxes of the flows shown now that the user may switch. */
  const shownBoxes = () =>
    [...list.querySelectorAll(".fs-flow:not([hidden]) .fs-select__input:not([hidden])")];
  const selectedIds = () => shownBoxes().filter((box) => box.checked).map((box) => Number(box.dataset.id));

  // What is acted on is what is seen: a row the search or a filter hides is no longer selected.
  function sync() {
    for (const box of list.querySelectorAll(".fs-flow[hidden] .fs-select__input:checked")) box.checked = false;
    bar.hidden = !list.querySelector(".fs-select__input:not([hidden])"); // nothing this user may switch
    const boxes = shownBoxes();
    const chosen = boxes.filter((box) => box.checked).length;
    selectAll.checked = boxes.length > 0 && chosen === boxes.length;
    selectAll.indeterminate = chosen > 0 && chosen < boxes.length;
    selectAll.disabled = boxes.length === 0;
    count.textContent = fs.fill(text.selected, { count: chosen });
    // aria-disabled, not disabled: the buttons keep their place in the Tab order (and focus
    // after a bulk), and say why nothing happens.
    for (const button of buttons) button.setAttribute("aria-disabled", String(running || chosen === 0));
  }

  selectAll.addEventListener("change", () => {
    for (const box of shownBoxes()) box.checked = selectAll.checked;
    sync();
  });
  list.addEventListener("change", (event) => {
    if (event.target.classList.contains("fs-select__input")) sync();
  });
  list.addEventListener("fs:filtered", sync);

  // --- asking first ------------------------------------------------------------------

  /** Ask first; resolves true when confirmed. Focus goes back to ``opener`` either way. */
  async function confirmBulk(active, ids, opener) {
    const key = String(active);
    document.getElementById("fs-bulk-dialog-title").textContent = text.bulkTitle[key];
    document.getElementById("fs-bulk-dialog-text").textContent = fs.fill(text.bulkText, { count: ids.length });
    document.getElementById("fs-bulk-confirm").textContent = text.bulkConfirm[key];
    const initial = document.getElementById("fs-bulk-cancel"); // the safe default
    return (await fs.openDialog(dialog, { opener, initial })) === "confirm";
  }

  // --- switching -----------------------------------------------------------------------

  function show(result) {
    const flow = fs.flows.get(result.id);
    if (flow && typeof result.active === "boolean") flow.active = result.active; // absent: never read
    if (flow) fs.showState(result.id, flow.active);
    fs.showAlert(result.id, result.error ? result.message : "", result.bitrix24);
  }

  async function send(active, ids) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await fs.api("POST", fs.data.bulkApi, { ids, active });
      } catch (error) {
        if (!(error instanceof fs.ApiError)) throw error;
        // Busy or rate-limited as a whole: nothing ran, and a state is asked, not a toggle.
        if (!error.retryable || attempt >= fs.MAX_RETRIES) throw error;
        fs.explain(summary, error.message, error.body.bitrix24);
        await fs.sleep(error.retryAfter * 1000 * 2 ** attempt);
      }
    }
  }

  async function run(active, opener) {
    if (running) return;
    const ids = selectedIds();
    if (ids.length === 0) {
      summary.textContent = text.selectFirst;
      return;
    }
    if (!(await confirmBulk(active, ids, opener))) return;
    running = true;
    sync();
    summary.textContent = text.bulkWorking;
    for (const id of ids) fs.rows.get(id)?.setAttribute("aria-busy", "true");
    try {
      const answer = await send(active, ids);
      for (const result of answer.results) show(result);
      for (const box of shownBoxes()) box.checked = false;
      summary.textContent = answer.summary;
    } catch (error) {
      if (!(error instanceof fs.ApiError)) throw error;
      fs.explain(summary, error.message, error.body.bitrix24);
    } finally {
      for (const id of ids) fs.rows.get(id)?.removeAttribute("aria-busy");
      running = false;
      fs.applyFilter(); // an "On"/"Off" filter may hide a flow that changed
      fs.fitWindow();
    }
  }

  for (const button of buttons) {
    button.addEventListener("click", () => run(button.dataset.active === "true", button));
  }
  sync();
})();
