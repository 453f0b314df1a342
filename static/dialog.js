// Flow Switch: modal dialogs that keep focus and give it back. A <dialog> opened with
// showModal() makes the rest of the frame inert, but Tab can still leave the frame for the
// portal around it; this keeps Tab and Shift+Tab cycling inside the dialog, closes it on
// Escape (the browser's own "cancel"), and returns focus to the control that opened it.
// Use: FlowSwitch.openDialog(dialog, { opener, initial }) → Promise of dialog.returnValue.
"use strict";

(() => {
  const FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), "
    + "textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

  function keepTab(dialog, event) {
    if (event.key !== "Tab") return;
    const stops = [...dialog.querySelectorAll(FOCUSABLE)].filter((el) => !el.closest("[hidden]"));
    if (stops.length === 0) return;
    const first = stops[0];
    const last = stops[stops.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  function openDialog(dialog, { opener, initial } = {}) {
    const onKey = (event) => keepTab(dialog, event);
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => {
          dialog.removeEventListener("keydown", onKey);
          opener?.focus();
          resolve(dialog.returnValue);
        },
        { once: true },
      );
      dialog.addEventListener("keydown", onKey);
      dialog.showModal();
      // Not "autofocus": browsers ignore it in a cross-origin frame.
      (initial || dialog.querySelector(FOCUSABLE))?.focus();
      window.FlowSwitch.fitWindow();
    });
  }

  window.FlowSwitch.openDialog = openDialog;
})();
