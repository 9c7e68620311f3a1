// The chat panel: talk to a run's exported checkpoint, compare two side by side (A/B, votes saved
// in the run store), answer "Ask the tuned model" from the editor and put answers back into it.
// One panel per window, beside the editor; its conversations live in the webview's state, so
// the serializer revives it after a window reload.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { appendVote, readVotes, tally, votesFile } from '../core/chat/abVotes';
import { exportDirOf, listRunExports, MANIFEST_FILE } from '../core/chat/exportList';
import type { ChatSnapshot, ChatWebviewState, EditorAsk, GenerateAnswer, GenerateRequest, LoadedModel, ModelRef } from '../protocol/chatMessages';
import { CopyText, DidAsk, DidEngineExit, DidSelectModel, DidSnapshot, DidTally, DidToken, ExportRun, Generate, InsertText, isOpenableLink, Load, OpenLink, Refresh, Stop, Vote } from '../protocol/chatMessages';
import type { ChatRuntime } from './chatRuntime';
import { chatGenerationDefaults } from './chatSettings';
import type { RunManager, RunRef } from './runManager';
import { createPanel, registerPanelSerializer, WebviewPanelHost, type PanelKind } from './webviewPanelHost';

export const CHAT_VIEW_TYPE = 'neftune.chat';
// Retained: an answer streams on while the panel is hidden behind another tab.
const KIND: PanelKind = { viewType: CHAT_VIEW_TYPE, entry: 'chat', enableFindWidget: true, retainContextWhenHidden: true };

export interface ChatPanelDeps {
  readonly extensionUri: vscode.Uri;
  readonly runs: RunManager;
  readonly runtime: ChatRuntime;
  /** "Export for chat" of a run (or a pick of runs when null). */
  readonly exportRun: (runId: string | null) => Promise<unknown>;
}

/** The editor an answer goes back into, as it was when the user asked (or last focused). */
interface InsertTarget {
  readonly uri: vscode.Uri;
  readonly selection: vscode.Selection;
}

export class ChatPanel extends WebviewPanelHost {
  private static current: ChatPanel | undefined;
  private pendingAsk: EditorAsk | undefined;
  private pendingSelect: ModelRef | undefined;
  private insertTarget: InsertTarget | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;

  static show(deps: ChatPanelDeps, opts: { readonly ask?: EditorAsk; readonly insertTarget?: InsertTarget; readonly model?: ModelRef } = {}): ChatPanel {
    let cur = ChatPanel.current;
    if (cur) cur.panel.reveal(cur.panel.viewColumn ?? vscode.ViewColumn.Beside, !!opts.ask);
    else cur = new ChatPanel(createPanel(deps.extensionUri, KIND, 'NEFTune chat', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: !!opts.ask }), deps);
    if (opts.insertTarget) cur.insertTarget = opts.insertTarget;
    if (opts.model) cur.select(opts.model);
    if (opts.ask) cur.ask(opts.ask);
    return cur;
  }

  static registerSerializer(deps: ChatPanelDeps): vscode.Disposable {
    return registerPanelSerializer<ChatWebviewState>(deps.extensionUri, KIND, (panel) => {
      if (ChatPanel.current) return false;
      new ChatPanel(panel, deps);
      return true;
    });
  }

  /** Tells an open panel that the exports changed (an export finished or was removed). */
  static refresh(): void {
    ChatPanel.current?.sendSnapshotSoon();
  }

  private constructor(
    panel: vscode.WebviewPanel,
    private readonly deps: ChatPanelDeps,
  ) {
    super(panel, deps.extensionUri, { entry: 'chat', title: 'NEFTune chat' }, KIND);
    ChatPanel.current = this;
    const { runtime, runs } = deps;
    this.onRequest(Load, (model) => this.load(model));
    this.onRequest(Generate, (req) => this.generate(req));
    this.onCommand(Stop, async ({ streamId }) => {
      if (vscode.workspace.isTrusted) await runtime.chat().stop(streamId);
    });
    this.onRequest(Vote, (vote) => {
      const ref = this.runRef(vote.a.runId);
      appendVote(votesFile(ref.store.root), vote);
      this.notify(DidTally, this.tally());
      return null;
    });
    this.onCommand(ExportRun, ({ runId }) => deps.exportRun(runId));
    this.onCommand(CopyText, async ({ text }) => {
      await vscode.env.clipboard.writeText(text);
      void vscode.window.setStatusBarMessage('NEFTune: copied', 2000);
    });
    this.onCommand(InsertText, ({ text }) => this.insert(text));
    this.onCommand(OpenLink, async ({ href }) => {
      // VS Code asks before opening an outside link; only http(s) gets that far.
      if (isOpenableLink(href)) await vscode.env.openExternal(vscode.Uri.parse(href, true));
    });
    this.onCommand(Refresh, () => this.sendSnapshot());
    const manifests = vscode.workspace.createFileSystemWatcher(`**/onnx/*/${MANIFEST_FILE}`);
    this.track(
      manifests,
      manifests.onDidCreate(() => this.sendSnapshotSoon()),
      manifests.onDidDelete(() => this.sendSnapshotSoon()),
      runs.onDidChangeList(() => this.sendSnapshotSoon()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.sendSnapshot()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('neftune.chat') || e.affectsConfiguration('neftune.runStore')) this.sendSnapshotSoon();
      }),
      runtime.onDidEngineExit((reason) => this.notify(DidEngineExit, { reason })),
      vscode.window.onDidChangeActiveTextEditor((ed) => {
        if (ed && ed.document.uri.scheme !== 'output') this.insertTarget = { uri: ed.document.uri, selection: ed.selection };
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (this.insertTarget && e.textEditor.document.uri.toString() === this.insertTarget.uri.toString()) this.insertTarget = { uri: this.insertTarget.uri, selection: e.selections[0] ?? e.textEditor.selection };
      }),
    );
    const ed = vscode.window.activeTextEditor;
    if (ed) this.insertTarget = { uri: ed.document.uri, selection: ed.selection };
  }

  protected onReady(): void {
    this.sendSnapshot();
    const model = this.pendingSelect;
    this.pendingSelect = undefined;
    if (model) this.notify(DidSelectModel, model);
    const ask = this.pendingAsk;
    this.pendingAsk = undefined;
    if (ask) this.notify(DidAsk, ask);
  }

  private select(model: ModelRef): void {
    if (this.isReady) {
      this.sendSnapshot(); // with the export just made, if it is one
      this.notify(DidSelectModel, model);
    }
    else this.pendingSelect = model;
  }

  private ask(ask: EditorAsk): void {
    if (this.isReady) this.notify(DidAsk, ask);
    else this.pendingAsk = ask;
  }

  private runRef(runId: string): RunRef {
    const ref = this.deps.runs.findRun(runId);
    if (!ref) throw new Error(`There is no run ${runId} in the run store any more.`);
    return ref;
  }

  /** The export folder of a model the webview named, only when the run store lists it. */
  private exportDir(model: ModelRef): string {
    const ref = this.runRef(model.runId);
    const dir = exportDirOf(ref.store.runDir(ref.runId), model.checkpoint);
    if (!fs.existsSync(path.join(dir, MANIFEST_FILE))) throw new Error(`Run ${model.runId} has no export ${model.checkpoint} (${dir} has no ${MANIFEST_FILE}).`);
    return dir;
  }

  private async load(model: ModelRef): Promise<LoadedModel> {
    const loaded = await this.deps.runtime.chat().load(this.exportDir(model), model.precision);
    return { model, provider: loaded.provider, threads: loaded.threads, loadMs: loaded.loadMs, contextLength: loaded.contextLength };
  }

  private async generate(req: GenerateRequest): Promise<GenerateAnswer> {
    const chat = this.deps.runtime.chat();
    const dir = this.exportDir(req.model);
    this.deps.runtime.lastModel = req.model;
    try {
      return await chat.generate(dir, req.model.precision, { streamId: req.streamId, conversationId: req.conversationId, messages: req.messages, settings: req.settings }, (t) =>
        this.notify(DidToken, { streamId: t.streamId, text: t.text, newTokens: t.newTokens }),
      );
    } catch (e) {
      // The panel shows the reason by the answer; no toast on top of it.
      throw new Error(describeEngineError(e));
    }
  }

  private async insert(text: string): Promise<void> {
    const target = this.insertTarget;
    const editor = target ? vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === target.uri.toString()) : undefined;
    const ed = editor ?? (target ? await vscode.window.showTextDocument(target.uri, { viewColumn: vscode.ViewColumn.One, preserveFocus: false }) : undefined);
    if (!ed) {
      void vscode.window.showWarningMessage('NEFTune: no editor to insert into: open a file, then Insert again.');
      return;
    }
    const selection = target && ed.document.uri.toString() === target.uri.toString() ? target.selection : ed.selection;
    // Whole lines selected (up to the next line's start): the answer replaces them as lines.
    if (!selection.isEmpty && selection.end.character === 0 && selection.end.line > selection.start.line && !text.endsWith('\n')) text += '\n';
    // One edit: one undo step. It replaces the selection, as an editor's paste does.
    const ok = await ed.edit((b) => b.replace(selection, text), { undoStopBefore: true, undoStopAfter: true });
    if (!ok) void vscode.window.showWarningMessage(`NEFTune: could not insert into ${ed.document.fileName} (read-only?).`);
  }

  private tally(): { tally: ChatSnapshot['tally']; tallyProblems: number } {
    const roots = [...new Set(this.deps.runs.listRuns().map((r) => r.store.root))];
    const files = roots.map((r) => readVotes(votesFile(r)));
    return { tally: tally(files.flatMap((f) => f.votes)), tallyProblems: files.reduce((n, f) => n + f.problems.length, 0) };
  }

  private snapshot(): ChatSnapshot {
    const refs = this.deps.runs.listRuns();
    const exports = refs.flatMap((ref) => listRunExports(ref.runId, ref.store.runDir(ref.runId)));
    const withExport = new Set(exports.map((e) => e.runId));
    const runsWithoutExport = refs.filter((r) => !withExport.has(r.runId)).map((r) => ({ runId: r.runId, checkpoints: this.deps.runs.summary(r).checkpoints.length }));
    return { exports, runsWithoutExport, defaults: chatGenerationDefaults(), ...this.tally(), trusted: vscode.workspace.isTrusted };
  }

  private sendSnapshot(): void {
    if (this.isReady) this.notify(DidSnapshot, this.snapshot());
  }

  private sendSnapshotSoon(): void {
    if (this.snapshotTimer) return;
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      this.sendSnapshot();
    }, 300);
  }

  protected override onDispose(): void {
    clearTimeout(this.snapshotTimer);
    if (ChatPanel.current === this) ChatPanel.current = undefined;
  }
}

/** An engine failure in words the panel shows (engine died, bad export, prompt too long). */
export function describeEngineError(e: unknown): string {
  const err = e as { kind?: unknown; code?: unknown; message?: unknown };
  const message = typeof err?.message === 'string' ? err.message : String(e);
  if (err?.kind === 'closed') return `The chat engine stopped (${message}). The next message starts it again.`;
  if (err?.code === 'bad-model') return `This export cannot be loaded: ${message}`;
  if (err?.code === 'too-long') return `The conversation is longer than the model's context: ${message} Clear it or start a new one.`;
  return message;
}
