// Text from files (run ids are folder names, failures quote data and paths) put into a
// MarkdownString for a tooltip. VS Code's appendText escapes Markdown but not angle brackets,
// and the hover renders some HTML even without supportHtml: a run folder named
// `x<img src=x onerror=...>` made the workbench create the element (its CSP stopped the handler).

/** `text` as Markdown that shows exactly that text: syntax escaped, `<`, `>` and `&` as entities, newlines as line breaks. */
export function markdownText(text: string): string {
  return text
    .replace(/[\\`*_{}[\]()#+\-.!|~$]/g, '\\$&')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r?\n/g, '  \n');
}
