/**
 * A small YAML subset for sweep specs (no YAML parser is a dependency of the package), enough for
 * configuration files written by hand:
 *
 *   - block mappings (`key: value`, nested by indentation with spaces) and block sequences
 *     (`- item`, including `- key: value` items that continue on the following lines);
 *   - flow sequences and mappings on one line (`[a, b]`, `{eta: 1, lr: 0.001}`), nested;
 *   - scalars of YAML 1.2's core schema: null (`null`, `~`, empty), booleans (`true` / `false`),
 *     integers (decimal, `0x`, `0o`), floats (`1e-3`, `.5`, `.inf`, `.nan`), double-quoted strings
 *     (JSON escapes), single-quoted strings (`''` for a quote), and plain strings (which may hold
 *     `:` not followed by a space, e.g. `block:-1:mlp`);
 *   - `#` comments (at the start of a line or after a space, outside quotes) and a leading `---`.
 *
 * Anything else (anchors and aliases, tags, block scalars `|` / `>`, several documents, complex
 * keys, tabs in indentation, flow collections spanning lines, duplicate keys) is refused with the
 * line it is on, never read into something else.
 */
import { UserError } from '../util/errors.ts';

export type YamlValue = null | boolean | number | string | YamlValue[] | { [k: string]: YamlValue };

interface Line {
  /** 1-based line number in the file. */
  n: number;
  indent: number;
  text: string;
}

class YamlError extends UserError {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
  }
}

/**
 * Index of the quote that closes the quoted scalar opening at `start` (`\` escapes in "...", `''`
 * in '...'); text.length when it is not closed on the line.
 */
function closingQuote(text: string, start: number): number {
  const quote = text[start]!;
  for (let i = start + 1; i < text.length; i++) {
    if (quote === '"' && text[i] === '\\') i++;
    else if (text[i] === quote) {
      if (quote === "'" && text[i + 1] === "'") i++;
      else return i;
    }
  }
  return text.length;
}

/** `text` without its comment (a `#` at the start or after whitespace, outside quotes). */
function stripComment(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      // a quote starts a quoted scalar only at the start of a value
      const before = text.slice(0, i).trimEnd();
      if (before === '' || /[:\-[{,]$/.test(before)) i = closingQuote(text, i);
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      return text.slice(0, i);
    }
  }
  return text;
}

function splitLines(src: string, file: string): Line[] {
  const out: Line[] = [];
  const raw = src.replace(/^\uFEFF/, '').split(/\r?\n/);
  raw.forEach((l, i) => {
    const n = i + 1;
    const m = /^([ \t]*)/.exec(l)!;
    const body = stripComment(l.slice(m[1]!.length)).trimEnd();
    if (body === '') return;
    if (m[1]!.includes('\t')) throw new YamlError(file, n, 'tabs are not allowed in indentation; indent with spaces');
    if (out.length === 0 && m[1] === '' && body === '---') return;
    if (body === '---' || body === '...') throw new YamlError(file, n, 'only one YAML document per spec file');
    if (/^[&*!|>%@`]/.test(body) || /^[?]\s/.test(body)) throw new YamlError(file, n, `'${body[0]}' (anchors, aliases, tags, block scalars, directives, complex keys) is not supported in sweep specs`);
    out.push({ n, indent: m[1]!.length, text: body });
  });
  return out;
}

/** Index of the `:` that ends a mapping key (followed by a space or the end), outside quotes and brackets; -1 if none. */
function keyColon(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if ((c === '"' || c === "'") && i === 0) i = closingQuote(text, i);
    else if (c === '[' || c === '{') {
      if (i === 0) return -1; // a flow collection, not a key
      depth++;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ':' && depth === 0 && (i + 1 === text.length || text[i + 1] === ' ')) return i;
  }
  return -1;
}

function isSeqItem(text: string): boolean {
  return text === '-' || text.startsWith('- ');
}

const INT = /^[-+]?[0-9]+$/;
const FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/** A plain (unquoted) scalar under YAML 1.2's core schema. */
function plainScalar(s: string): YamlValue {
  if (s === '' || s === '~' || /^(null|Null|NULL)$/.test(s)) return null;
  if (/^(true|True|TRUE)$/.test(s)) return true;
  if (/^(false|False|FALSE)$/.test(s)) return false;
  if (INT.test(s)) return Number(s);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^0o[0-7]+$/.test(s)) return parseInt(s.slice(2), 8);
  if (FLOAT.test(s)) return Number(s);
  if (/^[-+]?\.(inf|Inf|INF)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(s)) return NaN;
  return s;
}

/** Parser of one line's inline value: scalars and flow collections. */
class Inline {
  i = 0;
  constructor(
    private readonly s: string,
    private readonly file: string,
    private readonly line: number,
  ) {}

  fail(msg: string): never {
    throw new YamlError(this.file, this.line, msg);
  }

  private ws(): void {
    while (this.i < this.s.length && this.s[this.i] === ' ') this.i++;
  }

  /** The whole text as one value. */
  all(): YamlValue {
    this.ws();
    const v = this.value(false);
    this.ws();
    if (this.i < this.s.length) this.fail(`unexpected '${this.s.slice(this.i)}' after the value`);
    return v;
  }

  private value(inFlow: boolean): YamlValue {
    this.ws();
    const c = this.s[this.i];
    if (c === '[') return this.seq();
    if (c === '{') return this.map();
    if (c === '"') return this.double();
    if (c === "'") return this.single();
    if (c !== undefined && '&*!|>%@`'.includes(c)) this.fail(`'${c}' (anchors, aliases, tags, block scalars) is not supported in sweep specs`);
    return this.plain(inFlow);
  }

  private plain(inFlow: boolean): YamlValue {
    const start = this.i;
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (inFlow && (c === ',' || c === ']' || c === '}')) break;
      if (inFlow && c === ':' && (this.s[this.i + 1] === ' ' || this.s[this.i + 1] === ',' || this.s[this.i + 1] === '}' || this.i + 1 === this.s.length)) break;
      if (!inFlow && c === ':' && this.s[this.i + 1] === ' ') this.fail(`a plain value cannot hold ': ' (quote it): ${this.s}`);
      this.i++;
    }
    const text = this.s.slice(start, this.i).trim();
    if (inFlow && (text.includes('[') || text.includes('{'))) this.fail(`unexpected bracket in '${text}'`);
    return plainScalar(text);
  }

  private double(): string {
    const start = this.i;
    this.i++;
    while (this.i < this.s.length && this.s[this.i] !== '"') {
      if (this.s[this.i] === '\\') this.i++;
      this.i++;
    }
    if (this.i >= this.s.length) this.fail('unterminated double-quoted string');
    this.i++;
    try {
      return JSON.parse(this.s.slice(start, this.i)) as string;
    } catch {
      return this.fail(`bad escape in ${this.s.slice(start, this.i)}`);
    }
  }

  private single(): string {
    this.i++;
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) this.fail('unterminated single-quoted string');
      const c = this.s[this.i]!;
      if (c === "'") {
        if (this.s[this.i + 1] === "'") {
          out += "'";
          this.i += 2;
          continue;
        }
        this.i++;
        return out;
      }
      out += c;
      this.i++;
    }
  }

  private seq(): YamlValue[] {
    this.i++;
    const out: YamlValue[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(true));
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === ']') {
        this.i++;
        return out;
      }
      this.fail(c === undefined ? "a flow sequence '[' must close with ']' on the same line" : `expected ',' or ']' in a flow sequence, got '${c}'`);
    }
  }

  private map(): { [k: string]: YamlValue } {
    this.i++;
    const out: { [k: string]: YamlValue } = {};
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      const k = this.value(true);
      if (k !== null && typeof k === 'object') this.fail('a mapping key must be a scalar');
      this.ws();
      if (this.s[this.i] !== ':') this.fail(`expected ':' after the key '${String(k)}' in a flow mapping`);
      this.i++;
      const key = String(k);
      if (Object.prototype.hasOwnProperty.call(out, key)) this.fail(`duplicate key '${key}'`);
      out[key] = this.value(true);
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        this.ws();
        continue;
      }
      if (c === '}') {
        this.i++;
        return out;
      }
      this.fail(c === undefined ? "a flow mapping '{' must close with '}' on the same line" : `expected ',' or '}' in a flow mapping, got '${c}'`);
    }
  }
}

class BlockParser {
  i = 0;
  constructor(
    private readonly lines: Line[],
    private readonly file: string,
  ) {}

  fail(line: Line, msg: string): never {
    throw new YamlError(this.file, line.n, msg);
  }

  inline(text: string, line: Line): YamlValue {
    return new Inline(text, this.file, line.n).all();
  }

  /** The block starting at the current line, whose lines have exactly `indent`. */
  block(indent: number): YamlValue {
    const first = this.lines[this.i]!;
    if (isSeqItem(first.text)) return this.seq(indent);
    if (keyColon(first.text) >= 0) return this.map(indent);
    this.i++;
    const v = this.inline(first.text, first);
    const next = this.lines[this.i];
    if (next && next.indent >= indent && next.indent > 0) this.fail(next, 'a value that spans several lines is not supported here (put it on one line or quote it)');
    return v;
  }

  /** The value after `key:` or `-` when nothing follows on the line: a nested block or null. */
  nested(parentIndent: number, allowSameIndentSeq: boolean): YamlValue {
    const next = this.lines[this.i];
    if (!next) return null;
    if (next.indent > parentIndent) return this.block(next.indent);
    if (allowSameIndentSeq && next.indent === parentIndent && isSeqItem(next.text)) return this.seq(parentIndent);
    return null;
  }

  seq(indent: number): YamlValue[] {
    const out: YamlValue[] = [];
    while (this.i < this.lines.length) {
      const line = this.lines[this.i]!;
      if (line.indent < indent) break;
      if (line.indent > indent) this.fail(line, 'bad indentation in a sequence');
      if (!isSeqItem(line.text)) break;
      const rest = line.text.slice(1);
      const content = rest.trimStart();
      if (content === '') {
        this.i++;
        out.push(this.nested(indent, false));
        continue;
      }
      const col = indent + 1 + (rest.length - content.length);
      if (isSeqItem(content) || keyColon(content) >= 0) {
        // `- key: value` / `- - x`: the item is a block whose first line starts at the content's column
        this.lines[this.i] = { n: line.n, indent: col, text: content };
        out.push(this.block(col));
      } else {
        this.i++;
        out.push(this.inline(content, line));
      }
    }
    return out;
  }

  map(indent: number): { [k: string]: YamlValue } {
    const out: { [k: string]: YamlValue } = {};
    while (this.i < this.lines.length) {
      const line = this.lines[this.i]!;
      if (line.indent < indent) break;
      if (line.indent > indent) this.fail(line, 'bad indentation: this line is indented more than the keys before it');
      if (isSeqItem(line.text)) this.fail(line, "a sequence item '-' where a 'key: value' line was expected");
      const c = keyColon(line.text);
      if (c < 0) this.fail(line, `expected 'key: value', got '${line.text}'`);
      const rawKey = line.text.slice(0, c).trim();
      const k = rawKey.startsWith('"') || rawKey.startsWith("'") ? this.inline(rawKey, line) : rawKey;
      if (k === null || typeof k === 'object' || String(k) === '') this.fail(line, 'a mapping key must be a non-empty scalar');
      const key = String(k);
      if (Object.prototype.hasOwnProperty.call(out, key)) this.fail(line, `duplicate key '${key}'`);
      const rest = line.text.slice(c + 1).trim();
      this.i++;
      out[key] = rest === '' ? this.nested(indent, true) : this.inline(rest, line);
    }
    return out;
  }
}

/** Parse the YAML subset described in the module comment; `file` names the source in errors. */
export function parseYaml(src: string, file = 'spec'): YamlValue {
  const lines = splitLines(src, file);
  if (lines.length === 0) return null;
  const p = new BlockParser(lines, file);
  const first = lines[0]!;
  const v = p.block(first.indent);
  if (p.i < lines.length) {
    const l = lines[p.i]!;
    throw new YamlError(file, l.n, `unexpected '${l.text}' (bad indentation?)`);
  }
  return v;
}
