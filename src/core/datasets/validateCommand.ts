// `node dist/cli.js validate FILE [--json]`: every problem of a dataset file, headless (a
// pre-commit hook, the CI of a data repository). `python -m neftune_trainer validate` answers in
// the same shape with the same format, count and (line, field) problems; the parity test
// (test/integration/datasetParity.test.ts) holds both to it.
import type { DatasetFormat } from '../../protocol/datasetPreviewMessages';
import { DatasetFile } from './datasetFile';
import { formatNames } from './formats';
import { validateDataset } from './validate';

export interface ValidateReport {
  /** The detected format; null when the records are in none. */
  readonly format: Exclude<DatasetFormat, 'unknown'> | null;
  /** Records the trainer can train on: no error of their own. */
  readonly count: number;
  readonly problems: ReadonlyArray<{ line: number; column: number; field: string | null; message: string; severity: 'error' | 'warning' }>;
}

/** The report of one dataset file; throws when the file cannot be read (missing, a folder). */
export async function validateFile(file: string): Promise<ValidateReport> {
  const d = await DatasetFile.open(file);
  const vote = await d.detectFormat();
  const result = await validateDataset(d, vote.format, { maxProblems: Infinity, duplicates: true });
  const problems = result.problems.map((p) => ({ line: p.line, column: p.column, field: p.field ?? null, message: p.message, severity: p.severity }));
  // A record with an error of its own is not trained on; structural problems belong to the file.
  const broken = new Set(result.problems.filter((p) => p.severity === 'error' && p.kind !== 'structure' && p.record >= 0).map((p) => p.record));
  if (vote.format === 'unknown' && vote.sampled > 0) {
    const [first] = await d.firstRecords(1);
    problems.push({ line: first?.line ?? 1, column: first?.column ?? 1, field: null, message: `Not instruction data: no ${formatNames('or')} records`, severity: 'error' });
  }
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { format: vote.format === 'unknown' ? null : vote.format, count: vote.format === 'unknown' ? 0 : result.scanned - broken.size, problems };
}

/** `file:line:col: severity: field: message`, one line per problem (the compilers' form, which editors and CI link). */
export function reportLines(file: string, report: ValidateReport): string[] {
  return report.problems.map((p) => `${file}:${p.line}:${p.column}: ${p.severity}: ${p.field ? `${p.field}: ` : ''}${p.message}`);
}

/**
 * The command: `validate FILE [--json]`. Exit 0 without errors (warnings alone do not fail it,
 * as in check-config), 1 with errors, 2 when the file cannot be read or the arguments are wrong.
 */
export async function validateCommand(argv: readonly string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const json = argv.includes('--json');
  const files = argv.filter((a) => a !== '--json');
  const [file] = files;
  if (files.length !== 1 || file === undefined || file.startsWith('-')) {
    err.write('usage: node dist/cli.js validate FILE [--json]\n');
    return 2;
  }
  let report: ValidateReport;
  try {
    report = await validateFile(file);
  } catch (e) {
    err.write(`error: ${file}: cannot read: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  if (json) out.write(`${JSON.stringify(report)}\n`);
  else for (const line of reportLines(file, report)) out.write(`${line}\n`);
  return report.problems.some((p) => p.severity === 'error') ? 1 : 0;
}
