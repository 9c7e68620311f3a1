// The model's markdown, rendered safely: a small parser to a tree of blocks and inlines, then
// DOM nodes built with createElement and text nodes. Model text is never HTML: raw HTML shows as
// the text it is, images are never loaded (their alt text shows), a link is an element whose
// click asks the host to open it (http and https only; `javascript:`, data: and the rest show
// as plain text). Nesting deeper than MAX_DEPTH is shown as text, and every step is linear in
// the input, so hostile or huge answers cost what their size costs.
//
// DOM-free on purpose: the renderer takes the few document methods it uses, so plain Node tests
// run it on a shim (no DOM library), and the webview passes the real document.

export type Inline =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'code'; readonly text: string }
  | { readonly type: 'em' | 'strong' | 'del'; readonly children: readonly Inline[] }
  | { readonly type: 'link'; readonly href: string; readonly children: readonly Inline[] }
  | { readonly type: 'image'; readonly alt: string; readonly src: string }
  | { readonly type: 'br' };

export type Block =
  | { readonly type: 'heading'; readonly level: number; readonly inlines: readonly Inline[] }
  | { readonly type: 'paragraph'; readonly inlines: readonly Inline[] }
  | { readonly type: 'code'; readonly lang: string; readonly text: string; readonly closed: boolean }
  | { readonly type: 'list'; readonly ordered: boolean; readonly start: number; readonly items: readonly (readonly Block[])[] }
  | { readonly type: 'quote'; readonly blocks: readonly Block[] }
  | { readonly type: 'hr' }
  | { readonly type: 'table'; readonly align: readonly ('left' | 'center' | 'right' | null)[]; readonly header: readonly (readonly Inline[])[]; readonly rows: readonly (readonly (readonly Inline[])[])[] };

/** Lists and quotes nested deeper than this, and emphasis nested deeper, are shown as text. */
export const MAX_DEPTH = 12;

const FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const HR = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const LIST_ITEM = /^( {0,12})([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
const TABLE_SEP = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;

const isBlank = (l: string): boolean => l.trim() === '';
const startsBlock = (l: string): boolean => FENCE.test(l) || HEADING.test(l) || HR.test(l) || QUOTE.test(l) || LIST_ITEM.test(l);

export function parseMarkdown(text: string): Block[] {
  return parseBlocks(text.replace(/\r\n?/g, '\n').split('\n'), 0);
}

function parseBlocks(lines: readonly string[], depth: number): Block[] {
  const out: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (isBlank(line)) {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const marker = fence[1] as string;
      const indent = line.length - line.trimStart().length;
      const body: string[] = [];
      let closed = false;
      i++;
      for (; i < lines.length; i++) {
        const l = lines[i] as string;
        const t = l.trim();
        if (t.length >= marker.length && t[0] === marker[0] && /^(`+|~+)$/.test(t)) {
          closed = true;
          i++;
          break;
        }
        // The fence's indentation comes off every line, as far as it goes.
        body.push(l.slice(Math.min(indent, l.length - l.trimStart().length)));
      }
      out.push({ type: 'code', lang: fence[2] ?? '', text: body.join('\n'), closed });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      out.push({ type: 'heading', level: (heading[1] as string).length, inlines: parseInline(heading[2] ?? '') });
      i++;
      continue;
    }
    if (HR.test(line)) {
      out.push({ type: 'hr' });
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const inner: string[] = [];
      for (; i < lines.length; i++) {
        const m = QUOTE.exec(lines[i] as string);
        if (!m) break;
        inner.push(m[1] ?? '');
      }
      out.push(depth >= MAX_DEPTH ? { type: 'paragraph', inlines: [{ type: 'text', text: inner.join('\n') }] } : { type: 'quote', blocks: parseBlocks(inner, depth + 1) });
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item) {
      const parsed = parseList(lines, i, depth);
      out.push(parsed.block);
      i = parsed.next;
      continue;
    }
    const next = lines[i + 1];
    if (line.includes('|') && next !== undefined && TABLE_SEP.test(next) && next.includes('-')) {
      const parsed = parseTable(lines, i);
      out.push(parsed.block);
      i = parsed.next;
      continue;
    }
    const para: string[] = [];
    for (; i < lines.length; i++) {
      const l = lines[i] as string;
      if (isBlank(l) || (para.length > 0 && startsBlock(l))) break;
      para.push(l);
    }
    out.push({ type: 'paragraph', inlines: parseInline(para.map((l) => l.trim()).join('\n')) });
  }
  return out;
}

function parseList(lines: readonly string[], start: number, depth: number): { block: Block; next: number } {
  const first = LIST_ITEM.exec(lines[start] as string) as RegExpExecArray;
  const indent = (first[1] as string).length;
  const ordered = /\d/.test(first[2] as string);
  const items: string[][] = [];
  let i = start;
  while (i < lines.length) {
    const l = lines[i] as string;
    const m = LIST_ITEM.exec(l);
    if (m && (m[1] as string).length === indent && /\d/.test(m[2] as string) === ordered) {
      items.push([m[3] ?? '']);
      i++;
      continue;
    }
    const current = items[items.length - 1] as string[];
    const lead = l.length - l.trimStart().length;
    if (isBlank(l)) {
      // A blank line continues the item only when an indented line follows.
      const after = lines[i + 1];
      if (after !== undefined && !isBlank(after) && after.length - after.trimStart().length > indent) {
        current.push('');
        i++;
        continue;
      }
      break;
    }
    if (lead > indent) {
      current.push(l.slice(Math.min(lead, indent + 2 + ((first[2] as string).length - 1))));
      i++;
      continue;
    }
    // A lazy continuation of the item's paragraph.
    if (!startsBlock(l)) {
      current.push(l);
      i++;
      continue;
    }
    break;
  }
  const startNumber = ordered ? Math.min(Number.parseInt(first[2] as string, 10), 1e9) : 1;
  const asText = depth >= MAX_DEPTH;
  return {
    block: { type: 'list', ordered, start: startNumber, items: items.map((it) => (asText ? [{ type: 'paragraph', inlines: [{ type: 'text', text: it.join('\n') }] }] : parseBlocks(it, depth + 1))) },
    next: i,
  };
}

function splitRow(line: string): string[] {
  let t = line.trim();
  if (t.startsWith('|')) t = t.slice(1);
  if (t.endsWith('|') && !t.endsWith('\\|')) t = t.slice(0, -1);
  const cells: string[] = [];
  let cur = '';
  for (let k = 0; k < t.length; k++) {
    const c = t[k] as string;
    if (c === '\\' && t[k + 1] === '|') {
      cur += '|';
      k++;
    } else if (c === '|') {
      cells.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  cells.push(cur.trim());
  return cells;
}

function parseTable(lines: readonly string[], start: number): { block: Block; next: number } {
  const header = splitRow(lines[start] as string);
  const align = splitRow(lines[start + 1] as string).map((c) => (c.startsWith(':') && c.endsWith(':') ? 'center' : c.endsWith(':') ? 'right' : c.startsWith(':') ? 'left' : null));
  const rows: Inline[][][] = [];
  let i = start + 2;
  for (; i < lines.length; i++) {
    const l = lines[i] as string;
    if (isBlank(l) || !l.includes('|')) break;
    const cells = splitRow(l);
    rows.push(header.map((_, k) => parseInline(cells[k] ?? '')));
  }
  return { block: { type: 'table', align: header.map((_, k) => align[k] ?? null), header: header.map((c) => parseInline(c)), rows }, next: i };
}

// ---- inlines --------------------------------------------------------------------------------
const PUNCT = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/;
const ALNUM = /[\p{L}\p{N}]/u;

export function parseInline(text: string): Inline[] {
  return new InlineParser(text).parse(0, text.length, 0);
}

class InlineParser {
  /** Per delimiter, the smallest position from which a closer was searched and not found. */
  private readonly noCloserFrom = new Map<string, number>();
  constructor(private readonly s: string) {}

  parse(from: number, to: number, depth: number): Inline[] {
    const s = this.s;
    const out: Inline[] = [];
    let buf = '';
    const flush = (): void => {
      if (buf) out.push({ type: 'text', text: buf });
      buf = '';
    };
    let i = from;
    while (i < to) {
      const c = s[i] as string;
      if (c === '\\' && i + 1 < to && PUNCT.test(s[i + 1] as string)) {
        buf += s[i + 1];
        i += 2;
        continue;
      }
      if (c === '\\' && s[i + 1] === '\n') {
        flush();
        out.push({ type: 'br' });
        i += 2;
        continue;
      }
      if (c === '`') {
        let n = 1;
        while (s[i + n] === '`') n++;
        const ticks = '`'.repeat(n);
        const close = this.findCloser(ticks, i + n, to, (p) => s[p + n] !== '`' && s[p - 1] !== '`');
        if (close < 0) {
          buf += ticks;
          i += n;
          continue;
        }
        flush();
        let code = s.slice(i + n, close).replace(/\n/g, ' ');
        if (code.length > 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim() !== '') code = code.slice(1, -1);
        out.push({ type: 'code', text: code });
        i = close + n;
        continue;
      }
      if (c === '!' && s[i + 1] === '[') {
        const link = this.link(i + 1, to);
        if (link) {
          flush();
          out.push({ type: 'image', alt: s.slice(i + 2, link.textEnd), src: link.href });
          i = link.end;
          continue;
        }
      }
      if (c === '[') {
        const link = this.link(i, to);
        if (link) {
          flush();
          out.push({ type: 'link', href: link.href, children: depth >= MAX_DEPTH ? [{ type: 'text', text: s.slice(i + 1, link.textEnd) }] : this.parse(i + 1, link.textEnd, depth + 1).flatMap(unlink) });
          i = link.end;
          continue;
        }
      }
      if (c === '<') {
        AUTOLINK.lastIndex = i;
        const m = AUTOLINK.exec(s);
        if (m && AUTOLINK.lastIndex <= to) {
          flush();
          out.push({ type: 'link', href: m[1] as string, children: [{ type: 'text', text: m[1] as string }] });
          i += m[0].length;
          continue;
        }
      }
      if (c === '\n') {
        // Two trailing spaces: a hard break; otherwise a soft one (shown as a space by CSS white-space).
        if (buf.endsWith('  ')) {
          buf = buf.replace(/ +$/, '');
          flush();
          out.push({ type: 'br' });
        } else buf += '\n';
        i++;
        continue;
      }
      if (c === '*' || c === '_' || c === '~') {
        let n = 1;
        while (s[i + n] === c) n++;
        const run = Math.min(n, 2);
        const delim = c.repeat(run);
        const opens = s[i + run] !== undefined && !/\s/.test(s[i + run] as string) && (c !== '_' || i === 0 || !ALNUM.test(s[i - 1] as string)) && (c !== '~' || n === 2);
        if (opens && depth < MAX_DEPTH) {
          const close = this.findCloser(delim, i + run + 1, to, (p) => !/\s/.test(s[p - 1] as string) && s[p - 1] !== c && s[p + run] !== c && (c !== '_' || !ALNUM.test(s[p + run] ?? '')));
          if (close >= 0) {
            flush();
            const type = c === '~' ? 'del' : run === 2 ? 'strong' : 'em';
            out.push({ type, children: this.parse(i + run, close, depth + 1) });
            i = close + run;
            continue;
          }
        }
        buf += s.slice(i, i + n);
        i += n;
        continue;
      }
      buf += c;
      i++;
    }
    flush();
    return out;
  }

  /** The first position in [from, to) where `delim` starts and `ok` holds, else -1 (memoized misses). */
  private findCloser(delim: string, from: number, to: number, ok: (p: number) => boolean): number {
    const key = `${delim}@${to}`;
    const miss = this.noCloserFrom.get(key);
    if (miss !== undefined && from >= miss) return -1;
    let p = this.s.indexOf(delim, from);
    while (p >= 0 && p < to && !ok(p)) p = this.s.indexOf(delim, p + 1);
    if (p < 0 || p >= to) {
      this.noCloserFrom.set(key, Math.min(miss ?? from, from));
      return -1;
    }
    return p;
  }

  /** Each `[`'s matching `]` (escapes skipped), found in one pass on first use. */
  private brackets: Map<number, number> | undefined;

  private matchingBracket(at: number): number | undefined {
    if (!this.brackets) {
      const m = new Map<number, number>();
      const open: number[] = [];
      const s = this.s;
      for (let k = 0; k < s.length; k++) {
        const c = s.charCodeAt(k);
        if (c === 92 /* \ */) k++;
        else if (c === 91 /* [ */) open.push(k);
        else if (c === 93 /* ] */ && open.length) m.set(open.pop() as number, k);
      }
      this.brackets = m;
    }
    return this.brackets.get(at);
  }

  /** `[text](href "title")` starting at `at` (the `[`). */
  private link(at: number, to: number): { textEnd: number; href: string; end: number } | null {
    const k = this.matchingBracket(at);
    if (k === undefined || k >= to || this.s[k + 1] !== '(') return null;
    LINK_TARGET.lastIndex = k + 1;
    const m = LINK_TARGET.exec(this.s);
    if (!m || LINK_TARGET.lastIndex > to) return null;
    let href = m[1] as string;
    if (href.startsWith('<')) href = href.slice(1, -1);
    return { textEnd: k, href, end: LINK_TARGET.lastIndex };
  }
}

const LINK_TARGET = /\(\s*(<[^<>\n]*>|[^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*)(?:\s+("[^"\n]*"|'[^'\n]*'))?\s*\)/y;
const AUTOLINK = /<(https?:\/\/[^\s<>]+)>/y;

/** A link's text holds no other link (markdown's rule); nested ones become their text. */
function unlink(n: Inline): Inline[] {
  return n.type === 'link' ? n.children.flatMap(unlink) : [n];
}

// ---- DOM ------------------------------------------------------------------------------------
/** The parts of the DOM the renderer uses (the real document has them; tests pass a shim). */
export interface MiniElement {
  append(...nodes: Array<MiniElement | MiniText | string>): void;
  setAttribute(name: string, value: string): void;
  addEventListener(type: 'click', listener: (ev: { preventDefault(): void }) => void): void;
  textContent: string | null;
}
export type MiniText = object;
export interface MiniDocument {
  createElement(tag: string): MiniElement;
  createTextNode(text: string): MiniText;
}

export interface RenderHooks {
  /** An http(s) link was clicked: the host opens it (after VS Code's own confirmation). */
  openLink(href: string): void;
  copy(text: string): void;
  insert(text: string): void;
}

/** Whether a link may be offered for opening at all: http and https, nothing else. */
export function isSafeHref(href: string): boolean {
  return /^https?:\/\/[^\s/]/i.test(href.trim());
}

export function renderMarkdown(doc: MiniDocument, text: string, hooks: RenderHooks): MiniElement {
  const root = doc.createElement('div');
  root.setAttribute('class', 'md');
  for (const b of parseMarkdown(text)) root.append(renderBlock(doc, b, hooks));
  return root;
}

function renderBlock(doc: MiniDocument, b: Block, hooks: RenderHooks): MiniElement {
  switch (b.type) {
    case 'heading': {
      const h = doc.createElement(`h${Math.min(6, Math.max(1, b.level))}`);
      appendInlines(doc, h, b.inlines, hooks);
      return h;
    }
    case 'paragraph': {
      const p = doc.createElement('p');
      appendInlines(doc, p, b.inlines, hooks);
      return p;
    }
    case 'hr':
      return doc.createElement('hr');
    case 'quote': {
      const q = doc.createElement('blockquote');
      for (const inner of b.blocks) q.append(renderBlock(doc, inner, hooks));
      return q;
    }
    case 'list': {
      const l = doc.createElement(b.ordered ? 'ol' : 'ul');
      if (b.ordered && b.start !== 1) l.setAttribute('start', String(b.start));
      for (const item of b.items) {
        const li = doc.createElement('li');
        // A one-paragraph item shows without the paragraph's margins.
        const only = item.length === 1 ? item[0] : undefined;
        if (only && only.type === 'paragraph') appendInlines(doc, li, only.inlines, hooks);
        else for (const inner of item) li.append(renderBlock(doc, inner, hooks));
        l.append(li);
      }
      return l;
    }
    case 'code':
      return renderCode(doc, b.text, b.lang, hooks);
    case 'table': {
      const wrap = doc.createElement('div');
      wrap.setAttribute('class', 'table-wrap');
      const t = doc.createElement('table');
      const head = doc.createElement('tr');
      b.header.forEach((cell, k) => head.append(tableCell(doc, 'th', cell, b.align[k] ?? null, hooks)));
      const thead = doc.createElement('thead');
      thead.append(head);
      const tbody = doc.createElement('tbody');
      for (const row of b.rows) {
        const tr = doc.createElement('tr');
        row.forEach((cell, k) => tr.append(tableCell(doc, 'td', cell, b.align[k] ?? null, hooks)));
        tbody.append(tr);
      }
      t.append(thead, tbody);
      wrap.append(t);
      return wrap;
    }
  }
}

function tableCell(doc: MiniDocument, tag: 'th' | 'td', inlines: readonly Inline[], align: string | null, hooks: RenderHooks): MiniElement {
  const c = doc.createElement(tag);
  if (align) c.setAttribute('class', `align-${align}`);
  appendInlines(doc, c, inlines, hooks);
  return c;
}

function renderCode(doc: MiniDocument, text: string, lang: string, hooks: RenderHooks): MiniElement {
  const wrap = doc.createElement('div');
  wrap.setAttribute('class', 'code-block');
  const bar = doc.createElement('div');
  bar.setAttribute('class', 'code-bar');
  const label = doc.createElement('span');
  label.setAttribute('class', 'code-lang');
  label.textContent = lang;
  const copy = doc.createElement('button');
  copy.setAttribute('class', 'code-copy');
  copy.setAttribute('title', 'Copy the code');
  copy.textContent = 'Copy';
  copy.addEventListener('click', () => hooks.copy(text));
  const insert = doc.createElement('button');
  insert.setAttribute('class', 'code-insert');
  insert.setAttribute('title', 'Insert the code into the editor (one undo step)');
  insert.textContent = 'Insert';
  insert.addEventListener('click', () => hooks.insert(text));
  bar.append(label, copy, insert);
  const pre = doc.createElement('pre');
  const code = doc.createElement('code');
  if (lang) code.setAttribute('data-lang', lang);
  code.textContent = text;
  pre.append(code);
  wrap.append(bar, pre);
  return wrap;
}

function appendInlines(doc: MiniDocument, parent: MiniElement, inlines: readonly Inline[], hooks: RenderHooks): void {
  for (const n of inlines) {
    switch (n.type) {
      case 'text':
        parent.append(doc.createTextNode(n.text));
        break;
      case 'br':
        parent.append(doc.createElement('br'));
        break;
      case 'code': {
        const c = doc.createElement('code');
        c.textContent = n.text;
        parent.append(c);
        break;
      }
      case 'em':
      case 'strong':
      case 'del': {
        const e = doc.createElement(n.type);
        appendInlines(doc, e, n.children, hooks);
        parent.append(e);
        break;
      }
      case 'image': {
        // Never loaded: a remote image would be a request the model chose.
        const span = doc.createElement('span');
        span.setAttribute('class', 'md-image');
        span.setAttribute('title', `Image not loaded: ${n.src}`);
        span.textContent = `[image: ${n.alt || n.src}]`;
        parent.append(span);
        break;
      }
      case 'link': {
        if (isSafeHref(n.href)) {
          const a = doc.createElement('a');
          // No navigation of the page itself: the click goes to the host, which opens it outside.
          a.setAttribute('href', '#');
          a.setAttribute('data-href', n.href);
          a.setAttribute('title', n.href);
          a.setAttribute('role', 'link');
          a.addEventListener('click', (ev) => {
            ev.preventDefault();
            hooks.openLink(n.href);
          });
          appendInlines(doc, a, n.children, hooks);
          parent.append(a);
        } else {
          const span = doc.createElement('span');
          span.setAttribute('class', 'link-blocked');
          span.setAttribute('title', `Not a web link, not opened: ${n.href.slice(0, 200)}`);
          appendInlines(doc, span, n.children, hooks);
          parent.append(span);
        }
        break;
      }
    }
  }
}
