import type { ExportChoice, ModelRef } from '../../protocol/chatMessages';

/** What the chat panel's notice says about the exports; `info` is "nothing yet", `error` a broken export. */
export interface PickerNotice {
  text: string;
  kind: 'info' | 'error';
}

export const NO_EXPORTS_TEXT = 'No exported checkpoint to chat with: export one first (Export…).';

const brokenText = (e: ExportChoice): string => `${e.runId}/${e.checkpoint} cannot be used: ${(e.problem ?? '').replace(/\.\s*$/, '')}. Export it again (Export…).`;

/**
 * The notice the exports call for, or null when a usable export is chosen (or can be).
 * Pure so it is tested without a browser: the webview only shows what this returns.
 */
export function pickerNotice(exports: readonly ExportChoice[], remembered: ModelRef | null): PickerNotice | null {
  if (exports.length === 0) return { text: NO_EXPORTS_TEXT, kind: 'info' };
  const picked = remembered ? exports.find((e) => e.runId === remembered.runId && e.checkpoint === remembered.checkpoint) : undefined;
  if (picked?.problem) return { text: brokenText(picked), kind: 'error' };
  if (picked || exports.some((e) => !e.problem)) return null;
  // Exports exist but none is usable: name the first broken one and why (the problem names the file).
  return { text: brokenText(exports[0]!), kind: 'error' };
}
