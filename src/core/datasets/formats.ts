// Instruction-data formats: detection per record and per file, the table columns of each,
// per-record validation (missing field, wrong type, empty), and conversion through a common
// conversation form. The formats themselves (names, detection, fields, roles, the Alpaca user
// turn) are data, shared with the trainer: trainer/neftune_trainer/schemas/dataset-formats.json.
import type { ConvertTarget, DatasetFormat, ProblemKind } from '../../protocol/datasetPreviewMessages';
import spec from '../../../trainer/neftune_trainer/schemas/dataset-formats.json';

type Obj = Record<string, unknown>;
type Severity = 'error' | 'warning';
type TurnRole = 'system' | 'user' | 'assistant';
type InstructionFormat = Exclude<DatasetFormat, 'unknown'>;

interface FieldRule {
  readonly name: string;
  readonly optional?: boolean;
  readonly empty: Severity | 'allowed';
}
interface FormatRule {
  readonly name: InstructionFormat;
  readonly detect: { readonly list?: string; readonly item_key?: string; readonly keys?: readonly string[]; readonly string?: string; readonly without?: readonly string[] };
  readonly fields?: readonly FieldRule[];
  readonly instances?: { readonly list: string; readonly fields: readonly FieldRule[] };
  readonly turns?: { readonly list: string; readonly role: string; readonly text: string; readonly text_parts: boolean; readonly text_empty: Severity; readonly roles: Readonly<Record<string, TurnRole>> };
}
interface FormatsSpec {
  readonly max_json_depth: number;
  readonly detect_sample: number;
  readonly whitespace: string;
  readonly alpaca_user_turn: { readonly separator: string };
  readonly formats: readonly FormatRule[];
}

/** The shared definition of the formats (the JSON file's types are too wide to check it here). */
export const FORMATS_SPEC = spec as unknown as FormatsSpec;
const RULES = new Map(FORMATS_SPEC.formats.map((f) => [f.name, f]));
/** The formats' names, in detection order, as a message lists them ("alpaca, sharegpt or messages"). */
export function formatNames(conjunction: string): string {
  const names = FORMATS_SPEC.formats.map((f) => f.name);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} ${conjunction} ${names[names.length - 1] ?? ''}` : names.join('');
}
const WHITESPACE = new Set(FORMATS_SPEC.whitespace);

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
/** A key of the record itself (never one inherited from Object.prototype, as "constructor"). */
const own = (o: Obj, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

/** Only whitespace, by the shared definition (JavaScript's trim and Python's strip differ). */
export function isBlank(s: string): boolean {
  for (const c of s) if (!WHITESPACE.has(c)) return false;
  return true;
}

/** The user turn of an Alpaca record: the instruction, then the input when it is not blank. */
export function alpacaUserTurn(instruction: string, input: string): string {
  return isBlank(input) ? instruction : `${instruction}${FORMATS_SPEC.alpaca_user_turn.separator}${input}`;
}

function detects(d: FormatRule['detect'], v: Obj): boolean {
  if (d.list !== undefined) {
    const list = own(v, d.list);
    if (!Array.isArray(list)) return false;
    const key = d.item_key;
    if (key !== undefined && !list.some((m) => isObj(m) && Object.hasOwn(m, key))) return false;
  }
  if (d.keys && !d.keys.every((k) => Object.hasOwn(v, k))) return false;
  if (d.string !== undefined && !isStr(own(v, d.string))) return false;
  if (d.without?.some((k) => Object.hasOwn(v, k))) return false;
  return true;
}

/** The format one record looks like (by its keys; types are checked by validateRecord). */
export function detectRecordFormat(v: unknown): DatasetFormat {
  if (!isObj(v)) return 'unknown';
  return FORMATS_SPEC.formats.find((f) => detects(f.detect, v))?.name ?? 'unknown';
}

export interface FormatVote {
  readonly format: DatasetFormat;
  /** How many of the sampled records have that format. */
  readonly votes: number;
  readonly sampled: number;
}

/** The file's format: the most common among the sampled records (unknown if none parse). */
export function detectDatasetFormat(values: readonly unknown[]): FormatVote {
  const counts = new Map<DatasetFormat, number>();
  for (const v of values) {
    const f = detectRecordFormat(v);
    counts.set(f, (counts.get(f) ?? 0) + 1);
  }
  let best: DatasetFormat = 'unknown';
  let votes = 0;
  for (const [f, c] of counts) {
    if (f === 'unknown') continue;
    if (c > votes) {
      best = f;
      votes = c;
    }
  }
  // A file is instruction data when at least half of the sample says so.
  if (votes * 2 < values.length) return { format: 'unknown', votes: counts.get('unknown') ?? 0, sampled: values.length };
  return { format: best, votes, sampled: values.length };
}

export function columnsFor(format: DatasetFormat): string[] {
  switch (format) {
    case 'alpaca':
      return ['instruction', 'input', 'output'];
    case 'self-instruct':
      return ['instruction', 'instances', 'first output'];
    case 'sharegpt':
    case 'messages':
      return ['turns', 'first user turn', 'first reply'];
    case 'completion':
      return ['text'];
    case 'unknown':
      return ['record'];
  }
}

/**
 * Collapses ASCII whitespace and clips, for a table cell (the detail pane has the full text).
 * Only ASCII: a no-break space, U+2028 or a BOM inside the text must reach the cell, where the
 * preview marks it, rather than pass for a plain space.
 */
export function clip(s: string, max: number): string {
  const flat = s.replace(/[ \t\n\r\f\v]+/g, ' ').replace(/^ | $/g, '');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function str(v: unknown): string {
  if (isStr(v)) return v;
  if (v === undefined) return '';
  return JSON.stringify(v) ?? '';
}

/** The table cells of a record for its file's format, each clipped to `max` characters. */
export function cellsFor(format: DatasetFormat, v: unknown, max = 200): string[] {
  const o: Obj = isObj(v) ? v : {};
  switch (format) {
    case 'alpaca':
      return [clip(str(o['instruction']), max), clip(str(o['input']), max), clip(str(o['output']), max)];
    case 'self-instruct': {
      const inst = Array.isArray(o['instances']) ? o['instances'] : [];
      const first: unknown = inst[0];
      return [clip(str(o['instruction']), max), String(inst.length), clip(isObj(first) ? str(first['output']) : '', max)];
    }
    case 'sharegpt':
    case 'messages': {
      const turns = toTurnsOne(format, o);
      const user = turns.find((t) => t.role === 'user');
      const reply = turns.find((t) => t.role === 'assistant');
      return [String(turns.length), clip(user?.content ?? '', max), clip(reply?.content ?? '', max)];
    }
    case 'completion':
      return [clip(str(o['text']), max)];
    case 'unknown':
      return [clip(JSON.stringify(v) ?? '', max)];
  }
}

/** The fields of a record for the detail pane, in a readable order. */
export function fieldsFor(format: DatasetFormat, v: unknown): Array<{ name: string; value: string }> {
  if (!isObj(v)) return [{ name: 'record', value: JSON.stringify(v, null, 2) ?? String(v) }];
  if (format === 'sharegpt' || format === 'messages') {
    const list = format === 'sharegpt' ? v['conversations'] : v['messages'];
    const out = Array.isArray(list)
      ? list.map((t, i) => {
          const o: Obj = isObj(t) ? t : {};
          const who = format === 'sharegpt' ? o['from'] : o['role'];
          const text = format === 'sharegpt' ? o['value'] : o['content'];
          return { name: `${i + 1}. ${str(who)}`, value: turnText(text, format === 'messages') ?? str(text) };
        })
      : [];
    for (const [k, val] of Object.entries(v)) if (k !== 'conversations' && k !== 'messages') out.push({ name: k, value: str(val) });
    return out;
  }
  if (format === 'self-instruct') {
    const out = [{ name: 'instruction', value: str(v['instruction']) }];
    const inst = Array.isArray(v['instances']) ? v['instances'] : [];
    inst.forEach((x, i) => {
      const o: Obj = isObj(x) ? x : {};
      out.push({ name: `instance ${i + 1} input`, value: str(o['input']) }, { name: `instance ${i + 1} output`, value: str(o['output']) });
    });
    for (const [k, val] of Object.entries(v)) if (k !== 'instruction' && k !== 'instances') out.push({ name: k, value: str(val) });
    return out;
  }
  return Object.entries(v).map(([name, val]) => ({ name, value: str(val) }));
}

export interface FieldProblem {
  readonly kind: ProblemKind;
  readonly severity: Severity;
  readonly field?: string;
  readonly message: string;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

const at = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/** A required field absent, or there as null (said so: the user sees the key in the file). */
function missing(o: Obj, key: string, field: string): string {
  return Object.hasOwn(o, key) ? `Required field "${field}" is null` : `Missing required field "${field}"`;
}

/** A string field: absent or null is missing, a string of whitespace is empty. */
function fieldProblems(o: Obj, rule: FieldRule, path: string, out: FieldProblem[]): void {
  const v = own(o, rule.name);
  const field = at(path, rule.name);
  if (v === undefined || v === null) {
    if (!rule.optional) out.push({ kind: 'missing', severity: 'error', field, message: missing(o, rule.name, field) });
  } else if (!isStr(v)) out.push({ kind: 'type', severity: 'error', field, message: `Field "${field}" should be a string, not ${typeName(v)}` });
  else if (rule.empty !== 'allowed' && isBlank(v)) out.push({ kind: 'empty', severity: rule.empty, field, message: `Field "${field}" is empty` });
}

/** The objects of a list field (instances, turns), or null after its problem. */
function listProblems(o: Obj, key: string, what: string, out: FieldProblem[]): Array<Obj | null> | null {
  const list = own(o, key);
  if (list === undefined || list === null) out.push({ kind: 'missing', severity: 'error', field: key, message: missing(o, key, key) });
  else if (!Array.isArray(list)) out.push({ kind: 'type', severity: 'error', field: key, message: `Field "${key}" should be an array, not ${typeName(list)}` });
  else if (list.length === 0) out.push({ kind: 'empty', severity: 'error', field: key, message: `Field "${key}" has no ${what}` });
  else
    return list.map((x: unknown, i) => {
      if (isObj(x)) return x;
      out.push({ kind: 'type', severity: 'error', field: `${key}[${i}]`, message: `"${key}[${i}]" should be an object, not ${typeName(x)}` });
      return null;
    });
  return null;
}

/** A turn's text: a string, or (where the format allows) OpenAI content parts of type text. */
function turnText(v: unknown, parts: boolean): string | undefined {
  if (isStr(v)) return v;
  if (parts && Array.isArray(v) && v.every((p) => isObj(p) && own(p, 'type') === 'text' && isStr(own(p, 'text')))) return v.map((p: Obj) => p['text'] as string).join('');
  return undefined;
}

function turnsProblems(o: Obj, rule: NonNullable<FormatRule['turns']>, out: FieldProblem[]): void {
  const list = listProblems(o, rule.list, 'turns', out);
  if (!list) return;
  let assistant = false;
  list.forEach((t, i) => {
    if (!t) return;
    const path = `${rule.list}[${i}]`;
    const role = own(t, rule.role);
    const roleField = at(path, rule.role);
    if (role === undefined || role === null) out.push({ kind: 'missing', severity: 'error', field: roleField, message: missing(t, rule.role, roleField) });
    else if (!isStr(role)) out.push({ kind: 'type', severity: 'error', field: roleField, message: `Field "${roleField}" should be a string, not ${typeName(role)}` });
    else if (!Object.hasOwn(rule.roles, role)) out.push({ kind: 'type', severity: 'error', field: roleField, message: `Unknown ${rule.role} "${role}" in "${path}" (expected one of ${Object.keys(rule.roles).join(', ')})` });
    else if (rule.roles[role] === 'assistant') assistant = true;
    const text = own(t, rule.text);
    const textField = at(path, rule.text);
    if (text === undefined || text === null) out.push({ kind: 'missing', severity: 'error', field: textField, message: missing(t, rule.text, textField) });
    else {
      const s = turnText(text, rule.text_parts);
      if (s === undefined) out.push({ kind: 'type', severity: 'error', field: textField, message: `Field "${textField}" should be a string${rule.text_parts ? ' or a list of text parts' : ''}, not ${typeName(text)}` });
      else if (isBlank(s)) out.push({ kind: 'empty', severity: rule.text_empty, field: textField, message: `Field "${textField}" is empty` });
    }
  });
  if (!assistant) out.push({ kind: 'format', severity: 'error', field: rule.list, message: `"${rule.list}" has no assistant turn: nothing for the model to learn` });
}

/** Problems of one parsed record against its file's format. */
export function validateRecord(format: DatasetFormat, v: unknown): FieldProblem[] {
  const out: FieldProblem[] = [];
  if (!isObj(v)) {
    out.push({ kind: 'type', severity: 'error', message: `A record should be a JSON object, not ${typeName(v)}` });
    return out;
  }
  if (Object.keys(v).length === 0) {
    out.push({ kind: 'empty', severity: 'error', message: 'Empty record {}' });
    return out;
  }
  const rule = format === 'unknown' ? undefined : RULES.get(format);
  for (const f of rule?.fields ?? []) fieldProblems(v, f, '', out);
  if (rule?.instances) {
    const { list, fields } = rule.instances;
    listProblems(v, list, 'instances', out)?.forEach((x, i) => {
      if (x) for (const f of fields) fieldProblems(x, f, `${list}[${i}]`, out);
    });
  }
  if (rule?.turns) turnsProblems(v, rule.turns, out);
  return out;
}

// ---- conversion -----------------------------------------------------------------------------

export interface Turn {
  readonly role: TurnRole;
  readonly content: string;
}

/** The turns of a messages or sharegpt record (turns with no known role left out). */
function toTurnsOne(format: 'sharegpt' | 'messages', o: Obj): Turn[] {
  const rule = RULES.get(format)?.turns;
  const list = rule ? own(o, rule.list) : undefined;
  if (!rule || !Array.isArray(list)) return [];
  const out: Turn[] = [];
  for (const t of list) {
    if (!isObj(t)) continue;
    const who = own(t, rule.role);
    const role = isStr(who) && Object.hasOwn(rule.roles, who) ? rule.roles[who] : undefined;
    if (role) out.push({ role, content: turnText(own(t, rule.text), rule.text_parts) ?? str(own(t, rule.text)) });
  }
  return out;
}

/** A record as conversations (self-instruct gives one per instance); [] when it has none. */
export function toConversations(format: DatasetFormat, v: unknown): Turn[][] {
  if (!isObj(v)) return [];
  switch (format) {
    case 'alpaca': {
      const sys = isStr(v['system']) && v['system'] ? [{ role: 'system' as const, content: v['system'] }] : [];
      return [[...sys, { role: 'user', content: alpacaUserTurn(str(v['instruction']), str(v['input'])) }, { role: 'assistant', content: str(v['output']) }]];
    }
    case 'self-instruct': {
      const inst = Array.isArray(v['instances']) ? v['instances'] : [];
      return inst.filter(isObj).map((x) => [
        { role: 'user', content: alpacaUserTurn(str(v['instruction']), str(x['input'])) },
        { role: 'assistant', content: str(x['output']) },
      ]);
    }
    case 'sharegpt':
    case 'messages':
      return [toTurnsOne(format, v)];
    case 'completion':
    case 'unknown':
      return [];
  }
}

/** One conversation as a record of the target format, or why it cannot be one. */
export function fromConversation(target: ConvertTarget, turns: readonly Turn[]): { record: Obj } | { skip: string } {
  switch (target) {
    case 'messages':
      return { record: { messages: turns.map((t) => ({ role: t.role, content: t.content })) } };
    case 'sharegpt': {
      const from = { system: 'system', user: 'human', assistant: 'gpt' } as const;
      return { record: { conversations: turns.map((t) => ({ from: from[t.role], value: t.content })) } };
    }
    case 'alpaca': {
      const system = turns.filter((t) => t.role === 'system');
      const rest = turns.filter((t) => t.role !== 'system');
      if (rest.length !== 2 || rest[0]?.role !== 'user' || rest[1]?.role !== 'assistant') {
        return { skip: `has ${rest.length} non-system turns; alpaca holds exactly one user turn and one reply` };
      }
      const rec: Obj = { instruction: rest[0].content, input: '', output: rest[1].content };
      if (system.length) rec['system'] = system.map((t) => t.content).join('\n');
      return { record: rec };
    }
  }
}
