// Phase colours for timelines: the Okabe–Ito palette (docs/references.md#okabe-ito), safe for colour-blind
// readers and in greyscale print. Spans without a phase are grey; the spare Okabe–Ito
// colour (reddish purple) marks search matches.
import { PHASES, type Phase } from '../model/trace.js';

export const OKABE_ITO = ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#000000'] as const;

export const PHASE_COLOURS: Record<Phase, string> = {
  orchestrate: '#E69F00', // orange
  toolstack: '#56B4E9', // sky blue
  devices: '#009E73', // bluish green
  firmware: '#F0E442', // yellow
  kernel: '#0072B2', // blue
  user: '#D55E00', // vermillion
};

export const NO_PHASE_COLOUR = '#BBBBBB';
export const HIGHLIGHT_COLOUR = '#CC79A7';
export const TEXT_COLOUR = '#000000';

export function phaseColour(phase: Phase | undefined): string {
  return phase ? PHASE_COLOURS[phase] : NO_PHASE_COLOUR;
}

/** Relative luminance (WCAG) of a #RRGGBB colour. */
export function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

/** Black or white, whichever contrasts more with the fill. */
export function textColourOn(fill: string): '#000000' | '#FFFFFF' {
  const l = luminance(fill);
  // Contrast ratio against black is (l+0.05)/0.05, against white 1.05/(l+0.05).
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? '#000000' : '#FFFFFF';
}

/** CSS class naming a phase's colour; `p-none` for spans without one. */
export function phaseClass(phase: Phase | undefined): string {
  return phase ? `p-${phase}` : 'p-none';
}

/** The style rules for all phase classes: fill of span rects, colour of their labels. */
export function phaseCss(): string {
  const rules: string[] = [];
  for (const phase of [...PHASES, undefined]) {
    const fill = phaseColour(phase);
    const cls = phaseClass(phase);
    rules.push(`rect.${cls}{fill:${fill}}`, `text.${cls}{fill:${textColourOn(fill)}}`);
  }
  return rules.join('');
}
