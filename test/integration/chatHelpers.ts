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

/**
 * An export folder made with onnxruntime-genai's model builder and a manifest written here:
 * the stand-in while the trainer's export command is not on this branch. Each precision in
 * its own onnx/<precision>/ folder (the builder names every graph model.onnx).
 */
export function builderExport(hfDir: string, out: string, precisions: readonly string[]): string {
  const script = `
import json, os, shutil, subprocess, sys
d = json.load(sys.stdin)
hf, out = d["hf"], d["out"]
os.makedirs(out, exist_ok=True)
for f in ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json", "config.json", "generation_config.json"]:
    if os.path.exists(os.path.join(hf, f)):
        shutil.copy(os.path.join(hf, f), os.path.join(out, f))
cfg = json.load(open(os.path.join(hf, "config.json")))
gen = json.load(open(os.path.join(hf, "generation_config.json"))) if os.path.exists(os.path.join(hf, "generation_config.json")) else {}
precisions = {}
for p in d["precisions"]:
    dst = os.path.join(out, "onnx", p)
    r = subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", hf, "-o", dst, "-p", p, "-e", "cpu"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(r.stdout[-2000:] + r.stderr[-4000:])
    precisions[p] = {"file": f"onnx/{p}/model.onnx", "parity": {"reference": "not checked (builder stand-in)", "prompts": 1, "max_abs_logits_diff": 0.0, "tolerance": 1e-3, "passed": True}}
eos = gen.get("eos_token_id", cfg.get("eos_token_id"))
eos = eos if isinstance(eos, list) else [eos]
heads = cfg["num_attention_heads"]
m = {"format_version": 1, "created_at": "1970-01-01T00:00:00Z", "exporter": {"name": "onnxruntime-genai-builder", "version": "test"},
     "source": {"checkpoint": hf, "run_id": None, "checkpoint_name": None},
     "model": {"family": cfg["model_type"], "num_layers": cfg["num_hidden_layers"], "num_attention_heads": heads,
               "num_kv_heads": cfg.get("num_key_value_heads", heads), "head_dim": cfg.get("head_dim") or cfg["hidden_size"] // heads,
               "hidden_size": cfg["hidden_size"], "vocab_size": cfg["vocab_size"], "context_length": cfg["max_position_embeddings"]},
     "tokens": {"bos_token_id": cfg.get("bos_token_id"), "eos_token_ids": [e for e in eos if e is not None], "pad_token_id": cfg.get("pad_token_id")},
     "io": {"past_key": "past_key_values.%d.key", "past_value": "past_key_values.%d.value", "present_key": "present.%d.key", "present_value": "present.%d.value", "has_position_ids": False, "kv_dtype": "float32"},
     "default_precision": "int8" if "int8" in precisions else d["precisions"][0], "precisions": precisions}
json.dump(m, open(os.path.join(out, "manifest.json"), "w"), indent=1)
print("null")
`;
  runPython(script, { hf: hfDir, out, precisions });
  return out;
}

/** The trainer's export command when this tree has it, else the builder stand-in. */
export function makeExport(hfDir: string, out: string, precisions: readonly string[]): string {
  const has = fs.existsSync(path.join(repo, 'trainer', 'neftune_trainer', 'export.py'));
  return has ? exportModel(hfDir, out, precisions) : builderExport(hfDir, out, precisions);
}
