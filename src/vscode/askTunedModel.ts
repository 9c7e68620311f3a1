// "Ask the tuned model" (editor context menu, Ctrl+Alt+/): the selection (or the current line)
// and a question go to the chat panel beside the editor, quoted; the answer streams there, and
// its Insert puts it back into this editor, replacing the selection, as one undo step.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { EditorAsk } from '../protocol/chatMessages';
import { ChatPanel, type ChatPanelDeps } from './chatPanel';

/** The selected text, or the cursor's line when nothing is selected, and its range. */
export function askedText(editor: vscode.TextEditor): { text: string; selection: vscode.Selection } {
  const sel = editor.selection;
  if (!sel.isEmpty) return { text: editor.document.getText(sel), selection: sel };
  const line = editor.document.lineAt(sel.active.line);
  return { text: line.text, selection: new vscode.Selection(line.range.start, line.range.end) };
}

export async function askTunedModel(deps: ChatPanelDeps): Promise<void> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('NEFTune: chat needs a trusted workspace: the engine loads native code (onnxruntime). Trust this workspace to chat.');
    return;
  }
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('NEFTune: open a file and select text to ask the tuned model about it.');
    return;
  }
  const { text, selection } = askedText(editor);
  const question = await vscode.window.showInputBox({
    title: 'Ask the tuned model',
    prompt: text.trim() ? `About ${selection.isSingleLine ? 'line' : 'lines'} ${selection.start.line + 1}${selection.isSingleLine ? '' : `-${selection.end.line + 1}`} of ${path.basename(editor.document.fileName)} (quoted in the chat)` : 'The line is empty: ask anything',
    value: 'Explain this.',
    valueSelection: [0, 'Explain this.'.length],
  });
  if (question === undefined || question.trim() === '') return;
  const ask: EditorAsk = { prompt: question.trim(), quote: text, languageId: editor.document.languageId, fileName: path.basename(editor.document.fileName) };
  ChatPanel.show(deps, { ask, insertTarget: { uri: editor.document.uri, selection } });
}
