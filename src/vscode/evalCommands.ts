// Evaluate, judge, sweep and tune: the commands over core/evalJobs.ts, core/alphaSweep.ts and
// core/alphaTune.ts. Runs go through the run manager's queue; eval and judge are child processes
// with a progress notification whose Cancel sends SIGINT (the trainer keeps what it wrote). A
// sweep or tune left running when the window closed is picked up again at the next start.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_SWEEP_ALPHAS, parseAlphaList, parseValueList, planSweep, SweepStore, sweepProgress, withRunId, type SweepState } from '../core/alphaSweep';
import { observeRun, parseBudget, planTune, stepTune, tuneEvidenceMarkdown, writeRecommendedConfig, type RunObservation, type TuneHost, type TuneJudging, type TuneState } from '../core/alphaTune';
import { votesFile } from '../core/chat/abVotes';
import { checkRunConfig } from '../core/configValidation';
import { readAllEvents } from '../core/eventLog';
import { DEFAULT_REPETITION_PENALTY, evalArgs, evaluateAndJudge, judgeArgs, judgeEnv, judgementDir, listRunEvals, runEvalJob, type EvalEntry, type JudgeSpec } from '../core/evalJobs';
import { EVENTS_FILE } from '../core/runStore';
import { TrainerError } from '../core/trainerCli';
import { isEnded } from '../protocol/runSummary';
import { plural } from '../shared/format';
import { CONFIG_GLOB, isRunConfig } from './configDiagnostics';
import { trainerInterpreter } from './interpreter';
import type { RunManager, RunRef } from './runManager';
import { readSettings } from './settings';

export interface EvalCommandsContext {
  readonly runs: RunManager;
  readonly log: vscode.LogOutputChannel;
  readonly secrets: vscode.SecretStorage;
}

/** The judge endpoint's key, in VS Code's secret storage (never in settings, never on a command line). */
const JUDGE_KEY_SECRET = 'neftune.judge.apiKey';
const COMPARE_REPORT_COMMAND = 'neftune.openCompareReport';

function trusted(action: string): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window.showWarningMessage(`NEFTune: ${action} runs Python, so it works only in a trusted workspace (Workspaces: Manage Workspace Trust).`);
  return false;
}

/** The Compare report panel's command, with the arguments a Runs view multi-selection gives it. */
function openCompareReport(refs: readonly RunRef[]): void {
  void vscode.commands.executeCommand(COMPARE_REPORT_COMMAND, refs[0] ? { ref: refs[0] } : undefined, refs.map((ref) => ({ ref })));
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function folderOf(uri: vscode.Uri): vscode.WorkspaceFolder | undefined {
  return vscode.workspace.getWorkspaceFolder(uri) ?? vscode.workspace.workspaceFolders?.[0];
}

/** A setting's path: relative to the workspace folder, `~/` the home folder. */
function settingPath(folder: vscode.WorkspaceFolder, value: string): string {
  const v = value.startsWith('~/') ? path.join(process.env['HOME'] ?? '', value.slice(2)) : value;
  return path.isAbsolute(v) ? v : path.join(folder.uri.fsPath, v);
}

function evalSettings(folder: vscode.WorkspaceFolder): { prompts: string; maxNewTokens: number; repetitionPenalty: number } {
  const cfg = vscode.workspace.getConfiguration('neftune.eval', folder.uri);
  return {
    prompts: cfg.get<string>('prompts', ''),
    maxNewTokens: Math.max(1, Math.floor(cfg.get<number>('maxNewTokens', 256))),
    repetitionPenalty: cfg.get<number>('repetitionPenalty', DEFAULT_REPETITION_PENALTY),
  };
}

/** Tree nodes of the Runs view carry their run (and a checkpoint's path inside it). */
function nodeOf(arg: unknown): { ref: RunRef; checkpoint?: string } | undefined {
  if (!arg || typeof arg !== 'object' || !('ref' in arg)) return undefined;
  const n = arg as { ref: RunRef; kind?: string; path?: string };
  return n.kind === 'checkpoint' && typeof n.path === 'string' ? { ref: n.ref, checkpoint: path.basename(n.path) } : { ref: n.ref };
}

async function pickRun(ctx: EvalCommandsContext, arg: unknown, placeHolder: string, filter: (ref: RunRef) => boolean, none: string): Promise<RunRef | undefined> {
  if (typeof arg === 'string') return ctx.runs.findRun(arg);
  const node = nodeOf(arg);
  if (node) return node.ref;
  const items = ctx.runs
    .listRuns()
    .filter(filter)
    .map((ref) => {
      const s = ctx.runs.summary(ref);
      const label = ctx.runs.label(ref);
      return { label: ref.runId, description: `${label ? `${label} · ` : ''}${s.status} · α ${s.noiseAlpha ?? '?'} · step ${s.step}`, ref };
    });
  if (items.length === 0) {
    void vscode.window.showInformationMessage(`NEFTune: ${none}`, 'Start NEFTune run').then((p) => p && vscode.commands.executeCommand('neftune.startRun'));
    return undefined;
  }
  return (await vscode.window.showQuickPick(items, { placeHolder }))?.ref;
}

async function pickCheckpoint(ctx: EvalCommandsContext, ref: RunRef): Promise<string | undefined> {
  const checkpoints = ctx.runs.summary(ref).checkpoints.map((c) => path.basename(c));
  const latest = checkpoints[checkpoints.length - 1];
  if (!latest) {
    void vscode.window.showWarningMessage(`NEFTune: run ${ref.runId} has no checkpoint to evaluate yet.`);
    return undefined;
  }
  const items = [
    { label: latest, description: 'newest checkpoint', value: 'latest' },
    ...checkpoints.slice(0, -1).reverse().map((c) => ({ label: c, description: '', value: c })),
    { label: 'base model', description: "the run's base model, untuned (the baseline)", value: 'base' },
  ];
  if (items.length === 2) return 'latest';
  return (await vscode.window.showQuickPick(items, { placeHolder: `Checkpoint of ${ref.runId} to evaluate` }))?.value;
}

/** The prompt set: the setting neftune.eval.prompts, else a pick (MT-Bench questions first, when the workspace has them). */
async function pickPrompts(folder: vscode.WorkspaceFolder): Promise<string | undefined> {
  const configured = evalSettings(folder).prompts;
  if (configured) {
    const file = settingPath(folder, configured);
    if (fs.existsSync(file)) return file;
    void vscode.window.showWarningMessage(`NEFTune: the prompt file of the setting neftune.eval.prompts does not exist: ${file}. Pick one.`);
  }
  const mtBench = await vscode.workspace.findFiles('**/{mt_bench*,mt-bench*,question}.jsonl', '{**/node_modules/**,**/.neftune/**}', 20);
  const items: Array<vscode.QuickPickItem & { file?: string }> = [
    ...mtBench.map((u) => ({ label: path.basename(u.fsPath), description: `MT-Bench questions · ${vscode.workspace.asRelativePath(path.dirname(u.fsPath))}`, file: u.fsPath })),
    { label: 'Choose a prompt file…', description: 'JSON or JSONL: instructions, alpaca records, or MT-Bench questions' },
  ];
  const pick = items.length === 1 ? items[0] : await vscode.window.showQuickPick(items, { placeHolder: 'Prompts to answer (set neftune.eval.prompts to skip this)' });
  if (!pick) return undefined;
  if (pick.file) return pick.file;
  const chosen = await vscode.window.showOpenDialog({ canSelectMany: false, defaultUri: folder.uri, filters: { 'Prompt sets': ['jsonl', 'json'] }, openLabel: 'Use these prompts' });
  return chosen?.[0]?.fsPath;
}

interface EvalOutcome {
  readonly stage: 'done' | 'stopped';
  readonly dir: string | null;
  readonly done: number;
  readonly total: number;
}

/** `latest` as people read it: the newest checkpoint's folder name. */
function checkpointName(ctx: EvalCommandsContext, ref: RunRef, checkpoint: string): string {
  if (checkpoint !== 'latest') return checkpoint === 'base' ? 'base model' : checkpoint;
  const newest = ctx.runs.summary(ref).checkpoints.at(-1);
  return newest ? path.basename(newest) : checkpoint;
}

/** One eval job with a progress notification; Cancel stops it (SIGINT), keeping the answers so far. */
async function runEvaluation(ctx: EvalCommandsContext, ref: RunRef, checkpoint: string, prompts: string, title?: string): Promise<EvalOutcome | undefined> {
  const { python } = await trainerInterpreter(ref.folder);
  const s = evalSettings(ref.folder);
  const args = evalArgs({ runDir: ref.store.runDir(ref.runId), checkpoint, prompts, maxNewTokens: s.maxNewTokens, repetitionPenalty: s.repetitionPenalty });
  ctx.log.info(`[${ref.runId}] eval: ${python} -m neftune_trainer ${args.join(' ')}`);
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: title ?? `NEFTune: evaluating ${ref.runId} (${checkpointName(ctx, ref, checkpoint)})`, cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      let reported = 0;
      const r = await runEvalJob({
        python,
        args,
        cwd: ref.folder.uri.fsPath,
        signal: abort.signal,
        onLog: (l) => ctx.log.info(`[${ref.runId}] eval: ${l}`),
        onProgress: (p) => {
          if (p.stage === 'failed') return; // the error message follows
          const pct = p.total ? (100 * p.done) / p.total : 0;
          progress.report({ message: `${p.stage}: ${p.done}/${p.total}${abort.signal.aborted ? ' · stopping…' : ''}`, increment: Math.max(0, pct - reported) });
          reported = Math.max(reported, pct);
        },
      });
      return { stage: r.stage, dir: r.path, done: r.done, total: r.total };
    },
  );
}

/** `prompts`: the prompt set chosen already (a prompt set's "Evaluate a run on these prompts"). */
async function evaluateRun(ctx: EvalCommandsContext, arg: unknown, given?: string): Promise<void> {
  if (!trusted('Evaluate run')) return;
  const ref = await pickRun(ctx, arg, 'Run to evaluate', (r) => isEnded(ctx.runs.summary(r).status) && ctx.runs.summary(r).checkpoints.length > 0, `evaluation needs an ended run with a checkpoint, and ${ctx.runs.listRuns().length ? 'no run has one yet' : 'this workspace has no runs yet'}: start a run first (its checkpoints are saved as it trains).`);
  if (!ref) return;
  const checkpoint = nodeOf(arg)?.checkpoint ?? (await pickCheckpoint(ctx, ref));
  if (!checkpoint) return;
  const prompts = given ?? (await pickPrompts(ref.folder));
  if (!prompts) return;
  try {
    const r = await runEvaluation(ctx, ref, checkpoint, prompts);
    if (!r) return;
    const what = `${ref.runId} (${checkpointName(ctx, ref, checkpoint)}): ${r.done} of ${plural(r.total, 'prompt')} answered`;
    const pick = await (r.stage === 'stopped'
      ? vscode.window.showInformationMessage(`NEFTune: evaluation stopped, ${what}; run it again to resume.`, 'Open compare report')
      : vscode.window.showInformationMessage(`NEFTune: evaluated ${what}.`, 'Open compare report', 'Judge against another run'));
    if (pick === 'Open compare report') openCompareReport([ref]);
    if (pick === 'Judge against another run') void vscode.commands.executeCommand('neftune.judgeRuns', ref.runId);
  } catch (err) {
    ctx.log.error(`[${ref.runId}] eval failed: ${message(err)}`);
    void vscode.window.showErrorMessage(`NEFTune: evaluation of ${ref.runId} failed: ${message(err)}`, 'Show log').then((p) => p && ctx.log.show());
  }
}

/** What judges, for people: the model folder or the endpoint. */
function judgeLabel(spec: JudgeSpec): string {
  return spec.kind === 'model' ? `judge model ${path.basename(spec.folder)}` : `judge endpoint ${spec.url}${spec.model ? ` (${spec.model})` : ''}`;
}

/** The judge from the settings, or (unless quiet) a message saying how to set one. */
async function judgeFromSettings(ctx: EvalCommandsContext, folder: vscode.WorkspaceFolder, quiet = false): Promise<{ spec: JudgeSpec; key?: string } | undefined> {
  const cfg = vscode.workspace.getConfiguration('neftune.judge', folder.uri);
  const model = cfg.get<string>('model', '');
  const endpoint = cfg.get<string>('endpoint', '');
  if (model) return { spec: { kind: 'model', folder: settingPath(folder, model) } };
  if (endpoint) {
    const key = await ctx.secrets.get(JUDGE_KEY_SECRET);
    const endpointModel = cfg.get<string>('endpointModel', '');
    return { spec: { kind: 'endpoint', url: endpoint, ...(endpointModel ? { model: endpointModel } : {}) }, ...(key ? { key } : {}) };
  }
  if (quiet) return undefined;
  const pick = await vscode.window.showWarningMessage(
    'NEFTune: no judge is configured. Set neftune.judge.model to a local model folder, or neftune.judge.endpoint to an OpenAI-compatible URL (its key with "NEFTune: Set judge API key").',
    'Open settings',
    'Set judge API key',
  );
  if (pick === 'Open settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'neftune.judge');
  if (pick === 'Set judge API key') void vscode.commands.executeCommand('neftune.setJudgeApiKey');
  return undefined;
}

/** Evaluations of a run that answered every prompt. */
function completeEvals(ref: RunRef): EvalEntry[] {
  return listRunEvals(ref.store.runDir(ref.runId)).filter((e) => e.complete);
}

async function pickEval(ref: RunRef, samePromptsAs?: EvalEntry): Promise<EvalEntry | undefined> {
  let evals = completeEvals(ref);
  if (samePromptsAs) {
    const same = evals.filter((e) => e.promptSet === samePromptsAs.promptSet);
    if (same.length) evals = same;
  }
  if (evals.length <= 1) return evals[0];
  const items = evals.map((e) => ({ label: e.checkpoint, description: `${plural(e.count, 'answer')} · ${e.promptSet ? path.basename(e.promptSet) : '?'}`, e }));
  return (await vscode.window.showQuickPick(items, { placeHolder: `Evaluation of ${ref.runId} to judge` }))?.e;
}

async function judgeRuns(ctx: EvalCommandsContext, arg: unknown, many: unknown): Promise<void> {
  if (!trusted('Judge runs')) return;
  let refs = Array.isArray(many) ? many.flatMap((n) => nodeOf(n)?.ref ?? []) : [];
  if (refs.length !== 2) {
    const first = typeof arg === 'string' ? ctx.runs.findRun(arg) : nodeOf(arg)?.ref;
    const evaluated = ctx.runs.listRuns().filter((r) => completeEvals(r).length > 0);
    if (evaluated.length < 2) {
      void vscode.window.showInformationMessage(`NEFTune: judging needs two evaluated runs; ${evaluated.length === 1 ? 'only 1 run has' : `${plural(evaluated.length, 'run')} have`} a complete evaluation. Run "NEFTune: Evaluate run" first.`);
      return;
    }
    const items = evaluated.map((ref) => ({ label: ref.runId, description: `α ${ctx.runs.summary(ref).noiseAlpha ?? '?'} · ${plural(completeEvals(ref).length, 'evaluation')}`, ref, picked: ref.runId === first?.runId }));
    const picks = await vscode.window.showQuickPick(items, { canPickMany: true, placeHolder: 'Two evaluated runs to judge (the first is side A)' });
    if (!picks) return;
    if (picks.length !== 2) {
      void vscode.window.showWarningMessage(`NEFTune: pick exactly two runs to judge (${picks.length} picked).`);
      return;
    }
    refs = picks.map((p) => p.ref);
  }
  const [a, b] = refs as [RunRef, RunRef];
  const missing = [a, b].find((r) => completeEvals(r).length === 0);
  if (missing) {
    void vscode.window.showInformationMessage(`NEFTune: ${missing.runId} has no complete evaluation; evaluate it first ("NEFTune: Evaluate run").`);
    return;
  }
  const evalA = await pickEval(a);
  const evalB = evalA && (await pickEval(b, evalA));
  if (!evalA || !evalB) return; // a pick was dismissed
  const judge = await judgeFromSettings(ctx, a.folder);
  if (!judge) return;
  if (judge.spec.kind === 'endpoint' && !judge.key) {
    const pick = await vscode.window.showWarningMessage(`NEFTune: no API key is set for the judge endpoint ${judge.spec.url}; the request goes without one.`, 'Set judge API key', 'Judge anyway');
    if (pick === 'Set judge API key') return void vscode.commands.executeCommand('neftune.setJudgeApiKey');
    if (pick !== 'Judge anyway') return;
  }
  const promptFile = vscode.workspace.getConfiguration('neftune.judge', a.folder.uri).get<string>('promptFile', '');
  const votes = votesFile(a.store.root);
  let args: string[];
  try {
    args = judgeArgs({
      evalA: evalA.dir,
      evalB: evalB.dir,
      out: judgementDir(a.store.root, a.runId, b.runId),
      judge: judge.spec,
      ...(promptFile ? { promptFile: settingPath(a.folder, promptFile) } : {}),
      ...(fs.existsSync(votes) ? { votes } : {}),
    });
  } catch (err) {
    void vscode.window.showErrorMessage(`NEFTune: ${message(err)}`);
    return;
  }
  const { python } = await trainerInterpreter(a.folder);
  ctx.log.info(`[judge] ${python} -m neftune_trainer ${args.join(' ')}`);
  try {
    const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `NEFTune: judging ${a.runId} vs ${b.runId}`, cancellable: true }, async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      let reported = 0;
      return runEvalJob({
        python,
        args,
        cwd: a.folder.uri.fsPath,
        env: judgeEnv(judge.key),
        signal: abort.signal,
        onLog: (l) => ctx.log.info(`[judge] ${l}`),
        onProgress: (p) => {
          const pct = p.total ? (100 * p.done) / p.total : 0;
          progress.report({ message: `${p.done}/${p.total} prompts judged (both orders)`, increment: Math.max(0, pct - reported) });
          reported = Math.max(reported, pct);
        },
      });
    });
    const pick = await vscode.window.showInformationMessage(`NEFTune: ${a.runId} vs ${b.runId}: ${r.message || r.stage}`, 'Open compare report');
    if (pick) openCompareReport([a, b]);
  } catch (err) {
    if (err instanceof TrainerError && err.kind === 'cancelled') return;
    ctx.log.error(`[judge] failed: ${message(err)}`);
    void vscode.window.showErrorMessage(`NEFTune: judging failed: ${message(err)}`, 'Show log').then((p) => p && ctx.log.show());
  }
}

async function setJudgeApiKey(ctx: EvalCommandsContext): Promise<void> {
  const key = await vscode.window.showInputBox({
    title: 'NEFTune: judge API key',
    prompt: 'The key of the OpenAI-compatible endpoint in neftune.judge.endpoint. Kept in VS Code\'s secret storage; passed to the judge in its environment only. Empty: remove it.',
    password: true,
    ignoreFocusOut: true,
  });
  if (key === undefined) return;
  if (key.trim() === '') {
    await ctx.secrets.delete(JUDGE_KEY_SECRET);
    void vscode.window.showInformationMessage('NEFTune: judge API key removed.');
  } else {
    await ctx.secrets.store(JUDGE_KEY_SECRET, key.trim());
    void vscode.window.showInformationMessage('NEFTune: judge API key saved in the secret storage.');
  }
}

/** A config from the argument (explorer, editor), the active editor, or a pick. */
async function pickConfig(arg: unknown, placeHolder: string): Promise<vscode.Uri | undefined> {
  if (arg instanceof vscode.Uri && isRunConfig(arg)) return arg;
  const active = vscode.window.activeTextEditor?.document.uri;
  const files = await vscode.workspace.findFiles(CONFIG_GLOB, '{**/node_modules/**,**/.neftune/**}', 200);
  if (files.length === 0) {
    void vscode.window.showInformationMessage('NEFTune: there is no run config (*.neftune.yaml) in this workspace; create one with "NEFTune: New run config".');
    return undefined;
  }
  files.sort((x, y) => Number(y.toString() === active?.toString()) - Number(x.toString() === active?.toString()) || x.fsPath.localeCompare(y.fsPath));
  if (files.length === 1) return files[0];
  const items = files.map((uri) => ({ label: path.basename(uri.fsPath), description: vscode.workspace.asRelativePath(path.dirname(uri.fsPath)), uri }));
  return (await vscode.window.showQuickPick(items, { placeHolder }))?.uri;
}

/** The config's text when it has no error (saved first), else a message and undefined. */
async function validConfigText(uri: vscode.Uri): Promise<string | undefined> {
  const doc = await vscode.workspace.openTextDocument(uri);
  if (doc.isDirty) await doc.save();
  const errors = checkRunConfig(doc.getText(), uri.fsPath, { checkPaths: true }).problems.filter((p) => p.severity === 'error');
  const first = errors[0];
  if (first) {
    void vscode.window.showErrorMessage(`NEFTune: ${path.basename(uri.fsPath)} has ${plural(errors.length, 'problem')}; fix it first. Line ${first.start.line + 1}: ${first.message}`);
    return undefined;
  }
  return doc.getText();
}

/** Follows the runs of sweeps and tunes; one per state file, across reloads. */
class SweepRunner implements vscode.Disposable {
  private readonly followed = new Map<string, () => void>();
  private readonly sub: vscode.Disposable;

  constructor(private readonly ctx: EvalCommandsContext) {
    this.sub = ctx.runs.onDidChange(() => {
      for (const poke of this.followed.values()) poke();
    });
  }

  private store(folder: vscode.WorkspaceFolder): SweepStore {
    return new SweepStore(readSettings(folder).runStore);
  }

  /** After a reload: every sweep still training and every tune still running, followed again. */
  resumeAll(): void {
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const store = this.store(folder);
      for (const id of store.list()) {
        const s = store.read(id);
        if (s?.kind === 'sweep' && (s as unknown as SweepState).phase === 'training') void this.followSweep(folder, s as unknown as SweepState);
        if (s?.kind === 'tune' && (s as unknown as TuneState).phase === 'running') void this.followTune(folder, s as unknown as TuneState);
      }
    }
  }

  async followSweep(folder: vscode.WorkspaceFolder, initial: SweepState): Promise<void> {
    if (this.followed.has(initial.id)) return;
    const store = this.store(folder);
    let state = initial;
    const config = vscode.Uri.file(state.configPath);
    const statusOf = (runId: string): ReturnType<RunManager['summary']>['status'] | null => {
      const ref = this.ctx.runs.findRun(runId);
      return ref ? this.ctx.runs.summary(ref).status : null;
    };
    let wake = (): void => {};
    this.followed.set(state.id, () => wake());
    try {
      // Runs not queued yet (a reload came between planning and queueing).
      for (const i of sweepProgress(state, statusOf).toQueue) {
        const run = state.runs[i]!;
        const ref = await this.ctx.runs.start(config, { overrides: run.overrides, label: run.label, showProgress: false });
        state = withRunId(state, i, ref.runId);
        store.write(state);
      }
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `NEFTune: sweep of ${path.basename(state.configPath)} (α ${state.alphas.join(', ')})`, cancellable: true }, (progress, token) =>
        new Promise<void>((resolve) => {
          const check = (): void => {
            const p = sweepProgress(state, statusOf);
            progress.report({ message: `${p.ended} of ${plural(p.total, 'run')} ended (the queue runs neftune.maxConcurrentRuns at once)` });
            if (p.allEnded) resolve();
          };
          wake = check;
          token.onCancellationRequested(() => {
            // Cancel hides this notification; the runs go on (stop them in the Runs view).
            wake = () => {};
            resolve();
          });
          check();
        }),
      );
      if (!sweepProgress(state, statusOf).allEnded) return; // the notification was dismissed; a reload follows it again
      state = { ...state, phase: 'trained' };
      store.write(state);
      const found = state.runs.flatMap((r) => {
        const ref = r.runId ? this.ctx.runs.findRun(r.runId) : undefined;
        return ref ? [{ ref, alpha: r.alpha }] : [];
      });
      const refs = found.map((f) => f.ref);
      const pick = await vscode.window.showInformationMessage(`NEFTune: the sweep of ${path.basename(state.configPath)} ended: ${found.map((f) => `α ${f.alpha} ${this.ctx.runs.summary(f.ref).status} (${f.ref.runId})`).join(', ')}.`, 'Evaluate and compare', 'Compare curves');
      if (pick === 'Compare curves') void vscode.commands.executeCommand('neftune.compareRuns', undefined, refs.map((ref) => ({ ref })));
      if (pick !== 'Evaluate and compare') return;
      const prompts = await pickPrompts(folder);
      if (!prompts) return;
      const evaluated: RunRef[] = [];
      for (const [i, ref] of refs.entries()) {
        if (!this.ctx.runs.summary(ref).checkpoints.length) continue;
        const r = await runEvaluation(this.ctx, ref, 'latest', prompts, `NEFTune: sweep evaluation ${i + 1}/${refs.length}: ${ref.runId}`);
        if (r?.stage !== 'done') break;
        evaluated.push(ref);
      }
      state = { ...state, phase: 'evaluated' };
      store.write(state);
      if (evaluated.length) openCompareReport(evaluated);
    } catch (err) {
      this.ctx.log.error(`[sweep ${state.id}] ${message(err)}`);
      void vscode.window.showErrorMessage(`NEFTune: sweep ${state.id}: ${message(err)}`, 'Show log').then((p) => p && this.ctx.log.show());
    } finally {
      this.followed.delete(state.id);
    }
  }

  private host(config: vscode.Uri, folder: vscode.WorkspaceFolder, status: (text: string) => void = () => {}): TuneHost {
    const runs = this.ctx.runs;
    const ctx = this.ctx;
    const store = this.store(folder);
    const refOf = (runId: string): RunRef => {
      const ref = runs.findRun(runId);
      if (!ref) throw new Error(`run ${runId} is gone (deleted?)`);
      return ref;
    };
    return {
      start: async (overrides, label) => (await runs.start(config, { overrides, label, showProgress: false })).runId,
      resume: (runId, overrides) => runs.resume(refOf(runId), { overrides, showProgress: false }),
      stop: (runId) => runs.stop(refOf(runId)),
      observe: (runId): RunObservation => {
        const ref = runs.findRun(runId);
        if (!ref) return { status: null, step: 0, evals: [], seconds: 0 };
        return observeRun(readAllEvents(path.join(ref.store.runDir(runId), EVENTS_FILE)), runs.summary(ref).status);
      },
      judge: async (job) => {
        const a = refOf(job.runId);
        const b = refOf(job.referenceRunId);
        const judge = await judgeFromSettings(ctx, folder, true);
        if (!judge) throw new Error('no judge is configured any more (neftune.judge.model or neftune.judge.endpoint)');
        const { python } = await trainerInterpreter(folder);
        const s = evalSettings(folder);
        const promptFile = vscode.workspace.getConfiguration('neftune.judge', folder.uri).get<string>('promptFile', '');
        const what = `rung ${job.rung + 1}: ${job.runId} against ${job.referenceRunId}`;
        ctx.log.info(`[tune ${job.tuneId}] judging ${what} on ${path.basename(job.judging.prompts)} (${judgeLabel(judge.spec)})`);
        const r = await evaluateAndJudge({
          python,
          cwd: folder.uri.fsPath,
          runDirA: a.store.runDir(a.runId),
          runDirB: b.store.runDir(b.runId),
          prompts: job.judging.prompts,
          maxNewTokens: s.maxNewTokens,
          repetitionPenalty: s.repetitionPenalty,
          judge: judge.spec,
          ...(judge.key ? { apiKey: judge.key } : {}),
          ...(promptFile ? { promptFile: settingPath(folder, promptFile) } : {}),
          out: store.judgementDir(job.tuneId, job.rung, job.runId, job.referenceRunId),
          onLog: (l) => ctx.log.info(`[tune ${job.tuneId}] ${l}`),
          onProgress: (p) => status(`${what}: ${p.command === 'eval' ? 'answering' : 'judging'} ${p.done}/${p.total}`),
        });
        ctx.log.info(`[tune ${job.tuneId}] ${what}: win rate ${r.winRate?.toFixed(3) ?? '?'} over ${plural(r.count, 'prompt')} (${r.dir})`);
        return r;
      },
    };
  }

  async followTune(folder: vscode.WorkspaceFolder, initial: TuneState): Promise<void> {
    if (this.followed.has(initial.id)) return;
    const store = this.store(folder);
    let judgeStatus: (text: string) => void = () => {};
    const host = this.host(vscode.Uri.file(initial.configPath), folder, (text) => judgeStatus(text));
    let state = initial;
    let busy = false;
    let again = false;
    let finished: () => void = () => {};
    const done = new Promise<void>((r) => (finished = r));
    let ended = false;
    const round = async (): Promise<void> => {
      if (ended) return;
      if (busy) return void (again = true); // one round at a time; a change during it gets another
      busy = true;
      try {
        do {
          again = false;
          state = (await stepTune(state, host, (s) => store.write(s))).state;
        } while (again && state.phase === 'running');
      } catch (err) {
        this.ctx.log.error(`[tune ${state.id}] ${message(err)}`);
        state = { ...state, phase: 'failed', note: message(err) };
        store.write(state);
      } finally {
        busy = false;
      }
      report();
      if (state.phase !== 'running') finished();
    };
    let report = (): void => {};
    // Runs change at every step; reading every candidate's events that often is waste: at most every 2 s.
    let pending: NodeJS.Timeout | undefined;
    this.followed.set(state.id, () => {
      pending ??= setTimeout(() => {
        pending = undefined;
        void round();
      }, 2000);
    });
    const timer = setInterval(() => void round(), 5000); // a run that ended unseen (its monitor gone) is still noticed
    try {
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `NEFTune: tuning noise alpha of ${path.basename(state.configPath)}`, cancellable: true }, (progress, token) => {
        report = () => {
          const rung = state.rungs[state.rung];
          const alive = state.candidates.filter((c) => !c.eliminated).length;
          progress.report({ message: rung ? `rung ${state.rung + 1}/${state.rungs.length}: ${plural(alive, 'candidate')} to step ${rung.steps}` : state.phase });
        };
        judgeStatus = (text) => progress.report({ message: text });
        token.onCancellationRequested(() => finished()); // hides it; the tune goes on, and resumes after a reload
        void round();
        return done;
      });
      if (state.phase === 'running') return;
      // No round after the end: one would still hold the state from before the recommended config
      // was written, and would write it back over the final state while the end's notification
      // waits for the user.
      ended = true;
      clearInterval(timer);
      if (pending) clearTimeout(pending);
      this.followed.delete(state.id);
      await this.tuneEnded(state, host, store);
    } finally {
      clearInterval(timer);
      if (pending) clearTimeout(pending);
      this.followed.delete(state.id);
    }
  }

  private async tuneEnded(state: TuneState, host: TuneHost, store: SweepStore): Promise<void> {
    const evidenceJson = store.file(state.id);
    let final = state;
    if (state.recommendation && !state.recommendation.configPath) {
      try {
        const written = writeRecommendedConfig(state, state.recommendation, evidenceJson);
        final = { ...state, recommendation: { ...state.recommendation, configPath: written } };
      } catch (err) {
        this.ctx.log.error(`[tune ${state.id}] could not write the recommended config: ${message(err)}`);
      }
    }
    // The evidence before the state that points at the recommended config: whoever sees the
    // config's path there finds the evidence written.
    const md = tuneEvidenceMarkdown(final, (id) => host.observe(id));
    const mdFile = evidenceJson.replace(/\.json$/, '.md');
    fs.writeFileSync(`${mdFile}.tmp`, md);
    fs.renameSync(`${mdFile}.tmp`, mdFile);
    if (final !== state) store.write(final);
    this.ctx.log.info(`[tune ${state.id}]\n${md}`);
    const rec = final.recommendation;
    const buttons = rec?.configPath ? ['Open recommended config', 'Show evidence'] : ['Show evidence'];
    const text = rec ? `NEFTune: tuning ${path.basename(state.configPath)} recommends α ${rec.alpha}${rec.lr !== null ? `, lr ${rec.lr}` : ''} (held-out loss ${rec.heldoutLoss?.toFixed(4) ?? '?'} at step ${rec.step}${rec.reference === undefined ? '' : rec.reference !== rec.candidate ? `, win rate ${rec.winRate?.toFixed(2) ?? '?'} against ${rec.reference}` : "; the judge preferred no other candidate's answers"}).` : `NEFTune: tuning ${path.basename(state.configPath)} ended without a recommendation: ${final.note ?? 'see the evidence'}`;
    const pick = await (rec ? vscode.window.showInformationMessage(text, ...buttons) : vscode.window.showWarningMessage(text, ...buttons));
    if (pick === 'Open recommended config' && rec?.configPath) await vscode.window.showTextDocument(vscode.Uri.file(rec.configPath));
    if (pick === 'Show evidence') await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(mdFile));
  }

  dispose(): void {
    this.sub.dispose();
    this.followed.clear();
  }
}

async function sweepNoiseAlpha(ctx: EvalCommandsContext, runner: SweepRunner, arg: unknown): Promise<void> {
  if (!trusted('Sweep noise alpha')) return;
  const uri = await pickConfig(arg, 'Run config to sweep over noise alpha');
  if (!uri) return;
  const folder = folderOf(uri);
  if (!folder || !(await validConfigText(uri))) return;
  const text = await vscode.window.showInputBox({
    title: `NEFTune: sweep noise alpha of ${path.basename(uri.fsPath)}`,
    prompt: 'Noise alphas, one run each (0 is NEFTune off). Every run has the same seed and data order; only neftune_noise_alpha differs.',
    value: DEFAULT_SWEEP_ALPHAS.join(', '),
    validateInput: (v) => {
      const r = parseAlphaList(v);
      return 'error' in r ? r.error : null;
    },
  });
  if (text === undefined) return;
  const parsed = parseAlphaList(text);
  if ('error' in parsed) return;
  const state = planSweep(uri.fsPath, parsed.values);
  new SweepStore(readSettings(folder).runStore).write(state);
  ctx.log.info(`[sweep ${state.id}] ${path.basename(uri.fsPath)} with α ${parsed.values.join(', ')}`);
  await runner.followSweep(folder, state);
}

/** Wall seconds per step of the newest ended run of this config, to plan a minutes budget's first rung. */
function measuredPace(ctx: EvalCommandsContext, configPath: string): number | null {
  for (const ref of ctx.runs.listRuns()) {
    const pid = ref.store.readPid(ref.runId);
    if (pid?.config !== configPath || !isEnded(ctx.runs.summary(ref).status)) continue;
    const o = observeRun(readAllEvents(path.join(ref.store.runDir(ref.runId), EVENTS_FILE)), null);
    if (o.step > 0 && o.seconds > 0) return o.seconds / o.step;
  }
  return null;
}

async function tuneNoiseAlpha(ctx: EvalCommandsContext, runner: SweepRunner, arg: unknown): Promise<void> {
  if (!trusted('Tune noise alpha')) return;
  const uri = await pickConfig(arg, 'Run config to tune');
  if (!uri) return;
  const folder = folderOf(uri);
  const text = folder && (await validConfigText(uri));
  if (!folder || !text) return;
  const data = (parseYaml(text) ?? {}) as Record<string, unknown>;
  if (!(Number(data['val_set_size']) > 0) && !Array.isArray(data['eval_datasets'])) {
    void vscode.window.showErrorMessage(`NEFTune: tuning compares the runs' held-out loss, and ${path.basename(uri.fsPath)} holds out no data: set val_set_size (e.g. 0.1) or eval_datasets.`);
    return;
  }
  const alphas = await vscode.window.showInputBox({
    title: 'NEFTune: tune noise alpha (1/3)',
    prompt: 'Noise alphas to try (successive halving keeps the better half at each rung).',
    value: DEFAULT_SWEEP_ALPHAS.join(', '),
    validateInput: (v) => {
      const r = parseAlphaList(v);
      return 'error' in r ? r.error : r.values.length < 2 ? 'at least two alphas' : null;
    },
  });
  if (alphas === undefined) return;
  const lrs = await vscode.window.showInputBox({
    title: 'NEFTune: tune noise alpha (2/3)',
    prompt: 'Learning rates to try with each alpha (optional; empty: the config\'s own).',
    value: '',
    validateInput: (v) => {
      if (!v.trim()) return null;
      const r = parseValueList(v, 'learning_rate', 'learning rate');
      return 'error' in r ? r.error : null;
    },
  });
  if (lrs === undefined) return;
  const budgetText = await vscode.window.showInputBox({
    title: 'NEFTune: tune noise alpha (3/3)',
    prompt: 'Budget: optimizer steps over all candidates ("400"), or wall-clock minutes ("30 min").',
    value: '400',
    validateInput: (v) => {
      const r = parseBudget(v);
      return 'error' in r ? r.error : null;
    },
  });
  if (budgetText === undefined) return;
  const budget = parseBudget(budgetText);
  const alphaList = parseAlphaList(alphas);
  const lrList = lrs.trim() ? parseValueList(lrs, 'learning_rate', 'learning rate') : { values: [] };
  if ('error' in budget || 'error' in alphaList || 'error' in lrList) return;
  const eta = Math.max(2, vscode.workspace.getConfiguration('neftune.tune', folder.uri).get<number>('eta', 2));
  // With a judge set, the rungs can be decided by its win rates (slower: every candidate answers the prompts at each rung).
  let judging: TuneJudging | undefined;
  const judge = await judgeFromSettings(ctx, folder, true);
  if (judge) {
    const how = await vscode.window.showQuickPick(
      [
        { label: 'Held-out loss, then the judge', detail: `At each rung every candidate answers a prompt set and the ${judgeLabel(judge.spec)} judges it against the best held-out loss; the better answers go on. Slower.`, judged: true },
        { label: 'Held-out loss only', detail: 'The lowest noise-off held-out loss goes on at each rung.', judged: false },
      ],
      { title: 'NEFTune: tune noise alpha: how to rank the candidates', placeHolder: 'A judge is configured (neftune.judge.*)' },
    );
    if (!how) return;
    if (how.judged) {
      const prompts = await pickPrompts(folder);
      if (!prompts) return;
      judging = { prompts, judge: judgeLabel(judge.spec) };
    }
  }
  let state: TuneState;
  try {
    const pace = budget.unit === 'minutes' ? measuredPace(ctx, uri.fsPath) : null;
    if (budget.unit === 'minutes') ctx.log.info(`[tune] planning the first rung at ${pace ? `${pace.toFixed(2)} s per step (the last run of this config)` : '5 s per step (no earlier run of this config to measure)'}; re-planned from the measured pace after each rung`);
    state = planTune(uri.fsPath, { alphas: alphaList.values, learningRates: lrList.values, budget, eta, ...(budget.unit === 'minutes' ? { secondsPerStep: pace ?? 5 } : {}), ...(judging ? { judging } : {}) });
  } catch (err) {
    void vscode.window.showErrorMessage(`NEFTune: ${message(err)}`);
    return;
  }
  new SweepStore(readSettings(folder).runStore).write(state);
  ctx.log.info(`[tune ${state.id}] ${plural(state.candidates.length, 'candidate')}, rungs at steps ${state.rungs.map((r) => r.steps).join(', ')} (budget ${budget.amount} ${budget.unit})`);
  await runner.followTune(folder, state);
}

export function registerEvalCommands(ctx: EvalCommandsContext): vscode.Disposable[] {
  const runner = new SweepRunner(ctx);
  // Sweeps and tunes outlive a window reload: follow the unfinished ones (after activation settles).
  if (vscode.workspace.isTrusted) setTimeout(() => runner.resumeAll(), 1000);
  const table: Record<string, (...args: unknown[]) => unknown> = {
    'neftune.evaluateRun': (arg) => evaluateRun(ctx, arg),
    'neftune.evaluateOnPrompts': (arg) => evaluateRun(ctx, undefined, arg instanceof vscode.Uri ? arg.fsPath : undefined),
    'neftune.judgeRuns': (arg, many) => judgeRuns(ctx, arg, many),
    'neftune.setJudgeApiKey': () => setJudgeApiKey(ctx),
    'neftune.sweepNoiseAlpha': (arg) => sweepNoiseAlpha(ctx, runner, arg),
    'neftune.tuneNoiseAlpha': (arg) => tuneNoiseAlpha(ctx, runner, arg),
  };
  return [runner, ...Object.entries(table).map(([id, fn]) => vscode.commands.registerCommand(id, fn))];
}
