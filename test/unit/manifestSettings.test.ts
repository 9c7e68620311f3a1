// package.json against the code: every setting complete (description, type, default, scope, enum
// descriptions), every setting the code reads declared and every declared one read, every
// command titled and categorised, and docs/settings-reference.md generated from the manifest.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { commandProblems, manifestSettings, renderSettingsReference, settingProblems, settingsReadIn, SETTINGS_REFERENCE_COMMAND, type Manifest } from '../../src/core/settingsReference';

const repo = path.resolve(__dirname, '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as Manifest;

/** Every .ts file under src/ that imports vscode (only those can read settings). */
function vscodeSources(dir = path.join(repo, 'src')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return vscodeSources(p);
    return e.name.endsWith('.ts') && /from 'vscode'/.test(fs.readFileSync(p, 'utf8')) ? [p] : [];
  });
}

describe('manifest settings and commands', () => {
  it('every setting has a description, type, default, scope, and enumDescriptions for an enum', () => {
    assert.ok(manifestSettings(manifest).length >= 20);
    const problems = settingProblems(manifest);
    assert.deepEqual(problems, [], `package.json contributes.configuration:\n${problems.join('\n')}`);
  });

  it('paths to programs and models are machine-overridable (a remote host has its own)', () => {
    const scope = Object.fromEntries(manifestSettings(manifest).map(([k, s]) => [k, s.scope]));
    for (const k of ['neftune.pythonPath', 'neftune.judge.model']) assert.equal(scope[k], 'machine-overridable', k);
  });

  it('every setting the code reads is declared, and every declared one is read', () => {
    const files = vscodeSources();
    assert.ok(files.some((f) => f.endsWith(path.join('vscode', 'settings.ts'))));
    const read = new Map<string, string>();
    for (const f of files) for (const key of settingsReadIn(fs.readFileSync(f, 'utf8'))) read.set(key, path.relative(repo, f));
    const declared = new Set(manifestSettings(manifest).map(([k]) => k));
    const undeclared = [...read].filter(([k]) => !declared.has(k)).map(([k, f]) => `${k} (read in ${f})`);
    assert.deepEqual(undeclared, [], `settings read but not in package.json: ${undeclared.join(', ')}`);
    const unread = [...declared].filter((k) => !read.has(k));
    assert.deepEqual(unread, [], `settings declared but never read: ${unread.join(', ')}`);
  });

  it('every command has a title and a category', () => {
    assert.ok((manifest.contributes?.commands ?? []).length >= 20);
    const problems = commandProblems(manifest);
    assert.deepEqual(problems, [], problems.join('\n'));
  });

  it('docs/settings-reference.md is up to date', () => {
    const file = path.join(repo, 'docs', 'settings-reference.md');
    const onDisk = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    assert.ok(onDisk === renderSettingsReference(manifest), `docs/settings-reference.md is stale (or missing): regenerate it with \`${SETTINGS_REFERENCE_COMMAND}\``);
  });

  it('finds what a setting or command lacks', () => {
    const m: Manifest = {
      contributes: {
        configuration: { properties: { 'x.a': { type: 'string', enum: ['p', 'q'], enumDescriptions: ['P'], default: 'r' }, 'x.b': { markdownDescription: 'B', type: 'number', default: 1, scope: 'folder' } } },
        commands: [{ command: 'x.run', title: 'Run' }],
      },
    };
    assert.deepEqual(settingProblems(m), [
      'x.a: no description or markdownDescription',
      'x.a: no scope',
      'x.a: 2 enum values but 1 enumDescriptions',
      'x.a: default "r" is not one of its enum',
      'x.b: unknown scope folder',
    ]);
    assert.deepEqual(commandProblems(m), ['x.run: no category']);
  });

  it('reads settings through a section and a cfg variable, each paired with its own section', () => {
    const src = `const a = vscode.workspace.getConfiguration('neftune', folder.uri);\nconst p = a.get<string>('pythonPath', '');\n` +
      `function f() { const cfg = vscode.workspace.getConfiguration('neftune.judge'); return cfg.get<string>('model', ''); }\n` +
      `const e = vscode.workspace.getConfiguration('neftune.tune', u).get<number>('eta', 2);`;
    assert.deepEqual(settingsReadIn(src), ['neftune.judge.model', 'neftune.pythonPath', 'neftune.tune.eta']);
  });

  it('the reference shows setting links as names and escapes pipes', () => {
    const text = renderSettingsReference({ contributes: { configuration: { properties: { 'x.a': { type: 'string', default: '', scope: 'window', markdownDescription: 'Unless `#x.b#` is set; a|b.' } } } } });
    assert.match(text, /\| `x\.a` \| string \| `""` \| window \|  \| Unless `x\.b` is set; a\\\|b\. \|/);
  });
});
