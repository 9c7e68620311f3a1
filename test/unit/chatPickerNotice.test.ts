// The chat panel's notice about exports, decided without a browser (webview/chat/main.ts shows it).
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportDirOf, listRunExports } from '../../src/core/chat/exportList';
import { NO_EXPORTS_TEXT, pickerNotice } from '../../src/core/chat/pickerNotice';
import type { ExportChoice } from '../../src/protocol/chatMessages';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-notice-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const manifest = JSON.stringify({
  format_version: 1,
  created_at: '2026-12-02T06:00:00Z',
  exporter: { name: 'onnxruntime-genai-builder', version: '0.18.0' },
  source: { checkpoint: '/x', run_id: 'tiny-a5', checkpoint_name: 'step-000012', neftune_alpha: 5 },
  model: { family: 'llama', num_layers: 2, num_kv_heads: 1, head_dim: 8, vocab_size: 100, context_length: 64 },
  tokens: { eos_token_ids: [2] },
  default_precision: 'int8',
  precisions: {
    int8: { file: 'onnx/model_quantized.onnx', parity: { reference: 'pt', prompts: 3, max_abs_logits_diff: 0.02, tolerance: 0.5, teacher_forced_top1: 0.96, passed: true } },
    fp32: { file: 'onnx/model.onnx', parity: { reference: 'pt', prompts: 3, max_abs_logits_diff: 1e-4, tolerance: 1e-3, passed: true } },
  },
});
/** A real export folder listed by the real listing; `drop` deletes files as the QA run did. */
function exportsOf(checkpoints: { name: string; drop?: string[] }[]): ExportChoice[] {
  const runDir = path.join(dir, 'tiny-a5');
  for (const c of checkpoints) {
    const d = exportDirOf(runDir, `checkpoints/${c.name}`);
    fs.mkdirSync(path.join(d, 'onnx'), { recursive: true });
    fs.writeFileSync(path.join(d, 'manifest.json'), manifest);
    for (const f of ['onnx/model.onnx', 'onnx/model_quantized.onnx']) if (!c.drop?.includes(f)) fs.writeFileSync(path.join(d, f), 'x');
  }
  return listRunExports('tiny-a5', runDir);
}

describe('chat picker notice', () => {
  it('no exports: an informational "nothing yet" notice, not an error', () => {
    assert.deepEqual(pickerNotice([], null), { text: NO_EXPORTS_TEXT, kind: 'info' });
  });

  it('the only export is broken and none is remembered: names the export and the missing file', () => {
    const exports = exportsOf([{ name: 'step-000012', drop: ['onnx/model_quantized.onnx'] }]);
    assert.equal(exports.length, 1);
    const n = pickerNotice(exports, null);
    assert.equal(n?.kind, 'error');
    assert.match(n?.text ?? '', /^tiny-a5\/step-000012 cannot be used: .*precisions\.int8\.file "onnx\/model_quantized\.onnx" does not exist/);
    assert.match(n?.text ?? '', /\. Export it again \(Export…\)\.$/);
    assert.doesNotMatch(n?.text ?? '', /No exported checkpoint/);
  });

  it('a usable export exists: no notice, whether or not one is remembered', () => {
    const exports = exportsOf([{ name: 'step-000006', drop: ['onnx/model.onnx'] }, { name: 'step-000012' }]);
    assert.equal(pickerNotice(exports, null), null);
    assert.equal(pickerNotice(exports, { runId: 'tiny-a5', checkpoint: 'step-000012', precision: 'int8' }), null);
    // A remembered export that is gone falls back to the usable one.
    assert.equal(pickerNotice(exports, { runId: 'tiny-a5', checkpoint: 'step-000099', precision: 'int8' }), null);
  });

  it('a remembered export that broke is reported even when another is usable', () => {
    const exports = exportsOf([{ name: 'step-000006', drop: ['onnx/model.onnx'] }, { name: 'step-000012' }]);
    const n = pickerNotice(exports, { runId: 'tiny-a5', checkpoint: 'step-000006', precision: 'fp32' });
    assert.equal(n?.kind, 'error');
    assert.match(n?.text ?? '', /^tiny-a5\/step-000006 cannot be used: .*model\.onnx.* does not exist/);
  });
});
