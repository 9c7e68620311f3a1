// The export's tokenizer (tokenizer.json through @huggingface/tokenizers) and chat template
// (through @huggingface/jinja), with the same ids as Python `tokenizers` and the same prompt
// text as transformers' apply_chat_template; and an incremental decoder that streams whole
// characters only.
import * as fs from 'node:fs';
import type * as TokenizersModule from '@huggingface/tokenizers' with { 'resolution-mode': 'import' };
import type * as JinjaModule from '@huggingface/jinja' with { 'resolution-mode': 'import' };
import type { ChatMessage } from '../../protocol/chatEngine';

// Both packages ship CommonJS builds beside their ES modules; the bundle (cjs) requires those.
/* eslint-disable @typescript-eslint/no-require-imports */
const { Tokenizer } = require('@huggingface/tokenizers') as typeof TokenizersModule;
const { Template } = require('@huggingface/jinja') as typeof JinjaModule;
/* eslint-enable @typescript-eslint/no-require-imports */
type Tokenizer = TokenizersModule.Tokenizer;
type Template = JinjaModule.Template;

type TokenConfig = Record<string, unknown>;

/** A special token in tokenizer_config.json: a string or an AddedToken object. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** transformers' choice: the config's chat_template (a string, or named templates with 'default'), else chat_template.jinja. */
function pickTemplate(config: TokenConfig, templateFile: string | null): string | null {
  const t = config.chat_template;
  if (typeof t === 'string' && t.trim()) return t;
  if (Array.isArray(t)) {
    const named = t as Array<{ name?: unknown; template?: unknown }>;
    const d = named.find((x) => x.name === 'default') ?? named[0];
    if (d && typeof d.template === 'string') return d.template;
  }
  if (templateFile) return fs.readFileSync(templateFile, 'utf8');
  return null;
}

export class ChatTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly template: Template | null;
  private readonly specials: Record<string, string>;

  constructor(tokenizerJson: unknown, config: TokenConfig, chatTemplate: string | null) {
    this.tokenizer = new Tokenizer(tokenizerJson as object, config);
    this.template = chatTemplate ? new Template(chatTemplate) : null;
    this.specials = {};
    for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
      const s = tokenText(config[k]);
      if (s !== undefined) this.specials[k] = s;
    }
  }

  static fromFiles(tokenizerJson: string, tokenizerConfig: string | null, chatTemplateFile: string | null): ChatTokenizer {
    const json = JSON.parse(fs.readFileSync(tokenizerJson, 'utf8')) as unknown;
    const config = tokenizerConfig ? (JSON.parse(fs.readFileSync(tokenizerConfig, 'utf8')) as TokenConfig) : {};
    return new ChatTokenizer(json, config, pickTemplate(config, chatTemplateFile));
  }

  get hasChatTemplate(): boolean {
    return this.template !== null;
  }

  /** Ids of `text`; addSpecialTokens as Python's `Tokenizer.encode(text, add_special_tokens=...)` (the post-processor). */
  encode(text: string, addSpecialTokens = false): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = true): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
  }

  /** The prompt text, as transformers' apply_chat_template(messages, tokenize=False, add_generation_prompt=...). */
  applyChatTemplate(messages: readonly ChatMessage[], addGenerationPrompt = true): string {
    if (!this.template) {
      // No template: a plain transcript, as a base model would see it.
      return messages.map((m) => m.content).join('\n') + (addGenerationPrompt ? '\n' : '');
    }
    return this.template.render({
      ...this.specials,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: addGenerationPrompt,
    });
  }

  /** Prompt ids: the template's text tokenized without added special tokens (transformers does the same). */
  encodeChat(messages: readonly ChatMessage[], addGenerationPrompt = true): number[] {
    return this.encode(this.applyChatTemplate(messages, addGenerationPrompt), false);
  }
}

/**
 * Turns new token ids into new text, whole characters only: a token that ends inside a UTF-8
 * sequence (half an emoji) is held until the rest arrives. Decodes a short window (the
 * previous emission's tokens for context, then the unread ones), as text-generation-inference
 * does, so the cost per token does not grow with the answer.
 */
export class IncrementalDecoder {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly tokenizer: ChatTokenizer) {}

  /** The text this token completes ('' while a character is incomplete). */
  push(id: number): string {
    this.ids.push(id);
    const prefix = this.prefixOffset === this.readOffset ? '' : this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const text = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
    if (text.length > prefix.length && !text.endsWith('\uFFFD')) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return text.slice(prefix.length);
    }
    return '';
  }
}
