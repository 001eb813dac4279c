// Finds where JSON text stops being valid. Node 20's JSON.parse leaves the
// position out of several messages ("Unexpected end of JSON input",
// "Unexpected token ..."), and users need a line number. Called only after
// JSON.parse has failed, so speed matters less than being right.

/** Offset of the first syntax error, or -1 if the text is valid JSON. */
export function firstJsonErrorOffset(text: string): number {
  const scan = new JsonScan(text);
  try {
    scan.value();
    scan.ws();
    return scan.i < text.length ? scan.i : -1;
  } catch (err) {
    if (err instanceof Stop) return Math.min(scan.i, text.length);
    throw err;
  }
}

/** Thrown where the text stops being JSON; `i` is then the offset. */
class Stop extends Error {}

/** A recursive-descent reader of RFC 8259 JSON that only advances `i`, building nothing. */
class JsonScan {
  i = 0;

  constructor(private readonly text: string) {}

  private fail(): never {
    throw new Stop();
  }

  ws(): void {
    const { text } = this;
    while (this.i < text.length && (text[this.i] === ' ' || text[this.i] === '\n' || text[this.i] === '\r' || text[this.i] === '\t')) this.i++;
  }

  value(): void {
    this.ws();
    const c = this.text[this.i];
    if (c === '{') this.object();
    else if (c === '[') this.array();
    else if (c === '"') this.string();
    else if (c === 't') this.literal('true');
    else if (c === 'f') this.literal('false');
    else if (c === 'n') this.literal('null');
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) this.number();
    else this.fail();
  }

  private object(): void {
    this.i++;
    this.ws();
    if (this.text[this.i] === '}') return void this.i++;
    for (;;) {
      this.ws();
      if (this.text[this.i] !== '"') this.fail();
      this.string();
      this.ws();
      if (this.text[this.i] !== ':') this.fail();
      this.i++;
      this.value();
      this.ws();
      if (this.text[this.i] === ',') this.i++;
      else if (this.text[this.i] === '}') return void this.i++;
      else this.fail();
    }
  }

  private array(): void {
    this.i++;
    this.ws();
    if (this.text[this.i] === ']') return void this.i++;
    for (;;) {
      this.value();
      this.ws();
      if (this.text[this.i] === ',') this.i++;
      else if (this.text[this.i] === ']') return void this.i++;
      else this.fail();
    }
  }

  private literal(word: string): void {
    for (let k = 0; k < word.length; k++)
      if (this.text[this.i + k] !== word[k]) {
        this.i += k;
        this.fail();
      }
    this.i += word.length;
  }

  private string(): void {
    const { text } = this;
    this.i++; // opening quote
    while (this.i < text.length) {
      const c = text.charCodeAt(this.i);
      if (c === 34) return void this.i++;
      if (c < 0x20) this.fail();
      if (c !== 92) {
        this.i++;
        continue;
      }
      const e = text[this.i + 1];
      if (e === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(this.i + 2, this.i + 6))) {
          this.i += 2;
          this.fail();
        }
        this.i += 6;
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) this.i += 2;
      else {
        this.i += 1;
        this.fail();
      }
    }
    this.fail();
  }

  private number(): void {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.i, this.i + 400));
    if (!m || m[0].length === 0) this.fail();
    this.i += m[0].length;
  }
}
