// The datasets a run config trains and evaluates on, with the problems the Datasets view found
// in them: checked before a run starts, so a broken file is named at once instead of after
// the trainer has loaded the model and stopped on it. No vscode import.
import * as path from 'node:path';
import { parse } from 'yaml';
import type { DatasetProblem } from '../../protocol/datasetPreviewMessages';
import type { HealthCache } from './health';

export interface DatasetTrouble {
  readonly file: string;
  readonly errors: number;
  readonly first?: DatasetProblem;
  /** Unreadable (missing, a folder, cannot be opened): the message. */
  readonly unreadable?: string;
}

/** Absolute paths of `datasets[].path` and `eval_datasets[].path`, relative to the config's folder. */
export function configDatasetPaths(configText: string, configFile: string): string[] {
  let v: unknown;
  try {
    v = parse(configText);
  } catch {
    return []; // a YAML error is the config check's to report
  }
  if (!v || typeof v !== 'object') return [];
  const out: string[] = [];
  for (const key of ['datasets', 'eval_datasets']) {
    const list = (v as Record<string, unknown>)[key];
    if (!Array.isArray(list)) continue;
    for (const d of list) {
      const p = d && typeof d === 'object' ? (d as Record<string, unknown>)['path'] : undefined;
      if (typeof p === 'string' && p) out.push(path.resolve(path.dirname(configFile), p));
    }
  }
  return [...new Set(out)];
}

/** The config's datasets that have errors (from a full check each, cached while the file is unchanged). */
export async function datasetTroubles(health: HealthCache, configText: string, configFile: string): Promise<DatasetTrouble[]> {
  const out: DatasetTrouble[] = [];
  for (const file of configDatasetPaths(configText, configFile)) {
    try {
      const h = await health.get(file);
      if (h.errors > 0) out.push({ file, errors: h.errors, ...(h.first ? { first: h.first } : {}) });
      else if (h.records === 0) out.push({ file, errors: 1, unreadable: 'no records in the file' });
    } catch (e) {
      out.push({ file, errors: 1, unreadable: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}
