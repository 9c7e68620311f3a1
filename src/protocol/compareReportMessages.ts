// The Compare report: its model (built on the host by src/core/evalReports.ts from the files of
// `python -m neftune_trainer eval` and `judge`, eval-report.schema.json) and the messages between
// its webview and the host (descriptors of webviewIpc.ts). No vscode import, no DOM: the
// webview, the host and the exports (src/core/compareReportExport.ts) share these types and the
// pure functions at the end (sorting, filtering), so the table sorts and filters the same way
// everywhere.
import { PNG_DATA_URL, type RunData } from './dashboardMessages';
import { command, hasFields, isObject, isString, notification } from './webviewIpc';

/** One table cell: the value it sorts by and the text every view shows (made once, on the host). */
export interface Cell {
  /** Number or text to sort by; null sorts last in both directions. */
  readonly v: number | string | null;
  readonly text: string;
  /** Details (interval, counts, judge), shown as a tooltip and in the exports' notes. */
  readonly title?: string;
}

export interface Column {
  readonly id: string;
  readonly label: string;
  /** Which way is better, for the reader (shown in the header's tooltip); null: neither. */
  readonly better: 'higher' | 'lower' | null;
  readonly description: string;
}

/** One evaluation: a run, one of its checkpoints and one prompt set (`<run>/eval/<checkpoint>/<key>/`). */
export interface ReportRow {
  /** `<runId>/<checkpoint>/<key>`: unique in a report. */
  readonly key: string;
  readonly runId: string;
  readonly color: number;
  readonly checkpoint: string;
  readonly promptSet: string;
  /** False while the eval runs or after it was interrupted: its figures are not final. */
  readonly complete: boolean;
  readonly cells: Readonly<Record<string, Cell>>;
}

export interface ReportRun {
  readonly runId: string;
  readonly color: number;
  readonly noiseAlpha: number | null;
  /** Evaluations found in `<run>/eval/`. */
  readonly evals: number;
}

export type Winner = 'a' | 'b' | 'tie';
export type Pick = Winner | 'invalid';

/** A judge's verdict on one prompt, by row keys. */
export interface PromptVerdict {
  readonly a: string;
  readonly b: string;
  readonly winner: Winner;
  /** The picks with a shown first and with b shown first; they differ: the orders disagree. */
  readonly ab: Pick;
  readonly ba: Pick;
  readonly judgeText?: readonly string[];
}

export interface PromptAnswer {
  readonly row: string;
  readonly output: string;
  /** Every turn's answer (MT-Bench), when there are several. */
  readonly outputs?: readonly string[];
}

export interface ReportPrompt {
  /** `<prompt set sha256>:<id>`. */
  readonly key: string;
  readonly id: string;
  readonly promptSet: string;
  readonly instruction: string;
  readonly turns?: readonly string[];
  readonly category?: string;
  readonly reference?: string;
  readonly answers: readonly PromptAnswer[];
  readonly verdicts: readonly PromptVerdict[];
}

/** A judge folder (`<runStore>/judgements/<a>__<b>/`) that compares two rows of the report. */
export interface ReportPair {
  readonly dir: string;
  readonly a: string;
  readonly b: string;
  readonly judge: string;
  readonly count: number;
  readonly complete: boolean;
}

/** A file the report could not use, or used in part: never dropped without a word. */
export interface ReportProblem {
  readonly file: string;
  /** 1-based line of a JSON-lines file. */
  readonly line?: number;
  /** The JSON path of the offending value (ajv's instancePath), '' for the whole file. */
  readonly path: string;
  readonly message: string;
  readonly severity: 'error' | 'warning';
}

export interface CompareReport {
  readonly runs: readonly ReportRun[];
  readonly columns: readonly Column[];
  readonly rows: readonly ReportRow[];
  readonly prompts: readonly ReportPrompt[];
  readonly pairs: readonly ReportPair[];
  readonly problems: readonly ReportProblem[];
  /** Run ids without any evaluation ("Evaluate run" makes one). */
  readonly notEvaluated: readonly string[];
  /** Run ids whose evaluation files exist but could not be read (see problems). */
  readonly unreadable: readonly string[];
  /** Whether there are A/B votes for two of the runs. */
  readonly hasVotes: boolean;
  /** A/B votes between two of the runs that no column shows: one of the pair has no evaluation (a row) yet. */
  readonly votesNotShown: number;
  /** Pairwise reports of the test-only rule judge, left out (never reported as results). */
  readonly ruleJudgeSkipped: number;
  /** ISO 8601. */
  readonly created: string;
}

export type SortDir = 'asc' | 'desc';
export interface SortState {
  readonly column: string;
  readonly dir: SortDir;
}

/** 'all', 'win:<row key>', 'tie', 'split' (the two orders disagree), 'unjudged'. */
export type VerdictFilter = string;

export interface CompareReportWebviewState {
  readonly runIds: readonly string[];
  readonly sort: SortState | null;
  readonly verdict: VerdictFilter;
  readonly category: string;
  readonly prompt: string | null;
}

// ---- pure functions shared by the views ------------------------------------------------------

/** Rows in the order of `sort` (stable; empty cells last in both directions); null: as built. */
export function sortRows(rows: readonly ReportRow[], sort: SortState | null): ReportRow[] {
  const out = [...rows];
  if (!sort) return out;
  const sign = sort.dir === 'asc' ? 1 : -1;
  const keyed = out.map((row, i) => ({ row, i, v: row.cells[sort.column]?.v ?? null }));
  keyed.sort((x, y) => {
    if (x.v === null || y.v === null) return x.v === y.v ? x.i - y.i : x.v === null ? 1 : -1;
    const c = typeof x.v === 'number' && typeof y.v === 'number' ? x.v - y.v : String(x.v).localeCompare(String(y.v), undefined, { numeric: true });
    return c !== 0 ? sign * c : x.i - y.i;
  });
  return keyed.map((k) => k.row);
}

/** The next sort after a click on `column`: ascending, then descending, then as built. */
export function nextSort(current: SortState | null, column: string): SortState | null {
  if (!current || current.column !== column) return { column, dir: 'asc' };
  return current.dir === 'asc' ? { column, dir: 'desc' } : null;
}

export function isSplit(v: PromptVerdict): boolean {
  return v.ab !== v.ba;
}

/** Whether a prompt passes the verdict and category filters ('' or 'all': no filter). */
export function promptMatches(p: ReportPrompt, verdict: VerdictFilter, category: string): boolean {
  if (category && category !== 'all' && (p.category ?? '') !== category) return false;
  if (!verdict || verdict === 'all') return true;
  if (verdict === 'unjudged') return p.verdicts.length === 0;
  if (verdict === 'tie') return p.verdicts.some((v) => v.winner === 'tie');
  if (verdict === 'split') return p.verdicts.some(isSplit);
  if (verdict.startsWith('win:')) {
    const row = verdict.slice(4);
    return p.verdicts.some((v) => (v.winner === 'a' && v.a === row) || (v.winner === 'b' && v.b === row));
  }
  return true;
}

/** The categories of the prompts, sorted, without duplicates. */
export function promptCategories(prompts: readonly ReportPrompt[]): string[] {
  return [...new Set(prompts.map((p) => p.category).filter((c): c is string => !!c))].sort();
}

/** A row's name in headings: run, and checkpoint and prompt set where there are several. */
export function rowLabel(row: ReportRow, rows: readonly ReportRow[]): string {
  const same = rows.filter((r) => r.runId === row.runId);
  if (same.length <= 1) return row.runId;
  const cps = new Set(same.map((r) => r.checkpoint));
  const sets = new Set(same.filter((r) => r.checkpoint === row.checkpoint).map((r) => r.promptSet));
  return [row.runId, cps.size > 1 ? row.checkpoint : '', sets.size > 1 ? row.promptSet : ''].filter(Boolean).join(' · ');
}

// ---- messages ---------------------------------------------------------------------------------

/** The commands that make the report's data (written by the evaluation's commands). */
export const DATA_COMMANDS = ['neftune.evaluateRun', 'neftune.judgeRuns'] as const;
export type DataCommand = (typeof DATA_COMMANDS)[number];

const isSort = (v: unknown): boolean => v === null || (isObject(v) && isString(v['column']) && (v['dir'] === 'asc' || v['dir'] === 'desc'));

/** Host -> webview: the whole report and the runs' loss curves; on (re)load and when files change. */
export const DidSnapshot = notification<{ readonly report: CompareReport; readonly curves: readonly RunData[] }>('didSnapshot');

/** Runs "Evaluate run" (for `runId`, else a pick) or "Judge runs" (the report's runs). */
export const RunDataCommand = command(
  'runDataCommand',
  hasFields<{ readonly command: DataCommand; readonly runId?: string }>({
    command: (v) => (DATA_COMMANDS as readonly unknown[]).includes(v),
    runId: (v) => v === undefined || isString(v),
  }),
);
/** The report as a file: the host asks where (a save dialog), renders and writes it, rows in the table's order. */
export const ExportReport = command(
  'exportReport',
  hasFields<{ readonly format: 'markdown' | 'html'; readonly sort: SortState | null }>({ format: (v) => v === 'markdown' || v === 'html', sort: isSort }),
);
/** Opens a file the report names (a problem's file); the host opens only files of its report. */
export const OpenReportFile = command('openReportFile', hasFields<{ readonly file: string; readonly line?: number }>({ file: isString, line: (v) => v === undefined || (typeof v === 'number' && Number.isInteger(v) && v > 0) }));
/** Reads the files again. */
export const RefreshReport = command('refreshReport');
/** A loss chart as PNG (the dashboard's chart component makes the data: URL), saved by the host. */
export const ExportChartPng = command(
  'exportChartPng',
  hasFields<{ readonly name: string; readonly dataUrl: string }>({ name: isString, dataUrl: (v) => isString(v) && v.startsWith(PNG_DATA_URL) }),
);
