// package.json and src/vscode/evalCommands.ts agree: every command it registers is contributed
// (with a title, in the NEFTune category), every setting it reads is declared with a default and
// a description, and the Runs view's menus name only contributed commands.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const repo = path.resolve(__dirname, '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
  contributes: { commands: Array<{ command: string; title: string; category?: string }>; menus: Record<string, Array<{ command: string }>>; configuration: { properties: Record<string, { default?: unknown; markdownDescription?: string; description?: string; scope?: string }> } };
};
const source = fs.readFileSync(path.join(repo, 'src', 'vscode', 'evalCommands.ts'), 'utf8');

describe('evaluation commands in the manifest', () => {
  it('every registered command is contributed with a title', () => {
    const table = source.slice(source.indexOf('const table'));
    const ids = [...table.matchAll(/'(neftune\.[A-Za-z]+)':/g)].map((m) => m[1]!);
    assert.deepEqual(ids.sort(), ['neftune.evaluateOnPrompts', 'neftune.evaluateRun', 'neftune.judgeRuns', 'neftune.setJudgeApiKey', 'neftune.sweepNoiseAlpha', 'neftune.tuneNoiseAlpha']);
    for (const id of ids) {
      const c = manifest.contributes.commands.find((x) => x.command === id);
      assert.ok(c, `${id} is not in contributes.commands`);
      assert.equal(c.category, 'NEFTune');
      assert.ok(c.title.length > 3);
    }
  });
  it('every setting it reads is declared with a default, a description and a scope', () => {
    const reads = [...source.matchAll(/getConfiguration\('(neftune\.[a-z]+)'[^)]*\)\.get<[^>]+>\('([A-Za-z]+)'/g)].map((m) => `${m[1]}.${m[2]}`);
    const sections = [...source.matchAll(/getConfiguration\('(neftune\.[a-z]+)'/g)].map((m) => m[1]!);
    const viaCfg = [...source.matchAll(/cfg\.get<[^>]+>\('([A-Za-z]+)'/g)].map((m) => m[1]!);
    const all = new Set([...reads, ...viaCfg.flatMap((k) => sections.map((s) => `${s}.${k}`).filter((full) => full in manifest.contributes.configuration.properties))]);
    for (const key of ['neftune.eval.prompts', 'neftune.eval.maxNewTokens', 'neftune.eval.repetitionPenalty', 'neftune.judge.model', 'neftune.judge.endpoint', 'neftune.judge.endpointModel', 'neftune.judge.promptFile', 'neftune.tune.eta']) {
      assert.ok(all.has(key), `${key} is not read`);
      const p = manifest.contributes.configuration.properties[key];
      assert.ok(p, `${key} is not declared`);
      assert.ok(p.default !== undefined && (p.markdownDescription ?? p.description) && p.scope, `${key} lacks a default, description or scope`);
    }
  });
  it('menus name only contributed commands', () => {
    const known = new Set(manifest.contributes.commands.map((c) => c.command));
    for (const [where, items] of Object.entries(manifest.contributes.menus)) {
      for (const item of items) if (/evaluateRun|judgeRuns|sweepNoiseAlpha|tuneNoiseAlpha/.test(item.command)) assert.ok(known.has(item.command), `${where}: ${item.command}`);
    }
  });
});
