// One chat engine per window, started on first use (a chat nobody opens costs no process) and
// shared by the chat panel, "Ask the tuned model" and @neftune; ended with the extension. Chat
// needs a trusted workspace: the engine loads native code and the workspace's model files.
import * as vscode from 'vscode';
import { ChatModels, type ChatEngineApi } from '../core/chat/chatModels';
import type { ModelRef } from '../protocol/chatMessages';
import { chatLoadOptions } from './chatSettings';

export class ChatRuntime implements vscode.Disposable {
  private engine: (ChatEngineApi & { dispose(): unknown }) | undefined;
  private models: ChatModels | undefined;
  private readonly exited = new vscode.EventEmitter<string>();
  /** The engine process ended; the next request starts a new one. */
  readonly onDidEngineExit = this.exited.event;
  /** The model the panel last answered with: what @neftune answers with. */
  lastModel: ModelRef | undefined;

  constructor(
    private readonly createEngine: () => ChatEngineApi & { dispose(): unknown },
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** The models, starting the engine when needed; throws in an untrusted workspace. */
  chat(): ChatModels {
    if (!vscode.workspace.isTrusted) throw new Error('Chat needs a trusted workspace: the engine loads native code (onnxruntime). Trust this workspace to chat (Workspaces: Manage Workspace Trust).');
    if (!this.models) {
      this.engine = this.createEngine();
      this.models = new ChatModels(this.engine, chatLoadOptions);
      this.models.onExit((reason) => {
        this.log.warn(`Chat engine ended: ${reason}`);
        this.exited.fire(reason);
      });
    }
    return this.models;
  }

  dispose(): void {
    this.models?.dispose();
    void this.engine?.dispose();
    this.exited.dispose();
  }
}
