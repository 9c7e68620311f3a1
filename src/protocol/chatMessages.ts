// Messages between the chat webview and the extension host: typed descriptors (webviewIpc.ts)
// used on both sides (no vscode import, no DOM). The webview keeps the conversations (and
// saves them in its state); the host keeps the engine, the exports and the A/B votes. The
// webview names an export by run id and checkpoint name, never by a path: it is untrusted
// input, and only folders the run store lists are ever loaded.
import { PRECISIONS, type GenerateResult, type GenerationSettings, type Precision } from './chatEngine';
import { command, hasFields, isIndex, isObject, isString, notification, request, type Guard } from './webviewIpc';

/** One precision of an export, with the agreement the export measured. */
export interface PrecisionChoice {
  readonly precision: Precision;
  readonly bytes: number | null;
  /** Teacher-forced top-1 agreement with PyTorch (quantized exports), 0..1. */
  readonly agreement: number | null;
  readonly maxAbsLogitsDiff: number | null;
}

/** An exported checkpoint the panel can chat with. */
export interface ExportChoice {
  readonly runId: string;
  /** The export folder's name under `<run>/onnx/`, the checkpoint's folder name. */
  readonly checkpoint: string;
  readonly noiseAlpha: number | null;
  readonly family: string | null;
  readonly defaultPrecision: Precision;
  readonly precisions: readonly PrecisionChoice[];
  readonly createdAt: string | null;
  /** Set when the folder is there but its manifest is not usable: shown, not loadable. */
  readonly problem: string | null;
}

/** A run without any export (offered "Export…"). */
export interface RunWithoutExport {
  readonly runId: string;
  readonly checkpoints: number;
}

export type Verdict = 'a' | 'b' | 'tie' | 'both-bad';
export const VERDICTS: readonly Verdict[] = ['a', 'b', 'tie', 'both-bad'];

/** What the panel sent to a model: an export and one of its precisions. */
export interface ModelRef {
  readonly runId: string;
  readonly checkpoint: string;
  readonly precision: Precision;
}

/** Votes of one pair of models (either order), for the tally. */
export interface PairTally {
  readonly a: ModelRef;
  readonly b: ModelRef;
  /** Counted from a's point of view: wins of a, wins of b. */
  readonly aWins: number;
  readonly bWins: number;
  readonly ties: number;
  readonly bothBad: number;
}

export interface ChatSnapshot {
  readonly exports: readonly ExportChoice[];
  readonly runsWithoutExport: readonly RunWithoutExport[];
  readonly defaults: GenerationSettings;
  readonly tally: readonly PairTally[];
  /** The store's ab-votes.jsonl lines that could not be read (shown, never silently dropped). */
  readonly tallyProblems: number;
  /** Chat loads native code: nothing runs in an untrusted workspace. */
  readonly trusted: boolean;
}

export interface LoadedModel {
  readonly model: ModelRef;
  readonly provider: string;
  readonly threads: number;
  readonly loadMs: number;
  readonly contextLength: number;
}

export interface ChatTurnMessage {
  readonly role: 'user' | 'assistant' | 'system';
  readonly content: string;
}

export interface GenerateRequest {
  readonly streamId: string;
  readonly conversationId: string;
  readonly model: ModelRef;
  readonly messages: readonly ChatTurnMessage[];
  readonly settings: GenerationSettings;
}

/** The engine's answer, and the execution provider that computed it. */
export interface GenerateAnswer extends GenerateResult {
  readonly provider: string;
}

export interface VoteRecord {
  readonly prompt: string;
  readonly a: ModelRef;
  readonly b: ModelRef;
  readonly seed: number;
  readonly settings: GenerationSettings;
  readonly verdict: Verdict;
  readonly answerA: string;
  readonly answerB: string;
}

/** A prompt from the editor ("Ask the tuned model"): shown quoted, answered in the panel. */
export interface EditorAsk {
  readonly prompt: string;
  readonly quote: string;
  readonly languageId: string;
  readonly fileName: string;
}

/** What the webview keeps across hide and reload (vscode.setState). */
export interface ChatWebviewState {
  readonly version: 1;
  readonly conversations: readonly SavedConversation[];
  readonly current: string | null;
  readonly settings: GenerationSettings | null;
  readonly a: ModelRef | null;
  readonly b: ModelRef | null;
  readonly abMode: boolean;
  readonly settingsOpen: boolean;
}

export interface SavedAnswer {
  readonly model: ModelRef;
  readonly text: string;
  readonly stats: string;
  readonly error: string | null;
}

export interface SavedTurn {
  readonly user: string;
  readonly quote: string | null;
  readonly answers: readonly SavedAnswer[];
  readonly seed: number;
  readonly verdict: Verdict | null;
}

export interface SavedConversation {
  readonly id: string;
  readonly title: string;
  readonly turns: readonly SavedTurn[];
}

// ---- guards (the webview is untrusted input) -------------------------------------------------
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isPrecision = (v: unknown): v is Precision => typeof v === 'string' && (PRECISIONS as readonly string[]).includes(v);
const isShortString = (max: number) => (v: unknown): v is string => isString(v) && v.length <= max;
const isName = (v: unknown): v is string => isString(v) && v.length > 0 && v.length <= 300 && !/[/\\]|^\.\.?$/.test(v);

export const isModelRef: Guard<ModelRef> = hasFields<ModelRef>({ runId: isName, checkpoint: isName, precision: isPrecision });

/** Bounds that keep a settings message sane; the engine checks them again. */
export const isGenerationSettings: Guard<GenerationSettings> = (v): v is GenerationSettings =>
  isObject(v) &&
  isIndex(v['maxNewTokens']) &&
  (v['maxNewTokens'] as number) >= 1 &&
  (v['maxNewTokens'] as number) <= 32768 &&
  typeof v['greedy'] === 'boolean' &&
  isFiniteNumber(v['temperature']) &&
  (v['temperature'] as number) >= 0 &&
  isIndex(v['topK']) &&
  isFiniteNumber(v['topP']) &&
  (v['topP'] as number) > 0 &&
  (v['topP'] as number) <= 1 &&
  isFiniteNumber(v['repetitionPenalty']) &&
  (v['repetitionPenalty'] as number) > 0 &&
  isIndex(v['seed']) &&
  Array.isArray(v['stop']) &&
  (v['stop'] as unknown[]).length <= 16 &&
  (v['stop'] as unknown[]).every((s) => isString(s) && s.length > 0 && s.length <= 200);

const MAX_TEXT = 1 << 20;
const isMessages = (v: unknown): boolean =>
  Array.isArray(v) &&
  v.length > 0 &&
  v.length <= 1000 &&
  v.every((m) => isObject(m) && (m['role'] === 'user' || m['role'] === 'assistant' || m['role'] === 'system') && isShortString(MAX_TEXT)(m['content']));
const isId = (v: unknown): v is string => isString(v) && /^[A-Za-z0-9_-]{1,64}$/.test(v);

export const isGenerateRequest: Guard<GenerateRequest> = hasFields<GenerateRequest>({
  streamId: isId,
  conversationId: isId,
  model: isModelRef,
  messages: isMessages,
  settings: isGenerationSettings,
});

export const isVoteRecord: Guard<VoteRecord> = hasFields<VoteRecord>({
  prompt: isShortString(MAX_TEXT),
  a: isModelRef,
  b: isModelRef,
  seed: isIndex,
  settings: isGenerationSettings,
  verdict: (v) => isString(v) && (VERDICTS as readonly string[]).includes(v),
  answerA: isShortString(MAX_TEXT),
  answerB: isShortString(MAX_TEXT),
});

/** Only http and https links are ever opened (never javascript:, data:, file:, command:). */
export function isOpenableLink(href: string): boolean {
  try {
    const u = new URL(href);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

// ---- messages (descriptors of webviewIpc.ts) ------------------------------------------------
/** Host -> webview: exports, defaults, tally; on every (re)load and when they change. */
export const DidSnapshot = notification<ChatSnapshot>('didSnapshot');
/** Host -> webview: a generation's text grew. */
export const DidToken = notification<{ readonly streamId: string; readonly text: string; readonly newTokens: number }>('didToken');
/** Host -> webview: the engine process ended; running answers fail, the next message restarts it. */
export const DidEngineExit = notification<{ readonly reason: string }>('didEngineExit');
/** Host -> webview: a prompt from the editor to answer now. */
export const DidAsk = notification<EditorAsk>('didAsk');
/** Host -> webview: chat with this model now ("Chat with this run"). */
export const DidSelectModel = notification<ModelRef>('didSelectModel');
/** Host -> webview: the tally after a vote. */
export const DidTally = notification<{ readonly tally: readonly PairTally[]; readonly tallyProblems: number }>('didTally');

/** Loads (or finds loaded) a model: its provider and load figures. */
export const Load = request<ModelRef, LoadedModel>('load', isModelRef);
/** Answers when the generation ends (eos, stop string, length, Stop). */
export const Generate = request<GenerateRequest, GenerateAnswer>('generate', isGenerateRequest);
/** Ends a generation within one token; its Generate answers with finishReason 'cancelled'. */
export const Stop = command('stop', hasFields<{ readonly streamId: string }>({ streamId: isId }));
export const Vote = request<VoteRecord, null>('vote', isVoteRecord);
/** Export a run's checkpoint for chat (the host asks which checkpoint and precisions). */
export const ExportRun = command('exportRun', hasFields<{ readonly runId: string | null }>({ runId: (v) => v === null || isName(v) }));
export const CopyText = command('copyText', hasFields<{ readonly text: string }>({ text: isShortString(MAX_TEXT) }));
/** Puts text into the editor the last ask came from (else the active one), as one undo step. */
export const InsertText = command('insertText', hasFields<{ readonly text: string }>({ text: isShortString(MAX_TEXT) }));
/** A link the user clicked; the host opens it only when it is http(s). */
export const OpenLink = command('openLink', hasFields<{ readonly href: string }>({ href: isShortString(8192) }));
export const Refresh = command('refresh');
