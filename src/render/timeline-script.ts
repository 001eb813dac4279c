// The script embedded in interactive timelines (as text, wrapped in CDATA by the
// renderer): click a span to zoom the time axis to it (all runs and lanes rescale),
// Reset zoom / Esc to go back, Search / Ctrl-F to highlight spans whose name matches a
// regular expression (with the matched count and share of all spans), Clear to undo.
// Plain ES5 so it runs in any SVG viewer with scripting; no network, no storage.

export interface TimelineScriptConfig {
  plotLeft: number;
  plotWidth: number;
  /** Right end of the full view, ns since t0. */
  endNs: number;
  fontSize: number;
  /** Smallest drawn width in user units. */
  pixel: number;
  axisY: number;
  gridTop: number;
  controlsY: number;
  /** Spans in all runs, merged ones included (the denominator of "matched %"). */
  totalSpans: number;
}

/**
 * JavaScript twins of axis.ts (chooseTimeUnit, formatDuration, estimateTextWidth,
 * stepDecimals, timeAxis, fitLabel). axis.test.ts evaluates this text and checks it
 * agrees with the TypeScript on many windows, so the zoomed axis matches the first one.
 */
export const AXIS_JS = String.raw`
var TIME_UNITS = [
  { name: 'ns', ns: 1 }, { name: '\u00b5s', ns: 1e3 }, { name: 'ms', ns: 1e6 },
  { name: 's', ns: 1e9 }, { name: 'min', ns: 60e9 }
];
function chooseTimeUnit(ns) {
  var magnitude = Math.abs(ns);
  if (magnitude >= 120e9) return TIME_UNITS[4];
  for (var i = 3; i > 0; i--) if (magnitude >= TIME_UNITS[i].ns) return TIME_UNITS[i];
  return TIME_UNITS[0];
}
function formatDuration(ns) {
  var unit = chooseTimeUnit(ns);
  var value = ns / unit.ns;
  var magnitude = Math.abs(value);
  if (unit.ns === 1) return Math.round(value) + ' ns';
  var digits = magnitude >= 99.95 ? 0 : magnitude >= 9.995 ? 1 : 2;
  return value.toFixed(digits) + ' ' + unit.name;
}
function estimateTextWidth(text, fontSize) { return text.length * 0.6 * fontSize; }
function stepDecimals(step) { return Math.max(0, -Math.floor(Math.log10(step) + 1e-9)); }
function timeAxis(startNs, endNs, plotLeft, plotWidth, fontSize) {
  var spanNs = endNs > startNs ? endNs - startNs : 1;
  var unit = chooseTimeUnit(spanNs);
  var startU = startNs / unit.ns;
  var endU = startU + spanNs / unit.ns;
  var pxPerU = plotWidth / (endU - startU);
  var chosen = null;
  var firstExponent = Math.floor(Math.log10(endU - startU)) - 3;
  var mantissas = [1, 2, 5];
  for (var e = firstExponent; e <= firstExponent + 6 && !chosen; e++) {
    for (var mi = 0; mi < 3; mi++) {
      var step = mantissas[mi] * Math.pow(10, e);
      var decimals = stepDecimals(step);
      var first = Math.ceil(startU / step - 1e-9);
      var last = Math.floor(endU / step + 1e-9);
      if (last - first > 1000) continue;
      var labels = [];
      var widest = 0;
      for (var k = first; k <= last; k++) {
        var u = Number((k * step).toFixed(decimals));
        var label = u.toFixed(decimals);
        labels.push({ u: u, label: label });
        widest = Math.max(widest, estimateTextWidth(label, fontSize));
      }
      if (labels.length <= 1 || step * pxPerU >= widest + fontSize) { chosen = { step: step, labels: labels }; break; }
    }
  }
  if (!chosen) chosen = { step: endU - startU, labels: [{ u: startU, label: startU.toFixed(0) }] };
  var ticks = [];
  for (var t = 0; t < chosen.labels.length; t++) {
    var l = chosen.labels[t];
    ticks.push({ ns: l.u * unit.ns, x: plotLeft + (l.u - startU) * pxPerU, label: l.label });
  }
  return { unit: unit, stepNs: chosen.step * unit.ns, ticks: ticks, title: 'time (' + unit.name + ')' };
}
function fitLabel(name, duration, available, fontSize) {
  var full = duration ? name + ' ' + duration : name;
  if (estimateTextWidth(full, fontSize) <= available) return full;
  if (estimateTextWidth(name, fontSize) <= available) return name;
  var chars = Math.floor(available / (0.6 * fontSize)) - 1;
  return chars >= 2 ? name.slice(0, chars) + '\u2026' : '';
}
`;

const INTERACTION_JS = String.raw`
var NS = 'http://www.w3.org/2000/svg';
var doc = document;
var script = doc.currentScript;
var svg = (script && script.closest && script.closest('svg.hvscope-timeline')) || doc.querySelector('svg.hvscope-timeline') || doc.documentElement;
var fs = C.fontSize;
function r2(v) { return Math.round(v * 100) / 100; }
function byId(id) { return svg.querySelector('#' + id); }

// Span rects carry data-s/data-e (ns); the first line of a span's <title> is its name.
// A merged block's title starts "N spans merged" and lists "name ×count" lines.
function blockNames(lines) {
  var names = [], partial = false;
  for (var i = 1; i < lines.length; i++) {
    var m = /^(.*) \u00d7(\d+)$/.exec(lines[i]);
    if (m) names.push([m[1], +m[2]]); else partial = true;
  }
  return { names: names, partial: partial };
}
function phaseClassOf(rect) {
  var m = /(?:^| )(p-[a-z]+)/.exec(rect.getAttribute('class') || '');
  return m ? m[1] : 'p-none';
}
var rectEls = svg.querySelectorAll('rect.s');
var spans = [];
for (var i = 0; i < rectEls.length; i++) {
  var rect = rectEls[i];
  var title = rect.querySelector('title');
  var lines = title ? title.textContent.split('\n') : [''];
  var isBlock = rect.classList.contains('b');
  var next = rect.nextElementSibling;
  var sp = {
    rect: rect, text: next && next.nodeName === 'text' && next.classList.contains('l') ? next : null,
    s: +rect.getAttribute('data-s'), e: +rect.getAttribute('data-e'), block: isBlock,
    count: isBlock ? parseInt(lines[0], 10) : 1, name: isBlock ? parseInt(lines[0], 10) + ' spans' : lines[0],
    names: null, partial: false
  };
  if (isBlock) { var bn = blockNames(lines); sp.names = bn.names; sp.partial = bn.partial; }
  spans.push(sp);
}
var instantEls = svg.querySelectorAll('g.i');
var instants = [];
for (var j = 0; j < instantEls.length; j++) {
  var m = /translate\(([^,]+),([^)]+)\)/.exec(instantEls[j].getAttribute('transform') || '');
  instants.push({ g: instantEls[j], t: +instantEls[j].getAttribute('data-t'), y: m ? m[2] : '0' });
}
var z0 = 0, z1 = C.endNs;

function drawAxis() {
  var ticksG = byId('hv-ticks'), gridG = byId('hv-grid');
  while (ticksG.firstChild) ticksG.removeChild(ticksG.firstChild);
  while (gridG.firstChild) gridG.removeChild(gridG.firstChild);
  var axis = timeAxis(z0, z1, C.plotLeft, C.plotWidth, fs);
  for (var i = 0; i < axis.ticks.length; i++) {
    var x = r2(axis.ticks[i].x);
    var tick = doc.createElementNS(NS, 'line');
    tick.setAttribute('x1', x); tick.setAttribute('x2', x);
    tick.setAttribute('y1', C.axisY); tick.setAttribute('y2', r2(C.axisY + fs * 0.4));
    ticksG.appendChild(tick);
    var label = doc.createElementNS(NS, 'text');
    label.setAttribute('x', x); label.setAttribute('y', r2(C.axisY + fs * 1.4));
    label.setAttribute('text-anchor', 'middle');
    label.textContent = axis.ticks[i].label;
    ticksG.appendChild(label);
    var line = doc.createElementNS(NS, 'line');
    line.setAttribute('x1', x); line.setAttribute('x2', x);
    line.setAttribute('y1', C.gridTop); line.setAttribute('y2', C.axisY);
    gridG.appendChild(line);
  }
  byId('hv-axis-title').textContent = axis.title;
}

function redraw() {
  var k = C.plotWidth / (z1 - z0);
  for (var i = 0; i < spans.length; i++) {
    var sp = spans[i];
    if (sp.e < z0 || sp.s > z1) {
      sp.rect.setAttribute('display', 'none');
      if (sp.text) sp.text.setAttribute('display', 'none');
      continue;
    }
    sp.rect.removeAttribute('display');
    if (sp.text) sp.text.removeAttribute('display');
    var a = Math.max(sp.s, z0), b = Math.min(sp.e, z1);
    var x = C.plotLeft + (a - z0) * k;
    var w = Math.max((b - a) * k, C.pixel);
    sp.rect.setAttribute('x', r2(x));
    sp.rect.setAttribute('width', r2(w));
    var label = fitLabel(sp.name, sp.block ? '' : formatDuration(sp.e - sp.s), w - fs * 0.6, fs);
    if (label && !sp.text) {
      sp.text = doc.createElementNS(NS, 'text');
      sp.text.setAttribute('class', 'l ' + phaseClassOf(sp.rect));
      sp.text.setAttribute('y', r2(+sp.rect.getAttribute('y') + fs * 1.02));
      sp.rect.parentNode.insertBefore(sp.text, sp.rect.nextSibling);
    }
    if (sp.text) { sp.text.setAttribute('x', r2(x + fs * 0.3)); sp.text.textContent = label; }
  }
  for (var j = 0; j < instants.length; j++) {
    var it = instants[j];
    if (it.t < z0 || it.t > z1) { it.g.setAttribute('display', 'none'); continue; }
    it.g.removeAttribute('display');
    it.g.setAttribute('transform', 'translate(' + r2(C.plotLeft + (it.t - z0) * k) + ',' + it.y + ')');
  }
  drawAxis();
  byId('hv-reset').setAttribute('opacity', z0 === 0 && z1 === C.endNs ? 0 : 1);
}

function zoom(s, e) {
  if (e - s < 10) e = s + 10;
  z0 = s; z1 = e;
  redraw();
}
function resetZoom() { zoom(0, C.endNs); }

var lastTerm = '';
function clearSearch() {
  for (var i = 0; i < spans.length; i++) spans[i].rect.classList.remove('hl');
  byId('hv-matched').textContent = '';
  byId('hv-clear').setAttribute('opacity', 0);
}
function search(term) {
  clearSearch();
  if (!term) return;
  lastTerm = term;
  var re;
  try { re = new RegExp(term, 'i'); } catch (err) { re = new RegExp(term.replace(/[.*+?^$(){}|[\]\\]/g, '\\$&'), 'i'); }
  var matched = 0, partial = false;
  for (var i = 0; i < spans.length; i++) {
    var sp = spans[i], hits = 0;
    if (!sp.block) { if (re.test(sp.name)) hits = 1; }
    else {
      for (var n = 0; n < sp.names.length; n++) if (re.test(sp.names[n][0])) hits += sp.names[n][1];
      if (sp.partial) partial = true;
    }
    if (hits > 0) { sp.rect.classList.add('hl'); matched += hits; }
  }
  var pct = C.totalSpans > 0 ? (100 * matched / C.totalSpans).toFixed(1) : '0.0';
  byId('hv-matched').textContent = 'Matched: ' + (partial ? 'at least ' : '') + matched + ' of ' + C.totalSpans + ' spans (' + pct + '%)';
  byId('hv-clear').setAttribute('opacity', 1);
}
function askSearch() {
  var term = window.prompt('Search span names (regular expression, case-insensitive):', lastTerm);
  if (term !== null) search(term);
}

svg.addEventListener('click', function (ev) {
  var target = ev.target;
  if (!target || !target.closest) return;
  if (target.closest('#hv-reset')) { resetZoom(); return; }
  if (target.closest('#hv-search')) { askSearch(); return; }
  if (target.closest('#hv-clear')) { clearSearch(); return; }
  var rect = target.closest('rect.s');
  if (rect) zoom(+rect.getAttribute('data-s'), +rect.getAttribute('data-e'));
});
doc.addEventListener('keydown', function (ev) {
  if ((ev.ctrlKey || ev.metaKey) && (ev.key === 'f' || ev.key === 'F')) { ev.preventDefault(); askSearch(); }
  else if (ev.key === 'Escape') resetZoom();
});
// For tests and the console: the same operations without clicks.
svg.hvscope = { zoom: zoom, reset: resetZoom, search: search, clear: clearSearch, view: function () { return [z0, z1]; } };
`;

/** The whole script for one timeline; config holds numbers only (no trace text). */
export function timelineScript(config: TimelineScriptConfig): string {
  return `(function () {\n'use strict';\nvar C = ${JSON.stringify(config)};\n${AXIS_JS}\n${INTERACTION_JS}\n})();\n`;
}
