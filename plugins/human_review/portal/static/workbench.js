/*
 * The reviewer's workbench around a task page of the local review service: a bar with the file
 * name, a countdown to the time limit and a Submit that never scrolls away; keyboard shortcuts;
 * zoom and undo for boxes; the model's claims pre-checked with its scores beside each label; a
 * "saved" notice between tasks.
 *
 * It starts once the crowd elements are ready (`all-crowd-elements-ready`: crowd-html-elements.js
 * loads its annotators and text elements after itself) and touches the elements only
 * through the DOM they render and their public fields (crowd-bounding-box: boxes, selected,
 * draw(); crowd-form: its .hr-submit button), so the elements need no change for it.
 *
 * The page gives it <main id="hr-task" data-file-name data-deadline data-release-url ...> and
 * <div id="hr-bar">.
 */
(function () {
  "use strict";
  var crowd = document.querySelector('script[src*="crowd-html-elements.js"]');
  if (crowd && !window.__humanReviewCrowdReady) {
    document.addEventListener("all-crowd-elements-ready", start, { once: true });
  } else {
    start();
  }

  function start() {
  var main = document.getElementById("hr-task");
  var bar = document.getElementById("hr-bar");
  if (!main || !bar) return;
  var info = main.dataset;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function typing(ev) { return /^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName) && ev.target.type !== "checkbox" && ev.target.type !== "radio"; }
  function json(node, name) {
    try { return JSON.parse(node.getAttribute(name) || "null"); } catch (e) { return null; }
  }
  function toast(text) {
    var t = el("div", { "class": "hr-toast", role: "status" }, text);
    document.body.appendChild(t);
    setTimeout(function () { t.classList.add("hr-toast-gone"); }, 3500);
  }

  // ---- "saved" between tasks: crowd-form sets window.__humanReviewSubmitted once the answer is stored
  try {
    var saved = sessionStorage.getItem("hr-saved");
    if (saved) { sessionStorage.removeItem("hr-saved"); toast("Saved: your answer for " + saved + " was stored."); }
  } catch (e) { /* storage disabled: no notice */ }
  window.addEventListener("pagehide", function () {
    if (window.__humanReviewSubmitted) { try { sessionStorage.setItem("hr-saved", info.fileName || "the last task"); } catch (e) { /* ignore */ } }
  });

  // ---- the bar: file, countdown, Submit -----------------------------------------------------
  var submitButton = function () { return main.querySelector(".hr-submit"); };
  var submit = el("button", { type: "button", "class": "hr-bar-submit", title: "Submit (Ctrl+Enter)" }, "Submit");
  submit.addEventListener("click", function () { var b = submitButton(); if (b && !b.disabled) b.click(); });
  var clock = el("span", { "class": "hr-countdown", "aria-live": "off" });
  bar.appendChild(el("span", { "class": "hr-file", title: info.objectKey || "" }, info.fileName || ""));
  bar.appendChild(clock);
  bar.appendChild(el("span", { "class": "hr-keys" }, "Keys: 1-9 label · Ctrl+Enter submit · N skip to next · Del delete box · Ctrl+Z undo · +/- zoom"));
  bar.appendChild(submit);

  var deadline = info.deadline ? Date.parse(info.deadline) : NaN;
  function tick() {
    if (isNaN(deadline)) { clock.textContent = ""; return; }
    var left = Math.round((deadline - Date.now()) / 1000);
    if (left <= 0) {
      clock.textContent = "Time is up: the task may go to someone else";
      clock.className = "hr-countdown hr-late";
      return;
    }
    var m = Math.floor(left / 60), s = left % 60;
    clock.textContent = "Time left " + m + ":" + (s < 10 ? "0" : "") + s;
    clock.className = "hr-countdown" + (left < 60 ? " hr-late" : "");
  }
  tick();
  setInterval(tick, 1000);

  // ---- the model's claims and scores on the moderation element --------------------------------
  main.querySelectorAll("crowd-rekognition-detect-moderation-labels, crowd-image-classifier-multi-select, crowd-classifier-multi-select")
    .forEach(function (node) {
      var claims = json(node, "data-model-claims") || [];
      var scores = {};
      (json(node, "data-model-scores") || []).forEach(function (s) { scores[String(s.name).toLowerCase()] = s; });
      node.querySelectorAll("input[type=checkbox]").forEach(function (cb) {
        var name = cb.dataset.name || cb.dataset.label || "";
        if (claims.indexOf(name) >= 0) cb.checked = true;
        var s = scores[name.toLowerCase()];
        if (s && cb.parentNode) cb.parentNode.appendChild(el("span", { "class": "hr-hint" + (s.claimed ? " hr-claimed" : "") }, " " + s.hint));
      });
    });

  // ---- keyboard shortcuts -----------------------------------------------------------------
  function boxes() { return main.querySelector("crowd-bounding-box"); }
  function choose(n) {
    var select = main.querySelector(".hr-label-select");
    if (select && n < select.options.length) { select.selectedIndex = n; return true; }
    var inputs = main.querySelectorAll("fieldset input[type=checkbox], fieldset input[type=radio]");
    if (n < inputs.length) {
      var i = inputs[n];
      i.checked = i.type === "radio" ? true : !i.checked;
      i.dispatchEvent(new Event("change", { bubbles: true }));
      return true;
    }
    return false;
  }
  function skip() {
    if (!info.releaseUrl) return;
    fetch(info.releaseUrl, { method: "POST", credentials: "same-origin" }).then(function () {
      return fetch(info.claimUrl, { method: "POST", credentials: "same-origin" });
    }).then(function (r) {
      if (r.status === 200) return r.json().then(function (t) { window.location.href = info.taskBase + encodeURIComponent(t.taskId); });
      window.location.href = info.homeUrl + "?msg=" + encodeURIComponent("No other task in this queue for you.");
    });
  }

  // ---- undo and zoom for boxes ----------------------------------------------------------------
  var history = [];
  function snapshot() {
    var b = boxes();
    if (b && b.boxes) { history.push(JSON.stringify(b.boxes)); if (history.length > 100) history.shift(); }
  }
  function undo() {
    var b = boxes();
    if (!b || !history.length) return;
    b.boxes = JSON.parse(history.pop());
    b.selected = -1;
    b.draw();
  }
  var zoom = 1;
  function setZoom(z) {
    var b = boxes();
    if (!b || !b.img || !b.img.naturalWidth) return;
    zoom = Math.max(0.25, Math.min(4, z));
    b.img.style.maxWidth = "none";
    b.img.style.width = Math.round(b.img.naturalWidth * zoom) + "px";
    b.draw();
    var label = main.querySelector(".hr-zoom-level");
    if (label) label.textContent = Math.round(zoom * 100) + "%";
  }
  var box = boxes();
  if (box && box.stage) {
    var viewport = el("div", { "class": "hr-viewport" });
    box.stage.parentNode.insertBefore(viewport, box.stage);
    viewport.appendChild(box.stage);
    var tools = el("div", { "class": "hr-tools" });
    [["−", "Zoom out (-)", function () { setZoom(zoom / 1.25); }], ["+", "Zoom in (+)", function () { setZoom(zoom * 1.25); }],
     ["Fit", "Fit the image (0)", function () { fit(); }], ["Undo", "Undo (Ctrl+Z)", undo]].forEach(function (t) {
      var b = el("button", { type: "button", title: t[1] }, t[0]);
      b.addEventListener("click", t[2]);
      tools.appendChild(b);
    });
    tools.appendChild(el("span", { "class": "hr-zoom-level" }, "100%"));
    viewport.parentNode.insertBefore(tools, viewport);
    var fit = function () {  // shrink a large image to the page's width; a small one stays at 100%
      var avail = viewport.parentNode.clientWidth - 4;
      if (!box.img.naturalWidth) return;
      setZoom(box.img.naturalWidth > avail ? avail / box.img.naturalWidth : 1);
    };
    if (box.img.complete) fit(); else box.img.addEventListener("load", fit);
    // before the element acts on a press or a Delete: remember the boxes as they were
    box.stage.addEventListener("mousedown", snapshot, true);
    main.querySelectorAll(".hr-delete").forEach(function (d) { d.addEventListener("click", snapshot, true); });
  }

  window.addEventListener("keydown", function (ev) {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") { ev.preventDefault(); submit.click(); return; }
    if ((ev.ctrlKey || ev.metaKey) && (ev.key === "z" || ev.key === "Z")) { ev.preventDefault(); undo(); return; }
    if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if ((ev.key === "Delete" || ev.key === "Backspace") && boxes() && boxes().selected >= 0) { snapshot(); return; }
    if (/^[1-9]$/.test(ev.key) && choose(+ev.key - 1)) { ev.preventDefault(); return; }
    if (ev.key === "n" || ev.key === "N") { ev.preventDefault(); skip(); return; }
    if (ev.key === "+" || ev.key === "=") { ev.preventDefault(); setZoom(zoom * 1.25); return; }
    if (ev.key === "-") { ev.preventDefault(); setZoom(zoom / 1.25); return; }
  }, true);

  main.dispatchEvent(new CustomEvent("hr-workbench-ready", { bubbles: true }));
  }
})();
