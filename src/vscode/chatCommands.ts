// The chat commands: open the chat panel, "Chat with this run" and "Export for chat" (Runs view),
// "Ask the tuned model" (editor).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { listRunExports } from '../core/chat/exportList';
import type { ExportChoice, ModelRef } from '../protocol/chatMessages';
import { askTunedModel } from './askTunedModel';
import { ChatPanel, type ChatPanelDeps } from './chatPanel';
import type { ChatRuntime } from './chatRuntime';
import { exportForChat } from './exportForChat';
import type { RunManager, RunRef } from './runManager';
import { WALKTHROUGH_KEYS } from '../core/walkthrough';
import { markWalkthroughDone } from './walkthrough';

export interface ChatCommandContext {
  readonly extensionUri: vscode.Uri;
  readonly runs: RunManager;
  readonly runtime: ChatRuntime;
  readonly log: vscode.LogOutputChannel;
  /** The Runs view shows exports under checkpoints: refreshed after one is made. */
  readonly refreshRuns: () => void;
}

/** A tree node (run, checkpoint, export), a run id, or nothing. */
function nodeOf(runs: RunManager, arg: unknown): { ref: RunRef; checkpoint?: string } | undefined {
  if (typeof arg === 'string') {
    const ref = runs.findRun(arg);
    return ref ? { ref } : undefined;
  }
  if (!arg || typeof arg !== 'object' || !('ref' in arg)) return undefined;
  const n = arg as { ref: RunRef; kind?: string; path?: string; choice?: ExportChoice };
  if (n.kind === 'export' && n.choice) return { ref: n.ref, checkpoint: n.choice.checkpoint };
  if (n.kind === 'checkpoint' && typeof n.path === 'string') return { ref: n.ref, checkpoint: path.basename(n.path) };
  return { ref: n.ref };
}

export function registerChatCommands(ctx: ChatCommandContext): vscode.Disposable[] {
  const doExport = async (arg: unknown): Promise<string | undefined> => {
    const dir = await exportForChat(ctx.runs, ctx.log, arg);
    if (dir) {
      markWalkthroughDone(WALKTHROUGH_KEYS.exported);
      ctx.refreshRuns();
      ChatPanel.refresh();
    }
    return dir;
  };
  const deps: ChatPanelDeps = { extensionUri: ctx.extensionUri, runs: ctx.runs, runtime: ctx.runtime, exportRun: (runId) => doExport(runId ?? undefined) };
  const table: Record<string, (...args: unknown[]) => unknown> = {
    'neftune.openChat': () => void ChatPanel.show(deps),
    'neftune.chatWithRun': async (arg) => {
      const node = nodeOf(ctx.runs, arg);
      if (!node) return void ChatPanel.show(deps);
      const { ref } = node;
      let exports = listRunExports(ref.runId, ref.store.runDir(ref.runId)).filter((e) => !e.problem);
      if (exports.length === 0 || (node.checkpoint && !exports.some((e) => e.checkpoint === node.checkpoint))) {
        const what = node.checkpoint ? `checkpoint ${node.checkpoint} of run ${ref.runId}` : `run ${ref.runId}`;
        const pick = await vscode.window.showInformationMessage(`NEFTune: ${what} has no export for chat yet. Export it now (ONNX, about a minute for a small model)?`, 'Export for chat');
        if (!pick) return;
        if (!(await doExport(arg))) return;
        exports = listRunExports(ref.runId, ref.store.runDir(ref.runId)).filter((e) => !e.problem);
      }
      // The checkpoint asked for, else the newest export.
      const e = exports.find((x) => x.checkpoint === node.checkpoint) ?? exports[exports.length - 1];
      const model: ModelRef | undefined = e ? { runId: e.runId, checkpoint: e.checkpoint, precision: e.defaultPrecision } : undefined;
      ChatPanel.show(deps, model ? { model } : {});
    },
    'neftune.exportForChat': (arg) => doExport(arg),
    'neftune.askTunedModel': () => askTunedModel(deps),
  };
  return [ChatPanel.registerSerializer(deps), ...Object.entries(table).map(([id, fn]) => vscode.commands.registerCommand(id, fn))];
}
