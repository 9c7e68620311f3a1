// "As the model sees it" and token lengths come from the trainer, so the text, the chat
// template and the loss mask are exactly the ones training uses. The contract (the trainer's
// side is to be written; see the report of issue 6):
//
//   python -m neftune_trainer render CONFIG_OR_MODEL --dataset FILE --index N
//     -> stdout: {"text": str, "segments": [{"text": str, "loss": bool, "tokens": int}, ...],
//                 "tokens": int, "model": str, "template": str}
//   python -m neftune_trainer render CONFIG_OR_MODEL --dataset FILE --lengths [--bins 40]
//     -> stdout: {"edges": [int], "counts": [int], "records": int, "sequence_len": int|null,
//                 "over_sequence_len": int, "max": int, "mean": float, "model": str}
//
// CONFIG_OR_MODEL is a *.neftune.yaml (its base_model, sequence_len and dataset type are used)
// or a model folder / id. Exit code 0 with JSON on stdout; non-zero with the reason on stderr.
import { execFile } from 'node:child_process';
import type { RenderedRecord, TokenHistogram, TrainerAnswer } from '../../protocol/datasetPreviewMessages';

export function renderArgs(configOrModel: string, dataset: string, index: number): string[] {
  return ['-m', 'neftune_trainer', 'render', configOrModel, '--dataset', dataset, '--index', String(index)];
}

export function lengthsArgs(configOrModel: string, dataset: string, bins = 40): string[] {
  return ['-m', 'neftune_trainer', 'render', configOrModel, '--dataset', dataset, '--lengths', '--bins', String(bins)];
}

/** argparse's answer when the subcommand does not exist (exit code 2). */
export function isMissingCommand(stderr: string): boolean {
  return /invalid choice: '?render'?/.test(stderr) || /No module named .?neftune_trainer/.test(stderr);
}

export function parseRendered(stdout: string): RenderedRecord {
  const v = JSON.parse(stdout) as Partial<RenderedRecord> & { segments?: unknown };
  if (typeof v.text !== 'string' || !Array.isArray(v.segments)) throw new Error('render printed no {text, segments}');
  const segments = v.segments.map((s: unknown) => {
    const o = (s ?? {}) as Record<string, unknown>;
    return { text: String(o['text'] ?? ''), loss: o['loss'] === true, tokens: Number(o['tokens'] ?? 0) };
  });
  return {
    text: v.text,
    segments,
    ...(typeof v.tokens === 'number' ? { tokens: v.tokens } : {}),
    ...(typeof v.model === 'string' ? { model: v.model } : {}),
    ...(typeof v.template === 'string' ? { template: v.template } : {}),
  };
}

export function parseHistogram(stdout: string): TokenHistogram {
  const v = JSON.parse(stdout) as Record<string, unknown>;
  const nums = (x: unknown): number[] => (Array.isArray(x) ? x.map(Number) : []);
  const edges = nums(v['edges']);
  const counts = nums(v['counts']);
  if (edges.length !== counts.length + 1) throw new Error('render --lengths printed no {edges, counts}');
  return {
    edges,
    counts,
    records: Number(v['records'] ?? 0),
    sequenceLen: typeof v['sequence_len'] === 'number' ? v['sequence_len'] : null,
    overSequenceLen: Number(v['over_sequence_len'] ?? 0),
    max: Number(v['max'] ?? 0),
    mean: Number(v['mean'] ?? 0),
    ...(typeof v['model'] === 'string' ? { model: v['model'] } : {}),
  };
}

/** Runs the trainer (no shell) and parses its JSON, or says why there is no answer. */
export function runTrainerJson<T>(python: string, args: string[], parse: (stdout: string) => T, opts: { cwd?: string; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<TrainerAnswer<T>> {
  return new Promise((resolve) => {
    execFile(
      python,
      args,
      {
        timeout: opts.timeoutMs ?? 300_000,
        maxBuffer: 256 << 20,
        env: { ...process.env, HF_HUB_OFFLINE: '1', PYTHONUNBUFFERED: '1' },
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      (err, stdout, stderr) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return resolve({ ok: false, reason: 'no-python', message: `The interpreter ${python} does not exist.` });
          if (isMissingCommand(stderr)) {
            return resolve({ ok: false, reason: 'missing', message: "This needs the trainer's `render` command (python -m neftune_trainer render), which this trainer does not have yet." });
          }
          const tail = (stderr || err.message).trim().split('\n').slice(-3).join(' ');
          return resolve({ ok: false, reason: 'failed', message: `neftune_trainer render failed: ${tail}` });
        }
        try {
          resolve({ ok: true, value: parse(stdout) });
        } catch (e) {
          resolve({ ok: false, reason: 'failed', message: e instanceof Error ? e.message : String(e) });
        }
      },
    );
  });
}
