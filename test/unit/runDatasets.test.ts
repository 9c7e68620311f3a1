import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HealthCache } from '../../src/core/datasets/health';
import { configDatasetPaths, datasetTroubles } from '../../src/core/datasets/runDatasets';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-run-datasets-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const rec = (i: number): string => JSON.stringify({ instruction: `q${i}`, input: '', output: `a${i}` });
fs.writeFileSync(path.join(dir, 'good.jsonl'), [0, 1, 2].map(rec).join('\n') + '\n');
fs.writeFileSync(path.join(dir, 'latin1.jsonl'), Buffer.concat([Buffer.from(rec(0) + '\n' + rec(1) + '\n'), Buffer.from('{"instruction": "caf\xe9", "output": "x"}\n', 'latin1')]));
fs.writeFileSync(path.join(dir, 'empty.jsonl'), '');
fs.mkdirSync(path.join(dir, 'sub'));
const config = (train: string, evalSet?: string): string => `base_model: x\ndatasets:\n  - path: ${train}\n    type: alpaca\n${evalSet ? `eval_datasets:\n  - path: ${evalSet}\n    type: alpaca\n` : ''}`;
const cfgFile = path.join(dir, 'sub', 'run.neftune.yaml');

describe('a run config\u2019s datasets checked before it starts', () => {
  it('resolves datasets and eval_datasets against the config\u2019s folder, once each', () => {
    assert.deepEqual(configDatasetPaths(config('../good.jsonl', '../good.jsonl'), cfgFile), [path.join(dir, 'good.jsonl')]);
    assert.deepEqual(configDatasetPaths(config('../good.jsonl', '/abs/e.jsonl'), cfgFile), [path.join(dir, 'good.jsonl'), '/abs/e.jsonl']);
    assert.deepEqual(configDatasetPaths('datasets: [', cfgFile), []);
  });

  it('names the broken files with their first problem; a clean one passes', async () => {
    const health = new HealthCache();
    assert.deepEqual(await datasetTroubles(health, config('../good.jsonl'), cfgFile), []);
    const [latin] = await datasetTroubles(health, config('../latin1.jsonl', '../good.jsonl'), cfgFile);
    assert.equal(latin?.file, path.join(dir, 'latin1.jsonl'));
    assert.equal(latin?.first?.line, 3);
    assert.match(latin?.first?.message ?? '', /UTF-8/);
    const [empty] = await datasetTroubles(health, config('../empty.jsonl'), cfgFile);
    assert.equal(empty?.file, path.join(dir, 'empty.jsonl'));
    assert.ok((empty?.errors ?? 0) > 0);
    const [missing] = await datasetTroubles(health, config('../nope.jsonl'), cfgFile);
    assert.ok(missing?.unreadable, 'a missing file is named, not thrown');
  });
});
