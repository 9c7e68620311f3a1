// "NEFTune: Compare report" (neftune.openCompareReport): from the Runs view with several runs
// selected, or a pick of runs (the selection rules of "Compare runs"), and the serializer that
// brings the panel back after a window reload.
import * as vscode from 'vscode';
import { CompareReportPanel } from './compareReportPanel';
import { offerFirstRun } from './nextStep';
import { markWalkthroughDone } from './walkthrough';
import { WALKTHROUGH_KEYS } from '../core/walkthrough';
import type { RunColors } from './runColors';
import type { RunManager, RunRef } from './runManager';

export interface CompareReportContext {
  readonly extensionUri: vscode.Uri;
  readonly runs: RunManager;
  readonly colors: RunColors;
}

const isNode = (n: unknown): n is { ref: RunRef } => !!n && typeof n === 'object' && 'ref' in n;

/**
 * The runs to report on: run ids given by another command (`[runId, ...]`, e.g. after "Evaluate
 * run" or "Judge runs"), as they are; a Runs view multi-selection of two or more; else a pick,
 * the clicked run pre-checked.
 */
async function runsToReport(ctx: CompareReportContext, arg: unknown, many: unknown): Promise<RunRef[] | undefined> {
  if (Array.isArray(arg) && arg.length > 0) {
    const given = arg.map((a) => (typeof a === 'string' ? ctx.runs.findRun(a) : isNode(a) ? a.ref : undefined)).filter((r): r is RunRef => r !== undefined);
    if (given.length) return given;
  }
  const refs = Array.isArray(many) ? many.filter(isNode).map((n) => n.ref) : [];
  if (refs.length >= 2) return refs;
  const clicked = isNode(arg) ? arg.ref.runId : typeof arg === 'string' ? arg : undefined;
  const items = ctx.runs.listRuns().map((ref) => {
    const s = ctx.runs.summary(ref);
    return { label: ref.runId, description: `${s.status} · α ${s.noiseAlpha ?? '?'} · step ${s.step}/${s.totalSteps ?? '?'}`, ref, picked: refs.some((r) => r.runId === ref.runId) || ref.runId === clicked };
  });
  if (items.length === 0) {
    offerFirstRun('NEFTune: there are no runs to compare yet.');
    return undefined;
  }
  const picks = await vscode.window.showQuickPick(items, { canPickMany: true, placeHolder: 'Runs to compare in one report (their evaluations, judgements and votes)' });
  return picks?.length ? picks.map((p) => p.ref) : undefined;
}

export function registerCompareReport(ctx: CompareReportContext): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('neftune.openCompareReport', async (arg: unknown, many: unknown) => {
      const refs = await runsToReport(ctx, arg, many);
      if (refs) {
        CompareReportPanel.show(ctx.extensionUri, ctx.runs, ctx.colors, refs);
        markWalkthroughDone(WALKTHROUGH_KEYS.compared);
      }
    }),
    CompareReportPanel.registerSerializer(ctx.extensionUri, ctx.runs, ctx.colors),
  ];
}
