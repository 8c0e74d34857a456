/* similar's web pages, enhanced: the basket (localStorage, taken from a collection page's address), copy buttons, the embed panel's live preview. The pages work without it. */
(function () {
  "use strict";
  var KEY = "similar-basket";
  function load() {
    try {
      var b = JSON.parse(localStorage.getItem(KEY) || "{}");
      return { positive: Array.isArray(b.positive) ? b.positive : [], negative: Array.isArray(b.negative) ? b.negative : [] };
    } catch (e) { return { positive: [], negative: [] }; }
  }
  function save(b) { try { localStorage.setItem(KEY, JSON.stringify(b)); } catch (e) { /* private mode: the basket lives for this page */ } }
  function without(list, pmid) { return list.filter(function (p) { return p !== pmid; }); }
  function href(b) {
    if (!b.positive.length && !b.negative.length) { return "/collection"; }
    var q = [];
    if (b.positive.length) { q.push("positive=" + b.positive.join(",")); }
    if (b.negative.length) { q.push("negative=" + b.negative.join(",")); }
    return "/collection?" + q.join("&");
  }
  function refresh() {
    var b = load();
    var link = document.getElementById("basket-link");
    if (link) { link.href = href(b); }
    Array.prototype.forEach.call(document.querySelectorAll("[data-basket-count]"), function (el) {
      var n = b.positive.length + b.negative.length;
      el.textContent = n ? String(n) : "";
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-basket-add]"), function (el) {
      var on = b.positive.indexOf(el.getAttribute("data-basket-add")) >= 0;
      el.setAttribute("aria-pressed", on ? "true" : "false");
      el.textContent = on ? "In basket" : "Add to basket";
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-basket-unlike]"), function (el) {
      var on = b.negative.indexOf(el.getAttribute("data-basket-unlike")) >= 0;
      el.setAttribute("aria-pressed", on ? "true" : "false");
      el.textContent = on ? "Marked not like these" : "Not like these";
    });
    var open = document.getElementById("basket-open");
    if (open && b.positive.length) { open.hidden = false; open.querySelector("a").href = href(b); }
  }
  function toggle(kind, pmid) {
    var b = load(), other = kind === "positive" ? "negative" : "positive";
    if (b[kind].indexOf(pmid) >= 0) { b[kind] = without(b[kind], pmid); } else { b[kind].push(pmid); b[other] = without(b[other], pmid); }
    save(b);
    refresh();
  }
  function basket() {
    Array.prototype.forEach.call(document.querySelectorAll(".basket[hidden]"), function (el) { el.hidden = false; });
    document.addEventListener("click", function (ev) {
      var t = ev.target.closest ? ev.target.closest("button") : null;
      if (!t) { return; }
      if (t.hasAttribute("data-basket-add")) { toggle("positive", t.getAttribute("data-basket-add")); }
      if (t.hasAttribute("data-basket-unlike")) { toggle("negative", t.getAttribute("data-basket-unlike")); }
    });
    var seeds = document.getElementById("collection-seeds");  /* a collection page: its address is the basket now */
    if (seeds) {
      var split = function (s) { return s ? s.split(",") : []; };
      save({ positive: split(seeds.getAttribute("data-positive")), negative: split(seeds.getAttribute("data-negative")) });
    }
    window.addEventListener("storage", refresh);
    refresh();
  }
  function snippet(form) {
    var pmid = form.getAttribute("data-pmid"), base = form.getAttribute("data-base");
    var kind = form.querySelector("input[name=embed]:checked").value;
    var theme = form.querySelector("select[name=theme]").value;
    var given = parseInt(form.querySelector("input[name=count]").value, 10);  /* as the server reads it: 1..20, else 5 */
    var count = isNaN(given) ? 5 : Math.max(1, Math.min(20, given));
    var preview = "/widget/" + pmid + "?n=" + count + "&theme=" + theme;
    if (kind === "iframe") {
      return { preview: preview, text: '<iframe src="' + base + "/widget/" + pmid + "?n=" + count + "&amp;theme=" + theme +
        '" width="420" height="480" style="border:0" title="Similar papers"></iframe>' };
    }
    return { preview: preview, text: '<div data-similar-pmid="' + pmid + '" data-similar-n="' + count + '"' +
      (theme !== "light" ? ' data-similar-theme="' + theme + '"' : "") + "></div>\n" +
      '<script src="' + base + '/widget.js" async></' + "script>" };
  }
  function embed() {
    var form = document.querySelector(".embed-form");
    if (!form) { return; }
    var code = document.getElementById("snippet"), frame = document.getElementById("preview");
    var update = function () {
      var s = snippet(form);
      code.textContent = s.text;
      if (frame.getAttribute("src") !== s.preview) { frame.setAttribute("src", s.preview); }
    };
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); update(); });
    Array.prototype.forEach.call(form.querySelectorAll("[data-no-js]"), function (el) { el.hidden = true; });
  }
  function copy() {
    Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var text = document.getElementById(b.getAttribute("data-copy")).textContent;
        var status = document.getElementById("copied");
        var said = function (msg) { if (status) { status.textContent = msg; } };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(function () { said("Copied"); }, function () { said("Select the snippet and copy it"); });
        } else { said("Select the snippet and copy it"); }
      });
    });
  }
  function start() { basket(); embed(); copy(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
