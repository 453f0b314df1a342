/* Sandbox stand-in for the legacy BX24 library (//api.bitrix24.com/api/v1/).
 * Talks to the portal page over postMessage with the JSSDK wire format:
 * frame -> portal "<command>:<paramsJSON>:<callbackKey>:<APP_SID>", portal -> frame "<callbackKey>:<JSON>".
 * The portal's origin and APP_SID come from window.name = "DOMAIN|PROTOCOL|APP_SID". */
(function (window) {
  "use strict";
  if (window.BX24) { return; }

  var frameName = (window.name || "").split("|");
  var DOMAIN = frameName[0] || "";
  var PROTOCOL = frameName[1] === "1" ? 1 : 0;
  var APP_SID = frameName[2] || "";
  var parentOrigin = (PROTOCOL ? "https" : "http") + "://" + DOMAIN;
  var callbacks = {};
  var initData = null;
  var initQueue = [];
  var initRequested = false;
  var auth = null;

  function callbackKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return Date.now().toString(16) + Math.random().toString(16).slice(2);
  }

  function send(command, params, callback) {
    var key = callbackKey();
    callbacks[key] = callback || function () {};
    var encoded = params === undefined ? "" : JSON.stringify(params);
    window.parent.postMessage([command, encoded, key, APP_SID].filter(Boolean).join(":"), parentOrigin);
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== parentOrigin || typeof event.data !== "string") { return; }
    var at = event.data.indexOf(":");
    var key = at < 0 ? event.data : event.data.slice(0, at);
    var handler = callbacks[key];
    if (!handler) { return; }
    delete callbacks[key];
    var value = null;
    if (at >= 0) {
      try { value = JSON.parse(event.data.slice(at + 1)); } catch (error) { value = event.data.slice(at + 1); }
    }
    handler(value);
  });

  function remember(data) {
    auth = {
      access_token: data.AUTH_ID,
      refresh_token: data.REFRESH_ID,
      expires_in: Date.now() + parseInt(data.AUTH_EXPIRES, 10) * 1000
    };
  }

  function scrollSize() {
    var body = document.body;
    return {
      scrollWidth: Math.max(document.documentElement.scrollWidth, body ? body.scrollWidth : 0),
      scrollHeight: body ? body.scrollHeight : document.documentElement.offsetHeight
    };
  }

  var BX24 = {
    init: function (callback) {
      if (initData) {
        if (callback) { callback(); }
        return;
      }
      if (callback) { initQueue.push(callback); }
      if (initRequested) { return; }
      initRequested = true;
      send("getInitData", undefined, function (data) {
        initData = data;
        remember(data);
        var queue = initQueue;
        initQueue = [];
        queue.forEach(function (queued) { queued(); });
      });
    },
    installFinish: function () { send("setInstallFinish"); },
    getAuth: function () {
      if (!auth || auth.expires_in <= Date.now()) { return false; }
      return {
        access_token: auth.access_token,
        refresh_token: auth.refresh_token,
        expires_in: auth.expires_in,
        domain: BX24.getDomain(),
        member_id: initData.MEMBER_ID
      };
    },
    refreshAuth: function (callback) {
      send("refreshAuth", {}, function (data) {
        remember(data);
        if (callback) { callback(BX24.getAuth()); }
      });
    },
    resizeWindow: function (width, height, callback) {
      send("resizeWindow", {width: width, height: height}, callback);
    },
    fitWindow: function (callback) {
      BX24.resizeWindow("100%", scrollSize().scrollHeight, callback);
    },
    getScrollSize: scrollSize,
    setTitle: function (title, callback) { send("setTitle", {title: String(title)}, callback); },
    reloadWindow: function () { send("reloadWindow"); },
    closeApplication: function (callback) { send("closeApplication", {}, callback); },
    placement: {
      info: function () {
        return {placement: initData ? initData.PLACEMENT : "DEFAULT", options: initData ? initData.PLACEMENT_OPTIONS : {}};
      }
    },
    isAdmin: function () { return !!(initData && initData.IS_ADMIN); },
    getLang: function () { return initData ? initData.LANG : undefined; },
    getDomain: function () { return DOMAIN.replace(/:(80|443)$/, ""); }
  };

  window.BX24 = BX24;
})(window);
