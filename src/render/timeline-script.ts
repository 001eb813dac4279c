// The script embedded in interactive timelines (as text, wrapped in CDATA by the
// renderer). It is assembled from the same functions Node runs: the axis helpers of
// axis.ts and the app of timeline-app.ts, by their source text, so the zoomed axis and
// the labels in the browser are computed by exactly the code the tests check. No
// network, no storage; runs in any browser that shows SVG with scripting.
import { MINUTES_FROM_NS, TIME_UNITS, axisInUnit, chooseTimeUnit, estimateTextWidth, fitLabel, formatDuration, stepDecimals } from './axis.js';
import { timelineApp, type TimelineAppConfig } from './timeline-app.js';
import { appInput } from './timeline-app-input.js';
import { appPanel } from './timeline-app-panel.js';
import { appView } from './timeline-app-view.js';
import { mergedLine, timingLine } from './timeline-text.js';
import type { TimelineData } from './timeline-data.js';

/** The axis helpers as script text: defines chooseTimeUnit, formatDuration, estimateTextWidth, stepDecimals, timeAxis, fitLabel. */
export const AXIS_JS = [
  `var TIME_UNITS = ${JSON.stringify(TIME_UNITS)};`,
  `var MINUTES_FROM_NS = ${MINUTES_FROM_NS};`,
  ...[chooseTimeUnit, formatDuration, estimateTextWidth, stepDecimals, axisInUnit, fitLabel].map((f) => f.toString()),
  // axis.ts's timeAxis, which calls the model's chooseTimeUnit through an import (so not embeddable as it is).
  'function timeAxis(startNs, endNs, plotLeft, plotWidth, fontSize) { return axisInUnit(chooseTimeUnit(endNs > startNs ? endNs - startNs : 1), startNs, endNs, plotLeft, plotWidth, fontSize); }',
].join('\n');

/** The app's parts as script text: defines timelineApp, appView, appPanel, appInput, and the tooltip lines of timeline-text.ts. */
const APP_JS = [timelineApp, appView, appPanel, appInput, timingLine, mergedLine].map((f) => f.toString()).join('\n');

/** The whole script for one timeline: the data block, the helpers, the app. */
export function timelineScript(config: TimelineAppConfig, data: TimelineData): string {
  return [
    '(function () {',
    "'use strict';",
    AXIS_JS,
    `var C = ${JSON.stringify(config)};`,
    `var D = ${JSON.stringify(data)};`,
    'var script = document.currentScript;',
    "var svg = (script && script.closest && script.closest('svg')) || document.querySelector('svg.hvscope-timeline') || document.documentElement;",
    APP_JS,
    'timelineApp(svg, C, D, { timeAxis: timeAxis, formatDuration: formatDuration, fitLabel: fitLabel, estimateTextWidth: estimateTextWidth, timingLine: timingLine, mergedLine: mergedLine, appView: appView, appPanel: appPanel, appInput: appInput });',
    '})();',
    '',
  ].join('\n');
}
