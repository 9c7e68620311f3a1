// The "Get started with NEFTune" walkthrough (package.json contributes.walkthroughs):
// its id, the context keys that mark its steps done when the thing really happened (an
// environment check that passed, a run that finished), and when it opens by itself.
// No vscode import: the thin layer in src/vscode/walkthrough.ts sets the keys.

/** The walkthrough's id in package.json; VS Code addresses it as `<extension id>#<this>`. */
export const WALKTHROUGH_ID = 'gettingStarted';

/** Context keys read by the steps' `onContext:` completion events. Set to true, never back:
 *  VS Code keeps a step's completion itself once its event fired. */
export const WALKTHROUGH_KEYS = {
  /** The trainer environment check passed (Check trainer environment, or the end of Set up). */
  environmentReady: 'neftune.walkthrough.environmentReady',
  /** The workspace has a `*.neftune.yaml` (found at start, or New run config wrote one). */
  hasRunConfig: 'neftune.walkthrough.hasRunConfig',
  /** A run exists in a run store of this workspace (started here, or earlier). */
  hasRuns: 'neftune.walkthrough.hasRuns',
  /** A run of this workspace ended `finished` (seen by this window: live, or opened from the Runs view). */
  runFinished: 'neftune.walkthrough.runFinished',
  /** Export for chat wrote an export. */
  exported: 'neftune.walkthrough.exported',
  /** A dataset file was opened in the preview (or validated): not merely the button pressed. */
  datasetOpened: 'neftune.walkthrough.datasetOpened',
  /** A dashboard of two or more runs, or a Compare report, was opened. */
  compared: 'neftune.walkthrough.compared',
} as const;

export type WalkthroughKey = (typeof WALKTHROUGH_KEYS)[keyof typeof WALKTHROUGH_KEYS];

/** globalState key: the walkthrough was opened (or deliberately not) on a first activation. */
export const FIRST_RUN_STATE_KEY = 'neftune.walkthrough.firstRunHandled';

export interface FirstRunFacts {
  /** FIRST_RUN_STATE_KEY was already set: this is not the first activation. */
  readonly handledBefore: boolean;
  /** Runs found in the workspace's run stores. */
  readonly runCount: number;
  /** VS Code's `workbench.welcomePage.walkthroughs.openOnInstall` (false: the user does not want
   *  walkthroughs to open by themselves). */
  readonly openOnInstall: boolean;
}

/**
 * What the first activation does: `open` the walkthrough, and `remember` that the question was
 * settled so that it is never asked again. A workspace that already has runs belongs to someone
 * who has used the extension: settled without opening. With the user's setting off nothing is
 * settled, so turning it on later still gives one first-run walkthrough.
 */
export function firstRunDecision(f: FirstRunFacts): { open: boolean; remember: boolean } {
  if (f.handledBefore || !f.openOnInstall) return { open: false, remember: false };
  return { open: f.runCount === 0, remember: true };
}
