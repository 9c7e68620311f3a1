// What the dataset preview shows of one record: its table row and its detail (fields, JSON,
// problem). Built here, under plain node, so that every record, however hostile, gives a row:
// a record that cannot be shown becomes a row with its problem, never a page that never comes.
import type { DatasetFormat, PreviewRow, RecordField } from '../../protocol/datasetPreviewMessages';
import type { RawRecord } from './datasetFile';
import { cellsFor, fieldsFor, validateRecord } from './formats';

export interface RecordDetail {
  readonly index: number;
  readonly line: number;
  readonly fields: RecordField[];
  readonly json: string;
  readonly problem?: string;
  /** How bad the problem is: the row's flag, the Problems panel and the detail pane agree. */
  readonly severity?: 'error' | 'warning';
}

const why = (e: unknown): string => `This record cannot be shown: ${e instanceof Error ? e.message : String(e)}`;

/** The table row of a record: its cells for the file's columns, and its first problem. */
export function previewRow(format: DatasetFormat, r: RawRecord, cellChars: number): PreviewRow {
  const raw = { index: r.index, line: r.line, cells: [r.text.slice(0, cellChars)], raw: true } as const;
  try {
    if (r.value === undefined) return { ...raw, ...(r.error ? { problem: r.error.message, severity: 'error' } : {}) };
    const first = validateRecord(format, r.value)[0];
    const problem = r.error?.message ?? first?.message;
    const severity = r.error || (first && first.kind !== 'empty' && first.kind !== 'format') ? 'error' : 'warning';
    return { index: r.index, line: r.line, cells: cellsFor(format, r.value, cellChars), ...(problem ? { problem, severity } : {}) };
  } catch (e) {
    return { ...raw, problem: why(e), severity: 'error' };
  }
}

/** The detail pane of a record: its fields (clipped to `fieldChars`), its JSON and its problems. */
export function recordDetail(format: DatasetFormat, r: RawRecord, fieldChars: number, jsonChars: number): RecordDetail {
  const rawField = (): RecordField[] => [{ name: 'raw text', value: r.text.slice(0, fieldChars), clipped: r.text.length > fieldChars }];
  try {
    const fields: RecordField[] = r.value !== undefined ? fieldsFor(format, r.value).map((f) => ({ name: f.name, value: f.value.slice(0, fieldChars), clipped: f.value.length > fieldChars })) : rawField();
    const json = r.value !== undefined ? JSON.stringify(r.value, null, 2) : r.text;
    const found = r.value !== undefined ? validateRecord(format, r.value) : [];
    const problem = r.error?.message ?? found.map((p) => p.message).join('; ');
    const severity = r.error || found.some((p) => p.severity === 'error') ? 'error' : 'warning';
    return { index: r.index, line: r.line, fields, json: json.slice(0, jsonChars), ...(problem ? { problem, severity } : {}) };
  } catch (e) {
    return { index: r.index, line: r.line, fields: rawField(), json: r.text.slice(0, jsonChars), problem: why(e), severity: 'error' };
  }
}
