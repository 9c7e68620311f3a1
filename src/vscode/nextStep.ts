// What a command says when there is nothing to act on yet: the fact, and the next step as a button
// (a new user reaches these from the walkthrough and the palette before any run exists).
import * as vscode from 'vscode';

/** No run (or too few) yet: say so and offer to start one. */
export function offerFirstRun(message: string): void {
  void vscode.window.showInformationMessage(`${message} Start a run first (it needs a run config; Start offers to create one).`, 'Start NEFTune run').then((choice) => {
    if (choice) void vscode.commands.executeCommand('neftune.startRun');
  });
}
