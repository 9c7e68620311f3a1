// An export folder (`<run>/onnx/<checkpoint>/`, written by `python -m neftune_trainer export`):
// manifest.json validated against the shared schema, and the files the engine needs, checked
// before anything is loaded, so a bad folder fails with the file and field named.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import manifestSchema from '../../../trainer/neftune_trainer/schemas/export-manifest.schema.json';
import { PRECISIONS, type Precision } from '../../protocol/chatEngine';

export interface ParityFigures {
  readonly reference: string;
  readonly prompts: number;
  readonly max_abs_logits_diff: number;
  readonly tolerance: number;
  readonly greedy_tokens?: number;
  readonly greedy_agreement?: number;
  readonly teacher_forced_top1?: number;
  readonly min_agreement?: number;
  readonly passed: boolean;
}

export interface ExportManifest {
  readonly format_version: 1;
  readonly created_at: string;
  readonly exporter: { readonly name: 'onnxruntime-genai-builder' | 'torch-dynamo'; readonly version: string; readonly why?: string };
  readonly source: {
    readonly checkpoint: string;
    readonly run_id?: string | null;
    readonly checkpoint_name?: string | null;
    readonly base_model?: string | null;
    readonly adapter?: 'lora' | 'qlora' | null;
    readonly neftune_alpha?: number | null;
  };
  readonly model: {
    readonly family: string;
    readonly num_layers: number;
    readonly num_attention_heads?: number;
    readonly num_kv_heads: number;
    readonly head_dim: number;
    readonly hidden_size?: number;
    readonly vocab_size: number;
    readonly context_length: number;
  };
  readonly tokens: { readonly bos_token_id?: number | null; readonly eos_token_ids: readonly number[]; readonly pad_token_id?: number | null };
  readonly io?: {
    readonly inputs?: readonly string[];
    readonly outputs?: readonly string[];
    readonly past_key?: string;
    readonly past_value?: string;
    readonly present_key?: string;
    readonly present_value?: string;
    readonly has_position_ids?: boolean;
    readonly kv_dtype?: 'float32' | 'float16' | 'bfloat16';
  };
  readonly default_precision: Precision;
  readonly precisions: Partial<Record<Precision, { readonly file: string; readonly rows_file?: string; readonly bytes?: number; readonly opset?: number; readonly parity: ParityFigures }>>;
}

export type ExportFolderProblem = 'missing-folder' | 'missing-manifest' | 'bad-json' | 'bad-manifest' | 'missing-precision' | 'missing-file';

/** A folder that is not a usable export; `file` is the file at fault, `field` the JSON path in it. */
export class ExportFolderError extends Error {
  override readonly name = 'ExportFolderError';
  constructor(
    readonly problem: ExportFolderProblem,
    readonly file: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const MANIFEST_FILE = 'manifest.json';

export interface ExportFolder {
  readonly dir: string;
  readonly manifest: ExportManifest;
  /** Absolute paths. */
  readonly tokenizerJson: string;
  readonly tokenizerConfig: string | null;
  readonly chatTemplateFile: string | null;
  readonly generationConfig: string | null;
}

let validator: ValidateFunction | undefined;
function validateManifest(): ValidateFunction {
  validator ??= new Ajv({ allErrors: true, strict: false }).compile(manifestSchema);
  return validator;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ExportFolderError('missing-manifest', file, `${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ExportFolderError('bad-json', file, `${file}: not JSON: ${(e as Error).message}`);
  }
}

function existing(file: string): string | null {
  return fs.existsSync(file) ? file : null;
}

/** Reads and checks an export folder; throws ExportFolderError naming the file (and field) at fault. */
export function readExportFolder(dir: string): ExportFolder {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) throw new ExportFolderError('missing-folder', abs, `${abs}: no such folder`);
  const manifestFile = path.join(abs, MANIFEST_FILE);
  if (!fs.existsSync(manifestFile)) {
    throw new ExportFolderError('missing-manifest', manifestFile, `${abs} is not a chat export: it has no ${MANIFEST_FILE} (export a checkpoint with \`python -m neftune_trainer export CHECKPOINT --out DIR\`)`);
  }
  const value = readJson(manifestFile);
  const validate = validateManifest();
  if (!validate(value)) {
    const first = validate.errors?.[0];
    const field = first ? first.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(top level)' : '(top level)';
    const extra = first?.params && 'additionalProperty' in first.params ? ` '${String(first.params.additionalProperty)}'` : first?.params && 'missingProperty' in first.params ? ` '${String(first.params.missingProperty)}'` : '';
    throw new ExportFolderError('bad-manifest', manifestFile, `${manifestFile}: ${field}: ${first?.message ?? 'invalid'}${extra}`, field);
  }
  const manifest = value as unknown as ExportManifest;
  const tokenizerJson = path.join(abs, 'tokenizer.json');
  if (!fs.existsSync(tokenizerJson)) throw new ExportFolderError('missing-file', tokenizerJson, `${tokenizerJson}: missing (an export folder holds its tokenizer)`);
  for (const p of PRECISIONS) {
    const entry = manifest.precisions[p];
    if (entry && path.isAbsolute(entry.file)) throw new ExportFolderError('bad-manifest', manifestFile, `${manifestFile}: precisions.${p}.file: must be relative to the export folder`, `precisions.${p}.file`);
  }
  if (!manifest.precisions[manifest.default_precision]) {
    throw new ExportFolderError('bad-manifest', manifestFile, `${manifestFile}: default_precision: '${manifest.default_precision}' is not among precisions (${Object.keys(manifest.precisions).join(', ')})`, 'default_precision');
  }
  return {
    dir: abs,
    manifest,
    tokenizerJson,
    tokenizerConfig: existing(path.join(abs, 'tokenizer_config.json')),
    chatTemplateFile: existing(path.join(abs, 'chat_template.jinja')),
    generationConfig: existing(path.join(abs, 'generation_config.json')),
  };
}

/** The ONNX file of one precision (absolute), checked to exist. */
export function modelFile(folder: ExportFolder, precision: Precision): string {
  const entry = folder.manifest.precisions[precision];
  const manifestFile = path.join(folder.dir, MANIFEST_FILE);
  if (!entry) {
    throw new ExportFolderError('missing-precision', manifestFile, `${manifestFile}: precisions: no ${precision} export (has ${Object.keys(folder.manifest.precisions).join(', ')})`, `precisions.${precision}`);
  }
  const file = path.resolve(folder.dir, entry.file);
  if (!file.startsWith(folder.dir + path.sep)) throw new ExportFolderError('bad-manifest', manifestFile, `${manifestFile}: precisions.${precision}.file: outside the export folder`, `precisions.${precision}.file`);
  if (!fs.existsSync(file)) throw new ExportFolderError('missing-file', file, `${file}: missing (named by ${MANIFEST_FILE} precisions.${precision}.file)`, `precisions.${precision}.file`);
  return file;
}

/**
 * The precision's rows graph (absolute; manifest precisions.P.rows_file), or null when the export
 * has none (exports before it, or a graph the trainer could not make one for) or it is not there:
 * the engine then runs modelFile's graph, which answers the same, slower in long conversations.
 */
export function rowsModelFile(folder: ExportFolder, precision: Precision): string | null {
  const rel = folder.manifest.precisions[precision]?.rows_file;
  if (!rel || path.isAbsolute(rel)) return null;
  const file = path.resolve(folder.dir, rel);
  return file.startsWith(folder.dir + path.sep) && fs.existsSync(file) ? file : null;
}
