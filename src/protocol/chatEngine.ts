// The chat engine's protocol: the extension host (or dist/cli.js chat) speaks to the engine
// child (dist/chatEngine.js, a plain Node process with onnxruntime-node) over the JSON-lines
// channel (src/core/jsonLinesChannel.ts). One file for both sides; no vscode import, no DOM.
//
// The engine runs in its own process because onnxruntime-node's run() blocks the event loop
// and a native crash must not take the extension host down. It yields between tokens, so a
// `$/cancel` of a generate request takes effect within one token.

export type Precision = 'fp32' | 'int8' | 'int4';
export const PRECISIONS: readonly Precision[] = ['fp32', 'int8', 'int4'];

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

export interface GenerationSettings {
  readonly maxNewTokens: number;
  /** true: argmax (temperature, topK, topP ignored). The paper's evaluation: greedy, repetitionPenalty 1.2. */
  readonly greedy: boolean;
  readonly temperature: number;
  /** 0: off. */
  readonly topK: number;
  /** 1: off. */
  readonly topP: number;
  /** 1: off; transformers' definition (divide positive logits, multiply negative ones, of every token seen: prompt and answer). */
  readonly repetitionPenalty: number;
  /** Sampling seed: the same seed, prompt and settings give the same answer. */
  readonly seed: number;
  /** Generation ends when the answer ends with one of these (the stop string is not part of the text). */
  readonly stop: readonly string[];
}

export const DEFAULT_GENERATION: GenerationSettings = {
  maxNewTokens: 256,
  greedy: false,
  temperature: 0.7,
  topK: 50,
  topP: 0.9,
  repetitionPenalty: 1.1,
  seed: 0,
  stop: [],
};

export interface LoadParams {
  /** An export folder (holds manifest.json). */
  readonly modelDir: string;
  /** Default: the manifest's default_precision. */
  readonly precision?: Precision;
  /** Intra-op threads; default: from the machine (physical cores). */
  readonly threads?: number;
  /** auto: CUDA when the installed onnxruntime-node has it, else CPU. */
  readonly provider?: 'auto' | 'cpu' | 'cuda';
}

export interface LoadResult {
  /** Names this loaded model in later requests; loading the same folder and precision again returns the same id. */
  readonly modelId: string;
  readonly precision: Precision;
  /** The execution provider in use, e.g. 'cpu' or 'cuda'. */
  readonly provider: string;
  readonly threads: number;
  readonly loadMs: number;
  /** The engine process's resident set after loading. */
  readonly rssBytes: number;
  readonly family: string;
  readonly contextLength: number;
  readonly runId: string | null;
  readonly checkpointName: string | null;
  /** The export's parity figures for this precision (manifest precisions[p].parity). */
  readonly parity: { readonly maxAbsLogitsDiff: number; readonly teacherForcedTop1?: number; readonly greedyAgreement?: number };
}

export interface GenerateParams {
  readonly modelId: string;
  /** Chosen by the caller; every `token` notification of this request carries it. */
  readonly streamId: string;
  /** Several conversations may be open; the engine may reuse a conversation's cache when its history is a prefix. */
  readonly conversationId?: string;
  /** The whole history; the export's chat template is applied to it (with the generation prompt). */
  readonly messages: readonly ChatMessage[];
  readonly settings: GenerationSettings;
}

export type FinishReason = 'eos' | 'stop' | 'length' | 'cancelled' | 'context';

export interface GenerateResult {
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly promptTokens: number;
  readonly newTokens: number;
  /** From the request to the first new token (the prompt pass included). */
  readonly timeToFirstTokenMs: number;
  /** New tokens after the first, per second of decoding. */
  readonly decodeTokensPerSecond: number;
  readonly totalMs: number;
}

/** Child -> host: the answer's text so far grew by `text` (whole characters only). */
export interface TokenNotification {
  readonly streamId: string;
  readonly text: string;
  /** New tokens so far. */
  readonly newTokens: number;
}

export interface TokenizeParams {
  readonly modelId: string;
  /** Either plain text (no special tokens added) or a conversation through the chat template. */
  readonly text?: string;
  readonly messages?: readonly ChatMessage[];
  readonly addGenerationPrompt?: boolean;
}

export interface EngineInfo {
  readonly onnxruntimeVersion: string;
  /** Execution providers the installed onnxruntime-node offers. */
  readonly providers: readonly string[];
  readonly pid: number;
}

/** Fits src/core/jsonLinesChannel.ts's ChannelProtocol structurally (no import: the webviews typecheck this folder without Node's types). */
export interface ChatEngineProtocol {
  readonly requests: {
    info: { params: Record<string, never>; result: EngineInfo };
    load: { params: LoadParams; result: LoadResult };
    unload: { params: { modelId: string }; result: null };
    generate: { params: GenerateParams; result: GenerateResult };
    tokenize: { params: TokenizeParams; result: { ids: number[] } };
    /** Ends a generation within one token; its generate request answers with finishReason 'cancelled' and the text so far. (A `$/cancel` also stops it, but its answer is then dropped.) */
    stop: { params: { streamId: string }; result: null };
  };
  readonly notifications: {
    token: TokenNotification;
  };
}

/** Error codes the engine answers with (ChannelError.code). */
export const ENGINE_ERROR = {
  /** The folder is not an export (no or bad manifest.json), or lacks the precision asked for. */
  badModel: 'bad-model',
  unknownModel: 'unknown-model',
  /** The prompt does not fit the context length. */
  tooLong: 'too-long',
  badParams: 'bad-params',
} as const;
