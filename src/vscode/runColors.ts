// One colour per run, kept across panels and sessions (workspace state): a run keeps its
// colour in every comparison it appears in.
import type * as vscode from 'vscode';

const KEY = 'neftune.runColors';
export const PALETTE_SIZE = 10;

export class RunColors {
  constructor(private readonly state: vscode.Memento) {}

  colorOf(runId: string): number {
    const map = this.state.get<Record<string, number>>(KEY, {});
    const known = map[runId];
    if (known !== undefined) return known;
    // The least used colour, so recent runs side by side differ.
    const counts = new Array<number>(PALETTE_SIZE).fill(0);
    for (const c of Object.values(map)) counts[c % PALETTE_SIZE] = (counts[c % PALETTE_SIZE] ?? 0) + 1;
    const color = counts.indexOf(Math.min(...counts));
    void this.state.update(KEY, { ...map, [runId]: color });
    return color;
  }
}
