// Prompt sets: the files `python -m neftune_trainer eval --prompts` reads (a string per line,
// {instruction} objects, Alpaca records whose output is the reference, MT-Bench questions). They
// are not instruction data to train on, so the Datasets view shows them as prompt sets, with the
// first record the trainer would refuse. How a record's kind is told, and which kinds mix, is data
// shared with the trainer (dataset-formats.json, "prompt_sets"); the checks of each kind's fields
// mirror neftune_trainer/prompt_sets.py and are held to it by test/integration/promptSetParity.test.ts.
import { FORMATS_SPEC, isBlank } from './formats';
import { AbortError, type DatasetFile } from './datasetFile';

export type PromptKind = 'instructions' | 'alpaca' | 'mt_bench';

interface KindRule {
  readonly name: PromptKind;
  readonly label: string;
  readonly detect: { readonly string?: boolean; readonly keys?: readonly string[]; readonly any_key?: readonly string[] };
}
interface PromptSetsSpec {
  readonly kinds: readonly KindRule[];
  readonly mix: ReadonlyArray<readonly PromptKind[]>;
}
const SPEC = (FORMATS_SPEC as unknown as { prompt_sets: PromptSetsSpec }).prompt_sets;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o: Obj, k: string): boolean => Object.hasOwn(o, k);

/** The kind one record is of (the first rule it matches), or undefined: not a prompt. */
export function promptKind(v: unknown): PromptKind | undefined {
  for (const r of SPEC.kinds) {
    const d = r.detect;
    if (d.string) {
      if (typeof v === 'string') return r.name;
    } else if (isObj(v) && (d.keys ?? []).every((k) => has(v, k)) && (!d.any_key || d.any_key.some((k) => has(v, k)))) {
      return r.name;
    }
  }
  return undefined;
}

/** How a kind is named to a user ("MT-Bench questions"). */
export function promptKindLabel(kind: PromptKind): string {
  return SPEC.kinds.find((r) => r.name === kind)?.label ?? kind;
}

/** The file's kind once a record of kind `k` joins a file of `kind`; undefined if it does not fit. */
export function mixedKind(kind: PromptKind, k: PromptKind | undefined, v: unknown): PromptKind | undefined {
  if (k === undefined) return undefined;
  if (k === kind) return kind;
  const m = SPEC.mix.find((g) => g.includes(k) && g.includes(kind));
  return m && isObj(v) ? m[m.length - 1] : undefined;
}

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v === 'string' ? 'str' : typeof v === 'number' ? (Number.isInteger(v) ? 'int' : 'float') : typeof v === 'boolean' ? 'bool' : 'dict');

export interface PromptProblem {
  readonly line: number;
  readonly field?: string;
  readonly message: string;
}

/** The first thing the trainer refuses in one record of kind `kind` (prompt_sets._prompt), and its id. */
export function checkPrompt(v: unknown, kind: PromptKind, index: number, line: number): { id: string } | { problem: PromptProblem } {
  const bad = (field: string | undefined, message: string): { problem: PromptProblem } => ({ problem: { line, ...(field ? { field } : {}), message } });
  const text = (o: Obj, key: string, required: boolean): string | undefined | { problem: PromptProblem } => {
    if (!has(o, key) || o[key] === null) return required ? bad(key, 'missing') : undefined;
    const s = o[key];
    return typeof s === 'string' ? s : bad(key, `expected a string, got ${typeName(s)}`);
  };
  const id = (o: Obj, key: string): string | undefined | { problem: PromptProblem } => {
    if (!has(o, key)) return undefined;
    const x = o[key];
    if (typeof x === 'string') return isBlank(x) ? bad(key, 'is blank') : x;
    if (typeof x === 'number' && Number.isInteger(x)) return String(x);
    return bad(key, `expected a string or an integer, got ${typeName(x)}`);
  };
  const failed = (x: unknown): x is { problem: PromptProblem } => isObj(x) && 'problem' in x;
  if (kind === 'instructions' && typeof v === 'string') return isBlank(v) ? bad(undefined, 'the prompt is blank') : { id: String(index + 1) };
  if (!isObj(v)) return bad(undefined, `expected an object, got ${typeName(v)}`);
  if (kind === 'instructions' || kind === 'alpaca') {
    const instruction = text(v, 'instruction', true);
    if (failed(instruction)) return instruction;
    if (isBlank(instruction ?? '')) return bad('instruction', 'is blank');
    for (const k of ['input', 'output']) {
      const t = text(v, k, false);
      if (failed(t)) return t;
    }
    const pid = id(v, 'id');
    return failed(pid) ? pid : { id: pid ?? String(index + 1) };
  }
  const pid = id(v, 'question_id');
  if (failed(pid)) return pid;
  if (pid === undefined) return bad('question_id', 'missing');
  const turns = v['turns'];
  if (!Array.isArray(turns) || turns.length === 0) return bad('turns', has(v, 'turns') ? 'expected a non-empty list of strings' : 'missing');
  for (const [i, t] of turns.entries()) if (typeof t !== 'string' || isBlank(t)) return bad(`turns[${i}]`, 'expected a non-blank string');
  const category = text(v, 'category', false);
  if (failed(category)) return category;
  const refs = has(v, 'reference') ? v['reference'] : null;
  if (refs !== null) {
    if (!Array.isArray(refs)) return bad('reference', `expected a list of strings, got ${typeName(refs)}`);
    for (const [i, r] of refs.entries()) if (typeof r !== 'string') return bad(`reference[${i}]`, `expected a string, got ${typeName(r)}`);
  }
  return { id: pid };
}

export interface PromptSetHealth {
  readonly kind: PromptKind;
  /** Records that are prompts the trainer accepts. */
  readonly prompts: number;
  /** Records it refuses (each would stop `eval` with an error naming its line). */
  readonly problems: number;
  /** The first of them, by line: what `eval --prompts` would report. */
  readonly first?: PromptProblem;
  /** Records checked; `complete` when that is the whole file. */
  readonly checked: number;
  readonly complete: boolean;
}

/**
 * The file as a prompt set, when its first record is a prompt (else undefined). Reads records up
 * to `maxBytes`, with the trainer's rules: the first record's kind throughout (instructions and
 * alpaca objects mix), unique ids, each kind's fields.
 */
export async function checkPromptSet(file: DatasetFile, opts: { signal?: AbortSignal; maxBytes?: number } = {}): Promise<PromptSetHealth | undefined> {
  let kind: PromptKind | undefined;
  let firstLine = 0;
  let notPrompts = false;
  let prompts = 0;
  let problems = 0;
  let first: PromptProblem | undefined;
  let checked = 0;
  let bytes = 0;
  let complete = true;
  const seen = new Map<string, number>();
  const ac = new AbortController();
  const outer = opts.signal;
  const onOuterAbort = (): void => ac.abort();
  outer?.addEventListener('abort', onOuterAbort);
  const problem = (p: PromptProblem): void => {
    problems++;
    if (!first || p.line < first.line) first = p;
  };
  try {
    await file.forEachRecord({ signal: ac.signal }, (r) => {
      if (opts.maxBytes !== undefined && bytes >= opts.maxBytes) {
        complete = false;
        ac.abort();
        return;
      }
      bytes += r.bytes;
      checked++;
      if (r.error) return problem({ line: r.error.line, message: r.error.message });
      const k = promptKind(r.value);
      if (kind === undefined) {
        if (k === undefined) {
          notPrompts = true;
          ac.abort();
          return;
        }
        kind = k;
        firstLine = r.line;
      }
      const joined = mixedKind(kind, k, r.value);
      if (joined === undefined) return problem({ line: r.line, message: `expected a prompt like the first one (line ${firstLine}, ${kind.replace('_', '-')}), got ${k === undefined ? typeName(r.value) : k.replace('_', '-')}` });
      kind = joined;
      const res = checkPrompt(r.value, k ?? kind, r.index, r.line);
      if ('problem' in res) return problem(res.problem);
      const dup = seen.get(res.id);
      if (dup !== undefined) return problem({ line: r.line, field: kind === 'mt_bench' ? 'question_id' : 'id', message: `duplicate id '${res.id}' (first on line ${dup})` });
      seen.set(res.id, r.line);
      prompts++;
    });
  } catch (e) {
    if (!(e instanceof AbortError) || outer?.aborted) throw e;
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
  }
  if (notPrompts || kind === undefined) return undefined;
  return { kind, prompts, problems, ...(first ? { first } : {}), checked, complete };
}
