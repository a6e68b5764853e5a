/*
 * Image annotation elements of the local review service (loaded by crowd-html-elements.js):
 * crowd-bounding-box, crowd-keypoint, crowd-polygon, crowd-polyline, crowd-line,
 * crowd-semantic-segmentation, crowd-instance-segmentation. Answer shapes: see
 * human_review/portal/elements.py (with the AWS pages they come from). Coordinates are pixels of
 * the image's natural size; `labels`, `value` and `initialValue` are assignable properties.
 */
(function () {
  "use strict";
  var C = window.__hrCrowd;
  if (!C || window.__hrCrowdAnnotators) return;
  window.__hrCrowdAnnotators = true;
  var el = C.el, parseJSONAttr = C.parseJSONAttr, parseLoose = C.parseLoose, nameOf = C.nameOf;
  var header = C.header, takeChildren = C.takeChildren, categoryName = C.categoryName;

  // ---- shared stage: the image, a label picker, an overlay ---------------------------------------
  class ImageAnnotator extends C.CrowdElement {
    help() { return ""; }
    answerName() { return "annotatedResult"; }
    setup() {
      var self = this;
      this.selected = -1;
      takeChildren(this, ["short-instructions", "full-instructions"]).forEach(function (c) { self.appendChild(c); });
      header(this);
      var ui = el("div", { "data-crowd-internal": "" });
      var bar = el("div", { style: "margin:.5rem 0" });
      bar.appendChild(document.createTextNode("Label: "));
      this.labelSelect = el("select", { "class": "hr-label-select" });
      bar.appendChild(this.labelSelect);
      this.extraButtons(bar);
      var del = el("button", { type: "button", "class": "hr-delete", style: "margin-left:1rem" }, "Delete selected");
      del.addEventListener("click", function () { self.deleteSelected(); });
      bar.appendChild(del);
      bar.appendChild(el("small", { style: "margin-left:1rem" }, this.help()));
      ui.appendChild(bar);
      this.stage = el("div", { "class": "hr-stage", style: "position:relative;display:inline-block;user-select:none;cursor:crosshair;border:1px solid #ccc;background:#eee;min-width:200px;min-height:200px" });
      this.img = el("img", { src: this.getAttribute("src") || "", alt: "image to annotate", draggable: "false", style: "display:block;max-width:900px" });
      this.img.addEventListener("load", function () { self.imageLoaded(); self.draw(); });
      this.img.addEventListener("error", function () {
        self.stage.appendChild(el("div", { "class": "hr-image-error", style: "padding:1rem;color:#a00" }, "The image could not be loaded."));
      });
      this.stage.appendChild(this.img);
      this.layer = el("div", { style: "position:absolute;left:0;top:0;right:0;bottom:0" });
      this.stage.appendChild(this.layer);
      ui.appendChild(this.stage);
      this.insertBefore(ui, takeChildren(this, ["short-instructions", "full-instructions"])[0] || null);
      this.stage.addEventListener("mousedown", function (ev) { self.onDown(ev); });
      this.stage.addEventListener("dblclick", function (ev) { self.onDouble(ev); });
      window.addEventListener("mousemove", function (ev) { self.onMove(ev); });
      window.addEventListener("mouseup", function (ev) { self.onUp(ev); });
      document.addEventListener("keydown", function (ev) {
        if (/^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName)) return;
        if ((ev.key === "Delete" || ev.key === "Backspace") && self.selected >= 0) { ev.preventDefault(); self.deleteSelected(); }
        if (ev.key === "Enter" && self.finishCurrent) self.finishCurrent();
      });
      this.labels = parseJSONAttr(this, "labels", []);
      this.initialValue = parseJSONAttr(this, "initial-value", null);
      this.draw();
    }
    applyAttribute(prop, v) { this[prop] = v; }
    get labels() { return (this._labels || []).slice(); }
    set labels(list) {
      var self = this, current = this.labelSelect.value;
      this._labels = (Array.isArray(list) ? list : parseLoose(list) || []).map(categoryName);
      // AWS's element reflects its labels as a JSON attribute, and templates parse it from there
      // (keypoint-additional-answer-validation reads getAttribute("labels")).
      this._reflecting = true;
      this.setAttribute("labels", JSON.stringify(this._labels));
      this._reflecting = false;
      this.labelSelect.textContent = "";
      this._labels.forEach(function (l) { self.labelSelect.appendChild(el("option", { value: l }, l)); });
      if (this._labels.indexOf(current) >= 0) this.labelSelect.value = current;
    }
    get initialValue() { return this._initial === undefined ? null : this._initial; }
    set initialValue(v) {
      this._initial = v === null || v === undefined ? null : (typeof v === "string" ? parseLoose(v) : v);
      this.load(this._initial);
      this.draw();
    }
    // The label a new shape gets; null (and a notice) when the template gave no labels.
    currentLabel() {
      if (this.labelSelect.value) return this.labelSelect.value;
      if (!this._labels.length) return null;
      return this._labels[0];
    }
    extraButtons() {}
    load() {}
    imageLoaded() {}
    scale() {
      var w = this.img.naturalWidth || this.img.clientWidth || 1;
      return (this.img.clientWidth || w) / w;
    }
    point(ev) {
      // measured from the image itself: the stage has a 1 px border, so its box starts 1 px before pixel 0
      var r = this.img.getBoundingClientRect(), s = this.scale();
      var maxX = this.img.naturalWidth || Infinity, maxY = this.img.naturalHeight || Infinity;
      return { x: Math.max(0, Math.min(maxX, (ev.clientX - r.left) / s)), y: Math.max(0, Math.min(maxY, (ev.clientY - r.top) / s)) };
    }
    imageProperties() { return { height: this.img.naturalHeight || 0, width: this.img.naturalWidth || 0 }; }
    onDown() {} onMove() {} onUp() {} onDouble() {}
    deleteSelected() {}
    draw() {}
    result() { return {}; }
    get value() { return this.result(); }
    set value(v) { this.initialValue = v; }
    // AWS's own templates read this private name too (keypoint-additional-answer-validation).
    get _submittableValue() { return this.result(); }
    crowdAnswer() { var o = {}; o[nameOf(this, this.answerName())] = this.result(); return o; }
  }
  C.ImageAnnotator = ImageAnnotator;

  // ---- crowd-bounding-box: draw, move, resize (corner handles), delete ---------------------------
  // {name: {boundingBoxes: [{height, label, left, top, width}], inputImageProperties: {height, width}}},
  // and, when the template gave an initial-value, {name: {..., initialValueModified: bool}}: whether
  // the reviewer changed the boxes it was given (moved, resized, deleted one or drew another).
  customElements.define("crowd-bounding-box", class extends ImageAnnotator {
    help() { return "Drag on the image to draw a box; drag a box to move it, drag a corner to resize it; Delete removes the selected box."; }
    load(initial) {
      this.modified = false;
      this.boxes = (Array.isArray(initial) ? initial : (initial && initial.boundingBoxes) || []).map(function (b) {
        return { label: b.label, left: +b.left, top: +b.top, width: +b.width, height: +b.height };
      });
    }
    onDown(ev) {
      if (ev.button !== 0) return;
      ev.preventDefault();
      var p = this.point(ev), t = ev.target.dataset || {};
      if (t.handle !== undefined) {
        var i = +t.index, b = this.boxes[i];
        this.selected = i;
        var fx = t.handle.indexOf("w") >= 0 ? b.left + b.width : b.left;
        var fy = t.handle.indexOf("n") >= 0 ? b.top + b.height : b.top;
        this.drag = { mode: "resize", x0: fx, y0: fy, index: i };
      } else if (t.index !== undefined) {
        this.selected = +t.index;
        var bb = this.boxes[this.selected];
        this.drag = { mode: "move", dx: p.x - bb.left, dy: p.y - bb.top, index: this.selected };
      } else {
        var label = this.currentLabel();
        if (label === null) return;
        this.boxes.push({ label: label, left: p.x, top: p.y, width: 0, height: 0 });
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
      this.drag.moved = true;
      this.draw();
    }
    onUp() {
      if (!this.drag) return;
      var b = this.boxes[this.drag.index];
      if (this.drag.mode === "draw" && (b.width < 3 || b.height < 3)) {
        this.boxes.splice(this.drag.index, 1);
        this.selected = -1;
      } else if (this.drag.moved) {
        this.modified = true;
      }
      this.drag = null;
      this.draw();
    }
    deleteSelected() {
      if (this.selected < 0) return;
      this.boxes.splice(this.selected, 1);
      this.selected = -1;
      this.modified = true;
      this.draw();
    }
    draw() {
      if (!this.boxes) return;
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
    result() {
      var out = {
        boundingBoxes: this.boxes.map(function (b) {
          return { height: Math.round(b.height), label: b.label, left: Math.round(b.left), top: Math.round(b.top), width: Math.round(b.width) };
        }),
        inputImageProperties: this.imageProperties()
      };
      if (this._initial !== null && this._initial !== undefined) out.initialValueModified = !!this.modified;
      return out;
    }
  });

  // ---- crowd-keypoint: click to place, drag to move ----------------------------------------------
  // {name: {inputImageProperties: {height, width}, keypoints: [{label, x, y}]}}
  customElements.define("crowd-keypoint", class extends ImageAnnotator {
    help() { return "Click to place a point with the chosen label; drag a point to move it; Delete removes the selected point."; }
    load(initial) {
      this.points = (Array.isArray(initial) ? initial : (initial && initial.keypoints) || []).map(function (k) { return { label: k.label, x: +k.x, y: +k.y }; });
    }
    onDown(ev) {
      if (ev.button !== 0) return;
      ev.preventDefault();
      var p = this.point(ev), t = ev.target.dataset || {};
      if (t.index !== undefined) this.selected = +t.index;
      else {
        var label = this.currentLabel();
        if (label === null) return;
        this.points.push({ label: label, x: p.x, y: p.y }); this.selected = this.points.length - 1;
      }
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
      if (!this.points) return;
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
    result() {
      return {
        inputImageProperties: this.imageProperties(),
        keypoints: this.points.map(function (k) { return { label: k.label, x: Math.round(k.x), y: Math.round(k.y) }; })
      };
    }
  });

  // ---- crowd-polygon, crowd-polyline, crowd-line: shapes made of vertices ----------------------------
  // polygon:  {name: {inputImageProperties, polygons:  [{label, vertices: [{x, y}, ...]}]}} (3+ vertices, closed)
  // polyline: {name: {inputImageProperties, polylines: [{label, vertices: [{x, y}, ...]}]}} (2+ vertices, open)
  // line:     {name: {inputImageProperties, lines:     [{label, vertices: [{x, y}, {x, y}]}]}} (2 vertices)
  class VertexShapes extends ImageAnnotator {
    kind() { return "polygons"; }
    closed() { return this.kind() === "polygons"; }
    minVertices() { return this.closed() ? 3 : 2; }
    maxVertices() { return this.kind() === "lines" ? 2 : Infinity; }
    help() {
      if (this.kind() === "lines") return "Click the line's two ends; click a line to select it; Delete removes the selected line.";
      if (this.closed()) return "Click to add vertices; click the first vertex (or Close polygon) to finish; Delete removes the selected polygon.";
      return "Click to add vertices; double-click, press Enter or Finish line to end it; Delete removes the selected line.";
    }
    extraButtons(bar) {
      if (this.kind() === "lines") return;
      var self = this, b = el("button", { type: "button", "class": this.closed() ? "hr-close-polygon" : "hr-finish-line", style: "margin-left:1rem" },
        this.closed() ? "Close polygon" : "Finish line");
      b.addEventListener("click", function () { self.finishCurrent(); });
      bar.appendChild(b);
    }
    load(initial) {
      var kind = this.kind();
      this.shapes = (Array.isArray(initial) ? initial : (initial && initial[kind]) || []).map(function (p) {
        return { label: p.label, vertices: (p.vertices || []).map(function (v) { return { x: +v.x, y: +v.y }; }) };
      });
      this.current = null;
    }
    finishCurrent() {
      if (this.current && this.current.vertices.length >= this.minVertices()) { this.shapes.push(this.current); this.selected = this.shapes.length - 1; }
      this.current = null;
      this.draw();
    }
    onDown(ev) {
      if (ev.button !== 0) return;
      ev.preventDefault();
      var p = this.point(ev), t = ev.target.dataset || {};
      if (this.current) {
        var f = this.current.vertices[0], s = this.scale();
        if (this.closed() && this.current.vertices.length >= 3 && Math.hypot((p.x - f.x) * s, (p.y - f.y) * s) < 8) { this.finishCurrent(); return; }
        this.current.vertices.push(p);
        if (this.current.vertices.length >= this.maxVertices()) { this.finishCurrent(); return; }
      } else if (t.index !== undefined) {
        this.selected = +t.index;
      } else {
        var label = this.currentLabel();
        if (label === null) return;
        this.current = { label: label, vertices: [p] };
        this.selected = -1;
      }
      this.draw();
    }
    onDouble(ev) {
      if (this.closed() || !this.current) return;
      ev.preventDefault();
      // the double-click's two clicks added the same point twice: keep one
      var v = this.current.vertices, n = v.length;
      if (n >= 2 && Math.abs(v[n - 1].x - v[n - 2].x) < 1 && Math.abs(v[n - 1].y - v[n - 2].y) < 1) v.pop();
      this.finishCurrent();
    }
    deleteSelected() {
      if (this.current) { this.current = null; this.draw(); return; }
      if (this.selected >= 0) { this.shapes.splice(this.selected, 1); this.selected = -1; this.draw(); }
    }
    draw() {
      if (!this.shapes) return;
      var s = this.scale(), self = this, ns = "http://www.w3.org/2000/svg";
      this.layer.textContent = "";
      var svg = document.createElementNS(ns, "svg");
      svg.setAttribute("style", "position:absolute;left:0;top:0;width:100%;height:100%;overflow:visible");
      function shape(p, i, open) {
        var e = document.createElementNS(ns, open ? "polyline" : "polygon");
        e.setAttribute("points", p.vertices.map(function (v) { return v.x * s + "," + v.y * s; }).join(" "));
        e.setAttribute("style", "fill:" + (open ? "none" : "rgba(30,136,229,.15)") + ";stroke:" + (i === self.selected ? "#ff9900" : "#1e88e5") + ";stroke-width:3;cursor:pointer");
        e.setAttribute("class", "hr-shape");
        if (i >= 0) e.dataset.index = i;
        svg.appendChild(e);
      }
      this.shapes.forEach(function (p, i) { shape(p, i, !self.closed()); });
      if (this.current) {
        shape(this.current, -1, true);
        this.current.vertices.forEach(function (v) {
          var c = document.createElementNS(ns, "circle");
          c.setAttribute("cx", v.x * s); c.setAttribute("cy", v.y * s); c.setAttribute("r", 4);
          c.setAttribute("style", "fill:#ff9900");
          svg.appendChild(c);
        });
      }
      this.layer.appendChild(svg);
    }
    validate() { return this.current ? "Finish or delete the shape you are drawing" : null; }
    result() {
      var o = { inputImageProperties: this.imageProperties() };
      o[this.kind()] = this.shapes.map(function (p) {
        return { label: p.label, vertices: p.vertices.map(function (v) { return { x: Math.round(v.x), y: Math.round(v.y) }; }) };
      });
      return o;
    }
  }
  customElements.define("crowd-polygon", class extends VertexShapes { kind() { return "polygons"; } });
  customElements.define("crowd-polyline", class extends VertexShapes { kind() { return "polylines"; } });
  customElements.define("crowd-line", class extends VertexShapes { kind() { return "lines"; } });

  // ---- segmentation: paint label colours on a mask of the image's size --------------------------
  // semantic: {name: {inputImageProperties, labelMappings: {label: {color: "#rrggbb"}}, labeledImage: {pngImageData: base64}}}
  // instance: {name: {inputImageProperties, instances: [{color: "#rrggbb", label}], labeledImage: {pngImageData: base64}}}
  // The PNG is the mask alone: each labelled pixel in its label's (instance's) colour, the rest transparent.
  class Segmentation extends ImageAnnotator {
    instances() { return false; }
    help() {
      return this.instances() ? "Pick a label and press New instance, then paint the object; the eraser removes paint."
        : "Pick a label and paint its pixels; the eraser removes paint.";
    }
    extraButtons(bar) {
      var self = this;
      if (this.instances()) {
        var add = el("button", { type: "button", "class": "hr-new-instance", style: "margin-left:1rem" }, "New instance");
        add.addEventListener("click", function () { self.newInstance(); });
        bar.appendChild(add);
      }
      bar.appendChild(document.createTextNode(" Brush: "));
      this.brush = el("select", { "class": "hr-brush" });
      [4, 8, 16, 32].forEach(function (n) { self.brush.appendChild(el("option", { value: String(n) }, n + " px")); });
      this.brush.value = "16";
      bar.appendChild(this.brush);
      var eraseLabel = el("label", { style: "margin-left:1rem" });
      this.eraser = el("input", { type: "checkbox", "class": "hr-eraser" });
      eraseLabel.appendChild(this.eraser);
      eraseLabel.appendChild(document.createTextNode(" Eraser"));
      bar.appendChild(eraseLabel);
    }
    load() { this.instanceList = []; this.current = -1; this.ensureCanvas(); if (this.ctx) this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height); }
    ensureCanvas() {
      if (!this.canvas) {
        this.canvas = el("canvas", { "class": "hr-mask", style: "position:absolute;left:0;top:0;width:100%;height:100%;opacity:.55;image-rendering:pixelated" });
        this.stage.insertBefore(this.canvas, this.layer);
      }
      var w = this.img.naturalWidth, h = this.img.naturalHeight;
      if (w && h && (this.canvas.width !== w || this.canvas.height !== h)) {
        this.canvas.width = w; this.canvas.height = h;
        this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
        this.ctx.imageSmoothingEnabled = false;
      }
    }
    imageLoaded() { this.ensureCanvas(); }
    colorOf(label) {
      var i = this._labels.indexOf(label);
      return C.PALETTE[(i < 0 ? 0 : i) % C.PALETTE.length];
    }
    newInstance() {
      var label = this.currentLabel();
      if (label === null) return null;
      var color = C.PALETTE[this.instanceList.length % C.PALETTE.length];
      this.instanceList.push({ color: color, label: label });
      this.current = this.instanceList.length - 1;
      return this.current;
    }
    paintColor() {
      if (!this.instances()) { var l = this.currentLabel(); return l === null ? null : this.colorOf(l); }
      if (this.current < 0 || this.instanceList[this.current].label !== this.currentLabel()) { if (this.newInstance() === null) return null; }
      return this.instanceList[this.current].color;
    }
    dab(x, y) {
      var r = (+this.brush.value) / 2, x0 = Math.round(x - r), y0 = Math.round(y - r), d = Math.round(2 * r);
      if (this.eraser.checked) this.ctx.clearRect(x0, y0, d, d);
      else { this.ctx.fillStyle = this.color; this.ctx.fillRect(x0, y0, d, d); }
    }
    onDown(ev) {
      if (ev.button !== 0) return;
      ev.preventDefault();
      this.ensureCanvas();
      if (!this.ctx) return;
      this.color = this.eraser.checked ? null : this.paintColor();
      if (!this.eraser.checked && this.color === null) return;
      var p = this.point(ev);
      this.drag = { x: p.x, y: p.y };
      this.dab(p.x, p.y);
    }
    onMove(ev) {
      if (!this.drag) return;
      var p = this.point(ev), dx = p.x - this.drag.x, dy = p.y - this.drag.y;
      var steps = Math.max(1, Math.ceil(Math.hypot(dx, dy) / 2));
      for (var i = 1; i <= steps; i++) this.dab(this.drag.x + dx * i / steps, this.drag.y + dy * i / steps);
      this.drag = { x: p.x, y: p.y };
    }
    onUp() { this.drag = null; }
    usedColors() {
      var used = {};
      if (!this.ctx) return used;
      var data = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height).data;
      for (var i = 0; i < data.length; i += 4) {
        if (data[i + 3] === 0) continue;
        used["#" + ((1 << 24) | (data[i] << 16) | (data[i + 1] << 8) | data[i + 2]).toString(16).slice(1)] = true;
      }
      return used;
    }
    result() {
      this.ensureCanvas();
      var used = this.usedColors(), self = this;
      var out = { inputImageProperties: this.imageProperties() };
      if (this.instances()) out.instances = this.instanceList.filter(function (i) { return used[i.color]; }).map(function (i) { return { color: i.color, label: i.label }; });
      else {
        out.labelMappings = {};
        this._labels.forEach(function (l) { if (used[self.colorOf(l)]) out.labelMappings[l] = { color: self.colorOf(l) }; });
      }
      out.labeledImage = { pngImageData: this.ctx ? this.canvas.toDataURL("image/png").split(",")[1] : "" };
      return out;
    }
  }
  customElements.define("crowd-semantic-segmentation", class extends Segmentation {});
  customElements.define("crowd-instance-segmentation", class extends Segmentation { instances() { return true; } });
})();
