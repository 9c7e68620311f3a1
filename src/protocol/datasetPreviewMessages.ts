// Messages between the dataset preview webview and the extension host: typed descriptors (see
// webviewIpc.ts) used on both sides (no vscode import, no DOM). Dataset text always travels as
// plain strings and the webview sets it with textContent, never as HTML.
import { command, hasFields, isIndex, isString, notification, request } from './webviewIpc';

/** Instruction-data formats we recognise, per record and per file (majority of a sample). */
export type DatasetFormat = 'alpaca' | 'sharegpt' | 'messages' | 'completion' | 'self-instruct' | 'unknown';

export const DATASET_FORMATS: readonly DatasetFormat[] = ['alpaca', 'sharegpt', 'messages', 'completion', 'self-instruct', 'unknown'];

/** Formats a dataset can be converted to (a new JSONL file is written; never overwrites). */
export type ConvertTarget = 'alpaca' | 'sharegpt' | 'messages';
export const CONVERT_TARGETS: readonly ConvertTarget[] = ['alpaca', 'sharegpt', 'messages'];

export type ProblemKind = 'json' | 'missing' | 'type' | 'empty' | 'duplicate' | 'encoding' | 'structure' | 'format';

/** One problem in a dataset file. Lines and columns are 1-based, as editors show them. */
export interface DatasetProblem {
  readonly kind: ProblemKind;
  /** 0-based record index, or -1 when the problem is outside any record (e.g. an unclosed array). */
  readonly record: number;
  readonly line: number;
  readonly column: number;
  /** Dotted path of the field (e.g. `conversations[2].value`), when the problem is about one. */
  readonly field?: string;
  readonly message: string;
  readonly severity: 'error' | 'warning';
}

/** One table row: the record's cells for the file's columns, already clipped. */
export interface PreviewRow {
  readonly index: number;
  readonly line: number;
  readonly cells: readonly string[];
  /** Set when the record does not parse or does not match the file's format. */
  readonly problem?: string;
  /** error: not a usable record (broken, wrong type, missing field); warning: usable but odd. */
  readonly severity?: 'error' | 'warning';
  /** The record did not parse: `cells` holds its raw text only. */
  readonly raw?: boolean;
}

/** A field of the selected record, for the detail pane (full text, up to a large cap). */
export interface RecordField {
  readonly name: string;
  readonly value: string;
  readonly clipped: boolean;
}

/** What `neftune_trainer render` returns for one record: the text after the chat template. */
export interface RenderedSegment {
  readonly text: string;
  /** true: counted in the loss (the response); false: prompt, masked out. */
  readonly loss: boolean;
  readonly tokens: number;
}
export interface RenderedRecord {
  readonly text: string;
  readonly segments: readonly RenderedSegment[];
  readonly tokens?: number;
  readonly model?: string;
  readonly template?: string;
}
export interface TokenHistogram {
  /** Bin edges, length bins+1; counts per bin. */
  readonly edges: readonly number[];
  readonly counts: readonly number[];
  readonly records: number;
  readonly sequenceLen: number | null;
  readonly overSequenceLen: number;
  readonly max: number;
  readonly mean: number;
  readonly model?: string;
}

/** The trainer's answer, or why there is none. `missing`: the trainer has no `render` command yet. */
export type TrainerAnswer<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: 'missing' | 'no-python' | 'failed'; readonly message: string };

export interface DatasetInfo {
  readonly fileName: string;
  readonly relativePath: string;
  readonly bytes: number;
  readonly container: 'jsonl' | 'json-array' | 'jsonl.gz' | 'not-records';
  readonly format: DatasetFormat;
  readonly columns: readonly string[];
}

/** What the background check (or a full Validate) found: records exclude broken lines. */
export interface DatasetHealthFacts {
  readonly records: number;
  readonly broken: number;
  readonly errors: number;
  readonly warnings: number;
  /** Entries checked; `complete` when that is the whole file. */
  readonly checked: number;
  readonly complete: boolean;
  readonly first?: DatasetProblem;
  /** The check itself failed (unreadable file). */
  readonly error?: string;
  /** Not instruction data but prompts for Evaluate run (`eval --prompts`). */
  readonly promptSet?: { readonly label: string; readonly prompts: number; readonly problems: number };
}

/** State the webview keeps across hide/reload (vscode.setState) and the serializer revives. */
export interface DatasetPreviewWebviewState {
  /** The dataset's file URI (string form). */
  readonly uri: string;
  readonly firstRow: number;
  readonly selected: number;
  readonly query: string;
  readonly hitIndex: number;
  readonly detailOpen: boolean;
  readonly tab: 'record' | 'model' | 'problems' | 'lengths';
}

/** One record in full, for the detail pane. */
export interface RecordDetail {
  readonly index: number;
  readonly line: number;
  readonly fields: readonly RecordField[];
  readonly json: string;
  readonly problem?: string;
  readonly severity?: 'error' | 'warning';
}

/** The index grows while the file is read; `done` when every record is counted. */
export interface IndexProgress {
  readonly records: number;
  readonly bytesRead: number;
  readonly done: boolean;
  readonly indexBytes: number;
  readonly error?: string;
}

export interface SearchProgress {
  readonly searchId: number;
  readonly query: string;
  readonly scanned: number;
  readonly count: number;
  /** Record indices of the hits found since the last message (capped; `count` is exact). */
  readonly hits: readonly number[];
  readonly done: boolean;
  readonly cancelled: boolean;
}

export interface ValidationProgress {
  readonly problems: readonly DatasetProblem[];
  readonly scanned: number;
  readonly done: boolean;
  readonly cancelled: boolean;
  readonly truncated: boolean;
}

// ---- messages (descriptors of webviewIpc.ts) ------------------------------------------------
const withIndex = hasFields<{ readonly index: number }>({ index: isIndex });

/** Host -> webview: the file's facts; sent on (re)load and when the file changed on disk. */
export const DidOpen = notification<DatasetInfo>('didOpen');
export const DidProgress = notification<IndexProgress>('didProgress');
export const DidSearch = notification<SearchProgress>('didSearch');
export const DidValidate = notification<ValidationProgress>('didValidate');
/** The background check's (or a full Validate's) result, shared with the Datasets view. */
export const DidCheckHealth = notification<DatasetHealthFacts>('didCheckHealth');

/** Rows `start` to `start + count` (the host caps count); always answered, unreadable rows carry a problem. */
export const GetPage = request<{ readonly start: number; readonly count: number }, { readonly start: number; readonly rows: readonly PreviewRow[] }>(
  'getPage',
  hasFields<{ readonly start: number; readonly count: number }>({ start: isIndex, count: isIndex }),
);
/** null: there is no such record. */
export const GetRecord = request<{ readonly index: number }, RecordDetail | null>('getRecord', withIndex);
/** "As the model sees it" for one record; the host asks the trainer's `render` command. */
export const RenderRecord = request<{ readonly index: number }, TrainerAnswer<RenderedRecord>>('renderRecord', withIndex);
export const GetHistogram = request<TrainerAnswer<TokenHistogram>>('getHistogram');

/** Starts a search (results arrive as DidSearch with this searchId); a new one stops the last. */
export const Search = command('search', hasFields<{ readonly searchId: number; readonly query: string }>({ searchId: isIndex, query: isString }));
export const CancelSearch = command('cancelSearch');
export const Validate = command('validate');
export const CancelValidate = command('cancelValidate');
/** Opens the file in an editor at this 1-based line. */
export const OpenAt = command('openAt', hasFields<{ readonly line: number }>({ line: isIndex }));
export const NewRunConfig = command('newRunConfig');
export const Convert = command('convert');
/** A prompt set's main action: evaluate a run on its prompts. */
export const EvaluateOnPrompts = command('evaluateOnPrompts');
