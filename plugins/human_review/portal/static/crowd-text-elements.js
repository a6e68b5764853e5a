/*
 * Text and layout elements of the local review service (loaded by crowd-html-elements.js):
 * crowd-entity-annotation and crowd-card. Answer shapes: human_review/portal/elements.py.
 */
(function () {
  "use strict";
  var C = window.__hrCrowd;
  if (!C || window.__hrCrowdText) return;
  window.__hrCrowdText = true;
  var el = C.el, parseJSONAttr = C.parseJSONAttr, parseLoose = C.parseLoose, nameOf = C.nameOf;

  // ---- crowd-entity-annotation: select a span of the text, then click its label ------------------
  // {name: {entities: [{endOffset, label, startOffset}]}} (offsets in characters of `text`, end exclusive)
  customElements.define("crowd-entity-annotation", class extends C.CrowdElement {
    setup() {
      var self = this;
      var instructions = C.takeChildren(this, ["short-instructions", "full-instructions"]);
      C.header(this);
      var ui = el("div", { "data-crowd-internal": "" });
      this.bar = el("div", { "class": "hr-entity-labels", style: "margin:.5rem 0" });
      ui.appendChild(this.bar);
      this.textBox = el("div", { "class": "hr-entity-text", style: "white-space:pre-wrap;line-height:1.9;padding:.5rem;border:1px solid #ccc;max-width:900px" });
      ui.appendChild(this.textBox);
      ui.appendChild(el("small", {}, "Select words, then click a label; click a labelled span to remove it."));
      this.insertBefore(ui, instructions[0] || null);
      this.text = this.getAttribute("text") || "";
      this.entities = [];
      this.labels = parseJSONAttr(this, "labels", []);
      this.initialValue = parseJSONAttr(this, "initial-value", null);
      this.textBox.addEventListener("click", function (ev) {
        var i = ev.target.dataset && ev.target.dataset.entity;
        if (i !== undefined) { self.entities.splice(+i, 1); self._touched = true; self.draw(); }
      });
    }
    applyAttribute(prop, v) { this[prop] = v; }
    get labels() { return (this._labels || []).slice(); }
    set labels(list) {
      var self = this;
      this._labels = (Array.isArray(list) ? list : parseLoose(list) || []).map(function (l) {
        return typeof l === "string" ? { label: l, shortDisplayName: l, fullDisplayName: l } : l;
      });
      this.bar.textContent = "";
      this._labels.forEach(function (l, i) {
        var b = el("button", { type: "button", "class": "hr-entity-label", style: "margin-right:.5rem;border-left:6px solid " + C.PALETTE[i % 10] },
          l.fullDisplayName || l.shortDisplayName || l.label);
        b.dataset.label = l.label;
        b.addEventListener("mousedown", function (ev) { ev.preventDefault(); });  // keep the selection
        b.addEventListener("click", function () { self.labelSelection(l.label); });
        self.bar.appendChild(b);
      });
      this.draw();
    }
    get initialValue() { return this._initial || null; }
    set initialValue(v) {
      this._initial = typeof v === "string" ? parseLoose(v) : v;
      this.entities = ((this._initial && this._initial.entities) || []).map(function (e) {
        return { label: e.label, startOffset: +e.startOffset, endOffset: +e.endOffset };
      });
      this.draw();
    }
    // Character offset of (node, offset) within the text box.
    offsetOf(node, offset) {
      var walker = document.createTreeWalker(this.textBox, NodeFilter.SHOW_TEXT), total = 0, n;
      while ((n = walker.nextNode())) {
        if (n === node) return total + offset;
        total += n.textContent.length;
      }
      return node === this.textBox ? (offset === 0 ? 0 : this.text.length) : -1;
    }
    labelSelection(label) {
      var sel = window.getSelection();
      if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return;
      var r = sel.getRangeAt(0);
      if (!this.textBox.contains(r.startContainer) || !this.textBox.contains(r.endContainer)) return;
      var a = this.offsetOf(r.startContainer, r.startOffset), b = this.offsetOf(r.endContainer, r.endOffset);
      if (a < 0 || b <= a) return;
      while (a < b && /\s/.test(this.text[a])) a++;
      while (b > a && /\s/.test(this.text[b - 1])) b--;
      if (b <= a) return;
      this.entities = this.entities.filter(function (e) { return e.endOffset <= a || e.startOffset >= b; });
      this.entities.push({ label: label, startOffset: a, endOffset: b });
      this.entities.sort(function (x, y) { return x.startOffset - y.startOffset; });
      this._touched = true;
      sel.removeAllRanges();
      this.draw();
    }
    draw() {
      if (!this.textBox || !this.entities) return;
      var self = this, pos = 0;
      this.textBox.textContent = "";
      this.entities.forEach(function (e, i) {
        if (e.startOffset > pos) self.textBox.appendChild(document.createTextNode(self.text.slice(pos, e.startOffset)));
        var li = (self._labels || []).map(function (l) { return l.label; }).indexOf(e.label);
        var span = el("mark", { "class": "hr-entity", title: e.label, style: "cursor:pointer;background:" + C.PALETTE[(li < 0 ? 0 : li) % 10] + "55" },
          self.text.slice(e.startOffset, e.endOffset));
        span.dataset.entity = i;
        self.textBox.appendChild(span);
        pos = e.endOffset;
      });
      if (pos < this.text.length) this.textBox.appendChild(document.createTextNode(this.text.slice(pos)));
    }
    get value() {
      return { entities: this.entities.map(function (e) { return { endOffset: e.endOffset, label: e.label, startOffset: e.startOffset }; }) };
    }
    set value(v) { this.initialValue = v; }
    crowdAnswer() { var o = {}; o[nameOf(this, "crowd-entity-annotation")] = this.value; return o; }
  });

  // ---- crowd-card: a box with an optional heading and image; no answer ---------------------------
  customElements.define("crowd-card", class extends C.CrowdElement {
    static get observedAttributes() { return []; }
    setup() {
      this.style.cssText += ";display:inline-block;vertical-align:top;margin:.5rem;padding:.5rem .8rem;border:1px solid #ccc;border-radius:4px;box-shadow:0 1px 2px rgba(0,0,0,.15);background:#fff";
      if (this.getAttribute("image")) this.insertBefore(el("img", { src: this.getAttribute("image"), alt: this.getAttribute("heading") || "", style: "display:block;max-width:100%" }), this.firstChild);
      if (this.getAttribute("heading")) this.insertBefore(el("h3", { "class": "hr-card-heading", style: "margin:.25rem 0" }, this.getAttribute("heading")), this.firstChild);
    }
  });
})();
