// The chat exports of a run, as the panel and the Runs view list them: `<run>/onnx/<checkpoint>/`
// folders with a manifest.json (the export writes a temporary folder beside it and renames it,
// so a folder without a manifest is one being written, or a leftover, and is not listed). Only
// what a list needs is read here; the engine checks the whole manifest when it loads.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PRECISIONS, type Precision } from '../../protocol/chatEngine';
import type { ExportChoice, PrecisionChoice } from '../../protocol/chatMessages';

export const EXPORTS_DIR = 'onnx';
export const MANIFEST_FILE = 'manifest.json';

export function exportsDir(runDir: string): string {
  return path.join(runDir, EXPORTS_DIR);
}

/** The export folder of a checkpoint (`checkpoints/step-000040` -> `<run>/onnx/step-000040`). */
export function exportDirOf(runDir: string, checkpoint: string): string {
  return path.join(exportsDir(runDir), path.basename(checkpoint));
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** One export folder's listing; `problem` says why it cannot be loaded (named by file and field). */
export function readExportChoice(runId: string, dir: string): ExportChoice {
  const checkpoint = path.basename(dir);
  const file = path.join(dir, MANIFEST_FILE);
  const bad = (problem: string): ExportChoice => ({ runId, checkpoint, noiseAlpha: null, family: null, defaultPrecision: 'int8', precisions: [], createdAt: null, problem });
  let m: unknown;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return bad(`${file}: ${e instanceof SyntaxError ? `not JSON (${e.message})` : (e as Error).message}`);
  }
  if (!isRecord(m)) return bad(`${file}: not a JSON object`);
  if (m['format_version'] !== 1) return bad(`${file}: format_version ${JSON.stringify(m['format_version'])} is not 1`);
  const precs = m['precisions'];
  if (!isRecord(precs)) return bad(`${file}: field precisions is missing`);
  const precisions: PrecisionChoice[] = [];
  for (const p of PRECISIONS) {
    const entry = precs[p];
    if (!isRecord(entry)) continue;
    if (typeof entry['file'] !== 'string' || !fs.existsSync(path.join(dir, entry['file']))) {
      return bad(`${file}: precisions.${p}.file ${JSON.stringify(entry['file'])} does not exist in ${dir}`);
    }
    const parity = isRecord(entry['parity']) ? entry['parity'] : {};
    precisions.push({ precision: p, bytes: num(entry['bytes']), agreement: num(parity['teacher_forced_top1']), maxAbsLogitsDiff: num(parity['max_abs_logits_diff']) });
  }
  if (precisions.length === 0) return bad(`${file}: field precisions names no precision (fp32, int8, int4)`);
  const dp = m['default_precision'];
  const defaultPrecision: Precision = precisions.some((p) => p.precision === dp) ? (dp as Precision) : (precisions[0] as PrecisionChoice).precision;
  const source = isRecord(m['source']) ? m['source'] : {};
  const model = isRecord(m['model']) ? m['model'] : {};
  return {
    runId,
    checkpoint,
    noiseAlpha: num(source['neftune_alpha']),
    family: typeof model['family'] === 'string' ? model['family'] : null,
    defaultPrecision,
    precisions,
    createdAt: typeof m['created_at'] === 'string' ? m['created_at'] : null,
    problem: null,
  };
}

/** A run's exports, by checkpoint name. */
export function listRunExports(runId: string, runDir: string): ExportChoice[] {
  let names: string[];
  try {
    names = fs.readdirSync(exportsDir(runDir));
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.') && fs.existsSync(path.join(exportsDir(runDir), n, MANIFEST_FILE)))
    .sort()
    .map((n) => readExportChoice(runId, path.join(exportsDir(runDir), n)));
}
