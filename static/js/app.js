// 政务协同办公: page glue. CSRF header for htmx and fetch, the mobile menu, the push connection,
// the header's 待办 badge and 🔔 bell, the live 待办 list and the 交办 person picker.
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

  // Forms marked data-submit-once: a second click while the first submit is on its way does
  // nothing (the server also ignores a repeated request_key).
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!form.hasAttribute || !form.hasAttribute("data-submit-once")) return;
    if (form.getAttribute("data-submitting")) { evt.preventDefault(); return; }
    form.setAttribute("data-submitting", "1");
    Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (b) { b.disabled = true; });
  });

  // ------------------------------------------------------------------ helpers

  function api(method, url, body) {
    var opts = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      opts.headers["X-CSRFToken"] = csrf;
      if (body !== undefined) {
        opts.headers["Content-Type"] = "application/json";
        opts.body = JSON.stringify(body);
      }
    }
    return fetch(url, opts).then(function (resp) {
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      return resp.json();
    });
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // "2026-11-23 18:31" in Beijing time, like the server's localtime filter.
  var fmtParts = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23"
  });
  function beijing(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    var p = {};
    fmtParts.formatToParts(d).forEach(function (part) { p[part.type] = part.value; });
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
  }

  // ------------------------------------------------------------------ counts (待办 / 待阅)

  // Every element with data-count-of="pending|to_read" shows that number: the header badge,
  // the tabs of the 待办 page, the home page card.
  function countEls(key) { return document.querySelectorAll('[data-count-of="' + key + '"]'); }
  function setCount(key, value) {
    value = Math.max(0, value | 0);
    Array.prototype.forEach.call(countEls(key), function (node) { node.textContent = String(value); });
    if (key === "pending") {
      var badge = document.getElementById("todo-badge");
      if (badge) {
        badge.setAttribute("data-count", String(value));
        badge.title = value ? "待办事项：" + value + " 件" : "待办事项";
      }
    }
  }
  function getCount(key) {
    var nodes = countEls(key);
    return nodes.length ? parseInt(nodes[0].textContent, 10) || 0 : 0;
  }
  function adjustCount(key, delta) {
    if (countEls(key).length) setCount(key, getCount(key) + delta);
  }
  function refreshCounts() {
    return api("GET", "/api/v1/todos/counts").then(function (c) {
      setCount("pending", c.pending);
      setCount("to_read", c.to_read);
    }).catch(function () {});
  }

  // ------------------------------------------------------------------ the live 待办 list

  var todoTable = document.getElementById("todo-list");
  var rowTemplate = document.getElementById("todo-row-template");
  var URGENCY_RANK = { very_urgent: 2, urgent: 1, normal: 0 };
  var kindLabels = {};
  if (todoTable) {
    try { kindLabels = JSON.parse(todoTable.getAttribute("data-kind-labels") || "{}"); } catch (e) { kindLabels = {}; }
  }

  function fillTodoRow(tr, t) {
    var due = t.due_at ? new Date(t.due_at) : null;
    var overdue = !!(due && due.getTime() < Date.now());
    tr.setAttribute("data-id", String(t.id));
    tr.setAttribute("data-category", t.category);
    tr.setAttribute("data-kind", t.kind);
    tr.setAttribute("data-urgency", t.urgency);
    tr.setAttribute("data-due", t.due_at || "");
    tr.setAttribute("data-created", t.created_at || "");
    tr.classList.toggle("overdue", overdue);
    var f = function (name) { return tr.querySelector('[data-f="' + name + '"]'); };
    var urg = f("urgency");
    urg.className = "urg urg-" + t.urgency;
    urg.textContent = t.urgency_label;
    var title = f("title");
    title.textContent = t.title;
    title.setAttribute("href", (t.source && t.source.url) || "/todos/" + t.id);
    f("kind").textContent = kindLabels[t.kind] || t.kind;
    f("acting").hidden = !t.acting_for;
    f("acting-name").textContent = t.acting_for ? t.acting_for.name : "";
    f("from").textContent = t.sender ? t.sender.name : "—";
    f("due").textContent = t.due_at ? beijing(t.due_at) : "不限";
    f("overdue").hidden = !overdue;
    f("created").textContent = beijing(t.created_at);
    return tr;
  }

  function newTodoRow(t) {
    var frag = rowTemplate.content.cloneNode(true);
    return fillTodoRow(frag.querySelector("tr"), t);
  }

  // The list's order (services._ordered): urgency high first, then due time (none last),
  // then received time, then id.
  function sortKey(node) {
    var due = node.getAttribute("data-due");
    return {
      urgency: URGENCY_RANK[node.getAttribute("data-urgency")] || 0,
      due: due ? Date.parse(due) : Infinity,
      created: Date.parse(node.getAttribute("data-created")) || 0,
      id: parseInt(node.getAttribute("data-id"), 10) || 0
    };
  }
  function before(a, b) {
    if (a.urgency !== b.urgency) return a.urgency > b.urgency;
    if (a.due !== b.due) return a.due < b.due;
    if (a.created !== b.created) return a.created < b.created;
    return a.id < b.id;
  }

  function todoRows() {
    return Array.prototype.slice.call(todoTable.querySelectorAll("tbody tr.todo-row"));
  }
  function syncEmptyRow() {
    var empty = todoTable.querySelector("tr.empty-row");
    if (empty) empty.hidden = todoRows().length > 0;
  }

  function listShows(t) {
    if (!todoTable || !rowTemplate) return false;
    if (todoTable.getAttribute("data-live-category") !== t.category) return false;
    var kind = todoTable.getAttribute("data-kind");
    return !kind || kind === t.kind;
  }

  function insertTodo(t) {
    if (!listShows(t) || todoTable.querySelector('tr.todo-row[data-id="' + t.id + '"]')) return;
    var row = newTodoRow(t);
    var key = sortKey(row);
    var rows = todoRows();
    var page = parseInt(todoTable.getAttribute("data-page"), 10) || 1;
    var pages = parseInt(todoTable.getAttribute("data-pages"), 10) || 1;
    var next = null;
    for (var i = 0; i < rows.length; i++) {
      if (before(key, sortKey(rows[i]))) { next = rows[i]; break; }
    }
    if (next === rows[0] && rows.length && page > 1) return; // belongs on an earlier page
    if (!next && page < pages) return; // belongs on a later page
    var tbody = todoTable.tBodies[0];
    tbody.insertBefore(row, next || tbody.querySelector("tr.empty-row"));
    row.classList.add("is-new");
    setTimeout(function () { row.classList.remove("is-new"); }, 4000);
    syncEmptyRow();
  }

  function removeTodo(id) {
    if (!todoTable) return;
    var row = todoTable.querySelector('tr.todo-row[data-id="' + id + '"]');
    if (!row) return;
    row.classList.add("is-gone");
    setTimeout(function () { if (row.parentNode) row.parentNode.removeChild(row); syncEmptyRow(); }, 300);
  }

  // After a reconnect: what was missed while offline is not replayed, so reload the page's
  // rows from the API (same query the page ran).
  function reloadTodoList() {
    if (!todoTable || !rowTemplate) return;
    var params = new URLSearchParams({
      status: "pending",
      category: todoTable.getAttribute("data-live-category"),
      page: todoTable.getAttribute("data-page") || "1",
      per_page: todoTable.getAttribute("data-per-page") || "20"
    });
    var kind = todoTable.getAttribute("data-kind");
    if (kind) params.set("kind", kind);
    api("GET", "/api/v1/todos?" + params.toString()).then(function (body) {
      todoRows().forEach(function (row) { row.parentNode.removeChild(row); });
      var tbody = todoTable.tBodies[0];
      var empty = tbody.querySelector("tr.empty-row");
      body.items.forEach(function (t) { tbody.insertBefore(newTodoRow(t), empty); });
      todoTable.setAttribute("data-pages", String(Math.max(1, Math.ceil(body.total / body.per_page))));
      syncEmptyRow();
    }).catch(function () {});
  }

  function onTodoEvent(msg) {
    var t = msg && msg.todo;
    if (!t) return;
    var key = t.category === "read" ? "to_read" : "pending";
    if (msg.action === "created") {
      adjustCount(key, 1);
      insertTodo(t);
    } else if (msg.action === "done" || msg.action === "cancelled") {
      adjustCount(key, -1);
      removeTodo(t.id);
    }
  }

  // ------------------------------------------------------------------ the 🔔 bell

  var bell = document.getElementById("bell");
  var bellPanel = document.getElementById("bell-panel");
  var bellList = document.getElementById("bell-list");
  var initialLastId = bell ? parseInt(bell.getAttribute("data-last-id"), 10) || 0 : 0;
  var lastId = initialLastId;
  var seen = {};
  var bellLoaded = false;

  function setUnread(n) {
    if (!bell) return;
    n = Math.max(0, n | 0);
    bell.setAttribute("data-unread", String(n));
    bell.querySelector(".count").textContent = n ? (n > 99 ? "99+" : String(n)) : "";
    bell.setAttribute("aria-label", n ? "通知，" + n + " 条未读" : "通知");
    bell.title = n ? n + " 条未读通知" : "通知";
  }
  function getUnread() { return bell ? parseInt(bell.getAttribute("data-unread"), 10) || 0 : 0; }

  function markRead(id) {
    return api("POST", "/api/v1/notifications/" + id + "/read").catch(function () {});
  }

  function notificationItem(n) {
    var li = el("li", "notif" + (n.read ? "" : " unread"));
    li.setAttribute("data-notification-id", String(n.id));
    var title = n.url ? el("a", "notif-title", n.title) : el("div", "notif-title", n.title);
    if (n.url) {
      title.href = n.url;
      title.setAttribute("data-notification-id", String(n.id));
      if (!n.read) title.setAttribute("data-unread", "1");
    }
    li.appendChild(title);
    if (n.body) li.appendChild(el("div", "notif-body", n.body));
    li.appendChild(el("div", "notif-time muted", beijing(n.created_at)));
    return li;
  }

  function renderBell(items) {
    bellList.textContent = "";
    if (!items.length) { bellList.appendChild(el("li", "muted empty", "暂无通知")); return; }
    items.forEach(function (n) { bellList.appendChild(notificationItem(n)); });
  }

  function loadBell() {
    return api("GET", "/api/v1/notifications?per_page=8").then(function (body) {
      bellLoaded = true;
      renderBell(body.items);
      body.items.forEach(function (n) { seen[n.id] = true; if (n.id > lastId) lastId = n.id; });
      setUnread(body.unread);
    }).catch(function () {
      bellList.textContent = "";
      bellList.appendChild(el("li", "muted", "通知加载失败，请稍后重试"));
    });
  }

  function openBell(open) {
    if (!bell || !bellPanel) return;
    bellPanel.hidden = !open;
    bell.setAttribute("aria-expanded", String(open));
    if (open) loadBell();
  }

  function prependToBell(n) {
    if (!bellLoaded || !bellList) return;
    var empty = bellList.querySelector("li.empty");
    if (empty) bellList.removeChild(empty);
    bellList.insertBefore(notificationItem(n), bellList.firstChild);
    while (bellList.children.length > 8) bellList.removeChild(bellList.lastChild);
  }

  function toast(n) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var node = el("div", "toast toast-" + (n.kind || "info"));
    node.setAttribute("role", "status");
    var title = n.url ? el("a", "toast-title", n.title) : el("strong", "toast-title", n.title);
    if (n.url) { title.href = n.url; title.setAttribute("data-notification-id", String(n.id)); title.setAttribute("data-unread", "1"); }
    node.appendChild(title);
    if (n.body) node.appendChild(el("div", "toast-body", n.body));
    var close = el("button", "toast-close", "×");
    close.type = "button";
    close.setAttribute("aria-label", "关闭");
    node.appendChild(close);
    box.appendChild(node);
    while (box.children.length > 3) box.removeChild(box.firstChild);
    var remove = function () { if (node.parentNode) node.parentNode.removeChild(node); };
    close.addEventListener("click", remove);
    setTimeout(remove, 6000);
  }

  // A notification heard live or fetched on catch-up: counted once, whichever way it came.
  function applyNotification(n, withToast) {
    if (!n || typeof n.id !== "number") return false;
    if (n.id <= initialLastId || seen[n.id]) return false;
    seen[n.id] = true;
    if (n.id > lastId) lastId = n.id;
    if (bell) bell.setAttribute("data-last-id", String(lastId));
    if (!n.read) setUnread(getUnread() + 1);
    prependToBell(n);
    if (withToast) toast(n);
    return true;
  }

  // Everything after the last id seen, oldest first, page by page; the server's unread
  // count then replaces ours.
  function catchUp(rounds) {
    if (!bell) return Promise.resolve();
    return api("GET", "/api/v1/notifications?per_page=100&after_id=" + lastId).then(function (body) {
      var fresh = body.items.filter(function (n) { return applyNotification(n, false); });
      if (fresh.length && fresh.length <= 3) fresh.forEach(toast);
      setUnread(body.unread);
      if (body.items.length === body.per_page && (rounds || 0) < 5) return catchUp((rounds || 0) + 1);
    }).catch(function () {});
  }

  if (bell) {
    bell.addEventListener("click", function (evt) {
      evt.stopPropagation();
      openBell(bellPanel.hidden);
    });
    document.addEventListener("click", function (evt) {
      if (bellPanel && !bellPanel.hidden && !evt.target.closest(".bell-wrap")) openBell(false);
    });
    document.addEventListener("keydown", function (evt) {
      if (evt.key === "Escape" && bellPanel && !bellPanel.hidden) { openBell(false); bell.focus(); }
    });
    var readAll = document.getElementById("bell-read-all");
    if (readAll) {
      readAll.addEventListener("click", function () {
        api("POST", "/api/v1/notifications/read-all").then(function (body) {
          setUnread(body.unread || 0);
          Array.prototype.forEach.call(bellList.querySelectorAll(".unread"), function (li) { li.classList.remove("unread"); });
          Array.prototype.forEach.call(document.querySelectorAll("a[data-unread]"), function (a) { a.removeAttribute("data-unread"); });
        }).catch(function () {});
      });
    }
  }

  // Following a notification's link marks it read (keepalive: the request outlives the page).
  document.addEventListener("click", function (evt) {
    var link = evt.target.closest("a[data-notification-id]");
    if (!link) return;
    var item = link.closest(".notif");
    var unread = link.hasAttribute("data-unread") || (item && item.classList.contains("unread"));
    if (!unread) return;
    link.removeAttribute("data-unread");
    if (item) item.classList.remove("unread");
    setUnread(getUnread() - 1);
    fetch("/api/v1/notifications/" + link.getAttribute("data-notification-id") + "/read", {
      method: "POST", keepalive: true, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" }
    }).catch(function () {});
  });

  // ------------------------------------------------------------------ the 交办 person picker

  Array.prototype.forEach.call(document.querySelectorAll("[data-picker]"), function (picker) {
    var input = picker.querySelector("[data-picker-input]");
    var value = picker.querySelector("[data-picker-value]");
    var results = picker.querySelector("[data-picker-results]");
    var picked = picker.querySelector("[data-picker-picked]");
    var pickedName = picker.querySelector("[data-picker-name]");
    var timer = null;
    var seq = 0;

    function choose(id, name) {
      value.value = String(id);
      pickedName.textContent = name;
      picked.hidden = false;
      input.hidden = true;
      results.hidden = true;
      results.textContent = "";
    }
    function search() {
      var q = input.value.trim();
      var mine = ++seq;
      if (!q) { results.hidden = true; results.textContent = ""; return; }
      api("GET", "/api/v1/users?per_page=8&q=" + encodeURIComponent(q)).then(function (body) {
        if (mine !== seq) return; // a newer search is on its way
        results.textContent = "";
        if (!body.items.length) {
          results.appendChild(el("li", "muted empty", "没有找到匹配的人员"));
        }
        body.items.forEach(function (u) {
          var li = el("li");
          var btn = el("button", "choice");
          btn.type = "button";
          btn.setAttribute("data-user-id", String(u.id));
          btn.setAttribute("data-user-name", u.name);
          btn.appendChild(el("strong", "", u.name));
          var where = (u.posts || []).map(function (p) { return (p.unit ? p.unit.name : "") + " · " + p.title; }).join("；");
          if (where) btn.appendChild(el("span", "muted", where));
          li.appendChild(btn);
          results.appendChild(li);
        });
        results.hidden = false;
      }).catch(function () {});
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 250);
    });
    input.addEventListener("keydown", function (evt) {
      if (evt.key === "Enter") { // Enter picks the first match instead of submitting
        evt.preventDefault();
        var first = results.querySelector("button.choice");
        if (first) choose(first.getAttribute("data-user-id"), first.getAttribute("data-user-name"));
      }
    });
    results.addEventListener("click", function (evt) {
      var btn = evt.target.closest("button.choice");
      if (btn) choose(btn.getAttribute("data-user-id"), btn.getAttribute("data-user-name"));
    });
    picker.querySelector("[data-picker-clear]").addEventListener("click", function () {
      value.value = "";
      picked.hidden = true;
      input.hidden = false;
      input.value = "";
      input.focus();
    });
  });

  // ------------------------------------------------------------------ real-time push

  // The session cookie authenticates the connection. Modules listen with
  // window.officePush.on("todo", handler).
  var status = document.getElementById("push-status");
  if (status && window.io) {
    var socket = window.io({ transports: ["websocket", "polling"] });
    var setState = function (state, title) { status.setAttribute("data-state", state); status.title = title; };
    var dropped = false;
    socket.on("connect", function () {
      setState("connected", "实时推送已连接");
      // Catch up on what was pushed while not connected (between rendering and connecting,
      // or while offline): notifications resume from the last id; after a drop the counts
      // and the list are reloaded too, since to-do events are not replayed.
      catchUp(0);
      if (dropped) {
        refreshCounts();
        reloadTodoList();
      }
    });
    socket.on("disconnect", function () { dropped = true; setState("offline", "实时推送已断开，正在重连"); });
    socket.on("connect_error", function () { setState("offline", "实时推送连接失败，正在重试"); });
    socket.on("todo", onTodoEvent);
    socket.on("notification", function (n) { applyNotification(n, true); });
    window.officePush = socket;
  }
})();
