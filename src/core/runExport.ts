// CSV of runs' full metrics (never the downsampled display data), one row per logged step.
import type { RunData } from '../protocol/dashboardMessages';

const COLUMNS = ['run_id', 'step', 'time', 'tokens', 'loss', 'lr', 'grad_norm', 'tokens_per_s', 'noise_alpha', 'noise_norm', 'eval_loss', 'train_loss_noise_off'] as const;

function cell(v: unknown): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function runsToCsv(runs: readonly RunData[]): string {
  const lines = [COLUMNS.join(',')];
  for (const r of runs) {
    const s = r.series;
    // The eval loss and the noise-off training loss at each eval step (null where not measured).
    const evalAt = new Map<number, [number | null, number | null]>();
    r.evals.step.forEach((st, i) => evalAt.set(st, [r.evals.loss[i] ?? null, r.evals.trainLoss[i] ?? null]));
    for (let i = 0; i < s.step.length; i++) {
      const step = s.step[i] ?? 0;
      lines.push([r.runId, step, s.time[i], s.tokens[i], s.loss[i], s.lr[i], s.gradNorm[i], s.tokensPerS[i], s.noiseAlpha[i], s.noiseNorm[i], ...(evalAt.get(step) ?? [null, null])].map(cell).join(','));
      evalAt.delete(step);
    }
    // Evaluations at steps with no step event (e.g. step 0, before training).
    for (const [step, losses] of evalAt) lines.push([r.runId, step, '', '', '', '', '', '', '', '', ...losses].map(cell).join(','));
  }
  return lines.join('\n') + '\n';
}
