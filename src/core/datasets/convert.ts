// Format conversion: streams a dataset into a NEW JSONL file of another format (the target is
// opened with 'wx', so an existing file is never overwritten). Records that cannot be expressed
// in the target (e.g. a multi-turn chat as alpaca) are skipped and listed with their line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConvertTarget, DatasetFormat } from '../../protocol/datasetPreviewMessages';
import type { DatasetFile } from './datasetFile';
import { fromConversation, toConversations } from './formats';

export interface ConvertResult {
  readonly output: string;
  readonly written: number;
  readonly skipped: ReadonlyArray<{ line: number; reason: string }>;
  readonly skippedCount: number;
}

/** `dir/stem.target.jsonl`, or `stem.target-2.jsonl`, ... : a name no file has yet. */
export function freeOutputPath(source: string, target: ConvertTarget, exists: (p: string) => boolean = fs.existsSync): string {
  const dir = path.dirname(source);
  const stem = path.basename(source).replace(/\.(jsonl\.gz|json\.gz|jsonl|json|ndjson)$/i, '');
  for (let i = 1; ; i++) {
    const candidate = path.join(dir, `${stem}.${target}${i === 1 ? '' : `-${i}`}.jsonl`);
    if (!exists(candidate)) return candidate;
  }
}

export function canConvert(from: DatasetFormat, to: ConvertTarget): boolean {
  return from !== 'unknown' && from !== 'completion' && from !== to;
}

export async function convertDataset(file: DatasetFile, from: DatasetFormat, to: ConvertTarget, output: string, signal?: AbortSignal): Promise<ConvertResult> {
  if (!canConvert(from, to)) throw new Error(`Cannot convert ${from} records to ${to}`);
  const fd = await fs.promises.open(output, 'wx'); // fails if the file exists: never overwrite
  const out = fd.createWriteStream({ encoding: 'utf8' });
  const skipped: Array<{ line: number; reason: string }> = [];
  let skippedCount = 0;
  let written = 0;
  let buffered: string[] = [];
  const skip = (line: number, reason: string): void => {
    skippedCount++;
    if (skipped.length < 1000) skipped.push({ line, reason });
  };
  const flush = async (): Promise<void> => {
    if (buffered.length === 0) return;
    const chunk = buffered.join('');
    buffered = [];
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  };
  try {
    // forEachRecord is synchronous per record; write in batches between chunks.
    let pendingFlush: Promise<void> = Promise.resolve();
    await file.forEachRecord(
      {
        ...(signal ? { signal } : {}),
        onChunk: () => {
          pendingFlush = pendingFlush.then(flush);
        },
      },
      (r) => {
        if (r.value === undefined) return skip(r.line, r.error?.message ?? 'does not parse');
        const convs = toConversations(from, r.value);
        if (convs.length === 0) return skip(r.line, `not a ${from} record`);
        for (const turns of convs) {
          const res = fromConversation(to, turns);
          if ('skip' in res) skip(r.line, res.skip);
          else {
            buffered.push(`${JSON.stringify(res.record)}\n`);
            written++;
          }
        }
      },
    );
    await pendingFlush;
    await flush();
  } catch (e) {
    // Cancelled or failed: no half-written file is left behind.
    await new Promise<void>((resolve) => out.end(() => resolve()));
    await fs.promises.rm(output, { force: true });
    throw e;
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
  return { output, written, skipped, skippedCount };
}
