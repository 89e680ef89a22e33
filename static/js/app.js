// 政务协同办公: page glue. CSRF header for htmx and fetch, the mobile menu, the push connection.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  document.addEventListener("htmx:configRequest", function (evt) {
    evt.detail.headers["X-CSRFToken"] = csrf;
  });

  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest("[data-toggle]");
    if (btn) {
      var target = document.querySelector(btn.getAttribute("data-toggle"));
      if (target) btn.setAttribute("aria-expanded", String(target.classList.toggle("open")));
    }
  });

  var today = document.getElementById("today");
  if (today) {
    today.textContent = new Date().toLocaleDateString("zh-CN", { timeZone: "Asia/Shanghai", year: "numeric", month: "long", day: "numeric", weekday: "long" });
  }

  // Real-time push: the session cookie authenticates the connection. Modules listen with
  // window.officePush.on("todo", handler).
  var status = document.getElementById("push-status");
  if (status && window.io) {
    var socket = window.io({ transports: ["websocket", "polling"] });
    var setState = function (state, title) { status.setAttribute("data-state", state); status.title = title; };
    socket.on("connect", function () { setState("connected", "实时推送已连接"); });
    socket.on("disconnect", function () { setState("offline", "实时推送已断开，正在重连"); });
    socket.on("connect_error", function () { setState("offline", "实时推送连接失败，正在重试"); });
    window.officePush = socket;
  }
})();
