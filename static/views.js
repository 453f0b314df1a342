// Flow Switch: the page's sections ("Flows", "Activity"), one shown at a time, chosen by the
// links in the header (the address's #fragment, so the browser's Back works inside the frame).
// Tells the others with a "fs:view" event on the section shown.
"use strict";

(() => {
  const links = [...document.querySelectorAll(".fs-views__link")];
  const sections = links.map((link) => document.getElementById(link.dataset.view));

  function show() {
    const wanted = links.find((link) => link.hash === window.location.hash) || links[0];
    for (const [index, link] of links.entries()) {
      const current = link === wanted;
      sections[index].hidden = !current;
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const section = document.getElementById(wanted.dataset.view);
    section.dispatchEvent(new CustomEvent("fs:view"));
    window.FlowSwitch.fitWindow();
  }

  window.addEventListener("hashchange", show);
  show();
})();
