// The A/B votes of the chat panel: `<runStore>/ab-votes.jsonl`, one JSON record per vote, the
// human preference the evaluation counts. Appended, never rewritten (a vote once written stays,
// whatever happens later), each append fsynced; a crash can leave a torn last line, which the
// reader skips and the next append does not glue onto.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VERDICTS, type ModelRef, type PairTally, type Verdict, type VoteRecord } from '../../protocol/chatMessages';
import { PRECISIONS } from '../../protocol/chatEngine';

export const AB_VOTES_FILE = 'ab-votes.jsonl';

export interface StoredVote extends VoteRecord {
  /** ISO 8601. */
  readonly time: string;
}

export function votesFile(storeRoot: string): string {
  return path.join(storeRoot, AB_VOTES_FILE);
}

/** Appends one vote and fsyncs it before returning. */
export function appendVote(file: string, vote: VoteRecord, now = new Date()): StoredVote {
  const record: StoredVote = { time: now.toISOString(), ...vote };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'a+');
  try {
    // A torn last line (no newline): start on a line of our own.
    const size = fs.fstatSync(fd).size;
    let lead = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      fs.readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) lead = '\n';
    }
    fs.writeSync(fd, `${lead}${JSON.stringify(record)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return record;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
function isModel(v: unknown): v is ModelRef {
  return isRecord(v) && typeof v['runId'] === 'string' && typeof v['checkpoint'] === 'string' && typeof v['precision'] === 'string' && (PRECISIONS as readonly string[]).includes(v['precision']);
}

function parseVote(line: string): StoredVote | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isRecord(v) || typeof v['time'] !== 'string' || !isModel(v['a']) || !isModel(v['b'])) return null;
  if (typeof v['verdict'] !== 'string' || !(VERDICTS as readonly string[]).includes(v['verdict'])) return null;
  return v as unknown as StoredVote;
}

export interface VoteFile {
  readonly votes: StoredVote[];
  /** Lines that are not votes, with their 1-based line numbers (a torn last line is not one). */
  readonly problems: Array<{ readonly line: number; readonly text: string }>;
}

/** Reads the votes; a missing file has none. */
export function readVotes(file: string): VoteFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { votes: [], problems: [] };
    throw e;
  }
  const lines = text.split('\n');
  const torn = !text.endsWith('\n') ? lines.length - 1 : -1;
  const votes: StoredVote[] = [];
  const problems: VoteFile['problems'] = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    const vote = parseVote(line);
    if (vote) votes.push(vote);
    else if (i !== torn) problems.push({ line: i + 1, text: line.slice(0, 200) });
  });
  return { votes, problems };
}

const modelKey = (m: ModelRef): string => `${m.runId}\u0000${m.checkpoint}\u0000${m.precision}`;

/**
 * Votes per pair of models, whichever side each was on: a pair is shown with its models in a
 * fixed order (by run id, checkpoint, precision) and the wins counted for each.
 */
export function tally(votes: readonly VoteRecord[]): PairTally[] {
  const pairs = new Map<string, { a: ModelRef; b: ModelRef; aWins: number; bWins: number; ties: number; bothBad: number }>();
  for (const v of votes) {
    const swapped = modelKey(v.a) > modelKey(v.b);
    const [first, second] = swapped ? [v.b, v.a] : [v.a, v.b];
    const key = `${modelKey(first)}\u0001${modelKey(second)}`;
    let p = pairs.get(key);
    if (!p) pairs.set(key, (p = { a: first, b: second, aWins: 0, bWins: 0, ties: 0, bothBad: 0 }));
    const verdict: Verdict = swapped && (v.verdict === 'a' || v.verdict === 'b') ? (v.verdict === 'a' ? 'b' : 'a') : v.verdict;
    if (verdict === 'a') p.aWins++;
    else if (verdict === 'b') p.bWins++;
    else if (verdict === 'tie') p.ties++;
    else p.bothBad++;
  }
  return [...pairs.values()];
}
