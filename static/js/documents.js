// 公文 pages: small enhancements over forms that work without JavaScript.
// - forms marked data-once submit once (the pressed button's formaction still applies);
// - buttons with data-confirm ask first, data-needs-opinion require the opinion text;
// - checklists (主送、抄送、签发人、加签、传阅) get a filter box and a summary of what is picked;
// - person selects get a filter box that also searches the directory (/api/v1/users?q=);
// - 行文方向 = 上行文 marks 签发人 as required.
(function () {
  "use strict";

  function each(nodes, fn) { Array.prototype.forEach.call(nodes, fn); }
  function norm(s) { return (s || "").toLowerCase().replace(/\s+/g, ""); }

  // ------------------------------------------------------------------ submit once, confirm

  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest("button[data-confirm], button[data-needs-opinion]");
    if (!btn) return;
    var need = btn.getAttribute("data-needs-opinion");
    if (need && btn.form) {
      var opinion = btn.form.querySelector("[name=opinion]");
      if (opinion && !opinion.value.trim()) {
        evt.preventDefault();
        opinion.setCustomValidity(need);
        opinion.reportValidity();
        opinion.addEventListener("input", function clear() {
          opinion.setCustomValidity("");
          opinion.removeEventListener("input", clear);
        });
        return;
      }
    }
    var question = btn.getAttribute("data-confirm");
    if (question && !window.confirm(question)) evt.preventDefault();
  });

  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!form.hasAttribute || !form.hasAttribute("data-once")) return;
    if (form.getAttribute("data-submitting")) { evt.preventDefault(); return; }
    form.setAttribute("data-submitting", "1");
    // Disable after the browser has collected the form (a disabled submitter would be dropped).
    window.setTimeout(function () {
      each(form.querySelectorAll("button[type=submit], button:not([type])"), function (b) { b.disabled = true; });
    }, 0);
  });
  // Back/forward cache: a restored page must be usable again.
  window.addEventListener("pageshow", function () {
    each(document.querySelectorAll("form[data-submitting]"), function (form) {
      form.removeAttribute("data-submitting");
      each(form.querySelectorAll("button"), function (b) { b.disabled = false; });
    });
  });

  // ------------------------------------------------------------------ checklists

  each(document.querySelectorAll("[data-checklist]"), function (box) {
    var tools = box.querySelector("[data-checklist-tools]");
    var filter = box.querySelector("[data-checklist-filter]");
    var count = box.querySelector("[data-checklist-count]");
    var picked = box.querySelector("[data-checklist-picked]");
    var rows = box.querySelectorAll(".check-row");
    if (tools && rows.length > 8) tools.hidden = false;

    function label(row) {
      var span = row.querySelector("span");
      return span ? span.textContent.trim() : row.textContent.trim();
    }

    function summarise() {
      var chosen = [];
      each(rows, function (row) {
        var input = row.querySelector("input");
        if (input && input.checked) chosen.push({ row: row, input: input });
      });
      if (count) count.textContent = chosen.length ? "已选 " + chosen.length : "";
      if (!picked) return;
      picked.textContent = "";
      picked.hidden = chosen.length === 0;
      chosen.forEach(function (c) {
        var chip = document.createElement("span");
        chip.className = "chip";
        chip.appendChild(document.createTextNode(label(c.row)));
        var x = document.createElement("button");
        x.type = "button";
        x.setAttribute("aria-label", "移除 " + label(c.row));
        x.textContent = "×";
        x.addEventListener("click", function () { c.input.checked = false; summarise(); });
        chip.appendChild(x);
        picked.appendChild(chip);
      });
    }

    box.addEventListener("change", summarise);
    summarise();

    if (filter) {
      filter.addEventListener("input", function () {
        var q = norm(filter.value);
        each(rows, function (row) {
          var pinyin = (row.getAttribute("data-pinyin") || "").toLowerCase().split(/\s+/);
          row.hidden = q !== "" && norm(row.getAttribute("data-text")).indexOf(q) === -1 &&
            !pinyin.some(function (p) { return p && p.indexOf(q) === 0; });
        });
        each(box.querySelectorAll("[data-group]"), function (group) {
          group.hidden = !group.querySelector(".check-row:not([hidden])");
        });
      });
      filter.addEventListener("keydown", function (evt) {
        if (evt.key === "Enter") evt.preventDefault(); // never submit the whole form from here
      });
    }
  });

  // ------------------------------------------------------------------ person selects

  var searchTimer = null;
  each(document.querySelectorAll("[data-person-select]"), function (wrap) {
    var filter = wrap.querySelector("[data-person-filter]");
    var select = wrap.querySelector("select");
    if (!filter || !select) return;
    filter.hidden = false;
    var found = null; // optgroup of directory search results

    function apply(q) {
      var visible = [];
      each(select.options, function (opt) {
        if (!opt.value) return;
        var text = norm(opt.textContent + " " + (opt.parentNode.label || ""));
        var pinyin = (opt.getAttribute("data-pinyin") || "").toLowerCase().split(/\s+/);
        var show = q === "" || text.indexOf(q) !== -1 ||
          pinyin.some(function (p) { return p && p.indexOf(q) === 0; });
        opt.hidden = !show;
        if (show) visible.push(opt);
      });
      each(select.querySelectorAll("optgroup"), function (group) {
        group.hidden = !group.querySelector("option:not([hidden])");
      });
      if (q && visible.length === 1) select.value = visible[0].value;
      return visible.length;
    }

    function search(q) {
      fetch("/api/v1/users?per_page=20&q=" + encodeURIComponent(q), {
        headers: { Accept: "application/json" }, credentials: "same-origin"
      }).then(function (resp) { return resp.ok ? resp.json() : { items: [] }; }).then(function (data) {
        if (norm(filter.value) !== q) return;
        if (!found) {
          found = document.createElement("optgroup");
          found.label = "通讯录搜索结果";
          select.appendChild(found);
        }
        var have = {};
        each(select.options, function (opt) { have[opt.value] = true; });
        (data.items || []).forEach(function (u) {
          if (have[String(u.id)]) return;
          var opt = document.createElement("option");
          opt.value = String(u.id);
          var post = (u.posts && u.posts[0]) || {};
          opt.textContent = u.name + "（" + ((u.unit && u.unit.name) || "") + (post.title ? " " + post.title : "") + "）";
          found.appendChild(opt);
        });
        apply(q);
      }).catch(function () {});
    }

    filter.addEventListener("input", function () {
      var q = norm(filter.value);
      var n = apply(q);
      window.clearTimeout(searchTimer);
      if (q && n === 0) searchTimer = window.setTimeout(function () { search(q); }, 250);
    });
    filter.addEventListener("keydown", function (evt) {
      if (evt.key === "Enter") evt.preventDefault();
    });
  });

  // ------------------------------------------------------------------ the "去办理" shortcut (phones)

  var jump = document.querySelector(".jump-actions");
  var actionCard = document.getElementById("actions");
  if (jump && actionCard && "IntersectionObserver" in window) {
    new IntersectionObserver(function (entries) {
      jump.hidden = entries[0].isIntersecting;
    }).observe(actionCard);
  }

  // ------------------------------------------------------------------ 拟稿: 上行文 needs 签发人

  var direction = document.querySelector("[data-direction]");
  var signer = document.querySelector("[data-signer]");
  if (direction && signer) {
    direction.addEventListener("change", function () {
      signer.classList.toggle("is-required", direction.value === "up");
    });
  }
})();
