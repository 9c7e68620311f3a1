import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { markdownText } from '../../src/core/markdownText';

// markdown-it is in node_modules (via vsce).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const MarkdownIt: any = createRequire(path.join(process.cwd(), 'package.json'))('markdown-it');

// Rendered with markdown-it, html enabled (the most permissive renderer): what shows is the text.
const md = new MarkdownIt({ html: true });
const rendered = (s: string): string => md.renderInline(markdownText(s)) as string;
const decode = (html: string): string => html.replace(/<br>\n?/g, '\n').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');

describe('markdownText', () => {
  for (const s of ['evil<img src=x onerror=alert(5)>', '<script>alert(1)</script>', '**bold** _it_ `code` [link](javascript:alert(1))', '# heading\n- item\n1. one', 'a &amp; b &lt;c&gt;', '$(alert) ~~x~~ | t |', 'run-2026.12.04_a']) {
    it(`shows ${JSON.stringify(s)} as text, with no element`, () => {
      const html = rendered(s);
      assert.doesNotMatch(html, /<(?!br>)[a-z]/i, html);
      assert.equal(decode(html), s);
    });
  }
});
