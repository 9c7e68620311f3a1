// The words and severity the Datasets view shows for a dataset, from what is known of it so
// far (reading, checking, checked). Plain functions, so the tree's text is tested under node.
import type { DatasetFormat } from '../../protocol/datasetPreviewMessages';
import { formatBytes, formatCount, plural } from '../../shared/format';
import { invisibleTitles, markedText } from '../../shared/invisibleChars';
import type { DatasetFile } from './datasetFile';
import { formatNames } from './formats';
import type { DatasetHealth } from './health';
import { promptKindLabel } from './promptSets';

export type DatasetSummary =
  | { readonly state: 'reading'; readonly bytes: number }
  | { readonly state: 'checking'; readonly bytes: number; readonly format: DatasetFormat; readonly container: DatasetFile['container'] }
  | { readonly state: 'checked'; readonly bytes: number; readonly health: DatasetHealth }
  | { readonly state: 'not-records'; readonly bytes: number }
  | { readonly state: 'unreadable'; readonly bytes: number; readonly error: string };

/** error / warning: it has problems; ok: instruction data without any; other: not instruction data. */
export type Severity = 'ok' | 'warning' | 'error' | 'other' | 'pending';

export interface SummaryText {
  readonly description: string;
  readonly severity: Severity;
  /** Plain-text tooltip lines (file names and messages are data: no markdown from them). */
  readonly tooltip: string[];
}

export function formatLabel(format: DatasetFormat): string {
  return format === 'unknown' ? 'not instruction data' : format;
}

/** "line 7, column 3: Missing required field …"; a message that places itself is kept as it is. */
export function problemAt(p: { line: number; column: number; message: string; record: number }): string {
  // Already placed, or about the whole file (empty, not a list of records).
  if (p.message.includes(`line ${p.line}`) || (p.record < 0 && p.line <= 1)) return p.message;
  return `line ${p.line}${p.record >= 0 || p.column > 1 ? `, column ${p.column}` : ''}: ${p.message}`;
}

/**
 * A dataset's (or folder's) name as the tree shows it: a bidi control or an invisible character
 * written as its mark, so `report\u202egpj.jsonl` cannot pass for `reportlnosj.jpg`.
 */
export function datasetLabel(name: string): string {
  return markedText(name);
}

export function summaryText(s: DatasetSummary, relativePath: string): SummaryText {
  const text = summaryTextRaw(s, relativePath);
  const hidden = invisibleTitles(relativePath);
  const named = hidden.length ? [`The name has ${hidden.length === 1 ? 'a hidden character' : 'hidden characters'}: ${hidden.join('; ')}`] : [];
  // Names and messages are data: no line of the tooltip lets a bidi control act.
  return { ...text, tooltip: [...text.tooltip.slice(0, 1), ...named, ...text.tooltip.slice(1)].map(markedText) };
}

function summaryTextRaw(s: DatasetSummary, relativePath: string): SummaryText {
  const size = formatBytes(s.bytes);
  const tip = [relativePath];
  switch (s.state) {
    case 'reading':
      return { description: `reading… · ${size}`, severity: 'pending', tooltip: [...tip, `Size: ${size}`] };
    case 'unreadable':
      return { description: `unreadable · ${size}`, severity: 'error', tooltip: [...tip, `Size: ${size}`, `Error: ${s.error}`] };
    case 'not-records':
      return { description: `not a list of records · ${size}`, severity: 'other', tooltip: [...tip, 'Neither JSON Lines nor a JSON array of records', `Size: ${size}`] };
    case 'checking':
      return { description: `${formatLabel(s.format)} · checking… · ${size}`, severity: 'pending', tooltip: [...tip, `Format: ${s.format}`, `Layout: ${s.container}`, 'Records: checking…', `Size: ${size}`] };
    case 'checked': {
      const h = s.health;
      if (h.promptSet) return promptSetText(h, size, tip);
      const problems = h.errors + h.warnings;
      const severity: Severity = h.errors ? 'error' : h.warnings ? 'warning' : h.format === 'unknown' ? 'other' : 'ok';
      const what = h.records === 0 ? 'no records' : `${formatLabel(h.format)} · ${plural(h.records, 'record')}`;
      const description = `${what}${problems && h.entries > 0 ? ` · ${plural(problems, 'problem')}` : ''} · ${size}`;
      tip.push(`Format: ${h.format}${h.format === 'unknown' && h.records > 0 ? ` (no ${formatNames('or')} records)` : ''}`);
      tip.push(`Layout: ${h.container}`);
      tip.push(`Records: ${formatCount(h.records)}${h.broken ? ` (${plural(h.broken, 'broken line')} not counted)` : ''}`);
      tip.push(`Size: ${size}`);
      if (problems) {
        const parts = [h.errors ? plural(h.errors, 'error') : '', h.warnings ? plural(h.warnings, 'warning') : ''].filter(Boolean).join(', ');
        tip.push(`Problems: ${parts}${h.complete ? '' : ` in the first ${plural(h.checked, 'record')}`}`);
        if (h.first) tip.push(`First: ${problemAt(h.first)}`);
      }
      if (!h.complete) tip.push(`Checked the first ${formatCount(h.checked)} of ${formatCount(h.entries)} entries; Validate checks the whole file.`);
      else if (problems) tip.push('Validate lists them all (Problems panel).');
      return { description, severity, tooltip: tip };
    }
  }
}

/** A prompt set for `eval --prompts`: its prompts, and the first record the trainer would refuse. */
function promptSetText(h: DatasetHealth, size: string, tip: string[]): SummaryText {
  const ps = h.promptSet!;
  const description = `prompt set · ${plural(ps.prompts, 'prompt')}${ps.problems ? ` · ${plural(ps.problems, 'problem')}` : ''} · ${size}`;
  tip.push(`Format: prompt set (${promptKindLabel(ps.kind)}): prompts to evaluate a run on, not instruction data to train on`);
  tip.push(`Layout: ${h.container}`);
  tip.push(`Prompts: ${formatCount(ps.prompts)}`);
  tip.push(`Size: ${size}`);
  if (ps.first) {
    tip.push(`Problems: ${plural(ps.problems, 'record')} that Evaluate run refuses${ps.complete ? '' : ` in the first ${plural(ps.checked, 'record')}`}`);
    tip.push(`First: line ${ps.first.line}: ${ps.first.field ? `${ps.first.field}: ` : ''}${ps.first.message}`);
  }
  if (!ps.complete) tip.push(`Checked the first ${formatCount(ps.checked)} records.`);
  return { description, severity: ps.problems ? 'error' : 'ok', tooltip: tip };
}
