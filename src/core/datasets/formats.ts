// Instruction-data formats: detection per record and per file, the table columns of each,
// per-record validation (missing field, wrong type, empty), and conversion through a common
// conversation form.
import type { ConvertTarget, DatasetFormat, ProblemKind } from '../../protocol/datasetPreviewMessages';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/** The format one record looks like (by its keys; types are checked by validateRecord). */
export function detectRecordFormat(v: unknown): DatasetFormat {
  if (!isObj(v)) return 'unknown';
  if (Array.isArray(v['messages']) && v['messages'].some((m) => isObj(m) && 'role' in m)) return 'messages';
  if (Array.isArray(v['conversations']) && v['conversations'].some((m) => isObj(m) && 'from' in m && 'value' in m)) return 'sharegpt';
  if ('instruction' in v && Array.isArray(v['instances'])) return 'self-instruct';
  if ('instruction' in v && 'output' in v) return 'alpaca';
  if (isStr(v['text']) && Object.keys(v).every((k) => k === 'text' || k === 'id' || k === 'meta' || k === 'metadata' || k === 'source')) return 'completion';
  if (isStr(v['text']) && !('prompt' in v) && !('role' in v)) return 'completion';
  return 'unknown';
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
          return { name: `${i + 1}. ${str(who)}`, value: str(format === 'sharegpt' ? o['value'] : o['content']) };
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
  readonly field?: string;
  readonly message: string;
}

function need(o: Obj, key: string, path: string, out: FieldProblem[], opts: { optional?: boolean; allowEmpty?: boolean } = {}): void {
  const v = o[key];
  const field = path ? `${path}.${key}` : key;
  if (v === undefined) {
    if (!opts.optional) out.push({ kind: 'missing', field, message: `Missing required field "${field}"` });
    return;
  }
  if (!isStr(v)) {
    out.push({ kind: 'type', field, message: `Field "${field}" should be a string, not ${typeName(v)}` });
    return;
  }
  if (!opts.allowEmpty && v.trim() === '') out.push({ kind: 'empty', field, message: `Field "${field}" is empty` });
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

const SHAREGPT_FROM = new Set(['human', 'gpt', 'system', 'user', 'assistant', 'function_call', 'observation', 'tool', 'bing', 'chatgpt']);
const MESSAGE_ROLES = new Set(['system', 'user', 'assistant', 'tool', 'function', 'developer']);

function turnsProblems(o: Obj, listKey: string, roleKey: string, textKey: string, roles: Set<string>, out: FieldProblem[]): void {
  const list = o[listKey];
  if (list === undefined) {
    out.push({ kind: 'missing', field: listKey, message: `Missing required field "${listKey}"` });
    return;
  }
  if (!Array.isArray(list)) {
    out.push({ kind: 'type', field: listKey, message: `Field "${listKey}" should be an array, not ${typeName(list)}` });
    return;
  }
  if (list.length === 0) {
    out.push({ kind: 'empty', field: listKey, message: `Field "${listKey}" has no turns` });
    return;
  }
  list.forEach((t, i) => {
    const path = `${listKey}[${i}]`;
    if (!isObj(t)) {
      out.push({ kind: 'type', field: path, message: `"${path}" should be an object, not ${typeName(t)}` });
      return;
    }
    need(t, roleKey, path, out);
    const role = t[roleKey];
    if (isStr(role) && role && !roles.has(role)) out.push({ kind: 'type', field: `${path}.${roleKey}`, message: `Unknown ${roleKey} "${role}" in "${path}" (expected one of ${[...roles].join(', ')})` });
    // An assistant message with tool calls may have null content.
    if (listKey === 'messages' && t[textKey] === null && 'tool_calls' in t) return;
    need(t, textKey, path, out);
  });
  const roleOf = (t: unknown): string => (isObj(t) && isStr(t[roleKey]) ? normalRole(t[roleKey]) : '');
  if (!list.some((t) => roleOf(t) === 'assistant')) out.push({ kind: 'format', field: listKey, message: `"${listKey}" has no assistant turn: nothing for the model to learn` });
}

/** Problems of one parsed record against its file's format. */
export function validateRecord(format: DatasetFormat, v: unknown): FieldProblem[] {
  const out: FieldProblem[] = [];
  if (!isObj(v)) {
    out.push({ kind: 'type', message: `A record should be a JSON object, not ${typeName(v)}` });
    return out;
  }
  if (Object.keys(v).length === 0) {
    out.push({ kind: 'empty', message: 'Empty record {}' });
    return out;
  }
  switch (format) {
    case 'alpaca':
      need(v, 'instruction', '', out);
      need(v, 'input', '', out, { optional: true, allowEmpty: true });
      need(v, 'output', '', out);
      break;
    case 'self-instruct': {
      need(v, 'instruction', '', out);
      const inst = v['instances'];
      if (inst === undefined) out.push({ kind: 'missing', field: 'instances', message: 'Missing required field "instances"' });
      else if (!Array.isArray(inst)) out.push({ kind: 'type', field: 'instances', message: `Field "instances" should be an array, not ${typeName(inst)}` });
      else if (inst.length === 0) out.push({ kind: 'empty', field: 'instances', message: 'Field "instances" is empty' });
      else
        inst.forEach((x, i) => {
          const path = `instances[${i}]`;
          if (!isObj(x)) out.push({ kind: 'type', field: path, message: `"${path}" should be an object, not ${typeName(x)}` });
          else {
            need(x, 'input', path, out, { allowEmpty: true });
            need(x, 'output', path, out);
          }
        });
      break;
    }
    case 'sharegpt':
      turnsProblems(v, 'conversations', 'from', 'value', SHAREGPT_FROM, out);
      break;
    case 'messages':
      turnsProblems(v, 'messages', 'role', 'content', MESSAGE_ROLES, out);
      break;
    case 'completion':
      need(v, 'text', '', out);
      break;
    case 'unknown':
      break;
  }
  return out;
}

// ---- conversion -----------------------------------------------------------------------------

export interface Turn {
  readonly role: 'system' | 'user' | 'assistant' | 'tool';
  readonly content: string;
}

function normalRole(r: string): Turn['role'] {
  switch (r) {
    case 'human':
    case 'user':
      return 'user';
    case 'gpt':
    case 'assistant':
    case 'chatgpt':
    case 'bing':
      return 'assistant';
    case 'system':
    case 'developer':
      return 'system';
    default:
      return 'tool';
  }
}

function alpacaPrompt(instruction: string, input: string): string {
  return input.trim() ? `${instruction}\n\n${input}` : instruction;
}

function toTurnsOne(format: 'sharegpt' | 'messages', o: Obj): Turn[] {
  const list = format === 'sharegpt' ? o['conversations'] : o['messages'];
  if (!Array.isArray(list)) return [];
  return list.filter(isObj).map((t) => ({
    role: normalRole(str(format === 'sharegpt' ? t['from'] : t['role'])),
    content: str(format === 'sharegpt' ? t['value'] : t['content']),
  }));
}

/** A record as conversations (self-instruct gives one per instance); [] when it has none. */
export function toConversations(format: DatasetFormat, v: unknown): Turn[][] {
  if (!isObj(v)) return [];
  switch (format) {
    case 'alpaca': {
      const sys = isStr(v['system']) && v['system'] ? [{ role: 'system' as const, content: v['system'] }] : [];
      return [[...sys, { role: 'user', content: alpacaPrompt(str(v['instruction']), str(v['input'])) }, { role: 'assistant', content: str(v['output']) }]];
    }
    case 'self-instruct': {
      const inst = Array.isArray(v['instances']) ? v['instances'] : [];
      return inst.filter(isObj).map((x) => [
        { role: 'user', content: alpacaPrompt(str(v['instruction']), str(x['input'])) },
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
      const from = { system: 'system', user: 'human', assistant: 'gpt', tool: 'observation' } as const;
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
