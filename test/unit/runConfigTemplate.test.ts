import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { checkRunConfig, DEFAULT_MODEL_ID } from '../../src/core/configValidation';
import { freeConfigName, renderRunConfig } from '../../src/core/runConfigTemplate';

describe('new run config template', () => {
  for (const alpha of [0, 5, 10, 15]) {
    it(`validates against the schema (alpha ${alpha}, default model)`, () => {
      const text = renderRunConfig({ baseModel: DEFAULT_MODEL_ID, dataset: 'data/train.jsonl', alpha });
      assert.deepEqual(checkRunConfig(text, '/tmp/x.neftune.yaml').problems, []);
      const v = parse(text) as Record<string, unknown>;
      assert.equal(v['neftune_noise_alpha'], alpha);
      assert.equal(v['base_model'], DEFAULT_MODEL_ID);
    });
  }

  it('quotes paths YAML would misread, and keeps them exact', () => {
    for (const p of ['my data: v2.jsonl', 'true', '#hash.json', '123', "it's.json", 'a"b.jsonl']) {
      const text = renderRunConfig({ baseModel: 'models/my model', dataset: p, alpha: 5 });
      assert.deepEqual(checkRunConfig(text, '/tmp/x.neftune.yaml').problems, [], p);
      const v = parse(text) as { datasets: Array<{ path: string }>; base_model: string };
      assert.equal(v.datasets[0]?.path, p);
      assert.equal(v.base_model, 'models/my model');
    }
  });

  for (const type of ['alpaca', 'sharegpt', 'messages', 'completion', 'self-instruct'] as const) {
    it(`writes the dataset's detected format as its type (${type}), and validates`, () => {
      const text = renderRunConfig({ baseModel: DEFAULT_MODEL_ID, dataset: 'd.jsonl', alpha: 5, type });
      assert.deepEqual(checkRunConfig(text, '/tmp/x.neftune.yaml').problems, []);
      assert.equal((parse(text) as { datasets: Array<{ type: string }> }).datasets[0]?.type, type);
    });
  }

  it('never reuses an existing file name', () => {
    const taken = new Set(['alpaca-a5.neftune.yaml', 'alpaca-a5-2.neftune.yaml']);
    assert.equal(freeConfigName('alpaca-a5', (n) => taken.has(n)), 'alpaca-a5-3.neftune.yaml');
    assert.equal(freeConfigName('my data/../x', () => false), 'my-data-..-x.neftune.yaml');
  });
});
