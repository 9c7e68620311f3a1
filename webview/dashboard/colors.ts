// Chart colours from the theme: one per run, and the same colour with another alpha.
export function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

/** #rrggbb[aa] with a new alpha; other colour syntaxes are returned as they are. */
export function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(color);
  if (!m) return color;
  return `#${m[1]}${Math.round(alpha * 255).toString(16).padStart(2, '0')}`;
}

// One colour per run: the theme's chart colours first, then fixed ones that read on light and dark.
const PALETTE: ReadonlyArray<[string, string]> = [
  ['--vscode-charts-blue', '#3794ff'],
  ['--vscode-charts-orange', '#d18616'],
  ['--vscode-charts-green', '#89d185'],
  ['--vscode-charts-purple', '#b180d7'],
  ['--vscode-charts-red', '#f14c4c'],
  ['--vscode-charts-yellow', '#cca700'],
  ['', '#17becf'],
  ['', '#e377c2'],
  ['', '#8c564b'],
  ['', '#7f7f7f'],
];

export function runColor(index: number): string {
  const [v, fallback] = PALETTE[index % PALETTE.length] ?? ['', '#3794ff'];
  return v ? cssVar(v, fallback) : fallback;
}
