// What to show in place of an answer that has no visible text: an empty box reads as a rendering
// fault, so the report (panel, Markdown and HTML exports) says what the model gave.

/** A note for an empty or whitespace-only answer; undefined when the answer has visible text. */
export function emptyAnswerNote(text: string): string | undefined {
  if (text.trim() !== '') return undefined;
  return text ? `(the answer is only whitespace: ${text.length} ${text.length === 1 ? 'character' : 'characters'})` : '(no answer: the model ended at once)';
}
