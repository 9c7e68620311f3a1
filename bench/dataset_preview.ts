// bench/dataset_preview: opening a big JSONL in the dataset preview.
// Generates a JSONL of alpaca records in os.tmpdir() (deleted afterwards), then measures:
//   - time to first page (open + index until 50 records are known + read them),
//   - pages deep in the file (random access by offset),
//   - time to the full index, index bytes per record, peak RSS,
//   - a full search and a full validation pass,
// and, as the peer, Hugging Face `datasets`' load_dataset("json", data_files=FILE) on the same
// file (if a Python with `datasets` is found), printed as a ratio.
//
//   node --import tsx bench/dataset_preview.ts            # ~200 MB, ~200k records
//   node --import tsx bench/dataset_preview.ts --gb       # ~1 GB, ~1M records (the issue's figure)
//   options: --mb N, --python PATH (with `datasets`), --no-peer, --keep
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DatasetFile } from '../src/core/datasets/datasetFile';
import { searchDataset } from '../src/core/datasets/search';
import { validateDataset } from '../src/core/datasets/validate';

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(name);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const targetMb = flag('--gb') ? 1024 : Number(opt('--mb') ?? 200);
const RECORD_BYTES = 1075; // ~1M records per GB

const WORDS = 'the model learns to follow instructions with noisy embeddings during finetuning only and never at evaluation time while loss curves drop'.split(' ');

function record(i: number, rnd: () => number): string {
  const words = (n: number): string => Array.from({ length: n }, () => WORDS[Math.floor(rnd() * WORDS.length)]).join(' ');
  const base = { instruction: `Task ${i}: ${words(12)}`, input: rnd() < 0.5 ? '' : words(20), output: '' };
  const room = RECORD_BYTES - JSON.stringify(base).length - 1;
  base.output = words(Math.max(4, Math.round((room / 6) * (0.5 + rnd())))).slice(0, Math.max(10, Math.round(room * (0.5 + rnd()))));
  return JSON.stringify(base);
}

async function generate(file: string, bytes: number): Promise<number> {
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const out = fs.createWriteStream(file);
  let written = 0;
  let n = 0;
  while (written < bytes) {
    const lines: string[] = [];
    for (let k = 0; k < 2000; k++) lines.push(record(n++, rnd));
    const chunk = `${lines.join('\n')}\n`;
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  return n;
}

function findPython(): string | null {
  const candidates = [opt('--python'), path.resolve(__dirname, '../.venv/bin/python'), '/tmp/bench-venv/bin/python'].filter((p): p is string => !!p);
  for (const py of candidates) {
    if (!fs.existsSync(py)) continue;
    const r = spawnSync(py, ['-c', 'import datasets; print(datasets.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MB`;

async function main(): Promise<void> {
  const file = path.join(os.tmpdir(), `neftune-bench-${process.pid}.jsonl`);
  try {
    console.log(`generating ~${targetMb} MB of JSONL in ${file} ...`);
    let t0 = process.hrtime.bigint();
    const n = await generate(file, targetMb * 1024 * 1024);
    const size = fs.statSync(file).size;
    console.log(`  ${n} records, ${mb(size)}, in ${(ms(t0) / 1000).toFixed(1)} s`);
    // Drop the page cache's advantage? Not possible without root; note the file was just written.
    const rssBefore = process.memoryUsage().rss;

    t0 = process.hrtime.bigint();
    const d = await DatasetFile.open(file);
    const indexing = d.buildIndex();
    await d.waitForRecords(50);
    const first = await d.readRecords(0, 50);
    const firstPage = ms(t0);
    await indexing;
    const fullIndex = ms(t0);
    const perRecord = d.index.byteLength / d.index.count;

    const deep: number[] = [];
    for (const at of [Math.floor(n / 2), n - 50, 12345 % n]) {
      const t = process.hrtime.bigint();
      await d.readRecords(at, 50);
      deep.push(ms(t));
    }
    t0 = process.hrtime.bigint();
    const s = await searchDataset(d, 'task 4242:');
    const searchMs = ms(t0);
    t0 = process.hrtime.bigint();
    const v = await validateDataset(d, 'alpaca', { duplicates: true });
    const validateMs = ms(t0);
    const peakRss = process.resourceUsage().maxRSS * 1024;

    console.log('\nNEFTune Studio dataset preview (this process):');
    console.log(`  first page (50 records)   ${firstPage.toFixed(0)} ms   [goal < 1000 ms]  first record ok: ${first[0]?.value !== undefined}`);
    console.log(`  full index                ${(fullIndex / 1000).toFixed(2)} s   (${d.index.count} records, ${(size / 1024 / 1024 / (fullIndex / 1000)).toFixed(0)} MB/s)`);
    console.log(`  index size                ${mb(d.index.byteLength)} = ${perRecord.toFixed(1)} bytes/record   [goal < 64]`);
    console.log(`  pages deep in the file    ${deep.map((x) => `${x.toFixed(1)} ms`).join(', ')}`);
    console.log(`  search (whole file)       ${(searchMs / 1000).toFixed(2)} s, ${s.count} hits`);
    console.log(`  validate (whole file)     ${(validateMs / 1000).toFixed(2)} s, ${v.total} problems`);
    console.log(`  RSS before / peak         ${mb(rssBefore)} / ${mb(peakRss)} (peak includes search and validation; the index alone is ${mb(d.index.byteLength)})`);

    if (flag('--no-peer')) return;
    const py = findPython();
    if (!py) {
      console.log('\npeer: no Python with `datasets` found (try --python PATH, or python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install datasets)');
      return;
    }
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-bench-hf-'));
    try {
      const script = [
        'import sys, time, resource',
        't0 = time.perf_counter()',
        'import datasets',
        't1 = time.perf_counter()',
        'ds = datasets.load_dataset("json", data_files=sys.argv[1], split="train", cache_dir=sys.argv[2])',
        't2 = time.perf_counter()',
        'row = ds[0]',
        't3 = time.perf_counter()',
        'print(f"{t1-t0} {t2-t1} {t3-t1} {len(ds)} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}")',
      ].join('\n');
      const outp = execFileSync(py, ['-c', script, file, cache], { encoding: 'utf8', env: { ...process.env, HF_DATASETS_OFFLINE: '1', HF_HUB_OFFLINE: '1', HF_DATASETS_DISABLE_PROGRESS_BARS: '1' }, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 20 });
      const [imp, load, firstRow, rows, rss] = outp.trim().split(/\s+/).map(Number) as [number, number, number, number, number];
      const ver = execFileSync(py, ['-c', 'import datasets; print(datasets.__version__)'], { encoding: 'utf8' }).trim();
      console.log(`\npeer: Hugging Face datasets ${ver} load_dataset("json") (${py}):`);
      console.log(`  import datasets           ${imp.toFixed(2)} s (not counted)`);
      console.log(`  load_dataset (to Arrow)   ${load.toFixed(2)} s, ${rows} rows; first row after ${firstRow.toFixed(2)} s; peak RSS ${mb(rss)}`);
      console.log(`\nratios (peer / ours):`);
      console.log(`  first row visible         ${((firstRow * 1000) / firstPage).toFixed(0)}x faster`);
      console.log(`  all records counted       ${((load * 1000) / fullIndex).toFixed(1)}x faster`);
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  } finally {
    if (!flag('--keep')) fs.rmSync(file, { force: true });
  }
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
