/*
 * crowd-html-elements for the local review service: this project's own implementation of the
 * elements A2I worker templates use (a stand-in for https://assets.crowd.aws/crowd-html-elements.js;
 * nothing is loaded from outside). Each element contributes to the answerContent AWS documents.
 *
 * Supported: crowd-form, crowd-button, crowd-bounding-box, crowd-image-classifier,
 * crowd-image-classifier-multi-select, crowd-classifier, crowd-classifier-multi-select,
 * crowd-rekognition-detect-moderation-labels, crowd-input, crowd-text-area, crowd-checkbox,
 * crowd-radio-group, crowd-radio-button, crowd-slider, crowd-keypoint, crowd-polygon, crowd-alert,
 * crowd-instructions, short-instructions, full-instructions.
 * Any other crowd-* element shows a visible warning, and the form refuses to submit (so a task is
 * never answered with a silently missing part).
 *
 * The page embeds <main id="hr-task" data-submit-url data-claim-url data-task-base data-home-url>.
 */
(function () {
  "use strict";
  if (window.__humanReviewCrowdElements) return;
  window.__humanReviewCrowdElements = true;

  var SUPPORTED = ["crowd-form", "crowd-button", "crowd-bounding-box", "crowd-image-classifier",
    "crowd-image-classifier-multi-select", "crowd-classifier", "crowd-classifier-multi-select",
    "crowd-rekognition-detect-moderation-labels", "crowd-input", "crowd-text-area", "crowd-checkbox",
    "crowd-radio-group", "crowd-radio-button", "crowd-slider", "crowd-keypoint", "crowd-polygon",
    "crowd-alert", "crowd-instructions", "short-instructions", "full-instructions"];
  window.__humanReviewSupportedElements = SUPPORTED.slice();

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "style") e.style.cssText = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // JSON attributes; AWS's own examples also use single-quoted JS literals (['a', 'b'], { text: 'x' }).
  function parseLoose(raw) {
    try { return JSON.parse(raw); } catch (e) { /* fall through */ }
    var fixed = raw.replace(/'((?:[^'\\]|\\.)*)'/g, function (_m, s) { return JSON.stringify(s.replace(/\\'/g, "'")); })
      .replace(/([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:/g, '$1"$2":');
    return JSON.parse(fixed);
  }

  function parseJSONAttr(node, name, fallback) {
    var raw = node.getAttribute(name);
    if (raw === null || raw.trim() === "") return fallback;
    try { return parseLoose(raw); } catch (e) {
      warn(node, "<" + node.localName + "> attribute " + name + " is not valid JSON");
      return fallback;
    }
  }

  function warn(node, message) {
    var w = el("div", { "class": "hr-unsupported", role: "alert",
      style: "background:#fff3b0;border:2px solid #e0b000;color:#5a4500;padding:.5rem .8rem;margin:.5rem 0;font-weight:bold" }, message);
    if (node.parentNode) node.parentNode.insertBefore(w, node);
  }

  function taskInfo() {
    var m = document.getElementById("hr-task");
    return m ? m.dataset : {};
  }

  function nameOf(node, fallback) { return node.getAttribute("name") || fallback; }

  function header(node) {
    if (node.getAttribute("header")) node.insertBefore(el("h3", { "class": "hr-header" }, node.getAttribute("header")), node.firstChild);
  }

  // Move the instruction children (short/full-instructions, classification-target) of a widget into a side panel.
  function takeChildren(node, names) {
    var out = [];
    Array.prototype.slice.call(node.children).forEach(function (c) { if (names.indexOf(c.localName) >= 0) out.push(c); });
    return out;
  }

  class CrowdElement extends HTMLElement {
    connectedCallback() {
      if (this._ready) return;
      this._ready = true;
      this.setup();
    }
    setup() {}
    // Returns an error message when the worker still has to do something, else null.
    validate() { return null; }
  }

  // ---- display elements -----------------------------------------------------------------------
  class Instructions extends CrowdElement {
    setup() {
      this.style.display = "block";
      this.style.margin = ".5rem 0";
      this.style.padding = ".5rem .8rem";
      this.style.background = "#f2f8fd";
      this.style.borderLeft = "3px solid #0073bb";
      var h = this.getAttribute("header") || this.getAttribute("link-text") ||
        (this.localName === "short-instructions" ? "Instructions" : this.localName === "full-instructions" ? "Full instructions" : "Instructions");
      this.insertBefore(el("strong", { style: "display:block" }, h), this.firstChild);
      var self = this;
      ["detailed-instructions", "positive-example", "negative-example"].forEach(function (n) {
        self.querySelectorAll(n).forEach(function (c) {
          c.style.display = "block";
          var t = { "detailed-instructions": "Details", "positive-example": "Good example", "negative-example": "Bad example" }[n];
          c.insertBefore(el("em", { style: "display:block" }, t), c.firstChild);
        });
      });
    }
  }
  customElements.define("short-instructions", class extends Instructions {});
  customElements.define("full-instructions", class extends Instructions {});
  customElements.define("crowd-instructions", class extends Instructions {});

  customElements.define("crowd-alert", class extends CrowdElement {
    setup() {
      var colors = { info: "#0073bb", success: "#1d8102", error: "#d13212", warning: "#e0b000" };
      var type = this.getAttribute("type") || "info";
      this.setAttribute("role", "alert");
      this.style.cssText += ";display:block;padding:.5rem .8rem;margin:.5rem 0;border-left:4px solid " + (colors[type] || colors.info) + ";background:#fafafa";
      if (this.hasAttribute("dismissible")) {
        var self = this, x = el("button", { type: "button", "aria-label": "Dismiss", style: "float:right" }, "×");
        x.addEventListener("click", function () { self.style.display = "none"; });
        this.insertBefore(x, this.firstChild);
      }
    }
  });

  customElements.define("crowd-button", class extends CrowdElement {
    setup() {
      var b = el("button", { type: this.getAttribute("form-action") === "submit" ? "submit" : "button", "data-crowd-internal": "" });
      while (this.firstChild) b.appendChild(this.firstChild);
      if (this.hasAttribute("disabled")) b.disabled = true;
      this.appendChild(b);
    }
  });

  // ---- simple form inputs ---------------------------------------------------------------------
  customElements.define("crowd-input", class extends CrowdElement {
    setup() {
      var label = el("label", { style: "display:block;margin:.4rem 0" });
      label.appendChild(document.createTextNode((this.getAttribute("label") || "") + " "));
      this.input = el("input", { type: this.getAttribute("type") || "text", "data-crowd-internal": "" });
      var self = this;
      ["placeholder", "max-length", "min-length", "min", "max", "step"].forEach(function (a) {
        if (self.hasAttribute(a)) self.input.setAttribute(a.replace("-length", "length"), self.getAttribute(a));
      });
      if (this.hasAttribute("value")) this.input.value = this.getAttribute("value");
      if (this.hasAttribute("disabled")) this.input.disabled = true;
      if (this.hasAttribute("required")) this.input.required = true;
      label.appendChild(this.input);
      this.appendChild(label);
    }
    get value() { return this.input ? this.input.value : this.getAttribute("value") || ""; }
    validate() {
      if (this.hasAttribute("required") && !this.input.value) return (this.getAttribute("label") || this.getAttribute("name")) + ": required";
      return null;
    }
    crowdAnswer() { var o = {}; o[nameOf(this, "input")] = this.input.value; return o; }
  });

  customElements.define("crowd-text-area", class extends CrowdElement {
    setup() {
      var label = el("label", { style: "display:block;margin:.4rem 0" });
      label.appendChild(el("span", { style: "display:block" }, this.getAttribute("label") || ""));
      this.area = el("textarea", { rows: this.getAttribute("rows") || "3", cols: "60", "data-crowd-internal": "" });
      if (this.getAttribute("placeholder")) this.area.placeholder = this.getAttribute("placeholder");
      if (this.hasAttribute("max-length")) this.area.maxLength = +this.getAttribute("max-length");
      this.area.value = this.getAttribute("value") || "";
      if (this.hasAttribute("disabled")) this.area.disabled = true;
      label.appendChild(this.area);
      this.appendChild(label);
    }
    get value() { return this.area ? this.area.value : ""; }
    validate() {
      if (this.hasAttribute("required") && !this.area.value) return (this.getAttribute("label") || this.getAttribute("name")) + ": required";
      return null;
    }
    crowdAnswer() { var o = {}; o[nameOf(this, "textArea")] = this.area.value; return o; }
  });

  // Output: {name: {value: checked}}; boxes sharing a name merge into one object.
  customElements.define("crowd-checkbox", class extends CrowdElement {
    setup() {
      var label = el("label", { style: "display:inline-block;margin:.25rem .8rem .25rem 0" });
      this.box = el("input", { type: "checkbox", "data-crowd-internal": "" });
      this.box.checked = this.hasAttribute("checked");
      if (this.hasAttribute("disabled")) this.box.disabled = true;
      label.appendChild(this.box);
      while (this.firstChild) label.appendChild(this.firstChild);
      this.appendChild(label);
    }
    get checked() { return !!(this.box && this.box.checked); }
    validate() {
      if (this.hasAttribute("required") && !this.box.checked) return (this.getAttribute("name") || "checkbox") + ": required";
      return null;
    }
    crowdAnswer(acc) {
      var n = nameOf(this, "checkbox"), v = this.getAttribute("value") || "on";
      var o = {}; o[n] = Object.assign({}, acc && acc[n], {}); o[n][v] = this.box.checked; return o;
    }
  });

  customElements.define("crowd-radio-group", class extends CrowdElement {
    setup() {
      this.style.display = "block";
      this.group = "hr-radio-" + Math.random().toString(36).slice(2);
      this.setAttribute("role", "radiogroup");
    }
    validate() {
      if (this.hasAttribute("required") && !this.querySelector("input[type=radio]:checked")) return "Pick one option";
      return null;
    }
  });

  // Output: {buttonName: {buttonValue: checked}} per button.
  customElements.define("crowd-radio-button", class extends CrowdElement {
    setup() {
      var group = this.closest("crowd-radio-group");
      if (group && !group._ready) group.connectedCallback();
      var label = el("label", { style: "display:block;margin:.25rem 0" });
      this.radio = el("input", { type: "radio", name: group ? group.group : "hr-radio-solo", "data-crowd-internal": "" });
      this.radio.checked = this.hasAttribute("checked");
      if (this.hasAttribute("disabled")) this.radio.disabled = true;
      label.appendChild(this.radio);
      while (this.firstChild) label.appendChild(this.firstChild);
      this.appendChild(label);
    }
    get checked() { return !!(this.radio && this.radio.checked); }
    crowdAnswer() {
      var o = {}; o[nameOf(this, "radio")] = {}; o[nameOf(this, "radio")][this.getAttribute("value") || "on"] = this.radio.checked; return o;
    }
  });

  // Output: {name: number}.
  customElements.define("crowd-slider", class extends CrowdElement {
    setup() {
      var min = this.getAttribute("min") || "0", max = this.getAttribute("max") || "100";
      this.range = el("input", { type: "range", min: min, max: max, step: this.getAttribute("step") || "1", "data-crowd-internal": "" });
      this.range.value = this.getAttribute("value") || min;
      if (this.hasAttribute("disabled")) this.range.disabled = true;
      this.out = el("output", { style: "margin-left:.5rem" }, this.range.value);
      var self = this;
      this.range.addEventListener("input", function () { self.out.textContent = self.range.value; });
      this.appendChild(this.range);
      this.appendChild(this.out);
    }
    get value() { return this.range ? +this.range.value : 0; }
    crowdAnswer() { var o = {}; o[nameOf(this, "slider")] = +this.range.value; return o; }
  });

  // ---- classifiers ----------------------------------------------------------------------------
  function categoryName(c) { return typeof c === "string" ? c : (c && (c.name || c.text || c.label)) || String(c); }

  class Classifier extends CrowdElement {
    multi() { return false; }
    image() { return false; }
    setup() {
      var self = this;
      var regions = takeChildren(this, ["classification-target", "short-instructions", "full-instructions"]);
      header(this);
      var box = el("div", { "data-crowd-internal": "", style: "display:flex;gap:1.5rem;flex-wrap:wrap;align-items:flex-start" });
      var left = el("div", {});
      if (this.image()) {
        left.appendChild(el("img", { src: this.getAttribute("src") || "", alt: "image to classify", style: "max-width:520px;max-height:520px;border:1px solid #ccc;background:#eee" }));
      }
      regions.forEach(function (r) { left.appendChild(r); if (r.localName === "classification-target") r.style.display = "block"; });
      var list = el("fieldset", { style: "min-width:240px" });
      list.appendChild(el("legend", {}, this.multi() ? "Pick every category that applies" : "Pick one category"));
      this.inputs = [];
      var group = "hr-cls-" + Math.random().toString(36).slice(2);
      var cats = parseJSONAttr(this, "categories", []).map(categoryName);
      var exclusion = parseJSONAttr(this, "exclusion-category", null);
      if (exclusion) cats.push(categoryName(exclusion));
      if (!cats.length) warn(this, "<" + this.localName + "> has no categories");
      cats.forEach(function (c, i) {
        var label = el("label", { style: "display:block;margin:.25rem 0" });
        var input = el("input", { type: self.multi() ? "checkbox" : "radio", name: group });
        input.dataset.label = c;
        if (exclusion && i === cats.length - 1) input.dataset.exclusion = "1";
        input.addEventListener("change", function () {
          if (!self.multi() || !input.checked) return;
          self.inputs.forEach(function (o) { if (o !== input && (input.dataset.exclusion || o.dataset.exclusion)) o.checked = false; });
        });
        label.appendChild(input);
        label.appendChild(document.createTextNode(" " + c));
        list.appendChild(label);
        self.inputs.push(input);
      });
      box.appendChild(left);
      box.appendChild(list);
      this.appendChild(box);
    }
    selected() { return this.inputs.filter(function (i) { return i.checked; }).map(function (i) { return i.dataset.label; }); }
    validate() {
      if (!this.multi() && !this.selected().length) return (this.getAttribute("header") || this.getAttribute("name") || "Classifier") + ": pick a category";
      return null;
    }
    crowdAnswer() {
      var o = {}, s = this.selected();
      o[nameOf(this, "category")] = this.multi() ? { labels: s } : { label: s[0] };
      return o;
    }
  }
  customElements.define("crowd-classifier", class extends Classifier {});
  customElements.define("crowd-classifier-multi-select", class extends Classifier { multi() { return true; } });
  customElements.define("crowd-image-classifier", class extends Classifier { image() { return true; } });
  customElements.define("crowd-image-classifier-multi-select", class extends Classifier { multi() { return true; } image() { return true; } });

  // ---- crowd-rekognition-detect-moderation-labels --------------------------------------------
  customElements.define("crowd-rekognition-detect-moderation-labels", class extends CrowdElement {
    setup() {
      var box = el("div", { "data-crowd-internal": "", style: "display:flex;gap:1.5rem;flex-wrap:wrap;align-items:flex-start" });
      header(this);
      var img = el("img", { src: this.getAttribute("src") || "", alt: "image to review", style: "max-width:520px;max-height:520px;border:1px solid #ccc;background:#eee" });
      var list = el("fieldset", { style: "min-width:260px" });
      list.appendChild(el("legend", {}, "Categories the image shows"));
      this.checkboxes = [];
      var self = this;
      parseJSONAttr(this, "categories", []).forEach(function (c) {
        var name = categoryName(c);
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

  // ---- image annotation: shared stage ---------------------------------------------------------
  class ImageAnnotator extends CrowdElement {
    help() { return ""; }
    setup() {
      var self = this;
      this.labels = parseJSONAttr(this, "labels", []).map(categoryName);
      if (!this.labels.length) this.labels = ["object"];
      this.selected = -1;
      takeChildren(this, ["short-instructions", "full-instructions"]).forEach(function (c) { self.appendChild(c); });
      header(this);
      var ui = el("div", { "data-crowd-internal": "" });
      var bar = el("div", { style: "margin:.5rem 0" });
      bar.appendChild(document.createTextNode("Label: "));
      this.labelSelect = el("select", { "class": "hr-label-select" });
      this.labels.forEach(function (l) { self.labelSelect.appendChild(el("option", { value: l }, l)); });
      bar.appendChild(this.labelSelect);
      this.extraButtons(bar);
      var del = el("button", { type: "button", "class": "hr-delete", style: "margin-left:1rem" }, "Delete selected");
      del.addEventListener("click", function () { self.deleteSelected(); });
      bar.appendChild(del);
      bar.appendChild(el("small", { style: "margin-left:1rem" }, this.help()));
      ui.appendChild(bar);
      this.stage = el("div", { "class": "hr-stage", style: "position:relative;display:inline-block;user-select:none;cursor:crosshair;border:1px solid #ccc;background:#eee;min-width:200px;min-height:200px" });
      this.img = el("img", { src: this.getAttribute("src") || "", alt: "image to annotate", draggable: "false", style: "display:block;max-width:900px" });
      this.img.addEventListener("load", function () { self.draw(); });
      this.img.addEventListener("error", function () {
        self.stage.appendChild(el("div", { "class": "hr-image-error", style: "padding:1rem;color:#a00" }, "The image could not be loaded."));
      });
      this.stage.appendChild(this.img);
      this.layer = el("div", { style: "position:absolute;left:0;top:0;right:0;bottom:0" });
      this.stage.appendChild(this.layer);
      ui.appendChild(this.stage);
      this.insertBefore(ui, takeChildren(this, ["short-instructions", "full-instructions"])[0] || null);
      this.stage.addEventListener("mousedown", function (ev) { self.onDown(ev); });
      window.addEventListener("mousemove", function (ev) { self.onMove(ev); });
      window.addEventListener("mouseup", function (ev) { self.onUp(ev); });
      document.addEventListener("keydown", function (ev) {
        if ((ev.key === "Delete" || ev.key === "Backspace") && self.selected >= 0 && !/^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName)) {
          ev.preventDefault(); self.deleteSelected();
        }
      });
      this.init();
      this.draw();
    }
    extraButtons() {}
    init() {}
    scale() {
      var w = this.img.naturalWidth || this.img.clientWidth || 1;
      return (this.img.clientWidth || w) / w;
    }
    point(ev) {
      var r = this.stage.getBoundingClientRect(), s = this.scale();
      var maxX = this.img.naturalWidth || Infinity, maxY = this.img.naturalHeight || Infinity;
      return { x: Math.max(0, Math.min(maxX, (ev.clientX - r.left) / s)), y: Math.max(0, Math.min(maxY, (ev.clientY - r.top) / s)) };
    }
    imageProperties() { return { height: this.img.naturalHeight || 0, width: this.img.naturalWidth || 0 }; }
    onDown() {} onMove() {} onUp() {}
    deleteSelected() {}
    draw() {}
  }

  // ---- crowd-bounding-box: draw, move, resize (corner handles), delete ---------------------------
  // Output: {name: {boundingBoxes: [{height, label, left, top, width[, initialValueModified]}], inputImageProperties: {height, width}}}
  customElements.define("crowd-bounding-box", class extends ImageAnnotator {
    help() { return "Drag on the image to draw a box; drag a box to move it, drag a corner to resize it; Delete removes the selected box."; }
    init() {
      this.boxes = parseJSONAttr(this, "initial-value", []).map(function (b) {
        return { label: b.label, left: +b.left, top: +b.top, width: +b.width, height: +b.height, initial: true, modified: false };
      });
    }
    onDown(ev) {
      if (ev.button !== 0) return;
      ev.preventDefault();
      var p = this.point(ev), t = ev.target.dataset || {};
      if (t.handle !== undefined) {
        var i = +t.index, b = this.boxes[i];
        this.selected = i;
        // the fixed corner is the one opposite the handle
        var fx = t.handle.indexOf("w") >= 0 ? b.left + b.width : b.left;
        var fy = t.handle.indexOf("n") >= 0 ? b.top + b.height : b.top;
        this.drag = { mode: "resize", x0: fx, y0: fy, index: i };
      } else if (t.index !== undefined) {
        this.selected = +t.index;
        var bb = this.boxes[this.selected];
        this.drag = { mode: "move", dx: p.x - bb.left, dy: p.y - bb.top, index: this.selected };
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
      } else {
        b.left = Math.min(p.x, this.drag.x0); b.top = Math.min(p.y, this.drag.y0);
        b.width = Math.abs(p.x - this.drag.x0); b.height = Math.abs(p.y - this.drag.y0);
      }
      if (this.drag.mode !== "draw") b.modified = true;
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
          "class": "hr-box",
          style: "position:absolute;box-sizing:border-box;cursor:move;border:2px solid " + (i === self.selected ? "#ff9900" : "#1e88e5") +
            ";background:rgba(30,136,229,.12);left:" + b.left * s + "px;top:" + b.top * s + "px;width:" + b.width * s + "px;height:" + b.height * s + "px"
        });
        d.dataset.index = i;
        d.appendChild(el("span", { style: "position:absolute;left:0;top:-1.3em;font-size:.75rem;background:#1e88e5;color:#fff;padding:0 .25rem;pointer-events:none;white-space:nowrap" }, b.label));
        ["nw", "ne", "sw", "se"].forEach(function (h) {
          var hd = el("div", { "class": "hr-handle hr-handle-" + h,
            style: "position:absolute;width:10px;height:10px;background:#fff;border:2px solid #ff9900;box-sizing:border-box;cursor:" + h + "-resize;" +
              (h[0] === "n" ? "top:-5px;" : "bottom:-5px;") + (h[1] === "w" ? "left:-5px;" : "right:-5px;") });
          hd.dataset.index = i; hd.dataset.handle = h;
          d.appendChild(hd);
        });
        self.layer.appendChild(d);
      });
    }
    get value() { return this.crowdAnswer()[nameOf(this, "boundingBox")]; }
    crowdAnswer() {
      var out = {};
      out[nameOf(this, "boundingBox")] = {
        boundingBoxes: this.boxes.map(function (b) {
          var o = { height: Math.round(b.height), label: b.label, left: Math.round(b.left), top: Math.round(b.top), width: Math.round(b.width) };
          if (b.initial) o.initialValueModified = b.modified;
          return o;
        }),
        inputImageProperties: this.imageProperties()
      };
      return out;
    }
  });

  // ---- crowd-keypoint: click to place, drag to move ----------------------------------------------
  // Output: {name: {inputImageProperties: {height, width}, keypoints: [{label, x, y}]}}
  customElements.define("crowd-keypoint", class extends ImageAnnotator {
    help() { return "Click to place a point with the chosen label; drag a point to move it; Delete removes the selected point."; }
    init() {
      this.points = parseJSONAttr(this, "initial-value", []).map(function (k) { return { label: k.label, x: +k.x, y: +k.y }; });
    }
    onDown(ev) {
      if (ev.button !== 0) return;
      ev.preventDefault();
      var p = this.point(ev), t = ev.target.dataset || {};
      if (t.index !== undefined) this.selected = +t.index;
      else { this.points.push({ label: this.labelSelect.value, x: p.x, y: p.y }); this.selected = this.points.length - 1; }
      this.drag = { index: this.selected };
      this.draw();
    }
    onMove(ev) {
      if (!this.drag) return;
      var p = this.point(ev), k = this.points[this.drag.index];
      k.x = p.x; k.y = p.y;
      this.draw();
    }
    onUp() { this.drag = null; }
    deleteSelected() { if (this.selected >= 0) { this.points.splice(this.selected, 1); this.selected = -1; this.draw(); } }
    draw() {
      var s = this.scale(), self = this;
      this.layer.textContent = "";
      this.points.forEach(function (k, i) {
        var d = el("div", { "class": "hr-keypoint", title: k.label,
          style: "position:absolute;width:12px;height:12px;margin:-6px 0 0 -6px;border-radius:50%;cursor:move;border:2px solid #fff;background:" +
            (i === self.selected ? "#ff9900" : "#1e88e5") + ";left:" + k.x * s + "px;top:" + k.y * s + "px" });
        d.dataset.index = i;
        self.layer.appendChild(d);
      });
    }
    crowdAnswer() {
      var o = {};
      o[nameOf(this, "keypoints")] = {
        inputImageProperties: this.imageProperties(),
        keypoints: this.points.map(function (k) { return { label: k.label, x: Math.round(k.x), y: Math.round(k.y) }; })
      };
      return o;
    }
  });

  // ---- crowd-polygon: click vertices, close on the first vertex or with "Close polygon" ----------
  // Output: {name: {inputImageProperties: {height, width}, polygons: [{label, vertices: [{x, y}]}]}}
  customElements.define("crowd-polygon", class extends ImageAnnotator {
    help() { return "Click to add vertices; click the first vertex (or Close polygon) to finish; Delete removes the selected polygon."; }
    extraButtons(bar) {
      var self = this, b = el("button", { type: "button", "class": "hr-close-polygon", style: "margin-left:1rem" }, "Close polygon");
      b.addEventListener("click", function () { self.closeCurrent(); });
      bar.appendChild(b);
    }
    init() {
      this.polygons = parseJSONAttr(this, "initial-value", []).map(function (p) {
        return { label: p.label, vertices: (p.vertices || []).map(function (v) { return { x: +v.x, y: +v.y }; }) };
      });
      this.current = null;
    }
    closeCurrent() {
      if (this.current && this.current.vertices.length >= 3) { this.polygons.push(this.current); this.selected = this.polygons.length - 1; }
      this.current = null;
      this.draw();
    }
    onDown(ev) {
      if (ev.button !== 0) return;
      ev.preventDefault();
      var p = this.point(ev), t = ev.target.dataset || {};
      if (this.current) {
        var f = this.current.vertices[0], s = this.scale();
        if (this.current.vertices.length >= 3 && Math.hypot((p.x - f.x) * s, (p.y - f.y) * s) < 8) { this.closeCurrent(); return; }
        this.current.vertices.push(p);
      } else if (t.index !== undefined) {
        this.selected = +t.index;
      } else {
        this.current = { label: this.labelSelect.value, vertices: [p] };
        this.selected = -1;
      }
      this.draw();
    }
    deleteSelected() {
      if (this.current) { this.current = null; this.draw(); return; }
      if (this.selected >= 0) { this.polygons.splice(this.selected, 1); this.selected = -1; this.draw(); }
    }
    draw() {
      var s = this.scale(), self = this, ns = "http://www.w3.org/2000/svg";
      this.layer.textContent = "";
      var svg = document.createElementNS(ns, "svg");
      svg.setAttribute("style", "position:absolute;left:0;top:0;width:100%;height:100%;overflow:visible");
      function poly(p, i, open) {
        var e = document.createElementNS(ns, open ? "polyline" : "polygon");
        e.setAttribute("points", p.vertices.map(function (v) { return v.x * s + "," + v.y * s; }).join(" "));
        e.setAttribute("style", "fill:" + (open ? "none" : "rgba(30,136,229,.15)") + ";stroke:" + (i === self.selected ? "#ff9900" : "#1e88e5") + ";stroke-width:2;cursor:pointer");
        if (i >= 0) e.dataset.index = i;
        svg.appendChild(e);
      }
      this.polygons.forEach(function (p, i) { poly(p, i, false); });
      if (this.current) {
        poly(this.current, -1, true);
        this.current.vertices.forEach(function (v) {
          var c = document.createElementNS(ns, "circle");
          c.setAttribute("cx", v.x * s); c.setAttribute("cy", v.y * s); c.setAttribute("r", 4);
          c.setAttribute("style", "fill:#ff9900");
          svg.appendChild(c);
        });
      }
      this.layer.appendChild(svg);
    }
    validate() { return this.current ? "Close or delete the polygon you are drawing" : null; }
    crowdAnswer() {
      var o = {};
      o[nameOf(this, "polygons")] = {
        inputImageProperties: this.imageProperties(),
        polygons: this.polygons.map(function (p) {
          return { label: p.label, vertices: p.vertices.map(function (v) { return { x: Math.round(v.x), y: Math.round(v.y) }; }) };
        })
      };
      return o;
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
      this.form = form;
      this.status = el("p", { "class": "hr-status", role: "status" });
      var submit = el("button", { type: "submit", "class": "hr-submit", style: "margin-top:1rem;font-size:1.05rem" }, "Submit");
      form.appendChild(submit);
      form.appendChild(this.status);
      form.addEventListener("submit", function (ev) { ev.preventDefault(); self.submitAnswers(submit); });
    }

    unsupported() {
      return Array.prototype.filter.call(this.querySelectorAll("*"), function (n) {
        return n.localName.indexOf("crowd-") === 0 && SUPPORTED.indexOf(n.localName) < 0;
      }).map(function (n) { return n.localName; });
    }

    collect() {
      var answer = {};
      this.querySelectorAll("*").forEach(function (node) {
        if (typeof node.crowdAnswer === "function" && node._ready) {
          var part = node.crowdAnswer(answer);
          Object.keys(part).forEach(function (k) {
            var v = part[k];
            if (v && typeof v === "object" && !Array.isArray(v) && answer[k] && typeof answer[k] === "object") Object.assign(answer[k], v);
            else answer[k] = v;
          });
        }
      });
      // Plain HTML inputs inside the form, as crowd-form submits them.
      this.querySelectorAll("input[name], textarea[name], select[name]").forEach(function (input) {
        if (input.closest("[data-crowd-internal]") || input.hasAttribute("data-crowd-internal")) return;
        if (input.type === "checkbox") answer[input.name] = { on: input.checked };
        else if (input.type === "radio") { if (input.checked) answer[input.name] = input.value; else if (!(input.name in answer)) answer[input.name] = null; }
        else answer[input.name] = input.value;
      });
      return answer;
    }

    problems() {
      var out = [];
      var missing = this.unsupported();
      if (missing.length) out.push("This task uses " + missing.map(function (n) { return "<" + n + ">"; }).join(", ") +
        ", which the local review service does not support: it cannot be answered here. Release the task and tell the template's owner.");
      this.querySelectorAll("*").forEach(function (node) {
        if (typeof node.validate === "function" && node._ready) { var m = node.validate(); if (m) out.push(m); }
      });
      return out;
    }

    submitAnswers(button) {
      var info = taskInfo();
      var self = this;
      if (!info.submitUrl) { this.status.textContent = "No task to submit to."; return; }
      var problems = this.problems();
      if (problems.length) { this.status.textContent = problems.join(" "); this.status.className = "hr-status hr-error"; return; }
      // Templates may hook crowd-form's submit event (e.g. to validate) and cancel it.
      var hook = new Event("submit", { cancelable: true });
      if (!this.dispatchEvent(hook)) return;
      var answerContent = this.collect();
      button.disabled = true;
      this.status.className = "hr-status";
      this.status.textContent = "Submitting…";
      fetch(info.submitUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ answerContent: answerContent })
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) throw new Error(body.detail || ("HTTP " + r.status));
          self.status.textContent = "Submitted. Loading the next task…";
          window.__humanReviewSubmitted = answerContent;
          return fetch(info.claimUrl, { method: "POST", credentials: "same-origin" });
        });
      }).then(function (r) {
        if (r.status === 200) return r.json().then(function (t) { window.location.href = info.taskBase + encodeURIComponent(t.taskId); });
        window.location.href = info.homeUrl + "?msg=" + encodeURIComponent("Thank you: no more tasks in this queue for you.");
      }).catch(function (e) {
        button.disabled = false;
        self.status.className = "hr-status hr-error";
        self.status.textContent = "Could not submit: " + e.message;
      });
    }
  });

  // ---- anything else: a visible warning, never a blank page -------------------------------------
  function warnUnsupported(root) {
    root.querySelectorAll("*").forEach(function (node) {
      var name = node.localName;
      if (name.indexOf("crowd-") !== 0 || SUPPORTED.indexOf(name) >= 0 || node.dataset.hrWarned) return;
      node.dataset.hrWarned = "1";
      warn(node, "<" + name + "> is not supported by the local review service: this part of the task cannot be shown or answered here.");
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { warnUnsupported(document); });
  else warnUnsupported(document);
})();
