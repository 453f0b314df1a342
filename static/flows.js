// Flow Switch: the flows page inside the portal iframe (plain ES2020, no build step).
// Everything from the portal goes into the page through textContent, never as HTML.
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("fs-data").textContent);
  const text = data.strings;
  const list = document.getElementById("fs-list");
  const rowTemplate = document.getElementById("fs-row");
  const status = document.getElementById("fs-status");
  const search = document.getElementById("fs-search");
  const MAX_RETRIES = 6;
  const POLL_MS = 3000;

  /** @type {Map<number, object>} flows by id, as the server last reported them */
  const flows = new Map(data.flows.map((flow) => [flow.id, flow]));
  /** @type {Map<number, HTMLElement>} rendered rows by flow id */
  const rows = new Map();

  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // The BX24 library may only talk to the portal once its init handshake is done.
  let bx24Ready = false;
  function fitWindow() {
    if (bx24Ready) window.BX24.fitWindow();
  }

  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      super((body && body.message) || text.offline);
      this.status = status;
      this.body = body || {};
      this.retryAfter = retryAfter;
    }
    get retryable() {
      return this.status === 503 || this.status === 409 || this.status === 0;
    }
  }

  // The portal's frame POST brings fresh tokens and a fresh session. Only a page that has
  // been open for a while asks for it, so a fault that outlives a reopen cannot loop.
  const REOPEN_AFTER_MS = 5000;

  function reopenThroughPortal() {
    if (!bx24Ready || typeof window.BX24.reloadWindow !== "function" || performance.now() < REOPEN_AFTER_MS) {
      return false;
    }
    window.BX24.reloadWindow();
    return true;
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json", [data.sessionHeader]: data.session };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, { error: "offline", message: text.offline }, 2);
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (!response.ok) {
      const signedOut = payload && (payload.error === "session_expired" || payload.error === "token_dead");
      if (response.status === 401 && signedOut && reopenThroughPortal()) {
        return new Promise(() => {}); // the portal is loading the page anew
      }
      if (response.status === 401 && payload && payload.error === "session_expired") {
        showStatus(text.sessionExpired);
      }
      throw new ApiError(response.status, payload, Number(response.headers.get("Retry-After")) || 2);
    }
    return payload;
  }

  // --- rendering ---------------------------------------------------------------

  function renderRow(flow) {
    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    const nameId = `fs-name-${flow.id}`;
    const alertId = `fs-alert-${flow.id}`;
    row.dataset.id = String(flow.id);
    const link = row.querySelector(".fs-flow__link");
    link.id = nameId;
    link.href = flow.url;
    link.textContent = flow.name;
    row.querySelector(".fs-flow__description").textContent = flow.description;
    row.querySelector(".fs-flow__description").hidden = !flow.description;
    row.querySelector(".fs-flow__owner").textContent = fill(text.owner, { name: flow.owner.name });
    row.querySelector(".fs-flow__efficiency").textContent = fill(text.efficiency, { value: flow.efficiency });
    const input = row.querySelector(".fs-switch__input");
    input.setAttribute("aria-labelledby", nameId);
    input.setAttribute("aria-describedby", alertId);
    input.addEventListener("change", () => requestState(flow.id, input.checked));
    row.querySelector(".fs-flow__alert").id = alertId;
    // Bitrix24 lets the flow's creator, its administrator and portal administrators switch it:
    // only those flows can be selected for "Pause selected" / "Resume selected".
    const select = row.querySelector(".fs-select__input");
    select.hidden = !(data.isAdmin || flow.mine);
    select.setAttribute("aria-label", fill(text.select, { name: flow.name }));
    select.dataset.id = String(flow.id);
    rows.set(flow.id, row);
    showState(flow.id, flow.active);
    return row;
  }

  function showState(id, active) {
    const row = rows.get(id);
    if (!row) return;
    row.querySelector(".fs-switch__input").checked = active;
    row.querySelector(".fs-switch__state").textContent = active ? text.on : text.off;
    row.classList.toggle("fs-flow--off", !active);
  }

  // The app's sentence, then Bitrix24's own words when it gave any (in the portal's language).
  function explain(element, message, bitrix24) {
    element.textContent = message || "";
    if (message && bitrix24) {
      const quote = document.createElement("span");
      quote.className = "fs-quote";
      quote.textContent = fill(text.bitrix24Says, { text: bitrix24 });
      element.append(" ", quote);
    }
  }

  function showAlert(id, message, bitrix24) {
    const row = rows.get(id);
    if (row) explain(row.querySelector(".fs-flow__alert"), message, bitrix24);
    fitWindow(); // a message changes the page's height
  }

  function showStatus(message) {
    status.textContent = message;
  }

  function matches(flow, query, filter) {
    if (filter === "on" && !flow.active) return false;
    if (filter === "off" && flow.active) return false;
    if (filter === "mine" && !flow.mine) return false;
    if (!query) return true;
    const haystack = `${flow.name} ${flow.description} ${flow.owner.name}`.toLocaleLowerCase();
    return haystack.includes(query);
  }

  function applyFilter() {
    const query = search.value.trim().toLocaleLowerCase();
    const filter = document.querySelector('input[name="fs-filter"]:checked').value;
    let shown = 0;
    for (const [id, row] of rows) {
      const visible = matches(flows.get(id), query, filter);
      row.hidden = !visible;
      if (visible) shown += 1;
    }
    if (data.discovering && flows.size === 0) showStatus(text.discovering);
    else if (flows.size === 0) showStatus(text.noFlows);
    else if (shown === 0) showStatus(query ? text.noMatch : text.noneShown[filter]);
    else showStatus(fill(text.shown, { shown, total: flows.size }));
    list.dispatchEvent(new CustomEvent("fs:filtered"));
    fitWindow();
  }

  function renderAll() {
    const byName = [...flows.values()].sort(
      (a, b) => a.name.localeCompare(b.name, document.documentElement.lang) || a.id - b.id,
    );
    const fresh = byName.map((flow) => rows.get(flow.id) || renderRow(flow));
    for (const [id, row] of rows) if (!flows.has(id)) (row.remove(), rows.delete(id));
    list.replaceChildren(...fresh);
    applyFilter();
    document.dispatchEvent(new CustomEvent("fs:rendered")); // static/schedules.js decorates the rows
  }

  // --- switching -----------------------------------------------------------------
  // A click states the wanted state. One request per flow is in flight at a time; a
  // newer wish waits for it, then goes out only if Bitrix24's answer differs from it.

  const wanted = new Map();
  const inFlight = new Set();

  function requestState(id, active) {
    wanted.set(id, active);
    showAlert(id, "");
    if (!inFlight.has(id)) sendState(id);
  }

  async function sendState(id) {
    inFlight.add(id);
    rows.get(id)?.setAttribute("aria-busy", "true");
    let attempt = 0;
    try {
      while (wanted.has(id)) {
        const active = wanted.get(id);
        try {
          const result = await api("PUT", `${data.api}/${id}`, { active });
          flows.get(id).active = result.active;
          if (wanted.get(id) === active) wanted.delete(id);
          showState(id, result.active);
          showAlert(id, "");
          attempt = 0;
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          if (typeof error.body.active === "boolean") {
            flows.get(id).active = error.body.active;
          }
          // Snap back to the true state (or the last known one) and say why.
          showState(id, flows.get(id).active);
          showAlert(id, error.message, error.body.bitrix24);
          if (error.retryable && attempt < MAX_RETRIES) {
            attempt += 1;
            await sleep(error.retryAfter * 1000 * 2 ** (attempt - 1));
            continue;
          }
          wanted.delete(id);
        }
      }
    } finally {
      inFlight.delete(id);
      rows.get(id)?.removeAttribute("aria-busy");
      applyFilter();
    }
  }

  // --- reloading the list ------------------------------------------------------------

  async function reload() {
    const result = await api("GET", data.api);
    flows.clear();
    for (const flow of result.flows) flows.set(flow.id, flow);
    data.discovering = result.discovering;
    renderAll();
    return result;
  }

  async function pollWhileDiscovering() {
    let failures = 0;
    while (data.discovering) {
      await sleep(POLL_MS);
      try {
        await reload();
        failures = 0;
      } catch (error) {
        failures += 1;
        if (!(error instanceof ApiError) || !error.retryable || failures > MAX_RETRIES) return;
      }
    }
  }

  async function retryInitialLoad() {
    for (let attempt = 1; attempt <= MAX_RETRIES; attempt += 1) {
      await sleep(2000 * 2 ** (attempt - 1));
      try {
        await reload();
        return;
      } catch (error) {
        if (!(error instanceof ApiError) || !error.retryable) return;
        showStatus(error.message);
      }
    }
  }

  // --- adding a flow and re-running discovery --------------------------------------------

  const addForm = document.getElementById("fs-add");
  const addAlert = document.getElementById("fs-add-alert");
  function showAddResult(kind, message, bitrix24) {
    explain(addAlert, message, bitrix24);
    addAlert.dataset.kind = kind;
    fitWindow();
  }

  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = addForm.elements.namedItem("ref");
    const ref = input.value.trim();
    if (!ref) {
      showAddResult("error", text.emptyRef); // never leave an older answer standing
      input.focus();
      return;
    }
    showAddResult("", "");
    try {
      const { flow } = await api("POST", data.api, { ref });
      const known = flows.has(flow.id);
      flows.set(flow.id, flow);
      rows.get(flow.id)?.remove();
      rows.delete(flow.id);
      renderAll();
      showAddResult("done", fill(known ? text.alreadyListed : text.added, { name: flow.name }));
      input.value = "";
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showAddResult("error", error.message, error.body.bitrix24);
    }
  });

  const rediscover = document.getElementById("fs-rediscover");
  rediscover?.addEventListener("click", async () => {
    try {
      await api("POST", data.discoveryApi, {});
      data.discovering = true;
      showStatus(text.discoveryStarted);
      await pollWhileDiscovering();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showStatus(error.message);
    }
  });

  search.addEventListener("input", applyFilter);
  for (const radio of document.querySelectorAll('input[name="fs-filter"]')) {
    radio.addEventListener("change", applyFilter);
  }

  // What the page's other scripts (bulk.js, activity.js, schedules.js) build on.
  window.FlowSwitch = {
    data, text, api, ApiError, fill, sleep, explain, fitWindow, flows, rows, showState, showAlert, applyFilter,
    MAX_RETRIES,
  };

  renderAll();
  if (data.loadError) {
    showStatus(data.loadError.message);
    if ([502, 503].includes(data.loadError.status)) retryInitialLoad(); // busy or unreachable: try again
  } else if (data.discovering) {
    pollWhileDiscovering();
  }
  // Only inside the portal's frame: opened on its own (after connecting outside the portal)
  // the page has no portal to talk to, and the library would post to nowhere.
  if (window.parent !== window && window.BX24 && typeof window.BX24.init === "function") {
    window.BX24.init(() => {
      bx24Ready = typeof window.BX24.fitWindow === "function";
      fitWindow();
    });
  }
})();
