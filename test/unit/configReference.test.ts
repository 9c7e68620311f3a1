// docs/config-reference.md is what scripts/gen-config-reference.ts writes from the run-config
// schema and rules, and every key of the schema has a description to put in it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { allowedText, CONFIG_REFERENCE_COMMAND, configKeys, renderConfigReference, typeText, undescribedKeys, type SchemaNode } from '../../src/core/configReference';
import { runConfigRules, runConfigSchema } from '../../src/core/schemas';

const repo = path.resolve(__dirname, '..', '..');
const schema = runConfigSchema as SchemaNode;

describe('config reference', () => {
  it('docs/config-reference.md is up to date', () => {
    const file = path.join(repo, 'docs', 'config-reference.md');
    const onDisk = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    assert.ok(onDisk === renderConfigReference(schema, runConfigRules), `docs/config-reference.md is stale (or missing): regenerate it with \`${CONFIG_REFERENCE_COMMAND}\``);
  });

  it('every schema property has a description', () => {
    const missing = undescribedKeys(schema);
    assert.deepEqual(missing, [], `run-config.schema.json: properties without a description: ${missing.join(', ')}`);
  });

  it('lists every key, nested ones too, with its type, default and range', () => {
    const text = renderConfigReference(schema, runConfigRules);
    const paths = configKeys(schema).map((k) => k.path);
    for (const p of ['base_model', 'datasets[].path', 'eval_datasets[].type', 'neftune.scale', 'export_precisions']) assert.ok(paths.includes(p), p);
    for (const p of paths) assert.ok(text.includes(`| \`${p}\` |`), `${p} has no row`);
    const row = (key: string): string => text.split('\n').find((l) => l.startsWith(`| \`${key}\` |`)) ?? '';
    assert.match(row('lora_dropout'), /\| number \| `0\.05` \| ≥ 0, ≤ 1 \|/);
    assert.match(row('base_model'), /\| required \|/);
    assert.match(row('neftune.distribution'), /one of `uniform`, `gaussian`/);
    // Pipes inside a description are escaped, or they would split the table row.
    assert.match(row('datasets[].type'), /human\\\|gpt\\\|system/);
    // The rules file's data in words, not only its comments.
    assert.match(text, /Files that must exist: `datasets\[\]\.path`, `eval_datasets\[\]\.path`/);
    assert.match(text, /`val_set_size`: at or above 1 it must be a whole number/);
    assert.match(text, /At most 1,048,576 characters/);
  });

  it('finds a missing description, and a key nested in list items', () => {
    const s: SchemaNode = { properties: { a: { type: 'integer', description: 'A.' }, b: { type: 'array', items: { type: 'object', properties: { c: { type: 'string' } } } } } };
    assert.deepEqual(undescribedKeys(s), ['b', 'b[].c']);
  });

  it('says types and ranges in words', () => {
    assert.equal(typeText({ anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }] }), 'list of string, or string');
    assert.equal(typeText({ enum: ['auto', true, false] }), 'string or boolean');
    assert.equal(allowedText({ type: 'number', exclusiveMinimum: 0, maximum: 1 }), '> 0, ≤ 1');
    assert.equal(allowedText({ type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['a', 'b'] } }), 'at least one item, no repeats, each item one of `a`, `b`');
  });

  it('an unknown rules section still shows its data', () => {
    const text = renderConfigReference({ properties: {} }, { future_rule: { $comment: 'Something new.', limit: 3 } });
    assert.match(text, /### future_rule\n\nSomething new\.\n\n```json\n\{\n {2}"limit": 3\n\}\n```/);
  });
});
