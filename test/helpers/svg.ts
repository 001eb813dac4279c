// Well-formedness checks for the SVGs the renderers produce.
import { D3Node } from 'd3-node';
import { hasCommand, requireOrSkip } from './requirements.js';

const window = new D3Node().window;

/** Parses with a real XML parser (jsdom's saxes); fails the test on any well-formedness error. */
export function parseSvg(svg: string): Document {
  const doc = new window.DOMParser().parseFromString(svg, 'image/svg+xml');
  if (doc.documentElement.nodeName === 'parsererror') throw new Error(`not well-formed XML: ${doc.documentElement.textContent}`);
  return doc;
}

/** Skip reason when xmllint is missing (fails in CI), for tests that also check with libxml2. */
export const noXmllint = requireOrSkip(hasCommand('xmllint'), 'xmllint (apt-get install -y libxml2-utils)');
