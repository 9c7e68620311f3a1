// Shared by the chat integration tests: the venv's Python, tiny models, export folders.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import assert from 'node:assert/strict';

export const repo = path.resolve(__dirname, '..', '..');
export const python = process.env['NEFTUNE_PYTHON'] ?? path.join(repo, '.venv', 'bin', 'python');
// The trainer of this tree, not whichever one the virtual environment has installed; no network.
export const pyEnv = { ...process.env, PYTHONPATH: path.join(repo, 'trainer'), HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false' };
export const DEFAULT_MODEL = path.join(os.homedir(), '.cache', 'neftune-studio', 'models', 'SmolLM2-135M-Instruct');
export const ENGINE = path.join(repo, 'dist', 'chatEngine.js');
export const CLI = path.join(repo, 'dist', 'cli.js');

/** Runs a Python script with JSON in on stdin and JSON out on stdout. */
export function runPython<T>(script: string, input: unknown = null, timeoutMs = 600_000): T {
  const r = spawnSync(python, ['-c', script], { input: JSON.stringify(input), env: pyEnv, encoding: 'utf8', maxBuffer: 1 << 28, timeout: timeoutMs });
  assert.equal(r.status, 0, `python failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A tiny random Llama with a ChatML tokenizer (trainer/neftune_trainer/testing.py). */
export function makeTinyModel(dir: string, seed = 0): string {
  runPython('import json,sys\nfrom neftune_trainer.testing import make_tiny_model\nd=json.load(sys.stdin)\nmake_tiny_model(d["dir"], seed=d["seed"])\nprint("null")', { dir, seed });
  return dir;
}

/** The trainer's export command (`python -m neftune_trainer export CHECKPOINT --out DIR --precision P,...`), with a short parity check: these tests check parity themselves. */
export function exportModel(hfDir: string, out: string, precisions: readonly string[]): string {
  const r = spawnSync(python, ['-m', 'neftune_trainer', 'export', hfDir, '--out', out, '--precision', precisions.join(','), '--greedy-tokens', '8'], { env: pyEnv, encoding: 'utf8', timeout: 900_000 });
  assert.equal(r.status, 0, `export failed (${r.status}): ${r.stdout.slice(-2000)}\n${r.stderr.slice(-4000)}`);
  assert.ok(fs.existsSync(path.join(out, 'manifest.json')), `no manifest.json in ${out}`);
  return out;
}

/** Greedy continuations by transformers' generate (the reference) from the prompt ids, for each repetition penalty: [penalty][prompt]. */
export function transformersGreedy(hfDir: string, prompts: readonly number[][], maxNewTokens: number, repetitionPenalties: readonly number[]): number[][][] {
  const script = `
import json, sys, torch
from transformers import AutoModelForCausalLM
d = json.load(sys.stdin)
torch.set_num_threads(2)
m = AutoModelForCausalLM.from_pretrained(d["dir"], dtype=torch.float32).eval()
pad = m.config.pad_token_id if m.config.pad_token_id is not None else 0
out = []
for rp in d["rps"]:
    row = []
    for ids in d["prompts"]:
        x = torch.tensor([ids])
        with torch.no_grad():
            y = m.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=d["n"], repetition_penalty=rp, pad_token_id=pad)
        row.append(y[0, len(ids):].tolist())
    out.append(row)
print(json.dumps(out))
`;
  return runPython<number[][][]>(script, { dir: hfDir, prompts, n: maxNewTokens, rps: repetitionPenalties });
}

/** An export folder of `hfDir` with the given precisions, made by the trainer's export command. */
export function makeExport(hfDir: string, out: string, precisions: readonly string[]): string {
  return exportModel(hfDir, out, precisions);
}
