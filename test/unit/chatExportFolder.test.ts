// Reading an export folder: a valid manifest passes; each way of being broken names the file
// and the field (manifest.json against the shared schema, missing tokenizer or graph files).
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExportFolderError, modelFile, readExportFolder } from '../../src/core/chat/exportFolder';

const parity = { reference: 'pytorch fp32', prompts: 3, max_abs_logits_diff: 1e-4, tolerance: 1e-3, passed: true };
function manifest(): Record<string, unknown> {
  return {
    format_version: 1,
    created_at: '2026-01-01T00:00:00Z',
    exporter: { name: 'onnxruntime-genai-builder', version: '0.18.0' },
    source: { checkpoint: '/x/checkpoints/step-000040', run_id: 'r1', checkpoint_name: 'step-000040' },
    model: { family: 'llama', num_layers: 2, num_kv_heads: 2, head_dim: 16, vocab_size: 512, context_length: 1024 },
    tokens: { eos_token_ids: [2] },
    default_precision: 'fp32',
    precisions: { fp32: { file: 'onnx/model.onnx', parity } },
  };
}

const dirs: string[] = [];
function folder(m: unknown, files: string[] = ['tokenizer.json', 'onnx/model.onnx']): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-exportfolder-'));
  dirs.push(d);
  fs.writeFileSync(path.join(d, 'manifest.json'), typeof m === 'string' ? m : JSON.stringify(m));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(d, f)), { recursive: true });
    fs.writeFileSync(path.join(d, f), '{}');
  }
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function problem(fn: () => unknown): ExportFolderError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ExportFolderError, String(e));
    return e;
  }
  assert.fail('expected an ExportFolderError');
}

describe('export folder', () => {
  it('reads a valid folder and finds the graph of a precision', () => {
    const d = folder(manifest());
    const f = readExportFolder(d);
    assert.equal(f.manifest.model.num_layers, 2);
    assert.equal(modelFile(f, 'fp32'), path.join(d, 'onnx', 'model.onnx'));
    assert.equal(f.tokenizerConfig, null);
  });

  it('names the field a manifest gets wrong', () => {
    const cases: Array<[(m: Record<string, unknown>) => void, RegExp, string]> = [
      [(m) => delete m.tokens, /tokens/, '(top level)'],
      [(m) => ((m.model as Record<string, unknown>).head_dim = 'sixteen'), /model\.head_dim: must be integer/, 'model.head_dim'],
      [(m) => (m.format_version = 2), /format_version/, 'format_version'],
      [(m) => (m.precisions = { fp16: { file: 'x', parity } }), /precisions/, 'precisions'],
      [(m) => (m.extra = 1), /additional properties 'extra'/, '(top level)'],
      [(m) => ((m.tokens as Record<string, unknown>).eos_token_ids = []), /tokens\.eos_token_ids/, 'tokens.eos_token_ids'],
    ];
    for (const [edit, re, field] of cases) {
      const m = manifest();
      edit(m);
      const e = problem(() => readExportFolder(folder(m)));
      assert.equal(e.problem, 'bad-manifest');
      assert.match(e.message, re);
      assert.match(e.message, /manifest\.json/);
      assert.equal(e.field, field);
    }
  });

  it('says what is missing: the folder, the manifest, JSON, the tokenizer, a precision, a graph', () => {
    assert.equal(problem(() => readExportFolder('/nonexistent/export')).problem, 'missing-folder');
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-exportfolder-'));
    dirs.push(empty);
    const e = problem(() => readExportFolder(empty));
    assert.equal(e.problem, 'missing-manifest');
    assert.match(e.message, /neftune_trainer export/);
    assert.equal(problem(() => readExportFolder(folder('{"format_version":'))).problem, 'bad-json');
    assert.match(problem(() => readExportFolder(folder(manifest(), ['onnx/model.onnx']))).message, /tokenizer\.json: missing/);
    const m = manifest();
    m.default_precision = 'int8';
    assert.match(problem(() => readExportFolder(folder(m))).message, /default_precision: 'int8' is not among precisions/);
    const f = readExportFolder(folder(manifest(), ['tokenizer.json']));
    const noGraph = problem(() => modelFile(f, 'fp32'));
    assert.equal(noGraph.problem, 'missing-file');
    assert.equal(noGraph.field, 'precisions.fp32.file');
    assert.equal(problem(() => modelFile(f, 'int4')).problem, 'missing-precision');
    const out = manifest();
    (out.precisions as Record<string, { file: string }>).fp32!.file = '../../etc/passwd';
    assert.match(problem(() => modelFile(readExportFolder(folder(out)), 'fp32')).message, /outside the export folder/);
  });
});
