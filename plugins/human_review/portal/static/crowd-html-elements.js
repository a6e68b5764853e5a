/*
 * crowd-html-elements for the local review service: this project's own implementation of the
 * elements A2I worker templates use (a stand-in for https://assets.crowd.aws/crowd-html-elements.js;
 * nothing is loaded from outside). Each element contributes to the answerContent AWS documents; the
 * shapes, with the AWS pages they come from, are listed in human_review/portal/elements.py.
 *
 * This file: the shared helpers (window.__hrCrowd), crowd-form, the display elements, the simple
 * inputs, the classifiers and the moderation element. It loads, in order, crowd-annotators.js
 * (bounding box, keypoint, polygon, polyline, line, semantic and instance segmentation),
 * crowd-text-elements.js (entity annotation, card) and crowd-textract.js
 * (crowd-textract-analyze-document), then fires `all-crowd-elements-ready` on the document, as
 * AWS's script does, once every element is defined and upgraded.
 *
 * The JavaScript API templates script against: properties `labels`, `categories`, `value` and
 * `initialValue` are assignable, before or after load (and the matching attributes may change);
 * `value` reads every answering element's answer; crowd-form's `submit` event (an `onsubmit`
 * handler or a listener) runs once per click, and one that throws or calls preventDefault() stops
 * the submission; native `required`, `min`, `max` and `pattern` on plain inputs and selects are
 * enforced; an element the reviewer left untouched is omitted from the answer, as AWS does
 * (except crowd-textract-analyze-document, whose reviewed key-value pairs are always the answer).
 * Any other crowd-* element shows a visible warning, and the form refuses to submit.
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
    "crowd-polyline", "crowd-line", "crowd-semantic-segmentation", "crowd-instance-segmentation",
    "crowd-entity-annotation", "crowd-card", "crowd-alert", "crowd-instructions",
    "short-instructions", "full-instructions", "crowd-textract-analyze-document"];
  window.__humanReviewSupportedElements = SUPPORTED.slice();
  var SCRIPT_SRC = document.currentScript ? document.currentScript.src : "";
  var MORE_SCRIPTS = ["crowd-annotators.js", "crowd-text-elements.js", "crowd-textract.js"];

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "style") e.style.cssText = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // JSON attributes; AWS's own examples also use JavaScript literals: single quotes, unquoted keys
  // and trailing commas (['a', 'b'], { name: "x", parentName: "y", },).
  function parseLoose(raw) {
    if (typeof raw !== "string") return raw;
    try { return JSON.parse(raw); } catch (e) { /* fall through */ }
    var fixed = raw.replace(/'((?:[^'\\]|\\.)*)'/g, function (_m, s) { return JSON.stringify(s.replace(/\\'/g, "'")); })
      .replace(/([{,]\s*)([A-Za-z_$][A-Za-z0-9_$]*)\s*:/g, '$1"$2":')
      .replace(/,(\s*[\]}])/g, "$1");
    return JSON.parse(fixed);
  }

  function warn(node, message) {
    var w = el("div", { "class": "hr-unsupported", role: "alert",
      style: "background:#fff3b0;border:2px solid #e0b000;color:#5a4500;padding:.5rem .8rem;margin:.5rem 0;font-weight:bold" }, message);
    if (node.parentNode) node.parentNode.insertBefore(w, node);
    return w;
  }

  function parseJSONAttr(node, name, fallback) {
    var raw = node.getAttribute(name);
    if (raw === null || raw.trim() === "") return fallback;
    try { return parseLoose(raw); } catch (e) {
      warn(node, "<" + node.localName + "> attribute " + name + " is not valid JSON");
      return fallback;
    }
  }

  function taskInfo() {
    var m = document.getElementById("hr-task");
    return m ? m.dataset : {};
  }

  function nameOf(node, fallback) { return node.getAttribute("name") || fallback; }

  function header(node) {
    if (node.getAttribute("header")) node.insertBefore(el("h3", { "class": "hr-header" }, node.getAttribute("header")), node.firstChild);
  }

  function takeChildren(node, names) {
    var out = [];
    Array.prototype.slice.call(node.children).forEach(function (c) { if (names.indexOf(c.localName) >= 0) out.push(c); });
    return out;
  }

  function categoryName(c) { return typeof c === "string" ? c : (c && (c.name || c.text || c.label)) || String(c); }

  // Properties a template may set before the element is upgraded (an inline script runs before this
  // deferred one): the value set on the plain element is taken over once the class is in place.
  var API_PROPERTIES = ["labels", "categories", "value", "initialValue"];
  var ATTRIBUTE_PROPERTY = { "labels": "labels", "categories": "categories", "value": "value", "initial-value": "initialValue" };

  class CrowdElement extends HTMLElement {
    static get observedAttributes() { return Object.keys(ATTRIBUTE_PROPERTY); }
    connectedCallback() {
      if (this._ready) return;
      var self = this, pending = {};
      API_PROPERTIES.forEach(function (p) {
        if (Object.prototype.hasOwnProperty.call(self, p)) { pending[p] = self[p]; delete self[p]; }
      });
      this._ready = true;
      this._touched = false;
      this.setup();
      // Anything the reviewer does inside the element counts as touching it.
      ["input", "change", "mousedown", "keydown"].forEach(function (t) {
        self.addEventListener(t, function (ev) { if (ev.isTrusted) self._touched = true; }, true);
      });
      Object.keys(pending).forEach(function (p) { self[p] = pending[p]; });
    }
    attributeChangedCallback(name, old, value) {
      if (!this._ready || old === value || this._reflecting) return;
      var prop = ATTRIBUTE_PROPERTY[name];
      if (prop && typeof this.applyAttribute === "function") this.applyAttribute(prop, value === null ? null : parseLoose(value));
    }
    setup() {}
    // Returns an error message when the worker still has to do something, else null.
    validate() { return null; }
    // True when the element's part is left out of the answer (AWS omits untouched elements).
    omitted() { return false; }
  }

  window.__hrCrowd = {
    el: el, parseLoose: parseLoose, parseJSONAttr: parseJSONAttr, warn: warn, nameOf: nameOf,
    header: header, takeChildren: takeChildren, categoryName: categoryName, CrowdElement: CrowdElement,
    // d3's category10, the palette AWS's segmentation tools use.
    PALETTE: ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
  };

  // ---- display elements -----------------------------------------------------------------------
  class Instructions extends CrowdElement {
    static get observedAttributes() { return []; }
    setup() {
      this.style.display = "block";
      this.style.margin = ".5rem 0";
      this.style.padding = ".5rem .8rem";
      this.style.background = "#f2f8fd";
      this.style.borderLeft = "3px solid #0073bb";
      var h = this.getAttribute("header") || this.getAttribute("link-text") ||
        (this.localName === "full-instructions" ? "Full instructions" : "Instructions");
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
    static get observedAttributes() { return []; }
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
    static get observedAttributes() { return []; }
    setup() {
      var b = el("button", { type: this.getAttribute("form-action") === "submit" ? "submit" : "button", "data-crowd-internal": "" });
      while (this.firstChild) b.appendChild(this.firstChild);
      if (this.hasAttribute("disabled")) b.disabled = true;
      this.appendChild(b);
    }
  });

  // ---- simple form inputs ---------------------------------------------------------------------
  // crowd-input: {name: "text"} (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-crowd-input.html)
  customElements.define("crowd-input", class extends CrowdElement {
    setup() {
      var label = el("label", { style: "display:block;margin:.4rem 0" });
      label.appendChild(document.createTextNode((this.getAttribute("label") || "") + " "));
      this.input = el("input", { type: this.getAttribute("type") || "text", "data-crowd-internal": "" });
      var self = this;
      ["placeholder", "max-length", "min-length", "min", "max", "step", "pattern"].forEach(function (a) {
        if (self.hasAttribute(a)) self.input.setAttribute(a.replace("-length", "length"), self.getAttribute(a));
      });
      if (this.hasAttribute("value")) this.input.value = this.getAttribute("value");
      if (this.hasAttribute("disabled")) this.input.disabled = true;
      if (this.hasAttribute("required")) this.input.required = true;
      label.appendChild(this.input);
      this.appendChild(label);
    }
    applyAttribute(prop, v) { if (prop === "value") this.value = v; }
    get value() { return this.input ? this.input.value : this.getAttribute("value") || ""; }
    set value(v) { if (this.input) this.input.value = v === null || v === undefined ? "" : String(v); }
    validate() {
      if (this.hasAttribute("required") && !this.input.value) return (this.getAttribute("label") || this.getAttribute("name")) + ": required";
      if (!this.input.checkValidity()) return (this.getAttribute("label") || this.getAttribute("name")) + ": " + this.input.validationMessage;
      return null;
    }
    omitted() { return !this._touched && this.input.value === ""; }
    crowdAnswer() { var o = {}; o[nameOf(this, "input")] = this.input.value; return o; }
  });

  // crowd-text-area: {name: "text"} (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-crowd-text-area.html)
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
    applyAttribute(prop, v) { if (prop === "value") this.value = v; }
    get value() { return this.area ? this.area.value : ""; }
    set value(v) { if (this.area) this.area.value = v === null || v === undefined ? "" : String(v); }
    validate() {
      if (this.hasAttribute("required") && !this.area.value) return (this.getAttribute("label") || this.getAttribute("name")) + ": required";
      return null;
    }
    omitted() { return !this._touched && this.area.value === ""; }
    crowdAnswer() { var o = {}; o[nameOf(this, "textArea")] = this.area.value; return o; }
  });

  // crowd-checkbox: {name: {value: checked}}; boxes sharing a name merge into one object
  // (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-crowd-checkbox.html)
  customElements.define("crowd-checkbox", class extends CrowdElement {
    static get observedAttributes() { return []; }
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
    set checked(v) { if (this.box) this.box.checked = !!v; }
    get value() { return this.getAttribute("value") || "on"; }
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
    static get observedAttributes() { return []; }
    setup() {
      this.style.display = "block";
      this.group = "hr-radio-" + Math.random().toString(36).slice(2);
      this.setAttribute("role", "radiogroup");
    }
    get value() {
      var b = Array.prototype.find.call(this.querySelectorAll("crowd-radio-button"), function (r) { return r.checked; });
      return b ? b.getAttribute("value") || b.getAttribute("name") : null;
    }
    validate() {
      if (this.hasAttribute("required") && !this.querySelector("input[type=radio]:checked")) return "Pick one option";
      return null;
    }
  });

  // crowd-radio-button: {buttonName: {buttonValue: checked}} per button
  // (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-crowd-radio-button.html)
  customElements.define("crowd-radio-button", class extends CrowdElement {
    static get observedAttributes() { return []; }
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
    set checked(v) { if (this.radio) this.radio.checked = !!v; }
    crowdAnswer() {
      var o = {}; o[nameOf(this, "radio")] = {}; o[nameOf(this, "radio")][this.getAttribute("value") || "on"] = this.radio.checked; return o;
    }
  });

  // crowd-slider: {name: number} (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-crowd-slider.html)
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
    applyAttribute(prop, v) { if (prop === "value") this.value = v; }
    get value() { return this.range ? +this.range.value : 0; }
    set value(v) { if (this.range) { this.range.value = v; this.out.textContent = this.range.value; } }
    omitted() { return !this._touched && !this.hasAttribute("value"); }
    crowdAnswer() { var o = {}; o[nameOf(this, "slider")] = +this.range.value; return o; }
  });

  // ---- classifiers ----------------------------------------------------------------------------
  // crowd-classifier, crowd-image-classifier: {name: {label: "x"}}; the multi-select kinds:
  // {name: {labels: ["x", ...]}} (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-crowd-classifier.html,
  // ...-crowd-classifier-multi-select.html, ...-crowd-image-classifier.html, ...-crowd-image-classifier-multi-select.html)
  class Classifier extends CrowdElement {
    multi() { return false; }
    image() { return false; }
    setup() {
      var regions = takeChildren(this, ["classification-target", "short-instructions", "full-instructions"]);
      header(this);
      var box = el("div", { "data-crowd-internal": "", style: "display:flex;gap:1.5rem;flex-wrap:wrap;align-items:flex-start" });
      var left = el("div", {});
      if (this.image()) {
        left.appendChild(el("img", { src: this.getAttribute("src") || "", alt: "image to classify", style: "max-width:520px;max-height:520px;border:1px solid #ccc;background:#eee" }));
      }
      regions.forEach(function (r) { left.appendChild(r); if (r.localName === "classification-target") r.style.display = "block"; });
      this.list = el("fieldset", { style: "min-width:240px" });
      box.appendChild(left);
      box.appendChild(this.list);
      this.appendChild(box);
      this.categories = parseJSONAttr(this, "categories", []);
    }
    applyAttribute(prop, v) { if (prop === "categories") this.categories = v || []; if (prop === "value") this.value = v; }
    get categories() { return (this._categories || []).slice(); }
    set categories(list) {
      var self = this, kept = this.inputs ? this.selected() : [];
      this._categories = (Array.isArray(list) ? list : parseLoose(list) || []).map(categoryName);
      this.list.textContent = "";
      this.list.appendChild(el("legend", {}, this.multi() ? "Pick every category that applies" : "Pick one category"));
      this.inputs = [];
      var group = "hr-cls-" + Math.random().toString(36).slice(2);
      var cats = this._categories.slice();
      var exclusion = parseJSONAttr(this, "exclusion-category", null);
      if (exclusion) cats.push(categoryName(exclusion));
      if (this._noCategories) { this._noCategories.remove(); this._noCategories = null; }
      if (!cats.length) this._noCategories = warn(this, "<" + this.localName + "> has no categories");
      cats.forEach(function (c, i) {
        var label = el("label", { style: "display:block;margin:.25rem 0" });
        var input = el("input", { type: self.multi() ? "checkbox" : "radio", name: group });
        input.dataset.label = c;
        input.checked = kept.indexOf(c) >= 0;
        if (exclusion && i === cats.length - 1) input.dataset.exclusion = "1";
        input.addEventListener("change", function () {
          if (!self.multi() || !input.checked) return;
          self.inputs.forEach(function (o) { if (o !== input && (input.dataset.exclusion || o.dataset.exclusion)) o.checked = false; });
        });
        label.appendChild(input);
        label.appendChild(document.createTextNode(" " + c));
        self.list.appendChild(label);
        self.inputs.push(input);
      });
    }
    selected() { return this.inputs.filter(function (i) { return i.checked; }).map(function (i) { return i.dataset.label; }); }
    get value() { var s = this.selected(); return this.multi() ? { labels: s } : { label: s[0] }; }
    set value(v) {
      var want = v && typeof v === "object" ? (v.labels || (v.label !== undefined ? [v.label] : [])) : [v];
      this.inputs.forEach(function (i) { i.checked = want.indexOf(i.dataset.label) >= 0; });
    }
    validate() {
      if (!this.multi() && !this.selected().length) return (this.getAttribute("header") || this.getAttribute("name") || "Classifier") + ": pick a category";
      if (!this.inputs.length) return "<" + this.localName + "> has no categories to pick from";
      return null;
    }
    omitted() { return !this._touched && !this.selected().length; }
    crowdAnswer() { var o = {}; o[nameOf(this, "category")] = this.value; return o; }
  }
  customElements.define("crowd-classifier", class extends Classifier {});
  customElements.define("crowd-classifier-multi-select", class extends Classifier { multi() { return true; } });
  customElements.define("crowd-image-classifier", class extends Classifier { image() { return true; } });
  customElements.define("crowd-image-classifier-multi-select", class extends Classifier { multi() { return true; } image() { return true; } });

  // ---- crowd-rekognition-detect-moderation-labels --------------------------------------------
  // {"AWS/Rekognition/DetectModerationLabels/Image/V3": {moderationLabels: [{name, parentName}]}}
  // (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-crowd-rekognition-detect-moderation-labels.html;
  // "None of these" gives an empty list, and the reviewer must choose: categories or none).
  customElements.define("crowd-rekognition-detect-moderation-labels", class extends CrowdElement {
    setup() {
      var box = el("div", { "data-crowd-internal": "", style: "display:flex;gap:1.5rem;flex-wrap:wrap;align-items:flex-start" });
      header(this);
      var img = el("img", { src: this.getAttribute("src") || "", alt: "image to review", style: "max-width:520px;max-height:520px;border:1px solid #ccc;background:#eee" });
      this.list = el("fieldset", { style: "min-width:260px" });
      box.appendChild(img);
      box.appendChild(this.list);
      this.appendChild(box);
      this.categories = parseJSONAttr(this, "categories", []);
    }
    applyAttribute(prop, v) { if (prop === "categories") this.categories = v || []; }
    get categories() { return (this._categories || []).slice(); }
    set categories(list) {
      var self = this;
      this._categories = (Array.isArray(list) ? list : parseLoose(list) || []).map(function (c) {
        return { name: categoryName(c), parentName: (c && c.parentName) || "" };
      });
      this.list.textContent = "";
      this.list.appendChild(el("legend", {}, "Categories the image shows"));
      this.checkboxes = [];
      if (this._noCategories) { this._noCategories.remove(); this._noCategories = null; }
      if (!this._categories.length) this._noCategories = warn(this, "<" + this.localName + "> has no categories");
      this._categories.forEach(function (c) {
        var label = el("label", { style: "display:block;margin:.25rem 0" });
        var cb = el("input", { type: "checkbox" });
        cb.dataset.name = c.name;
        cb.dataset.parentName = c.parentName;
        cb.addEventListener("change", function () { if (cb.checked) self.none.checked = false; });
        label.appendChild(cb);
        label.appendChild(document.createTextNode(" " + c.name));
        self.list.appendChild(label);
        self.checkboxes.push(cb);
      });
      var noneLabel = el("label", { "class": "hr-none", style: "display:block;margin:.5rem 0 .25rem;border-top:1px solid #ddd;padding-top:.25rem" });
      this.none = el("input", { type: "checkbox" });
      this.none.addEventListener("change", function () { if (self.none.checked) self.checkboxes.forEach(function (cb) { cb.checked = false; }); });
      noneLabel.appendChild(this.none);
      noneLabel.appendChild(document.createTextNode(" None of these"));
      this.list.appendChild(noneLabel);
    }
    get value() {
      return { moderationLabels: this.checkboxes.filter(function (cb) { return cb.checked; })
        .map(function (cb) { return { name: cb.dataset.name, parentName: cb.dataset.parentName }; }) };
    }
    validate() {
      if (!this.checkboxes.length) return "The moderation task shows no categories to choose from: release it and tell the template's owner.";
      if (!this.none.checked && !this.checkboxes.some(function (cb) { return cb.checked; })) return "Choose the categories the image shows, or None of these.";
      return null;
    }
    crowdAnswer() { return { "AWS/Rekognition/DetectModerationLabels/Image/V3": this.value }; }
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
      this.button = el("button", { type: "submit", "class": "hr-submit", style: "margin-top:1rem;font-size:1.05rem" }, "Submit");
      form.appendChild(this.button);
      form.appendChild(this.status);
      form.addEventListener("submit", function (ev) {
        // The inner form's native submit must not reach the template's handlers on crowd-form:
        // they get one synthetic, cancelable `submit` per click from submitAnswers.
        ev.preventDefault();
        ev.stopPropagation();
        self.submitAnswers();
      });
    }

    submit() { this.submitAnswers(); }

    unsupported() {
      return Array.prototype.filter.call(this.querySelectorAll("*"), function (n) {
        return n.localName.indexOf("crowd-") === 0 && SUPPORTED.indexOf(n.localName) < 0;
      }).map(function (n) { return n.localName; });
    }

    plainControls() {
      return Array.prototype.filter.call(this.querySelectorAll("input, textarea, select"), function (c) {
        return !c.closest("[data-crowd-internal]") && !c.hasAttribute("data-crowd-internal");
      });
    }

    collect() {
      var answer = {};
      this.querySelectorAll("*").forEach(function (node) {
        if (typeof node.crowdAnswer === "function" && node._ready && !node.omitted()) {
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
      // Native constraints (required, min, max, pattern) on the template's own inputs and selects.
      var invalid = this.plainControls().filter(function (c) { return !c.disabled && !c.checkValidity(); });
      invalid.forEach(function (c) {
        var name = c.getAttribute("name") || c.id || c.localName;
        out.push(name + ": " + (c.validationMessage || "invalid"));
      });
      if (invalid.length) invalid[0].reportValidity();
      return out;
    }

    // The template's own submit handlers: once per click; a handler that throws or calls
    // preventDefault() stops the submission (as on AWS).
    templateAllows() {
      var thrown = null;
      function onError(ev) { thrown = ev.error || ev.message || "error"; }
      window.addEventListener("error", onError);
      var allowed;
      try { allowed = this.dispatchEvent(new Event("submit", { cancelable: true })); }
      finally { window.removeEventListener("error", onError); }
      if (thrown) {
        this.showError("The template's submit check failed: " + (thrown && thrown.message ? thrown.message : thrown));
        return false;
      }
      return allowed;
    }

    showError(message) { this.status.textContent = message; this.status.className = "hr-status hr-error"; }

    submitAnswers() {
      var info = taskInfo();
      var self = this, button = this.button;
      if (this._submitting) return;
      if (!info.submitUrl) { this.status.textContent = "No task to submit to."; return; }
      var problems = this.problems();
      if (problems.length) { this.showError(problems.join(" ")); return; }
      if (!this.templateAllows()) return;
      var answerContent = this.collect();
      this._submitting = true;
      button.disabled = true;
      this.status.className = "hr-status";
      this.status.textContent = "Submitting…";
      var body = { answerContent: answerContent };
      if (window.__hrActiveSeconds) body.activeSeconds = Math.round(window.__hrActiveSeconds() * 1000) / 1000;
      fetch(info.submitUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body)
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (b) {
          if (!r.ok) throw new Error(b.detail || ("HTTP " + r.status));
          self.status.textContent = "Submitted. Loading the next task…";
          window.__humanReviewSubmitted = answerContent;
          return fetch(info.claimUrl, { method: "POST", credentials: "same-origin" });
        });
      }).then(function (r) {
        if (r.status === 200) return r.json().then(function (t) { window.location.href = info.taskBase + encodeURIComponent(t.taskId); });
        window.location.href = info.homeUrl + "?msg=" + encodeURIComponent("Thank you: no more tasks in this queue for you.");
      }).catch(function (e) {
        self._submitting = false;
        button.disabled = false;
        self.showError("Could not submit: " + e.message);
      });
    }
  });

  // ---- active time: what timeSpentInSeconds reports ---------------------------------------------
  // Seconds the page was visible and the reviewer active (an input event within the last 60 s).
  (function () {
    var active = 0, last = Date.now(), lastInput = Date.now();
    function tick() {
      var now = Date.now();
      if (document.visibilityState === "visible" && now - lastInput < 60000) active += (now - last) / 1000;
      last = now;
    }
    ["mousemove", "mousedown", "keydown", "wheel", "touchstart", "scroll"].forEach(function (t) {
      window.addEventListener(t, function () { tick(); lastInput = Date.now(); }, { passive: true, capture: true });
    });
    document.addEventListener("visibilitychange", tick);
    setInterval(tick, 1000);
    window.__hrActiveSeconds = function () { tick(); return active; };
  })();

  // ---- the rest of the elements, then all-crowd-elements-ready ----------------------------------
  function warnUnsupported(root) {
    root.querySelectorAll("*").forEach(function (node) {
      var name = node.localName;
      if (name.indexOf("crowd-") !== 0 || SUPPORTED.indexOf(name) >= 0 || node.dataset.hrWarned) return;
      node.dataset.hrWarned = "1";
      warn(node, "<" + name + "> is not supported by the local review service: this part of the task cannot be shown or answered here.");
    });
  }

  // AWS's task elements work without a crowd-form around them (its entity-annotation sample has
  // none): wrap the page's task in one, so it gets crowd-form's Submit and answer.
  function wrapStandalone() {
    var main = document.getElementById("hr-task");
    if (!main || document.querySelector("crowd-form")) return;
    var answering = Array.prototype.some.call(main.querySelectorAll("*"), function (n) { return typeof n.crowdAnswer === "function"; });
    if (!answering) return;
    var form = document.createElement("crowd-form");
    while (main.firstChild) form.appendChild(main.firstChild);
    main.appendChild(form);
  }

  function ready() {
    wrapStandalone();
    warnUnsupported(document);
    window.__humanReviewCrowdReady = true;
    document.dispatchEvent(new Event("all-crowd-elements-ready", { bubbles: true }));
  }

  function loadMore(i) {
    if (i >= MORE_SCRIPTS.length || !SCRIPT_SRC) {
      if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready); else ready();
      return;
    }
    var s = document.createElement("script");
    s.src = new URL(MORE_SCRIPTS[i], SCRIPT_SRC).href;
    s.onload = function () { loadMore(i + 1); };
    s.onerror = function () { loadMore(i + 1); };
    document.head.appendChild(s);
  }
  loadMore(0);
})();
