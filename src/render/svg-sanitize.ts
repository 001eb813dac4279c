// Making SVG text well-formed XML. Two sides:
// - trace text going in (names, args) may hold characters XML 1.0 forbids (control
//   characters, lone surrogates): xmlSafeText replaces them before they reach the DOM;
// - d3-node's svgString() is jsdom's HTML serialisation: it writes `&nbsp;`, leaves `<`
//   and `>` raw inside attribute values and does not escape script/style text.
//   htmlToXmlMarkup turns that into XML.

/** Replaces characters not allowed in XML 1.0 (C0 controls but tab/LF/CR, U+FFFE/F, lone surrogates) with U+FFFD. */
export function xmlSafeText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** Escapes text for use in XML content or a double-quoted attribute. */
export function escapeXml(text: string): string {
  return xmlSafeText(text).replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

const XML_ENTITIES = new Set(['amp', 'lt', 'gt', 'quot', 'apos']);
/** Named HTML entities jsdom's serialiser can emit beyond XML's five. */
const HTML_ENTITY_CODES: Record<string, number> = { nbsp: 160 };

const ATTRIBUTE_ESCAPES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' };

function fixEntities(text: string): string {
  return text.replace(/&([A-Za-z][A-Za-z0-9]*);/g, (whole, name: string) => {
    if (XML_ENTITIES.has(name)) return whole;
    const code = HTML_ENTITY_CODES[name];
    return code === undefined ? `&amp;${name};` : `&#${code};`;
  });
}

/**
 * Converts jsdom's HTML serialisation of an SVG element into well-formed XML:
 * named HTML entities become numeric references, `<`, `>`, tab and newlines inside
 * attribute values are escaped. Text content is already escaped by the serialiser (script and style text
 * is not: add those after serialising, see svg-timeline.ts).
 */
export function htmlToXmlMarkup(markup: string): string {
  let out = '';
  let i = 0;
  const n = markup.length;
  while (i < n) {
    const lt = markup.indexOf('<', i);
    if (lt < 0) {
      out += fixEntities(markup.slice(i));
      break;
    }
    out += fixEntities(markup.slice(i, lt));
    if (markup.startsWith('<![CDATA[', lt)) {
      const close = markup.indexOf(']]>', lt);
      const end = close < 0 ? n : close + 3;
      out += markup.slice(lt, end);
      i = end;
      continue;
    }
    // Inside a tag: copy names, fix quoted attribute values.
    let j = lt;
    let tag = '';
    while (j < n && markup[j] !== '>') {
      const c = markup[j];
      if (c === '"' || c === "'") {
        const close = markup.indexOf(c, j + 1);
        const end = close < 0 ? n : close;
        const value = markup.slice(j + 1, end);
        // Raw tab/newline would be normalised to spaces by XML attribute-value normalisation.
        tag += c + fixEntities(value).replace(/[<>\t\n\r]/g, (ch) => ATTRIBUTE_ESCAPES[ch]) + c;
        j = end + 1;
      } else {
        tag += c;
        j++;
      }
    }
    out += tag + (j < n ? '>' : '');
    i = j + 1;
  }
  return out;
}

/** Wraps script text in CDATA; a literal `]]>` inside is split across two sections. */
export function cdata(text: string): string {
  return `<![CDATA[${text.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;
}
