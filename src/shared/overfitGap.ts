// The overfitting gap of a run (paper §5.1): held-out eval loss minus the noise-off loss on a
// fixed training sample, both measured with the same weights at the same eval step.
import type { EvalSeries } from '../protocol/dashboardMessages';

export interface OverfitGap {
  readonly step: number;
  readonly evalLoss: number;
  readonly trainLoss: number;
  /** evalLoss - trainLoss: positive when the model does better on what it trained on. */
  readonly gap: number;
}

/** The gap at the latest eval that has both losses; null when none has (older trainers). */
export function latestOverfitGap(evals: EvalSeries): OverfitGap | null {
  for (let i = evals.step.length - 1; i >= 0; i--) {
    const ev = evals.loss[i];
    const tr = evals.trainLoss?.[i];
    if (typeof ev === 'number' && typeof tr === 'number' && Number.isFinite(ev) && Number.isFinite(tr)) {
      return { step: evals.step[i] ?? 0, evalLoss: ev, trainLoss: tr, gap: ev - tr };
    }
  }
  return null;
}

/** Whether any eval carries a noise-off training loss (else no series is drawn for it). */
export function hasTrainLoss(evals: EvalSeries): boolean {
  return (evals.trainLoss ?? []).some((v) => typeof v === 'number' && Number.isFinite(v));
}

/** The gap at every eval (held-out minus noise-off training loss), null where either is missing:
 * the dashboard's gap chart, one line per run. */
export function gapSeries(evals: EvalSeries): Array<number | null> {
  return evals.step.map((_, i) => {
    const ev = evals.loss[i];
    const tr = evals.trainLoss?.[i];
    return typeof ev === 'number' && typeof tr === 'number' && Number.isFinite(ev) && Number.isFinite(tr) ? ev - tr : null;
  });
}
