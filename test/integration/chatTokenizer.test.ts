// The engine's tokenizer against the Python reference: ids equal Python `tokenizers` on a corpus
// (unicode, emoji, CJK, code, whitespace runs, the chat template's special tokens) for the
// default model's tokenizer.json and the tiny model's; the chat template's text equals
// transformers' apply_chat_template; streamed decoding gives whole characters that add up to
// the full decode.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChatTokenizer, IncrementalDecoder } from '../../src/core/chat/tokenizer';
import type { ChatMessage } from '../../src/protocol/chatEngine';
import { DEFAULT_MODEL, makeTinyModel, runPython, tempDir } from './chatHelpers';

const CORPUS = [
  'Hello world',
  ' leading space and trailing space ',
  'What is the capital of France?',
  'naïve café résumé – “quotes” — em dash … ellipsis',
  'Ünïcödé ÀÉÎÕÜ ß ﬁ ligature Ωμέγα Кириллица עברית العربية',
  '中文测试：你好，世界！日本語のテキスト。한국어 텍스트',
  'emoji 😀😃🎉 👩‍👩‍👧‍👦 family 🇫🇷 flag 👍🏽 skin tone ✨',
  'def f(x):\n    return x ** 2  # square\n\nprint(f(3))\n',
  'for (let i = 0; i < n; i++) {\n\tconsole.log(`${i}`);\n}',
  'tabs\t\tand   many     spaces\n\n\n\nnewlines\r\nCRLF',
  '          ',
  '\n',
  '<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n',
  '<|endoftext|>text after<|im_end|><|im_start|>',
  'numbers 1234567890 3.14159 -42 1e-10 0x1F',
  'URL https://example.com/path?q=1&b=2#frag and email a.b@c.de',
  "It's don't we'll I'm you're they've",
  'zero\u200bwidth\u200djoiner\u00a0nbsp\ufeffbom',
  'a'.repeat(300),
  '🙂'.repeat(20),
];

const CONVERSATIONS: ChatMessage[][] = [
  [{ role: 'user', content: 'What is the capital of France?' }],
  [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Write a haiku about the sea 🌊' },
  ],
  [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello! How can I help?' },
    { role: 'user', content: 'Explain `git rebase` in one line.\n\n  Indented.' },
  ],
];

interface PyRef {
  ids: number[][];
  idsWithSpecial: number[][];
  templates: string[];
  templatesNoGen: string[];
  templateIds: number[][];
}

/** Python `tokenizers` and transformers on the same folder. */
function pythonReference(dir: string): PyRef {
  const script = `
import json, sys
from tokenizers import Tokenizer
from transformers import AutoTokenizer
d = json.load(sys.stdin)
t = Tokenizer.from_file(d["dir"] + "/tokenizer.json")
at = AutoTokenizer.from_pretrained(d["dir"])
out = {
  "ids": [t.encode(x, add_special_tokens=False).ids for x in d["corpus"]],
  "idsWithSpecial": [t.encode(x).ids for x in d["corpus"]],
  "templates": [at.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in d["convs"]],
  "templatesNoGen": [at.apply_chat_template(c, tokenize=False, add_generation_prompt=False) for c in d["convs"]],
  "templateIds": [list(at.apply_chat_template(c, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]) for c in d["convs"]],
}
print(json.dumps(out))
`;
  return runPython<PyRef>(script, { dir, corpus: CORPUS, convs: CONVERSATIONS });
}

function load(dir: string): ChatTokenizer {
  const tpl = path.join(dir, 'chat_template.jinja');
  return ChatTokenizer.fromFiles(path.join(dir, 'tokenizer.json'), path.join(dir, 'tokenizer_config.json'), fs.existsSync(tpl) ? tpl : null);
}

for (const which of ['default', 'tiny'] as const) {
  describe(`chat tokenizer parity (${which} model)`, () => {
    let dir = '';
    let ref: PyRef;
    let tok: ChatTokenizer;
    before(() => {
      dir = which === 'default' ? DEFAULT_MODEL : makeTinyModel(path.join(tempDir('neftune-tok-'), 'tiny'));
      ref = pythonReference(dir);
      tok = load(dir);
    });

    it('encodes the corpus to the ids Python tokenizers gives (with and without added special tokens)', () => {
      CORPUS.forEach((text, i) => {
        assert.deepEqual(tok.encode(text, false), ref.ids[i], `text ${i}: ${JSON.stringify(text.slice(0, 40))}`);
        assert.deepEqual(tok.encode(text, true), ref.idsWithSpecial[i], `text ${i} with special tokens`);
      });
    });

    it('renders the chat template as transformers does, and tokenizes it to the same ids', () => {
      assert.ok(tok.hasChatTemplate);
      CONVERSATIONS.forEach((c, i) => {
        assert.equal(tok.applyChatTemplate(c, true), ref.templates[i], `conversation ${i}`);
        assert.equal(tok.applyChatTemplate(c, false), ref.templatesNoGen[i], `conversation ${i} without the generation prompt`);
        assert.deepEqual(tok.encodeChat(c, true), ref.templateIds[i], `conversation ${i} ids`);
      });
    });

    it('streams whole characters: the pieces add up to the full decode and none holds a broken character', () => {
      for (const text of CORPUS) {
        const ids = tok.encode(text, false);
        const dec = new IncrementalDecoder(tok);
        const pieces = ids.map((id) => dec.push(id));
        assert.equal(pieces.join(''), tok.decode(ids), JSON.stringify(text.slice(0, 40)));
        for (const p of pieces) assert.ok(!p.includes('\uFFFD') && !/[\uD800-\uDBFF]$/.test(p), `broken character in ${JSON.stringify(p)}`);
      }
      // An emoji split over byte tokens comes out whole, on the token that completes it.
      const emojiIds = tok.encode('😀', false);
      if (emojiIds.length > 1) {
        const dec = new IncrementalDecoder(tok);
        const pieces = emojiIds.map((id) => dec.push(id));
        assert.deepEqual(pieces.slice(0, -1), new Array(emojiIds.length - 1).fill(''));
        assert.equal(pieces.at(-1), '😀');
      }
    });
  });
}
