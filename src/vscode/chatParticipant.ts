// `@neftune` in VS Code's Chat view, where the editor has the chat API (VS Code 1.90's types do
// not all describe it, so the few parts used are typed here and the API is looked up at run
// time; without it the extension works as before). It answers with the checkpoint the chat
// panel last used, else the newest export, streaming the tokens as markdown.
import * as vscode from 'vscode';
import { listRunExports, exportDirOf } from '../core/chat/exportList';
import { historyOf, type ChatTurnLike } from '../core/chat/participantHistory';
import type { ModelRef } from '../protocol/chatMessages';
import { describeEngineError } from './chatPanel';
import type { ChatRuntime } from './chatRuntime';
import { chatGenerationDefaults } from './chatSettings';
import type { RunManager } from './runManager';

interface ChatRequestLike {
  readonly prompt: string;
}
interface ChatStreamLike {
  markdown(text: string): void;
  progress?(text: string): void;
}
interface ChatApiLike {
  createChatParticipant(id: string, handler: (req: ChatRequestLike, ctx: { readonly history: readonly ChatTurnLike[] }, stream: ChatStreamLike, token: vscode.CancellationToken) => Promise<unknown>): vscode.Disposable & { iconPath?: unknown };
}

export const PARTICIPANT_ID = 'neftune.chat';

/** The model @neftune answers with. */
function pickModel(runs: RunManager, runtime: ChatRuntime): ModelRef | undefined {
  if (runtime.lastModel && runs.findRun(runtime.lastModel.runId)) return runtime.lastModel;
  for (const ref of runs.listRuns()) {
    const e = listRunExports(ref.runId, ref.store.runDir(ref.runId)).filter((x) => !x.problem).pop();
    if (e) return { runId: e.runId, checkpoint: e.checkpoint, precision: e.defaultPrecision };
  }
  return undefined;
}

export function registerChatParticipant(extensionUri: vscode.Uri, runs: RunManager, runtime: ChatRuntime): vscode.Disposable[] {
  const api = (vscode as unknown as { chat?: Partial<ChatApiLike> }).chat;
  if (!api || typeof api.createChatParticipant !== 'function') return [];
  const participant = api.createChatParticipant(PARTICIPANT_ID, async (req, ctx, stream, token) => {
    const model = pickModel(runs, runtime);
    if (!model) {
      stream.markdown('No exported checkpoint yet. Use **NEFTune: Export for chat** on a run in the Runs view, then ask again.');
      return {};
    }
    const ref = runs.findRun(model.runId);
    if (!ref) return {};
    const dir = exportDirOf(ref.store.runDir(ref.runId), model.checkpoint);
    const streamId = `participant-${Date.now().toString(36)}`;
    stream.progress?.(`${model.runId} / ${model.checkpoint} (${model.precision})`);
    try {
      const chat = runtime.chat();
      const sub = token.onCancellationRequested(() => void chat.stop(streamId));
      try {
        await chat.generate(dir, model.precision, { streamId, messages: [...historyOf(ctx.history, PARTICIPANT_ID), { role: 'user', content: req.prompt }], settings: chatGenerationDefaults() }, (t) => stream.markdown(t.text));
      } finally {
        sub.dispose();
      }
    } catch (e) {
      stream.markdown(`\n\n**Error:** ${describeEngineError(e)}`);
    }
    return {};
  });
  participant.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'neftune.svg');
  return [participant];
}
