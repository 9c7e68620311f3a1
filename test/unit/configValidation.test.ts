import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkRunConfig, checkRunConfigFile, DEFAULT_MODEL_ID, didYouMean, formatProblems } from '../../src/core/configValidation';
import { runConfigRules } from '../../src/core/schemas';

const repo = path.resolve(__dirname, '..', '..');

function check(text: string, opts: { checkPaths?: boolean; file?: string } = {}): ReturnType<typeof checkRunConfig> {
  return checkRunConfig(text, opts.file ?? path.join(repo, 'examples', 'x.neftune.yaml'), { checkPaths: opts.checkPaths ?? false });
}

const GOOD = `base_model: HuggingFaceTB/SmolLM2-135M-Instruct
datasets:
  - path: self_instruct_alpaca.jsonl
    type: alpaca
micro_batch_size: 4
neftune_noise_alpha: 5
`;

describe('run config validation', () => {
  it('accepts the example config shipped in examples/, paths included', () => {
    const file = path.join(repo, 'examples', 'quickstart.neftune.yaml');
    const { problems, value } = checkRunConfig(fs.readFileSync(file, 'utf8'), file, { checkPaths: true });
    assert.deepEqual(problems, []);
    assert.equal(value?.['neftune_noise_alpha'], 5);
  });

  it('accepts a minimal config', () => {
    assert.deepEqual(check(GOOD).problems, []);
  });

  it('names the key and the line of a wrong type', () => {
    const { problems } = check(GOOD.replace('micro_batch_size: 4', 'micro_batch_size: two'));
    assert.equal(problems.length, 1);
    const p = problems[0]!;
    assert.equal(p.field, 'micro_batch_size');
    assert.match(p.message, /micro_batch_size: expected integer, got the string "two"/);
    assert.equal(p.start.line, 4); // 0-based: the 5th line
    // From the key, as the trainer locates it, to the end of the value.
    assert.equal(p.start.character, 0);
    assert.deepEqual(p.end, { line: 4, character: 'micro_batch_size: two'.length });
  });

  it('locates errors inside lists of datasets', () => {
    const { problems } = check(GOOD.replace('type: alpaca', 'type: alpacca'));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.field, 'datasets[0].type');
    assert.match(problems[0]!.message, /not one of "alpaca"/);
    assert.equal(problems[0]!.start.line, 3);
  });

  it('flags unknown keys on the key, with a did-you-mean', () => {
    const { problems } = check(`${GOOD}learning_rat: 0.001\n`);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.field, 'learning_rat');
    assert.match(problems[0]!.message, /unknown key; did you mean `learning_rate`\?/);
    assert.equal(problems[0]!.start.line, 6);
    assert.equal(problems[0]!.start.character, 0);
  });

  it('reports missing required keys and every problem at once', () => {
    const { problems } = check('sequence_len: -3\nneftune_noise_alpha: "5"\n');
    const messages = problems.map((p) => p.message).join('\n');
    assert.match(messages, /missing required key `base_model`/);
    assert.match(messages, /missing required key `datasets`/);
    assert.match(messages, /sequence_len: must be >= 8, got -3/);
    assert.match(messages, /neftune_noise_alpha: expected number, got the string "5"/);
  });

  it('rejects a negative alpha and a bad neftune.scale', () => {
    const { problems } = check(`${GOOD.replace('neftune_noise_alpha: 5', 'neftune_noise_alpha: -1')}neftune:\n  scale: padding\n`);
    const fields = problems.map((p) => p.field).sort();
    assert.deepEqual(fields, ['neftune.scale', 'neftune_noise_alpha']);
  });

  it('reports YAML syntax errors with their position', () => {
    const { problems, value } = check('base_model: x\ndatasets: [\n');
    assert.equal(value, null);
    assert.ok(problems.length >= 1);
    assert.match(problems[0]!.message, /^YAML:/);
  });

  it('reports duplicate keys (YAML would silently keep one)', () => {
    const { problems } = check(`${GOOD}micro_batch_size: 8\n`);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.match(problems[0]!.message, /YAML: the key 'micro_batch_size' is written twice/);
    assert.equal(problems[0]!.start.line, 6);
  });

  it('rejects a config that is not a mapping', () => {
    assert.match(check('- a\n- b\n').problems[0]!.message, /mapping/);
  });

  it('checks that dataset and model paths exist, relative to the config file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-cfg-'));
    const file = path.join(dir, 'a.neftune.yaml');
    fs.writeFileSync(path.join(dir, 'present.jsonl'), '{}\n');
    const text = 'base_model: models/nope\ndatasets:\n  - path: present.jsonl\n    type: alpaca\n  - path: missing.jsonl\n    type: alpaca\n';
    const { problems } = checkRunConfig(text, file, { checkPaths: true });
    assert.deepEqual(problems.map((p) => p.field).sort(), ['base_model', 'datasets[1].path']);
    assert.match(formatProblems(file, problems), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:\\d+: datasets\\[1\\]\\.path: file not found`));
  });

  it('did-you-mean only suggests close keys', () => {
    assert.equal(didYouMean('lerning_rate', ['learning_rate', 'seed']), 'learning_rate');
    assert.equal(didYouMean('zzzzzz', ['learning_rate', 'seed']), null);
  });
  it('refuses a YAML alias bomb at once, as a problem on the alias line (it used to throw)', () => {
    // "Billion laughs": each level multiplies the previous by 9; 9^8 nodes if expanded.
    const levels = ['l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i <= 8; i++) levels.push(`l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(', ')}]`);
    const text = `${GOOD}${levels.join('\n')}\n`;
    const { problems, value } = check(text);
    assert.equal(value, null);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    const p = problems[0]!;
    assert.equal(p.severity, 'error');
    assert.match(p.message, /alias/i);
    assert.equal(p.start.line, GOOD.split('\n').length); // the first line that uses an alias (l1)
  });

  it('keeps ordinary anchors and aliases working', () => {
    const { problems, value } = check(`${GOOD}eval_datasets:\n  - &ev { path: self_instruct_alpaca.jsonl, type: alpaca }\n`);
    assert.deepEqual(problems, []);
    assert.ok(value);
  });

  it('refuses a config too large to be a run config, without parsing it', () => {
    const { problems, value } = check(`${GOOD}# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    assert.equal(value, null);
    assert.match(problems[0]!.message, /too large/);
  });

  it('warns when sequence_len is above the model folder\'s context length', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-cfg-'));
    fs.mkdirSync(path.join(dir, 'model'));
    fs.writeFileSync(path.join(dir, 'model', 'config.json'), JSON.stringify({ max_position_embeddings: 2048 }));
    fs.writeFileSync(path.join(dir, 'model', 'tokenizer.json'), '{}');
    fs.writeFileSync(path.join(dir, 'model', 'model.safetensors'), '');
    fs.writeFileSync(path.join(dir, 'd.jsonl'), '{}\n');
    const file = path.join(dir, 'a.neftune.yaml');
    const base = 'base_model: model\ndatasets:\n  - path: d.jsonl\n    type: alpaca\n';
    const over = checkRunConfig(`${base}sequence_len: 100000\n`, file, { checkPaths: true }).problems;
    assert.equal(over.length, 1, JSON.stringify(over));
    assert.equal(over[0]!.severity, 'warning');
    assert.equal(over[0]!.field, 'sequence_len');
    assert.equal(over[0]!.start.line, 4);
    assert.match(over[0]!.message, /100,000.*2,048/);
    assert.deepEqual(checkRunConfig(`${base}sequence_len: 2048\n`, file, { checkPaths: true }).problems, []);
  });

  it('checks eval_datasets paths too, with `~` as the home folder', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-cfg-'));
    fs.writeFileSync(path.join(dir, 'd.jsonl'), '{}\n');
    const text = 'base_model: HuggingFaceTB/SmolLM2-135M-Instruct\ndatasets:\n  - path: d.jsonl\n    type: alpaca\neval_datasets:\n  - path: ~/neftune-no-such-eval.jsonl\n    type: alpaca\n';
    const { problems } = checkRunConfig(text, path.join(dir, 'a.neftune.yaml'), { checkPaths: true });
    assert.deepEqual(problems.map((p) => [p.field, p.start.line]), [['eval_datasets[0].path', 5]]);
    assert.match(problems[0]!.message, new RegExp(`file not found: ${path.join(os.homedir(), 'neftune-no-such-eval.jsonl').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('refuses a val_set_size that is neither a fraction nor a whole count', () => {
    assert.deepEqual(check(`${GOOD}val_set_size: 1.5\n`).problems.map((p) => p.field), ['val_set_size']);
    assert.deepEqual(check(`${GOOD}val_set_size: 0.2\n`).problems, []);
    assert.deepEqual(check(`${GOOD}val_set_size: 3\n`).problems, []);
  });

  it('reads the default model and the did-you-mean limit from the shared rules file', () => {
    assert.equal(DEFAULT_MODEL_ID, runConfigRules.default_model.id);
    // Case-insensitive, one algorithm for both sides.
    assert.equal(didYouMean('SEQUENCE_LEN', ['sequence_len', 'seed']), 'sequence_len');
  });

  it('treats an empty file as a mapping without the required keys', () => {
    assert.deepEqual(check('').problems.map((p) => p.field), ['base_model', 'datasets']);
  });

  it('refuses tags beyond the core schema, on their line', () => {
    const { problems } = check(`${GOOD}seed: !!python/object:os.system echo\n`);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /tag tag:yaml\.org,2002:python\/object:os\.system is not allowed/);
    assert.equal(problems[0]!.start.line, 6);
  });

  it('names the line of the first byte that is not UTF-8', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-cfg-'));
    const file = path.join(dir, 'a.neftune.yaml');
    fs.writeFileSync(file, Buffer.concat([Buffer.from('base_model: m\n# caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    const { problems } = checkRunConfigFile(file);
    assert.deepEqual(problems.map((p) => [p.start.line, p.field]), [[1, '']]);
    assert.match(problems[0]!.message, /not UTF-8/);
  });
});
