// `python -m neftune_trainer export CHECKPOINT --out DIR --precision P ...` as the extension runs
// it ("Export for chat"): spawned without a shell through trainerCli.ts's argv and environment,
// its stdout's JSON progress lines ({"type": "export", "stage", "progress", "message"}) passed
// on as they come, a cancel as SIGINT (the trainer removes its temporary folder: nothing is
// written), and the exit mapped to a TrainerError with the trainer's reason. No vscode import.
import { spawn } from 'node:child_process';
import type { Precision } from '../../protocol/chatEngine';
import { LineSplitter } from '../lineSplitter';
import { TrainerError, trainerArgv, trainerEnv, trainerError } from '../trainerCli';

export interface ExportProgress {
  readonly stage: string;
  readonly precision: Precision | null;
  /** 0..1 over the whole export. */
  readonly progress: number;
  readonly message: string;
}

export interface ExportRequest {
  readonly python: string;
  /** The checkpoint folder (`<run>/checkpoints/step-000040`) or a model folder. */
  readonly checkpoint: string;
  /** The export folder, `<run>/onnx/<checkpoint-name>`. */
  readonly outDir: string;
  readonly precisions: readonly Precision[];
  readonly cwd?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ExportProgress) => void;
  /** The trainer's stderr (its log), line by line. */
  readonly onLog?: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

export function exportArgs(req: Pick<ExportRequest, 'checkpoint' | 'outDir' | 'precisions'>): string[] {
  return trainerArgv('export', [req.checkpoint, '--out', req.outDir, ...req.precisions.flatMap((p) => ['--precision', p])]);
}

function parseProgress(line: string): ExportProgress | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o['type'] !== 'export' || typeof o['stage'] !== 'string') return null;
  const progress = typeof o['progress'] === 'number' && Number.isFinite(o['progress']) ? Math.min(1, Math.max(0, o['progress'])) : 0;
  const precision = o['precision'] === 'fp32' || o['precision'] === 'int8' || o['precision'] === 'int4' ? o['precision'] : null;
  return { stage: o['stage'], precision, progress, message: typeof o['message'] === 'string' ? o['message'] : '' };
}

/** Runs the export to its end; rejects with a TrainerError (kind 'cancelled' after a cancel). */
export function runExport(req: ExportRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(req.python, exportArgs(req), { shell: false, windowsHide: true, env: trainerEnv(req.env), stdio: ['ignore', 'pipe', 'pipe'], ...(req.cwd ? { cwd: req.cwd } : {}) });
    let stderr = '';
    let cancelled = false;
    let lastFailure: string | null = null;
    const out = new LineSplitter({ maxLineBytes: 1 << 20 });
    const err = new LineSplitter({ maxLineBytes: 1 << 20 });
    const onOut = (line: string): void => {
      const p = parseProgress(line);
      if (!p) return;
      if (p.stage === 'failed') lastFailure = p.message;
      req.onProgress?.(p);
    };
    child.stdout.on('data', (b: Buffer) => out.push(b).forEach(onOut));
    child.stderr.on('data', (b: Buffer) => {
      for (const l of err.push(b)) {
        req.onLog?.(l);
        stderr = (stderr + l + '\n').slice(-16384);
      }
    });
    const onAbort = (): void => {
      cancelled = true;
      child.kill('SIGINT');
      // A trainer that does not end after its cleanup window is killed.
      setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), 15_000).unref();
    };
    if (req.signal?.aborted) onAbort();
    else req.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e: NodeJS.ErrnoException) => {
      req.signal?.removeEventListener('abort', onAbort);
      reject(trainerError({ python: req.python, command: 'export', code: null, stderr, ...(e.code ? { errno: e.code } : {}) }) ?? e);
    });
    child.on('close', (code, signal) => {
      req.signal?.removeEventListener('abort', onAbort);
      out.end().forEach(onOut);
      if (cancelled) return reject(new TrainerError('cancelled', 'neftune_trainer export was cancelled: nothing was written', { command: 'export', code, signal }));
      const failure = trainerError({ python: req.python, command: 'export', code, signal, stderr: lastFailure && !/^error: /m.test(stderr) ? `${stderr}\nerror: ${lastFailure}` : stderr });
      if (failure) reject(failure);
      else resolve();
    });
  });
}
