// The extension's manifest (package.json) checked and documented: every setting described, typed,
// defaulted and scoped, every command titled and categorised, and docs/settings-reference.md
// generated from `contributes.configuration`. Plain data in; no vscode import.

export interface SettingSchema {
  readonly type?: string | readonly string[];
  readonly default?: unknown;
  readonly description?: string;
  readonly markdownDescription?: string;
  readonly enum?: readonly unknown[];
  readonly enumDescriptions?: readonly string[];
  readonly markdownEnumDescriptions?: readonly string[];
  readonly scope?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly items?: { readonly type?: string };
}

export interface Manifest {
  readonly contributes?: {
    readonly configuration?: { readonly title?: string; readonly properties?: Readonly<Record<string, SettingSchema>> } | ReadonlyArray<{ readonly title?: string; readonly properties?: Readonly<Record<string, SettingSchema>> }>;
    readonly commands?: ReadonlyArray<{ readonly command: string; readonly title?: string; readonly category?: string }>;
  };
}

/** VS Code's setting scopes (https://code.visualstudio.com/api/references/contribution-points#Configuration-property-schema). */
export const SCOPES = ['application', 'machine', 'machine-overridable', 'window', 'resource', 'language-overridable'] as const;

/** Every setting of the manifest (the configuration may be one object or a list of them). */
export function manifestSettings(m: Manifest): Array<[string, SettingSchema]> {
  const c = m.contributes?.configuration;
  const blocks = c === undefined ? [] : Array.isArray(c) ? c : [c as { properties?: Record<string, SettingSchema> }];
  return blocks.flatMap((b) => Object.entries(b.properties ?? {}));
}

/** What each setting lacks, one line each (`neftune.x: no scope`); empty when all are complete. */
export function settingProblems(m: Manifest): string[] {
  const out: string[] = [];
  for (const [key, s] of manifestSettings(m)) {
    if (!(s.markdownDescription ?? s.description)?.trim()) out.push(`${key}: no description or markdownDescription`);
    if (s.type === undefined) out.push(`${key}: no type`);
    if (s.default === undefined) out.push(`${key}: no default`);
    if (s.scope === undefined) out.push(`${key}: no scope`);
    else if (!(SCOPES as readonly string[]).includes(s.scope)) out.push(`${key}: unknown scope ${s.scope}`);
    if (s.enum) {
      const d = s.markdownEnumDescriptions ?? s.enumDescriptions;
      if (!d) out.push(`${key}: an enum without enumDescriptions`);
      else if (d.length !== s.enum.length) out.push(`${key}: ${s.enum.length} enum values but ${d.length} enumDescriptions`);
      if (s.default !== undefined && !s.enum.includes(s.default)) out.push(`${key}: default ${JSON.stringify(s.default)} is not one of its enum`);
    }
  }
  return out;
}

/** Commands without a title or a category, one line each. */
export function commandProblems(m: Manifest): string[] {
  const out: string[] = [];
  for (const c of m.contributes?.commands ?? []) {
    if (!c.title?.trim()) out.push(`${c.command}: no title`);
    if (!c.category?.trim()) out.push(`${c.command}: no category`);
  }
  return out;
}

/**
 * The settings a source file reads: `getConfiguration('neftune.chat')` then `cfg.get<T>('topK', …)`
 * (or chained `.get('x')` on the call itself). A file that reads several sections through one
 * `cfg` name pairs each read with the nearest getConfiguration before it.
 */
export function settingsReadIn(source: string): string[] {
  const out = new Set<string>();
  const sections = [...source.matchAll(/getConfiguration\(\s*'(neftune(?:\.[A-Za-z]+)*)'/g)].map((m) => ({ at: m.index ?? 0, section: m[1]! }));
  for (const m of source.matchAll(/\.get(?:<[^>(]*>)?\(\s*'([A-Za-z][A-Za-z.]*)'/g)) {
    const at = m.index ?? 0;
    let section: string | undefined;
    for (const s of sections) if (s.at < at) section = s.section;
    if (section) out.add(`${section}.${m[1]}`);
  }
  return [...out].sort();
}

// An empty string shows as `""`: an empty code span renders as two stray backticks.
const code = (v: unknown): string => '`' + (typeof v === 'string' && v ? v : JSON.stringify(v)) + '`';

/** Markdown of a setting's description: VS Code's `#setting.id#` links become the setting's name. */
function descriptionText(s: SettingSchema): string {
  return (s.markdownDescription ?? s.description ?? '').replace(/`?#([a-zA-Z][\w.]*)#`?/g, '`$1`');
}

function allowed(s: SettingSchema): string {
  const parts: string[] = [];
  if (s.enum) {
    const d = s.markdownEnumDescriptions ?? s.enumDescriptions ?? [];
    parts.push(s.enum.map((v, i) => (d[i] ? `${code(v)}: ${d[i].replace(/\.$/, '')}` : code(v))).join('; '));
  }
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  return parts.join(', ');
}

function typeOf(s: SettingSchema): string {
  const t = Array.isArray(s.type) ? s.type.join(' or ') : String(s.type ?? 'any');
  return t === 'array' && s.items?.type ? `array of ${s.items.type}` : t;
}

const cell = (s: string): string => s.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').trim();

export const SETTINGS_REFERENCE_COMMAND = 'node --import tsx scripts/gen-config-reference.ts';

export function renderSettingsReference(m: Manifest): string {
  const rows = manifestSettings(m).map(([key, s]) => [code(key), typeOf(s), code(s.default), s.scope ?? '', allowed(s), descriptionText(s)]);
  const line = (r: readonly string[]): string => `| ${r.map(cell).join(' | ')} |`;
  return [
    '# Settings reference',
    '',
    `<!-- Generated by \`${SETTINGS_REFERENCE_COMMAND}\` from package.json \`contributes.configuration\`; do not edit by hand. -->`,
    '',
    'The settings of NEFTune Studio (File > Preferences > Settings, search "neftune"). Where each can be set (its scope): ' +
      '`machine-overridable` in user or remote settings, and a workspace or folder may override it; ' +
      '`resource` in user, remote, workspace or folder settings; `window` in user, remote or workspace settings, not per folder.',
    '',
    line(['Setting', 'Type', 'Default', 'Scope', 'Allowed', 'Description']),
    line(['---', '---', '---', '---', '---', '---']),
    ...rows.map(line),
    '',
  ].join('\n');
}
