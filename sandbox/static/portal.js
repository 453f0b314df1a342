/* The portal side of the BX24 bridge (what /bitrix/js/rest/applayout.js does on a real portal).
 * Frame -> portal: "<command>:<paramsJSON>:<callbackKey>:<APP_SID>" (empty parts dropped).
 * Portal -> frame: "<callbackKey>:<JSON>", sent to the app's origin only. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("frame-config").textContent);
  var frame = document.getElementById("app-frame");
  var form = document.getElementById("app-form");
  var sid = config.sid;
  var init = config.init;  // getInitData's answer (§3.3)

  function appOrigin() {
    return new URL(form.action, window.location.href).origin;
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok) { throw new Error(path + " answered " + response.status); }
      return response.json();
    });
  }

  function reply(callback, value) {
    if (callback) {
      frame.contentWindow.postMessage(callback + ":" + JSON.stringify(value === undefined ? null : value), appOrigin());
    }
  }

  function option(scope) {
    return function (params, callback) {
      var options = {};
      options[params.name] = params.value;
      post("/_sandbox/option", {sid: sid, scope: scope, options: options}).then(function () {
        (scope === "app" ? init.APP_OPTIONS : init.USER_OPTIONS)[params.name] = params.value;
        reply(callback, true);
      });
    };
  }

  var handlers = {
    getInitData: function (params, callback) { reply(callback, init); },
    refreshAuth: function (params, callback) {
      post("/_sandbox/refresh-auth", {sid: sid}).then(function (auth) {
        init.AUTH_ID = auth.AUTH_ID;
        init.REFRESH_ID = auth.REFRESH_ID;
        init.AUTH_EXPIRES = auth.AUTH_EXPIRES;
        reply(callback, auth);
      });
    },
    resizeWindow: function (params, callback) {
      var height = parseInt(params.height, 10);
      if (height > 0) {
        frame.style.height = height + "px";
        frame.setAttribute("data-fit-height", String(height));
      }
      reply(callback, {width: params.width, height: height});
    },
    setTitle: function (params, callback) {
      document.title = params.title;
      reply(callback, true);
    },
    setScroll: function (params, callback) {
      window.scrollTo(0, parseInt(params.scroll, 10) || 0);
      reply(callback, true);
    },
    setInstall: function (params, callback) { reply(callback, true); },
    // "The page will reload and the application will launch": a new APP_SID and fresh tokens.
    setInstallFinish: function () {
      post("/_sandbox/install-finish", {sid: sid}).then(function () { window.location.reload(); });
    },
    reloadWindow: function () { window.location.reload(); },
    closeApplication: function (params, callback) { reply(callback, true); },
    setAppOption: option("app"),
    setUserOption: option("user")
  };

  window.addEventListener("message", function (event) {
    if (event.source !== frame.contentWindow || typeof event.data !== "string") { return; }
    var parts = event.data.split(":");
    if (parts.length < 2 || parts[parts.length - 1] !== sid) { return; }
    var command = parts[0];
    var callback = parts.length > 2 ? parts[parts.length - 2] : null;
    var raw = parts.length > 3 ? parts.slice(1, -2).join(":") : "";
    var params = {};
    if (raw) {
      try { params = JSON.parse(raw); } catch (error) { params = raw; }
    }
    document.body.setAttribute("data-last-command", command);
    if (handlers.hasOwnProperty(command)) { handlers[command](params, callback); }
  });

  form.submit();
})();
