// docs/config-reference.md, generated from the run-config JSON Schema and its rules file (the one
// source of truth both the extension and the trainer validate with), so the reference cannot
// drift from what is checked. Plain data in, Markdown out: no file access, no vscode import.

/** The subset of JSON Schema the run-config schema uses. */
export interface SchemaNode {
  readonly type?: string | readonly string[];
  readonly description?: string;
  readonly default?: unknown;
  readonly enum?: readonly unknown[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly minLength?: number;
  readonly minItems?: number;
  readonly uniqueItems?: boolean;
  readonly items?: SchemaNode;
  readonly anyOf?: readonly SchemaNode[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean;
  readonly title?: string;
}

export interface ConfigKey {
  /** `neftune.scale`, `datasets[].path` (`[]`: every item of the list). */
  readonly path: string;
  readonly node: SchemaNode;
  readonly required: boolean;
}

/** Every property of the schema, nested ones (objects, items of lists of objects) after their parent. */
export function configKeys(schema: SchemaNode): ConfigKey[] {
  const out: ConfigKey[] = [];
  const walk = (node: SchemaNode, prefix: string): void => {
    const req = new Set(node.required ?? []);
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const p = prefix + name;
      out.push({ path: p, node: child, required: req.has(name) });
      if (child.properties) walk(child, `${p}.`);
      if (child.items?.properties) walk(child.items, `${p}[].`);
    }
  };
  walk(schema, '');
  return out;
}

/** The keys without a description: the reference would have an empty cell for them. */
export function undescribedKeys(schema: SchemaNode): string[] {
  return configKeys(schema).filter((k) => !k.node.description?.trim()).map((k) => k.path);
}

// An empty string shows as `""`: an empty code span renders as two stray backticks.
const code = (v: unknown): string => '`' + (typeof v === 'string' && v ? v : JSON.stringify(v)) + '`';

/** The type in words: `integer`, `list of string`, `list of string, or string`, `"auto", true or false`. */
export function typeText(n: SchemaNode): string {
  if (n.anyOf) return n.anyOf.map(typeText).join(', or ');
  const t = n.type ?? (n.enum ? [...new Set(n.enum.map((v) => (typeof v === 'boolean' ? 'boolean' : typeof v)))] : []);
  const types = Array.isArray(t) ? t : [t as string];
  return types.map((x) => (x === 'array' ? `list of ${n.items ? typeText(n.items) : 'any'}` : x === 'object' ? 'mapping' : x)).join(' or ') || 'any';
}

/** Allowed values and bounds in words (empty when anything of the type goes). */
export function allowedText(n: SchemaNode): string {
  const parts: string[] = [];
  if (n.enum) parts.push(`one of ${n.enum.map(code).join(', ')}`);
  if (n.minimum !== undefined) parts.push(`≥ ${n.minimum}`);
  if (n.exclusiveMinimum !== undefined) parts.push(`> ${n.exclusiveMinimum}`);
  if (n.maximum !== undefined) parts.push(`≤ ${n.maximum}`);
  if (n.exclusiveMaximum !== undefined) parts.push(`< ${n.exclusiveMaximum}`);
  if (n.minLength !== undefined) parts.push(n.minLength === 1 ? 'not empty' : `at least ${n.minLength} characters`);
  if (n.minItems !== undefined) parts.push(n.minItems === 1 ? 'at least one item' : `at least ${n.minItems} items`);
  if (n.uniqueItems) parts.push('no repeats');
  if (n.items && !n.items.properties) {
    const inner = allowedText(n.items);
    if (inner) parts.push(`each item ${inner}`);
  }
  if (n.anyOf) {
    const alts = n.anyOf.map((a) => [typeText(a), allowedText(a)].filter(Boolean).join(': '));
    parts.push(alts.join('; or '));
  }
  return parts.join(', ');
}

/** A table cell: one line, pipes escaped. */
function cell(s: string): string {
  return s.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').trim();
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (r: readonly string[]): string => `| ${r.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The rules file's `$comment`s are its prose; the data beside them is rendered in words. */
interface Rules {
  readonly $comment?: string;
  readonly [section: string]: unknown;
}

type Section = Record<string, unknown> & { $comment?: string };

function rulesText(rules: Rules): string {
  const out: string[] = [];
  for (const [name, raw] of Object.entries(rules)) {
    if (name === '$comment' || !raw || typeof raw !== 'object') continue;
    const s = raw as Section;
    out.push(`### ${name}`, '');
    if (s.$comment) out.push(s.$comment, '');
    const data = Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$comment'));
    out.push(...ruleData(name, data), '');
  }
  return out.join('\n').trimEnd();
}

/** Known sections in words; any other section's data as JSON, so nothing is left out. */
function ruleData(name: string, d: Record<string, unknown>): string[] {
  const list = (v: unknown): string => (Array.isArray(v) ? v.map(code).join(', ') : code(v));
  switch (name) {
    case 'default_model':
      return [
        `- \`base_model: ${String(d['id'])}\` is the built-in model, kept in \`$${String(d['cache_env'])}/${String(d['folder_in_cache'])}\` ` +
          `(\`${String(d['cache_env'])}\` unset: \`${String(d['cache_default'])}\`).`,
      ];
    case 'paths':
      return [`- Files that must exist: ${list(d['files'])}.`, `- Folders that must exist: ${list(d['folders'])}.`];
    case 'whole_numbers_from':
      return Object.entries(d).map(([k, v]) => `- \`${k}\`: at or above ${String(v)} it must be a whole number.`);
    case 'context_length':
      return [`- Warning when \`${String(d['key'])}\` is above the model's context length, read from its \`config.json\` as the first of ${list(d['model_config_keys'])}.`];
    case 'did_you_mean':
      return [`- Suggested when within max(${String(d['min_edits'])}, floor(key length / ${String(d['key_chars_per_edit'])})) edits.`];
    case 'yaml': {
      const lines = [
        `- At most ${Number(d['max_chars']).toLocaleString('en-US')} characters, nesting depth ${String(d['max_depth'])}, ` +
          `${Number(d['max_alias_expansion']).toLocaleString('en-US')} values from alias expansion.`,
        `- Tags allowed: ${Object.entries((d['tags'] ?? {}) as Record<string, string>).map(([t, kind]) => `${code(t.replace('tag:yaml.org,2002:', '!!'))} (${kind})`).join(', ')}.`,
        `- Plain scalars: ${Object.entries((d['core_scalars'] ?? {}) as Record<string, string>).map(([t, re]) => `${code(t.replace('tag:yaml.org,2002:', ''))} matches ${code(re)}`).join('; ')}.`,
        '- Refused text:',
      ];
      for (const r of (d['refused_text'] ?? []) as Array<{ pattern: string; message: string }>) lines.push(`  - ${code(r.pattern)}: ${r.message}.`);
      return lines;
    }
    default:
      return ['```json', JSON.stringify(d, null, 2), '```'];
  }
}

export const CONFIG_REFERENCE_COMMAND = 'node --import tsx scripts/gen-config-reference.ts';

export function renderConfigReference(schema: SchemaNode & { description?: string }, rules: Rules): string {
  const keys = configKeys(schema);
  const rows = keys.map((k) => [
    '`' + k.path + '`',
    typeText(k.node),
    k.required ? 'required' : k.node.default === undefined ? '' : code(k.node.default),
    allowedText(k.node),
    k.node.description ?? '',
  ]);
  return [
    '# Run config reference (`*.neftune.yaml`)',
    '',
    `<!-- Generated by \`${CONFIG_REFERENCE_COMMAND}\` from trainer/neftune_trainer/schemas/run-config.schema.json and run-config.rules.json; do not edit by hand. -->`,
    '',
    schema.description ?? '',
    '',
    'Both the extension (diagnostics, `node dist/cli.js check-config`) and the trainer ' +
      '(`python -m neftune_trainer check-config`, `train`) validate a config with the schema and the rules below; ' +
      'every problem is reported with its file, line and key.',
    '',
    '## Keys',
    '',
    `Keys not listed here are errors${schema.additionalProperties === false ? ' (with a did-you-mean suggestion)' : ''}. ` +
      '`a.b` is key `b` of mapping `a`; `a[].b` is key `b` of every item of list `a`. ' +
      'An empty default means the key has none: absent, the description says what happens.',
    '',
    table(['Key', 'Type', 'Default', 'Allowed', 'Description'], rows),
    '',
    '## Rules beyond the schema',
    '',
    rules.$comment ?? '',
    '',
    rulesText(rules),
    '',
  ].join('\n');
}
