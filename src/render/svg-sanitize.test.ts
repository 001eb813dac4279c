import { D3Node } from 'd3-node';
import { describe, expect, it } from 'vitest';
import { cdata, escapeXml, htmlToXmlMarkup, xmlSafeText } from './svg-sanitize.js';

const window = new D3Node().window;

/** Parses with jsdom's XML parser (saxes); returns the parser's error text, or '' when well-formed. */
function xmlError(markup: string): string {
  const doc = new window.DOMParser().parseFromString(markup, 'image/svg+xml');
  return doc.documentElement.nodeName === 'parsererror' ? (doc.documentElement.textContent ?? 'error') : '';
}

describe('xmlSafeText', () => {
  it('replaces characters XML 1.0 forbids and keeps everything else', () => {
    expect(xmlSafeText('a\u0000b\u0001c\u001Fd\uFFFE')).toBe('a\uFFFDb\uFFFDc\uFFFDd\uFFFD');
    expect(xmlSafeText('tab\tnl\ncr\r')).toBe('tab\tnl\ncr\r');
    expect(xmlSafeText('emoji 😀 ok')).toBe('emoji 😀 ok');
    expect(xmlSafeText('lone \uD83D here')).toBe('lone \uFFFD here');
    expect(xmlSafeText('lone \uDE00 low')).toBe('lone \uFFFD low');
  });

  it('escapeXml gives text that parses back to the (safe) original', () => {
    const hostile = `<script>&amp;"'\u0007]]>`;
    const doc = new window.DOMParser().parseFromString(`<t a="${escapeXml(hostile)}">${escapeXml(hostile)}</t>`, 'application/xml');
    expect(doc.documentElement.getAttribute('a')).toBe(xmlSafeText(hostile));
    expect(doc.documentElement.textContent).toBe(xmlSafeText(hostile));
  });
});

describe('htmlToXmlMarkup', () => {
  it("turns jsdom's HTML serialisation (svgString) into well-formed XML with the same content", () => {
    const d3n = new D3Node();
    const svg = d3n.createSVG(null, null, { viewBox: '0 0 10 10' });
    const value = 'a"b<c>&d\u00a0e\tf\ng';
    svg.append('g').attr('data-x', value).append('title').text(value);
    const html = d3n.svgString();
    expect(xmlError(html)).not.toBe(''); // what d3-node emits is not XML (&nbsp;, raw < in attributes)
    const xml = htmlToXmlMarkup(html);
    expect(xmlError(xml)).toBe('');
    const doc = new window.DOMParser().parseFromString(xml, 'image/svg+xml');
    const g = doc.getElementsByTagName('g')[0];
    expect(g.getAttribute('data-x')).toBe(value);
    expect(g.textContent).toBe(value);
    expect(doc.documentElement.getAttribute('viewBox')).toBe('0 0 10 10');
  });

  it('leaves CDATA sections alone and escapes unknown named entities literally', () => {
    expect(htmlToXmlMarkup('<s><![CDATA[a < b && c &nbsp;]]></s>')).toBe('<s><![CDATA[a < b && c &nbsp;]]></s>');
    expect(htmlToXmlMarkup('<t>&copy;&amp;</t>')).toBe('<t>&amp;copy;&amp;</t>');
  });
});

describe('cdata', () => {
  it('keeps a literal ]]> inside script text intact', () => {
    const js = 'var s = "]]>"; if (a < b && c) {}';
    const doc = new window.DOMParser().parseFromString(`<script>${cdata(js)}</script>`, 'application/xml');
    expect(doc.documentElement.textContent).toBe(js);
  });
});
