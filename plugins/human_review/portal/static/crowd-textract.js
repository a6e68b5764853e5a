/*
 * crowd-textract-analyze-document for the local review service (loaded by crowd-html-elements.js):
 * the reviewer checks the key-value pairs Amazon Textract's AnalyzeDocument found on a document.
 * AWS's page: https://docs.aws.amazon.com/sagemaker/latest/dg/a2i-crowd-textract-detection.html
 * (attributes header, src, initial-value, block-types, keys, no-key-edit, no-geometry-edit; children
 * short-instructions, full-instructions). The answer shape, with its sources, is in
 * human_review/portal/elements.py:
 *
 *   {"AWS/Textract/AnalyzeDocument/Forms/V1": {blocks: [
 *     {blockType: "KEY_VALUE_SET", id, relationships: [{type: "CHILD", ids}, {type: "VALUE", ids: [valueId]}],
 *      entityTypes: ["KEY"], text, geometry?}, ...the other KEY blocks,
 *     {blockType: "KEY_VALUE_SET", id: valueId, relationships: [{type: "CHILD", ids}], entityTypes: ["VALUE"], text, geometry?}, ...]}}
 *
 * What the element does here:
 * - `initial-value` is Textract's Blocks, PascalCase as AnalyzeDocument returns them or camelCase as
 *   A2I's task input and AWS's own examples write them (both are read). A KEY_VALUE_SET block's text
 *   is its `Text` when it has one, else its CHILD WORD blocks' texts joined by spaces (a
 *   SELECTION_ELEMENT child reads as its SelectionStatus). A KEY finds its VALUE through its
 *   Relationship of Type "VALUE".
 * - The document image with every key's and value's box (Geometry.BoundingBox, ratios of the page);
 *   beside it the pairs: value text editable, key text too unless `no-key-edit`. Clicking a pair or
 *   a box highlights the pair's boxes. Per pair: "Value is blank" (VALUE text "") and "Not a valid
 *   key-value pair" (the pair is left out of the answer).
 * - `keys`: the important form keys (strings, or {importantFormKey, importantFormKeyAliases}; "*"
 *   is ignored). One that no valid pair's key matches (case-insensitively, ignoring surrounding
 *   spaces and a trailing colon, by its name or an alias) is listed: the reviewer types its value
 *   (a new KEY and VALUE pair, fresh ids, no geometry) or chooses "Key not found" (nothing added).
 *   The form refuses to submit until each of them is answered.
 * - Unlike the other elements, an untouched textract element is NOT omitted: the reviewed pairs are
 *   the answer A2I's Textract integration returns, so the pairs are submitted as they stand.
 * - `value` reads the answer part; `initialValue` and `value` (which sets the initial value) and
 *   `keys` are assignable before or after load, as are the `initial-value` and `keys` attributes.
 *
 * What it does not do: boxes are never editable (as with `no-geometry-edit`, which AWS's templates
 * always set), blocks other than KEY_VALUE_SET are not reviewed (`block-types` warns about others;
 * AWS supports only KEY_VALUE_SET too), one page only (the `src` image; `Page` is not read), no new
 * pairs beyond the important keys, and no confidence scores are shown or returned.
 */
(function () {
  "use strict";
  var C = window.__hrCrowd;
  if (!C || window.__hrCrowdTextract) return;
  window.__hrCrowdTextract = true;
  var el = C.el, parseLoose = C.parseLoose;
  var ANSWER_KEY = "AWS/Textract/AnalyzeDocument/Forms/V1";
  var KVS = "KEY_VALUE_SET";

  // Textract's PascalCase (BlockType, Geometry.BoundingBox.Width, Polygon[{X, Y}]) to camelCase.
  function camel(v) {
    if (Array.isArray(v)) return v.map(camel);
    if (!v || typeof v !== "object") return v;
    var o = {};
    Object.keys(v).forEach(function (k) { o[k.charAt(0).toLowerCase() + k.slice(1)] = camel(v[k]); });
    return o;
  }

  // The blocks of an initial value: a list of blocks, {Blocks | blocks: [...]}, or this element's own
  // answer ({"AWS/Textract/...": {blocks}}), given as an object or as JSON text.
  function blocksOf(v) {
    if (typeof v === "string") v = v.trim() ? parseLoose(v) : null;
    if (v && typeof v === "object" && !Array.isArray(v) && v[ANSWER_KEY]) v = v[ANSWER_KEY];
    v = camel(v);
    if (v && typeof v === "object" && !Array.isArray(v)) v = v.blocks;
    return Array.isArray(v) ? v.filter(function (b) { return b && typeof b === "object"; }) : [];
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    // crypto.randomUUID needs a secure context; a portal served over plain http on a LAN has none.
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  function idsOf(block, type) {
    var out = [];
    ((block && block.relationships) || []).forEach(function (r) {
      if (r && r.type === type && Array.isArray(r.ids)) out = out.concat(r.ids.filter(function (i) { return typeof i === "string"; }));
    });
    return out;
  }

  function isEntity(block, type) {
    return !!block && block.blockType === KVS && Array.isArray(block.entityTypes) && block.entityTypes.indexOf(type) >= 0;
  }

  function finite(n) { return typeof n === "number" && isFinite(n); }

  // {boundingBox: {width, height, left, top}[, polygon: [{x, y}]]}, or null without a usable box.
  function geometryOf(block) {
    var g = block && block.geometry, bb = g && g.boundingBox;
    if (!bb || !["width", "height", "left", "top"].every(function (k) { return finite(bb[k]); })) return null;
    var out = { boundingBox: { width: bb.width, height: bb.height, left: bb.left, top: bb.top } };
    if (Array.isArray(g.polygon) && g.polygon.every(function (p) { return p && finite(p.x) && finite(p.y); })) {
      out.polygon = g.polygon.map(function (p) { return { x: p.x, y: p.y }; });
    }
    return out;
  }

  function norm(text) { return String(text || "").toLowerCase().replace(/\s+/g, " ").trim().replace(/\s*:$/, ""); }

  // Important keys: "Phone", {importantFormKey: "Phone", importantFormKeyAliases: ["Tel."]} (either case).
  function importantKeys(list) {
    if (typeof list === "string") list = list.trim() ? parseLoose(list) : [];
    if (!Array.isArray(list)) list = list ? [list] : [];
    return camel(list).map(function (k) {
      if (typeof k === "string") return { importantFormKey: k, importantFormKeyAliases: [] };
      if (!k || typeof k !== "object" || typeof k.importantFormKey !== "string") return null;
      var aliases = Array.isArray(k.importantFormKeyAliases) ? k.importantFormKeyAliases.filter(function (a) { return typeof a === "string"; }) : [];
      return { importantFormKey: k.importantFormKey, importantFormKeyAliases: aliases };
    }).filter(function (k) { return k && k.importantFormKey.trim() && k.importantFormKey.trim() !== "*"; });
  }

  var KEY_COLOR = "#1e88e5", VALUE_COLOR = "#2e7d32", SELECTED_COLOR = "#ff9900";

  customElements.define("crowd-textract-analyze-document", class extends C.CrowdElement {
    static get observedAttributes() { return ["initial-value", "value", "keys"]; }
    attributeChangedCallback(name, old, value) {
      if (name !== "keys") { super.attributeChangedCallback(name, old, value); return; }
      if (!this._ready || old === value) return;
      try { this.keys = value === null ? [] : value; } catch (e) { C.warn(this, "<" + this.localName + "> attribute keys is not valid JSON"); }
    }
    setup() {
      var self = this, pendingKeys;
      // `keys` is this element's own property: one a script set before the upgrade is taken over.
      if (Object.prototype.hasOwnProperty.call(this, "keys")) { pendingKeys = this.keys; delete this.keys; }
      var instructions = C.takeChildren(this, ["short-instructions", "full-instructions"]);
      this.style.display = "block";  // a custom element is inline by default; this one holds blocks
      C.header(this);
      this.selected = -1;
      this.pairs = [];
      this.keyRows = [];
      this._keys = [];
      var ui = el("div", { "data-crowd-internal": "", "class": "hr-tx", style: "display:flex;gap:1.5rem;flex-wrap:wrap;align-items:flex-start;margin:.5rem 0" });
      this.stage = el("div", { "class": "hr-tx-stage", style: "position:relative;display:inline-block;border:1px solid #ccc;background:#eee;line-height:0" });
      this.img = el("img", { src: this.getAttribute("src") || "", alt: "document to review", draggable: "false", style: "display:block;max-width:640px" });
      this.img.addEventListener("error", function () {
        self.stage.appendChild(el("div", { "class": "hr-image-error", style: "padding:1rem;color:#a00;line-height:normal" }, "The document image could not be loaded."));
      });
      this.layer = el("div", { "class": "hr-tx-layer", style: "position:absolute;left:0;top:0;right:0;bottom:0" });
      this.layer.addEventListener("click", function (ev) {
        var i = ev.target.dataset && ev.target.dataset.index;
        if (i !== undefined) { self.select(+i); self.pairs[+i].li.scrollIntoView({ block: "nearest" }); }
      });
      this.stage.appendChild(this.img);
      this.stage.appendChild(this.layer);
      var panel = el("div", { "class": "hr-tx-panel", style: "flex:1;min-width:320px;max-width:600px" });
      panel.appendChild(el("h4", { style: "margin:.25rem 0" }, "Key-value pairs"));
      panel.appendChild(el("small", { style: "display:block;margin-bottom:.5rem" },
        "Click a pair to highlight it on the document (blue: key, green: value). Correct the text if it does not match the document."));
      this.list = el("ol", { "class": "hr-tx-pairs", style: "list-style:none;padding:0;margin:0" });
      panel.appendChild(this.list);
      this.missing = el("div", { "class": "hr-tx-missing", style: "margin-top:1rem" });
      panel.appendChild(this.missing);
      ui.appendChild(this.stage);
      ui.appendChild(panel);
      this.insertBefore(ui, instructions[0] || null);
      var types = C.parseJSONAttr(this, "block-types", [KVS]);
      var others = (Array.isArray(types) ? types : [types]).filter(function (t) { return t !== KVS; });
      if (others.length) C.warn(this, "<" + this.localName + "> reviews KEY_VALUE_SET blocks only; block-types " + others.join(", ") + " are not shown.");
      this.keys = pendingKeys !== undefined ? pendingKeys : C.parseJSONAttr(this, "keys", []);
      this.initialValue = C.parseJSONAttr(this, "initial-value", null);
    }
    applyAttribute(prop, v) { if (prop === "initialValue" || prop === "value") this.initialValue = v; }

    get initialValue() { return this._initial === undefined ? null : this._initial; }
    set initialValue(v) {
      this._initial = v === undefined ? null : v;
      this.load(blocksOf(this._initial));
    }
    get keys() { return this._keys.map(function (k) { return { importantFormKey: k.importantFormKey, importantFormKeyAliases: k.importantFormKeyAliases.slice() }; }); }
    set keys(list) {
      this._keys = importantKeys(list);
      this.renderKeys();
    }

    // The pairs of the blocks: each KEY, with the VALUE its "VALUE" relationship names.
    load(blocks) {
      var byId = {};
      blocks.forEach(function (b) { if (typeof b.id === "string") byId[b.id] = b; });
      function textOf(b) {
        if (!b) return "";
        if (typeof b.text === "string" && b.text !== "") return b.text;
        return idsOf(b, "CHILD").map(function (id) {
          var c = byId[id];
          if (!c) return "";
          if (c.blockType === "SELECTION_ELEMENT") return c.selectionStatus || "";
          return c.blockType === "WORD" && typeof c.text === "string" ? c.text : "";
        }).filter(function (t) { return t; }).join(" ");
      }
      this.selected = -1;
      this.pairs = blocks.filter(function (b) { return isEntity(b, "KEY") && typeof b.id === "string"; }).map(function (k) {
        var vid = idsOf(k, "VALUE")[0], v = vid ? byId[vid] : null;
        return { key: k, value: v || null, keyId: k.id, valueId: vid || uuid(), keyText: textOf(k), valueText: textOf(v) };
      });
      this.renderPairs();
    }

    renderPairs() {
      var self = this;
      this.list.textContent = "";
      if (!this.pairs.length) this.list.appendChild(el("li", { "class": "hr-tx-none" }, "The model found no key-value pairs on this document."));
      this.pairs.forEach(function (p, i) {
        var li = el("li", { "class": "hr-tx-pair", style: "position:relative;border:1px solid #ccc;border-radius:4px;padding:.4rem .6rem;margin:.6rem 0 .4rem;background:#fff;cursor:pointer" });
        li.dataset.index = i;
        var keyLabel = el("label", { style: "display:block" });
        keyLabel.appendChild(el("span", { style: "display:inline-block;width:3.5rem;color:" + KEY_COLOR + ";font-weight:bold" }, "Key"));
        p.keyInput = el("input", { type: "text", "class": "hr-tx-key", style: "width:calc(100% - 4rem)" });
        p.keyInput.value = p.keyText;
        if (self.hasAttribute("no-key-edit")) { p.keyInput.readOnly = true; p.keyInput.style.background = "#f4f4f4"; p.keyInput.style.border = "1px solid #ddd"; }
        keyLabel.appendChild(p.keyInput);
        var valueLabel = el("label", { style: "display:block;margin-top:.25rem" });
        valueLabel.appendChild(el("span", { style: "display:inline-block;width:3.5rem;color:" + VALUE_COLOR + ";font-weight:bold" }, "Value"));
        p.valueInput = el("input", { type: "text", "class": "hr-tx-value", style: "width:calc(100% - 4rem)" });
        p.valueInput.value = p.valueText;
        valueLabel.appendChild(p.valueInput);
        var flags = el("div", { style: "margin-top:.25rem;font-size:.9rem" });
        var blankLabel = el("label", { style: "margin-right:1rem" });
        p.blank = el("input", { type: "checkbox", "class": "hr-tx-blank" });
        blankLabel.appendChild(p.blank);
        blankLabel.appendChild(document.createTextNode(" Value is blank"));
        var invalidLabel = el("label", {});
        p.invalid = el("input", { type: "checkbox", "class": "hr-tx-invalid" });
        invalidLabel.appendChild(p.invalid);
        invalidLabel.appendChild(document.createTextNode(" Not a valid key-value pair"));
        flags.appendChild(blankLabel);
        flags.appendChild(invalidLabel);
        p.badge = el("span", { "class": "hr-tx-important-badge", style: "display:none;position:absolute;right:.5rem;top:-.65rem;font-size:.75rem;background:#fff3b0;border:1px solid #e0b000;padding:0 .3rem;border-radius:3px" }, "important key");
        li.appendChild(p.badge);
        li.appendChild(keyLabel);
        li.appendChild(valueLabel);
        li.appendChild(flags);
        p.blank.addEventListener("change", function () {
          if (p.blank.checked) { p.savedValue = p.valueInput.value; p.valueInput.value = ""; }
          else if (!p.valueInput.value && p.savedValue) p.valueInput.value = p.savedValue;
          p.valueInput.disabled = p.blank.checked;
        });
        p.invalid.addEventListener("change", function () {
          li.style.opacity = p.invalid.checked ? ".5" : "";
          [p.keyInput, p.valueInput, p.blank].forEach(function (c) { c.disabled = p.invalid.checked || (c === p.valueInput && p.blank.checked); });
          self.refreshKeys();
          self.drawBoxes();
        });
        p.keyInput.addEventListener("input", function () { self.refreshKeys(); });
        li.addEventListener("click", function () { self.select(i); });
        li.addEventListener("focusin", function () { self.select(i); });
        p.li = li;
        self.list.appendChild(li);
      });
      this.refreshKeys();
      this.drawBoxes();
    }

    select(i) {
      if (this.selected === i) return;
      this.selected = i;
      this.pairs.forEach(function (p, j) {
        p.li.classList.toggle("hr-selected", i === j);
        p.li.style.outline = i === j ? "3px solid " + SELECTED_COLOR : "";
      });
      this.drawBoxes();
    }

    drawBoxes() {
      var self = this;
      this.layer.textContent = "";
      this.pairs.forEach(function (p, i) {
        [["key", p.key, KEY_COLOR], ["value", p.value, VALUE_COLOR]].forEach(function (part) {
          var g = geometryOf(part[1]);
          if (!g) return;
          var bb = g.boundingBox, on = i === self.selected;
          var d = el("div", {
            "class": "hr-tx-box hr-tx-box-" + part[0] + (on ? " hr-selected" : ""),
            title: part[0] + ": " + (part[0] === "key" ? p.keyInput.value : p.valueInput.value),
            style: "position:absolute;box-sizing:border-box;cursor:pointer;left:" + bb.left * 100 + "%;top:" + bb.top * 100 +
              "%;width:" + bb.width * 100 + "%;height:" + bb.height * 100 + "%;border:" + (on ? "3px solid " + SELECTED_COLOR : "2px " +
              (p.invalid.checked ? "dashed " : "solid ") + part[2]) + ";background:" + (on ? "rgba(255,153,0,.18)" : part[2] + "1f")
          });
          d.dataset.index = i;
          self.layer.appendChild(d);
        });
      });
    }

    // One row per important key; shown while no valid pair's key matches it.
    renderKeys() {
      var self = this;
      this.missing.textContent = "";
      this.missingHeading = el("h4", { style: "margin:.25rem 0" }, "Important keys not found by the model");
      this.missing.appendChild(this.missingHeading);
      this.missing.appendChild(el("small", { style: "display:block;margin-bottom:.25rem" },
        "Find each key on the document and type its value, or choose Key not found."));
      this.keyRows = this._keys.map(function (k) {
        var row = el("div", { "class": "hr-tx-key-row", style: "border:1px dashed #e0b000;border-radius:4px;padding:.4rem .6rem;margin:.4rem 0;background:#fffbe6" });
        row.dataset.key = k.importantFormKey;
        row.appendChild(el("strong", { "class": "hr-tx-key-name" }, k.importantFormKey));
        if (k.importantFormKeyAliases.length) row.appendChild(el("small", {}, " (also: " + k.importantFormKeyAliases.join(", ") + ")"));
        var r = { key: k, row: row, keyId: uuid(), valueId: uuid(), found: false };
        var valueLabel = el("label", { style: "display:block;margin-top:.25rem" });
        valueLabel.appendChild(el("span", { style: "display:inline-block;width:3.5rem;color:" + VALUE_COLOR + ";font-weight:bold" }, "Value"));
        r.input = el("input", { type: "text", "class": "hr-tx-key-value", placeholder: "its value on the document", style: "width:calc(100% - 4rem)" });
        valueLabel.appendChild(r.input);
        var nf = el("label", { style: "display:block;margin-top:.25rem;font-size:.9rem" });
        r.notFound = el("input", { type: "checkbox", "class": "hr-tx-not-found" });
        nf.appendChild(r.notFound);
        nf.appendChild(document.createTextNode(" Key not found"));
        r.input.addEventListener("input", function () { if (r.input.value.trim()) r.notFound.checked = false; });
        r.notFound.addEventListener("change", function () { if (r.notFound.checked) r.input.value = ""; });
        row.appendChild(valueLabel);
        row.appendChild(nf);
        self.missing.appendChild(row);
        return r;
      });
      this.refreshKeys();
    }

    refreshKeys() {
      if (!this.keyRows || !this.missing) return;
      var live = (this.pairs || []).filter(function (p) { return p.keyInput && !p.invalid.checked; });
      var names = function (k) { return [k.importantFormKey].concat(k.importantFormKeyAliases).map(norm); };
      var anyMissing = false;
      this.keyRows.forEach(function (r) {
        var n = names(r.key);
        r.found = live.some(function (p) { return n.indexOf(norm(p.keyInput.value)) >= 0; });
        r.row.style.display = r.found ? "none" : "";
        if (!r.found) anyMissing = true;
      });
      (this.pairs || []).forEach(function (p) {
        if (!p.badge) return;
        var important = this.keyRows.some(function (r) { return names(r.key).indexOf(norm(p.keyInput.value)) >= 0; });
        p.badge.style.display = important ? "" : "none";
      }, this);
      this.missing.style.display = anyMissing ? "" : "none";
    }

    validate() {
      var open = this.keyRows.filter(function (r) { return !r.found && !r.notFound.checked && !r.input.value.trim(); })
        .map(function (r) { return r.key.importantFormKey; });
      if (open.length) return "Important keys not answered: " + open.join(", ") + ". Type each one's value from the document, or choose Key not found.";
      return null;
    }

    // The review is the answer: never omitted, even untouched (see the top of this file).
    omitted() { return false; }

    get value() {
      var keys = [], values = [];
      function block(orig, id, entity, text, valueId) {
        var rels = [], children = idsOf(orig, "CHILD");
        if (children.length) rels.push({ type: "CHILD", ids: children });
        if (valueId) rels.push({ type: "VALUE", ids: [valueId] });
        var b = { blockType: KVS, id: id, relationships: rels, entityTypes: [entity], text: text };
        var g = geometryOf(orig);
        if (g) b.geometry = g;
        return b;
      }
      (this.pairs || []).forEach(function (p) {
        if (p.invalid.checked) return;
        keys.push(block(p.key, p.keyId, "KEY", p.keyInput.value.trim(), p.valueId));
        values.push(block(p.value, p.valueId, "VALUE", p.blank.checked ? "" : p.valueInput.value.trim(), null));
      });
      (this.keyRows || []).forEach(function (r) {
        var typed = r.input.value.trim();
        if (r.found || r.notFound.checked || !typed) return;
        keys.push(block(null, r.keyId, "KEY", r.key.importantFormKey, r.valueId));
        values.push(block(null, r.valueId, "VALUE", typed, null));
      });
      return { blocks: keys.concat(values) };
    }
    set value(v) { this.initialValue = v; }
    crowdAnswer() { var o = {}; o[ANSWER_KEY] = this.value; return o; }
  });
})();
