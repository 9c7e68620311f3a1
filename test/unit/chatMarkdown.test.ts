// The chat panel's markdown renderer (webview/chat/markdown.ts) on hostile and ordinary model
// output: what it parses, and the elements it builds on a minimal document (the renderer uses
// only createElement, createTextNode, setAttribute, append, textContent, addEventListener; the
// shim has no innerHTML, so nothing can be parsed as HTML even by mistake).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isSafeHref, MAX_DEPTH, parseInline, parseMarkdown, renderMarkdown, type MiniDocument, type MiniElement, type RenderHooks } from '../../webview/chat/markdown';
import { isOpenableLink } from '../../src/protocol/chatMessages';

class FakeText {
  constructor(readonly text: string) {}
}
class FakeElement implements MiniElement {
  readonly attrs = new Map<string, string>();
  children: Array<FakeElement | FakeText> = [];
  readonly listeners = new Map<string, Array<(ev: { preventDefault(): void }) => void>>();
  constructor(readonly tag: string) {}
  append(...nodes: Array<MiniElement | object | string>): void {
    for (const n of nodes) this.children.push(typeof n === 'string' ? new FakeText(n) : (n as FakeElement | FakeText));
  }
  setAttribute(name: string, value: string): void {
    this.attrs.set(name, value);
  }
  addEventListener(type: 'click', listener: (ev: { preventDefault(): void }) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  get textContent(): string {
    return this.children.map((c) => (c instanceof FakeText ? c.text : c.textContent)).join('');
  }
  set textContent(v: string | null) {
    this.children = v ? [new FakeText(v)] : [];
  }
  click(): boolean {
    let prevented = false;
    for (const l of this.listeners.get('click') ?? []) l({ preventDefault: () => (prevented = true) });
    return prevented;
  }
}
const doc: MiniDocument = { createElement: (tag) => new FakeElement(tag), createTextNode: (t) => new FakeText(t) };

function all(e: FakeElement): FakeElement[] {
  return [e, ...e.children.flatMap((c) => (c instanceof FakeElement ? all(c) : []))];
}
function render(text: string, hooks: Partial<RenderHooks> = {}): FakeElement {
  return renderMarkdown(doc, text, { openLink: () => undefined, copy: () => undefined, insert: () => undefined, ...hooks }) as FakeElement;
}
/** Only these elements and attributes are ever made; a script, image, iframe or on* attribute never. */
const ALLOWED_TAGS = new Set(['div', 'p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li', 'blockquote', 'pre', 'code', 'em', 'strong', 'del', 'a', 'span', 'br', 'hr', 'button', 'table', 'thead', 'tbody', 'tr', 'th', 'td']);
const ALLOWED_ATTRS = new Set(['class', 'title', 'href', 'data-href', 'role', 'start', 'data-lang']);
function assertInert(root: FakeElement): void {
  for (const e of all(root)) {
    assert.ok(ALLOWED_TAGS.has(e.tag), `element <${e.tag}>`);
    for (const [k, v] of e.attrs) {
      assert.ok(ALLOWED_ATTRS.has(k), `attribute ${k}=${v} on <${e.tag}>`);
      if (k === 'href') assert.equal(v, '#', 'an anchor never navigates by itself');
      if (k === 'data-href') assert.ok(isSafeHref(v) && isOpenableLink(v), `link target ${v}`);
    }
  }
}

describe('chat markdown: hostile payloads render inert, as text', () => {
  it('<script> and raw HTML are text, not elements', () => {
    const payload = '<script>alert(1)</script>\n\n<div onclick="x()">hi</div> <iframe srcdoc="<script>parent.x()</script>"></iframe>';
    const root = render(payload);
    assertInert(root);
    assert.ok(root.textContent.includes('<script>alert(1)</script>'));
    assert.ok(root.textContent.includes('<iframe srcdoc="<script>parent.x()</script>"></iframe>'));
  });

  it('<img onerror> is text, and a markdown image is never loaded (its alt shows)', () => {
    const root = render('<img src=x onerror="alert(1)">\n\n![a cat](http://evil.example/cat.png)');
    assertInert(root);
    assert.ok(root.textContent.includes('<img src=x onerror="alert(1)">'));
    assert.ok(root.textContent.includes('[image: a cat]'));
    assert.ok(!all(root).some((e) => e.tag === 'img'));
  });

  it('javascript:, data:, vbscript: and file: links are plain text; an http(s) link opens only through the host on click', () => {
    const opened: string[] = [];
    const root = render('[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](data:text/html;base64,PHNjcmlwdD4=) [d](vbscript:x) [e](file:///etc/passwd) [f](command:workbench.action.quit) [ok](https://example.com/x?y=1)', {
      openLink: (h) => opened.push(h),
    });
    assertInert(root);
    const anchors = all(root).filter((e) => e.tag === 'a');
    assert.equal(anchors.length, 1);
    const a = anchors[0] as FakeElement;
    assert.equal(a.attrs.get('data-href'), 'https://example.com/x?y=1');
    assert.equal(a.textContent, 'ok');
    assert.deepEqual(opened, [], 'nothing opens before a click');
    assert.equal(a.click(), true, 'the click does not navigate the webview');
    assert.deepEqual(opened, ['https://example.com/x?y=1']);
    const blocked = all(root).filter((e) => e.attrs.get('class') === 'link-blocked');
    assert.deepEqual(
      blocked.map((e) => e.textContent),
      ['a', 'b', 'c', 'd', 'e', 'f'],
    );
  });

  it('isOpenableLink (the host side) takes http and https only', () => {
    for (const ok of ['http://a.b/', 'https://example.com/x']) assert.equal(isOpenableLink(ok), true, ok);
    for (const bad of ['javascript:alert(1)', ' javascript:alert(1)', 'data:text/html,x', 'file:///etc/passwd', 'command:x', 'vscode://x', 'https://', '//evil.example', 'not a url']) assert.equal(isOpenableLink(bad), false, bad);
  });

  it('deep nesting is cut at MAX_DEPTH and shown as text, without a stack overflow', () => {
    const quotes = '>'.repeat(100_000) + ' deep';
    const q = render(quotes);
    assertInert(q);
    const depth = (e: FakeElement): number => 1 + Math.max(0, ...e.children.filter((c): c is FakeElement => c instanceof FakeElement).map(depth));
    assert.ok(depth(q) <= MAX_DEPTH + 4, `depth ${depth(q)}`);
    assert.ok(q.textContent.includes('deep'));
    const lists = Array.from({ length: 200 }, (_, i) => `${'  '.repeat(i)}- item ${i}`).join('\n');
    const l = render(lists);
    assertInert(l);
    assert.ok(depth(l) <= 2 * MAX_DEPTH + 6, `depth ${depth(l)}`);
    assert.ok(l.textContent.includes('item 199'));
    const stars = '*'.repeat(50_000) + 'x' + '*'.repeat(50_000);
    assertInert(render(stars));
    const brackets = '['.repeat(50_000) + 'x' + ']'.repeat(50_000) + '(https://a.b)';
    assertInert(render(brackets));
  });

  it('huge text: a megabyte of mixed markdown and unmatched delimiters renders in one pass, every character kept', () => {
    const unit = 'word *em **strong `code [link](https://a.b) _x_ <b>raw</b> ~~del~~\n';
    const text = unit.repeat(Math.ceil((1 << 20) / unit.length));
    const root = render(text);
    assertInert(root);
    assert.ok(root.textContent.includes('<b>raw</b>'));
    const lone = '[ * _ ~ ( ] '.repeat(100_000);
    const r2 = render(lone);
    assertInert(r2);
    assert.equal(r2.textContent, lone.trim());
  });
});

describe('chat markdown: what it renders', () => {
  it('headings, paragraphs, emphasis, strong, strikethrough, inline code, hard breaks', () => {
    const blocks = parseMarkdown('# Title\n\nSome *em* and **strong** and ~~gone~~ and `a < b`.\nnext line  \nbroken');
    assert.equal(blocks[0]?.type, 'heading');
    const root = render('# Title\n\nSome *em* and **strong** and ~~gone~~ and `a < b`.');
    const tags = all(root).map((e) => e.tag);
    for (const t of ['h1', 'p', 'em', 'strong', 'del', 'code']) assert.ok(tags.includes(t), t);
    assert.equal(all(root).find((e) => e.tag === 'code')?.textContent, 'a < b');
    assert.deepEqual(parseInline('a  \nb').map((n) => n.type), ['text', 'br', 'text']);
  });

  it('snake_case is not emphasis; escaped stars are stars', () => {
    assert.deepEqual(parseInline('use my_var_name here'), [{ type: 'text', text: 'use my_var_name here' }]);
    assert.deepEqual(parseInline('\\*not em\\*'), [{ type: 'text', text: '*not em*' }]);
    assert.deepEqual(parseInline('2 * 3 * 4'), [{ type: 'text', text: '2 * 3 * 4' }]);
  });

  it('lists (nested, ordered with a start) and block quotes', () => {
    const root = render('- one\n- two\n  - two.a\n  - two.b\n- three\n\n3. c\n4. d\n\n> quoted *text*');
    const ul = all(root).filter((e) => e.tag === 'ul');
    assert.equal(ul.length, 2, 'outer and nested list');
    assert.equal(all(root).filter((e) => e.tag === 'li').length, 7);
    const ol = all(root).find((e) => e.tag === 'ol') as FakeElement;
    assert.equal(ol.attrs.get('start'), '3');
    assert.equal(all(root).find((e) => e.tag === 'blockquote')?.textContent, 'quoted text');
  });

  it('a fenced code block keeps its text verbatim, with Copy and Insert that hand over exactly that text', () => {
    const code = 'def f(x):\n    return "<script>" + x  # **not bold**\n';
    const copied: string[] = [];
    const inserted: string[] = [];
    const root = render(`Here:\n\n\`\`\`python\n${code}\`\`\`\n\nDone.`, { copy: (t) => copied.push(t), insert: (t) => inserted.push(t) });
    assertInert(root);
    const pre = all(root).find((e) => e.tag === 'pre') as FakeElement;
    assert.equal(pre.textContent, code.replace(/\n$/, ''));
    assert.equal(all(root).find((e) => e.tag === 'code')?.attrs.get('data-lang'), 'python');
    const buttons = all(root).filter((e) => e.tag === 'button');
    assert.deepEqual(buttons.map((b) => b.textContent), ['Copy', 'Insert']);
    (buttons[0] as FakeElement).click();
    (buttons[1] as FakeElement).click();
    assert.deepEqual(copied, [code.replace(/\n$/, '')]);
    assert.deepEqual(inserted, [code.replace(/\n$/, '')]);
    assert.equal(all(root).filter((e) => e.tag === 'p').length, 2);
  });

  it('an unclosed fence (an answer still streaming) is a code block to the end', () => {
    const blocks = parseMarkdown('text\n```js\nconst a = 1;\nconst b');
    assert.deepEqual(blocks[1], { type: 'code', lang: 'js', text: 'const a = 1;\nconst b', closed: false });
  });

  it('tables with alignment', () => {
    const root = render('| a | b |\n|:--|--:|\n| 1 | **2** |\n| 3 | 4 |');
    assert.equal(all(root).filter((e) => e.tag === 'th').length, 2);
    assert.equal(all(root).filter((e) => e.tag === 'td').length, 4);
    assert.equal(all(root).filter((e) => e.tag === 'td')[1]?.attrs.get('class'), 'align-right');
    assert.ok(all(root).some((e) => e.tag === 'strong'));
  });

  it('CRLF line ends parse like LF', () => {
    assert.deepEqual(parseMarkdown('# a\r\n\r\n- b\r\n- c'), parseMarkdown('# a\n\n- b\n- c'));
  });
});
