// One chat engine per window, started on first use (a chat nobody opens costs no process) and
// shared by the chat panel, "Ask the tuned model" and @neftune; ended with the extension. Chat
// needs a trusted workspace: the engine loads native code and the workspace's model files.
import * as vscode from 'vscode';
import { ChatModels } from '../core/chat/chatModels';
import { ChatEngineClient } from '../core/chat/engineClient';
import type { ModelRef } from '../protocol/chatMessages';
import { chatLoadOptions } from './chatSettings';

export class ChatRuntime implements vscode.Disposable {
  private engine: ChatEngineClient | undefined;
  private models: ChatModels | undefined;
  private readonly exited = new vscode.EventEmitter<string>();
  /** The engine process ended; the next request starts a new one. */
  readonly onDidEngineExit = this.exited.event;
  /** The model the panel last answered with: what @neftune answers with. */
  lastModel: ModelRef | undefined;

  constructor(
    /** dist/chatEngine.js of this extension. */
    private readonly enginePath: string,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** The models, starting the engine when needed; throws in an untrusted workspace. */
  chat(): ChatModels {
    if (!vscode.workspace.isTrusted) throw new Error('Chat needs a trusted workspace: the engine loads native code (onnxruntime). Trust this workspace to chat (Workspaces: Manage Workspace Trust).');
    if (!this.models) {
      // Run by this extension host's Node (Electron as Node inside VS Code): no other runtime needed.
      this.engine = new ChatEngineClient({
        enginePath: this.enginePath,
        onLog: (line) => this.log.debug(`[chat engine] ${line}`),
        onExit: (reason) => this.models?.engineExited(reason),
      });
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
