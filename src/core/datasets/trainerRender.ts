// "As the model sees it" and token lengths come from the trainer, so the text, the chat
// template and the loss mask are exactly the ones training uses
// (trainer/neftune_trainer/render.py; the command line goes through core/trainerCli.ts):
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
import type { RenderedRecord, TokenHistogram, TrainerAnswer } from '../../protocol/datasetPreviewMessages';
import { runTrainerJson as runTrainerCommandJson, TRAINER_EXIT, TRAINER_MODULE, TrainerError, trainerArgv, trainerError, type RunTrainerOptions } from '../trainerCli';

export function renderArgs(configOrModel: string, dataset: string, index: number): string[] {
  return trainerArgv('render', [configOrModel, '--dataset', dataset, '--index', String(index)]);
}

export function lengthsArgs(configOrModel: string, dataset: string, bins = 40): string[] {
  return trainerArgv('render', [configOrModel, '--dataset', dataset, '--lengths', '--bins', String(bins)]);
}

/** Whether a failed render's stderr says this interpreter has no trainer, or a trainer without `render`. */
export function isMissingCommand(stderr: string): boolean {
  const kind = trainerError({ python: '', command: 'render', code: TRAINER_EXIT.badInput, stderr })?.kind;
  return kind === 'no-command' || kind === 'no-trainer';
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

/**
 * Runs a render command (the argv of renderArgs / lengthsArgs) and parses its JSON, or says why
 * there is no answer, in the preview's terms.
 */
export async function runTrainerJson<T>(python: string, argv: readonly string[], parse: (stdout: string) => T, opts: RunTrainerOptions = {}): Promise<TrainerAnswer<T>> {
  const [dashM, module, command, ...args] = argv;
  if (dashM !== '-m' || module !== TRAINER_MODULE || command === undefined) throw new Error(`not a trainer command line: ${argv.join(' ')}`);
  try {
    return { ok: true, value: await runTrainerCommandJson(python, command, args, parse, opts) };
  } catch (e) {
    if (!(e instanceof TrainerError)) throw e;
    if (e.kind === 'no-python') return { ok: false, reason: 'no-python', message: e.message };
    if (e.kind === 'no-command' || e.kind === 'no-trainer') {
      return { ok: false, reason: 'missing', message: `This needs the trainer's \`render\` command (python -m neftune_trainer render): ${e.message}` };
    }
    return { ok: false, reason: 'failed', message: e.message };
  }
}
