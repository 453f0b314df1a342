/* The portal's notification panel: re-read it every second, so a notice shows up without a reload. */
(function () {
  "use strict";
  var panel = document.getElementById("notifications");
  var last = panel.innerHTML;
  window.setInterval(function () {
    fetch(panel.getAttribute("data-source"), {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.text() : last; })
      .then(function (html) {
        if (html !== last) {
          panel.innerHTML = html;  // server-rendered: every portal string in it is escaped
          last = html;
        }
      })
      .catch(function () { /* the next tick tries again */ });
  }, 1000);
})();
