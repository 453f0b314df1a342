// Flow Switch: the activity view. Pages of the log newest first (the server decides what this
// user may see), filters by flow, user (administrators) and date, "Show older" (the stream id
// of the last entry is the cursor) and "Download CSV". Portal text goes in via textContent only.
"use strict";

(() => {
  const fs = window.FlowSwitch;
  const { text } = fs;
  const section = document.getElementById("fs-activity");
  const form = document.getElementById("fs-activity-filters");
  const list = document.getElementById("fs-activity-list");
  const status = document.getElementById("fs-activity-status");
  const more = document.getElementById("fs-activity-more");
  const template = document.getElementById("fs-entry");
  const lang = document.documentElement.lang;
  const when = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  let cursor = null;
  let loaded = false;
  let shown = 0;

  /** The filters as the API wants them: ids, and the chosen days as epoch ms in the user's time zone. */
  function query() {
    const params = new URLSearchParams();
    for (const name of ["flow", "user"]) {
      const value = form.elements.namedItem(name).value;
      if (value) params.set(name, value);
    }
    const since = form.elements.namedItem("since").valueAsDate;
    const until = form.elements.namedItem("until").valueAsDate;
    // valueAsDate is midnight UTC of the day; the user means their own day.
    const local = (date, days) => new Date(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + days);
    if (since) params.set("since", String(local(since, 0).getTime()));
    if (until) params.set("until", String(local(until, 1).getTime() - 1));
    return params;
  }

  function fillOptions(select, items, keep) {
    const chosen = select.value;
    select.replaceChildren(select.options[0]);
    for (const item of items) {
      select.add(new Option(item.name || fs.fill(keep, { id: item.id }), String(item.id)));
    }
    select.value = [...select.options].some((option) => option.value === chosen) ? chosen : "";
  }

  function renderEntry(entry) {
    const row = template.content.firstElementChild.cloneNode(true);
    const time = row.querySelector(".fs-entry__time");
    time.dateTime = entry.at;
    time.textContent = when.format(new Date(entry.at));
    time.title = entry.at;
    row.querySelector(".fs-entry__who").textContent = entry.user.name || fs.fill(text.someone, entry.user);
    row.querySelector(".fs-entry__flow").textContent = entry.flow.name || fs.fill(text.someFlow, entry.flow);
    row.querySelector(".fs-entry__change").textContent = fs.fill(text.change, {
      from: entry.from ? text.on : text.off,
      to: entry.to ? text.on : text.off,
    });
    row.querySelector(".fs-entry__how").textContent = text.how[entry.how] || entry.how;
    const result = row.querySelector(".fs-entry__result");
    const outcome = text.result[entry.result] || entry.result;
    fs.explain(result, outcome, entry.answer); // the outcome, then Bitrix24's own words if it said any
    row.dataset.result = entry.result;
    return row;
  }

  async function load(older) {
    const params = query();
    if (older && cursor) params.set("before", cursor);
    if (!older) status.textContent = text.activityLoading;
    more.disabled = true;
    try {
      const page = await fs.api("GET", `${fs.data.activityApi}?${params}`);
      if (!older) {
        list.replaceChildren();
        shown = 0;
        document.getElementById("fs-activity-lead").textContent = page.admin ? text.activityAdmin : text.activityMine;
        document.getElementById("fs-activity-user-field").hidden = !page.admin;
        fillOptions(form.elements.namedItem("flow"), page.flows, text.someFlow);
        fillOptions(form.elements.namedItem("user"), page.people, text.someone);
      }
      list.append(...page.entries.map(renderEntry));
      shown += page.entries.length;
      cursor = page.next;
      more.hidden = !cursor;
      const filtered = [...params.keys()].some((key) => key !== "before");
      if (shown === 0 && !cursor) status.textContent = filtered ? text.noEntriesMatch : text.noEntries;
      else status.textContent = fs.fill(cursor ? text.olderMayMatch : text.entriesShown, { shown });
      loaded = true;
    } catch (error) {
      if (!(error instanceof fs.ApiError)) throw error;
      fs.explain(status, error.message, error.body.bitrix24);
    } finally {
      more.disabled = false;
      fs.fitWindow();
    }
  }

  async function download(button) {
    button.disabled = true;
    try {
      const response = await fetch(`${fs.data.activityCsv}?${query()}`, {
        headers: { [fs.data.sessionHeader]: fs.data.session },
        credentials: "omit",
        cache: "no-store",
      });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        throw new fs.ApiError(response.status, body, 2);
      }
      const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1];
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = name || "flow-switch-activity.csv";
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    } catch (error) {
      if (error instanceof fs.ApiError) fs.explain(status, error.message, error.body.bitrix24);
      else status.textContent = text.offline;
    } finally {
      button.disabled = false;
      button.focus();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load(false);
  });
  more.addEventListener("click", () => load(true));
  document.getElementById("fs-activity-csv").addEventListener("click", (event) => download(event.currentTarget));
  section.addEventListener("fs:view", () => {
    if (!loaded) load(false);
  });
  // Shown before this script ran (the page opened on #activity): load now.
  if (!section.hidden && !loaded) load(false);
})();
