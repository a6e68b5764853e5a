/*
 * Minimal crowd-html-elements for the local review service (a stand-in for
 * https://assets.crowd.aws/crowd-html-elements.js). Supported: crowd-form, crowd-button,
 * crowd-rekognition-detect-moderation-labels, crowd-bounding-box, short-instructions,
 * full-instructions. Any other crowd-* element shows a visible warning.
 *
 * The page embeds <main id="hr-task" data-submit-url data-claim-url data-task-base data-home-url>.
 */
(function () {
  "use strict";
  if (window.__humanReviewCrowdElements) return;
  window.__humanReviewCrowdElements = true;

  var SUPPORTED = ["crowd-form", "crowd-button", "crowd-rekognition-detect-moderation-labels",
    "crowd-bounding-box", "short-instructions", "full-instructions"];

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "style") e.style.cssText = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function parseJSONAttr(node, name, fallback) {
    var raw = node.getAttribute(name);
    if (!raw) return fallback;
    try { return JSON.parse(raw); } catch (e) {
      console.warn("<" + node.localName + "> attribute " + name + " is not JSON:", raw);
      return fallback;
    }
  }

  function taskInfo() {
    var m = document.getElementById("hr-task");
    return m ? m.dataset : {};
  }

  // ---- instructions ---------------------------------------------------------------------------
  class Instructions extends HTMLElement {
    connectedCallback() {
      if (this._ready) return;
      this._ready = true;
      this.style.display = "block";
      this.style.margin = ".5rem 0";
      this.style.padding = ".5rem .8rem";
      this.style.background = "#f2f8fd";
      this.style.borderLeft = "3px solid #0073bb";
      var header = this.getAttribute("header") ||
        (this.localName === "short-instructions" ? "Instructions" : "Full instructions");
      this.insertBefore(el("strong", { style: "display:block" }, header), this.firstChild);
    }
  }
  customElements.define("short-instructions", class extends Instructions {});
  customElements.define("full-instructions", class extends Instructions {});

  // ---- crowd-button ---------------------------------------------------------------------------
  customElements.define("crowd-button", class extends HTMLElement {
    connectedCallback() {
      if (this._ready) return;
      this._ready = true;
      var b = el("button", { type: this.getAttribute("form-action") === "submit" ? "submit" : "button" });
      while (this.firstChild) b.appendChild(this.firstChild);
      if (this.hasAttribute("disabled")) b.disabled = true;
      this.appendChild(b);
    }
  });

  // ---- crowd-form -----------------------------------------------------------------------------
  customElements.define("crowd-form", class extends HTMLElement {
    connectedCallback() {
      if (this._ready) return;
      this._ready = true;
      var self = this;
      var form = el("form", { novalidate: "" });
      while (this.firstChild) form.appendChild(this.firstChild);
      this.appendChild(form);
      this.status = el("p", { "class": "hr-status", role: "status" });
      var submit = el("button", { type: "submit", "class": "hr-submit", style: "margin-top:1rem;font-size:1.05rem" }, "Submit");
      form.appendChild(submit);
      form.appendChild(this.status);
      form.addEventListener("submit", function (ev) { ev.preventDefault(); self.submitAnswers(submit); });
    }

    collect() {
      var answer = {};
      this.querySelectorAll("*").forEach(function (node) {
        if (typeof node.crowdAnswer === "function") Object.assign(answer, node.crowdAnswer());
      });
      this.querySelectorAll("input[name], textarea[name], select[name]").forEach(function (input) {
        if (input.closest("[data-crowd-internal]")) return;
        if (input.type === "checkbox" || input.type === "radio") answer[input.name] = { on: input.checked };
        else answer[input.name] = input.value;
      });
      return answer;
    }

    submitAnswers(button) {
      var info = taskInfo();
      var self = this;
      if (!info.submitUrl) { this.status.textContent = "No task to submit to."; return; }
      var answerContent = this.collect();
      button.disabled = true;
      this.status.textContent = "Submitting…";
      fetch(info.submitUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ answerContent: answerContent })
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) throw new Error(body.detail || ("HTTP " + r.status));
          self.status.textContent = "Submitted. Loading the next task…";
          return fetch(info.claimUrl, { method: "POST", credentials: "same-origin" });
        });
      }).then(function (r) {
        if (r.status === 200) return r.json().then(function (t) { window.location.href = info.taskBase + encodeURIComponent(t.taskId); });
        window.location.href = info.homeUrl + "?msg=" + encodeURIComponent("Thank you: no more tasks in this queue for you.");
      }).catch(function (e) {
        button.disabled = false;
        self.status.textContent = "Could not submit: " + e.message;
      });
    }
  });

  // ---- crowd-rekognition-detect-moderation-labels --------------------------------------------
  customElements.define("crowd-rekognition-detect-moderation-labels", class extends HTMLElement {
    connectedCallback() {
      if (this._ready) return;
      this._ready = true;
      var box = el("div", { "data-crowd-internal": "", style: "display:flex;gap:1.5rem;flex-wrap:wrap;align-items:flex-start" });
      if (this.getAttribute("header")) this.insertBefore(el("h3", {}, this.getAttribute("header")), this.firstChild);
      var img = el("img", { src: this.getAttribute("src") || "", alt: "image to review", style: "max-width:520px;max-height:520px;border:1px solid #ccc;background:#eee" });
      var list = el("fieldset", { style: "min-width:260px" });
      list.appendChild(el("legend", {}, "Categories the image shows"));
      this.checkboxes = [];
      var self = this;
      parseJSONAttr(this, "categories", []).forEach(function (c) {
        var name = typeof c === "string" ? c : c.name;
        var label = el("label", { style: "display:block;margin:.25rem 0" });
        var cb = el("input", { type: "checkbox" });
        cb.dataset.name = name;
        cb.dataset.parentName = (c && c.parentName) || "";
        label.appendChild(cb);
        label.appendChild(document.createTextNode(" " + name));
        list.appendChild(label);
        self.checkboxes.push(cb);
      });
      box.appendChild(img);
      box.appendChild(list);
      this.appendChild(box);
    }

    crowdAnswer() {
      var labels = this.checkboxes.filter(function (cb) { return cb.checked; })
        .map(function (cb) { return { name: cb.dataset.name, parentName: cb.dataset.parentName }; });
      return { "AWS/Rekognition/DetectModerationLabels/Image/V3": { moderationLabels: labels } };
    }
  });

  // ---- crowd-bounding-box ---------------------------------------------------------------------
  customElements.define("crowd-bounding-box", class extends HTMLElement {
    connectedCallback() {
      if (this._ready) return;
      this._ready = true;
      var self = this;
      this.labels = parseJSONAttr(this, "labels", []);
      if (!this.labels.length) this.labels = ["object"];
      this.boxes = parseJSONAttr(this, "initial-value", []).map(function (b) {
        return { label: b.label, left: +b.left, top: +b.top, width: +b.width, height: +b.height, initial: true, modified: false };
      });
      this.selected = -1;
      if (this.getAttribute("header")) this.insertBefore(el("h3", {}, this.getAttribute("header")), this.firstChild);

      var ui = el("div", { "data-crowd-internal": "" });
      var bar = el("div", { style: "margin:.5rem 0" });
      bar.appendChild(document.createTextNode("Label for new boxes: "));
      this.labelSelect = el("select", {});
      this.labels.forEach(function (l) { self.labelSelect.appendChild(el("option", { value: l }, l)); });
      bar.appendChild(this.labelSelect);
      var del = el("button", { type: "button", style: "margin-left:1rem" }, "Delete selected box");
      del.addEventListener("click", function () { self.deleteSelected(); });
      bar.appendChild(del);
      bar.appendChild(el("small", { style: "margin-left:1rem" }, "Drag on the image to draw a box; click a box to select it, drag it to move it; Delete removes it."));
      ui.appendChild(bar);

      this.stage = el("div", { style: "position:relative;display:inline-block;user-select:none;cursor:crosshair;border:1px solid #ccc;background:#eee;min-width:200px;min-height:200px" });
      this.img = el("img", { src: this.getAttribute("src") || "", alt: "image to annotate", draggable: "false", style: "display:block;max-width:900px" });
      this.img.addEventListener("load", function () { self.draw(); });
      this.img.addEventListener("error", function () {
        self.stage.appendChild(el("div", { style: "padding:1rem;color:#a00" }, "The image could not be loaded."));
      });
      this.stage.appendChild(this.img);
      this.layer = el("div", { style: "position:absolute;left:0;top:0;right:0;bottom:0" });
      this.stage.appendChild(this.layer);
      ui.appendChild(this.stage);
      this.appendChild(ui);

      this.stage.addEventListener("mousedown", function (ev) { self.onDown(ev); });
      window.addEventListener("mousemove", function (ev) { self.onMove(ev); });
      window.addEventListener("mouseup", function () { self.onUp(); });
      document.addEventListener("keydown", function (ev) {
        if ((ev.key === "Delete" || ev.key === "Backspace") && self.selected >= 0 && !/^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName)) {
          ev.preventDefault(); self.deleteSelected();
        }
      });
      this.draw();
    }

    scale() {
      var w = this.img.naturalWidth || this.img.clientWidth || 1;
      return (this.img.clientWidth || w) / w;
    }

    point(ev) {
      var r = this.stage.getBoundingClientRect(), s = this.scale();
      return { x: (ev.clientX - r.left) / s, y: (ev.clientY - r.top) / s };
    }

    onDown(ev) {
      if (ev.button !== 0) return;
      ev.preventDefault();
      var p = this.point(ev);
      var hit = ev.target.dataset && ev.target.dataset.index !== undefined ? +ev.target.dataset.index : -1;
      if (hit >= 0) {
        this.selected = hit;
        var b = this.boxes[hit];
        this.drag = { mode: "move", dx: p.x - b.left, dy: p.y - b.top, index: hit };
      } else {
        this.boxes.push({ label: this.labelSelect.value, left: p.x, top: p.y, width: 0, height: 0, initial: false, modified: false });
        this.selected = this.boxes.length - 1;
        this.drag = { mode: "draw", x0: p.x, y0: p.y, index: this.selected };
      }
      this.draw();
    }

    onMove(ev) {
      if (!this.drag) return;
      var p = this.point(ev), b = this.boxes[this.drag.index];
      if (this.drag.mode === "move") {
        b.left = Math.max(0, p.x - this.drag.dx); b.top = Math.max(0, p.y - this.drag.dy);
        b.modified = true;
      } else {
        b.left = Math.min(p.x, this.drag.x0); b.top = Math.min(p.y, this.drag.y0);
        b.width = Math.abs(p.x - this.drag.x0); b.height = Math.abs(p.y - this.drag.y0);
      }
      this.draw();
    }

    onUp() {
      if (!this.drag) return;
      var b = this.boxes[this.drag.index];
      if (this.drag.mode === "draw" && (b.width < 3 || b.height < 3)) {
        this.boxes.splice(this.drag.index, 1);
        this.selected = -1;
      }
      this.drag = null;
      this.draw();
    }

    deleteSelected() {
      if (this.selected < 0) return;
      this.boxes.splice(this.selected, 1);
      this.selected = -1;
      this.draw();
    }

    draw() {
      var s = this.scale(), self = this;
      this.layer.textContent = "";
      this.boxes.forEach(function (b, i) {
        var d = el("div", {
          style: "position:absolute;box-sizing:border-box;cursor:move;border:2px solid " + (i === self.selected ? "#ff9900" : "#1e88e5") +
            ";background:rgba(30,136,229,.12);left:" + b.left * s + "px;top:" + b.top * s + "px;width:" + b.width * s + "px;height:" + b.height * s + "px"
        });
        d.dataset.index = i;
        var tag = el("span", { style: "position:absolute;left:0;top:-1.3em;font-size:.75rem;background:#1e88e5;color:#fff;padding:0 .25rem;pointer-events:none" }, b.label);
        d.appendChild(tag);
        self.layer.appendChild(d);
      });
    }

    crowdAnswer() {
      var out = {};
      out[this.getAttribute("name") || "boundingBox"] = {
        boundingBoxes: this.boxes.map(function (b) {
          var o = { label: b.label, left: Math.round(b.left), top: Math.round(b.top), width: Math.round(b.width), height: Math.round(b.height) };
          if (b.initial) o.initialValueModified = b.modified;
          return o;
        }),
        inputImageProperties: { width: this.img.naturalWidth || 0, height: this.img.naturalHeight || 0 }
      };
      return out;
    }
  });

  // ---- anything else: a visible warning, never a blank page -------------------------------------
  function warnUnsupported(root) {
    root.querySelectorAll("*").forEach(function (node) {
      var name = node.localName;
      if (name.indexOf("crowd-") !== 0 || SUPPORTED.indexOf(name) >= 0 || node.dataset.hrWarned) return;
      node.dataset.hrWarned = "1";
      var w = el("div", { "class": "hr-unsupported", style: "background:#fff3b0;border:2px solid #e0b000;color:#5a4500;padding:.5rem .8rem;margin:.5rem 0;font-weight:bold" },
        "<" + name + "> is not supported by the local review service yet");
      node.parentNode.insertBefore(w, node);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { warnUnsupported(document); });
  else warnUnsupported(document);
})();
